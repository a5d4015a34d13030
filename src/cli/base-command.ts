/**
 * What every nexus command shares: `--json`, `--repo`, `--verbose`, colour
 * rules, and the split between expected errors (NexusError: message and
 * hint, exit 1, no stack) and bugs (a stack only with --verbose).
 */
import {resolve} from 'node:path'

import {Command, Flags, type Interfaces} from '@oclif/core'
import type {ChalkInstance} from 'chalk'

import {NexusError} from '../errors.js'
import {type StateLocation, stateLocation} from '../state/open.js'
import {colorEnabled, createStyle} from './style.js'

export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof NexusCommand)['baseFlags'] & T['flags']
>
export type CommandArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

export abstract class NexusCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    repo: Flags.string({
      description: 'repository with the declarations (default: the current directory)',
      env: 'NEXUS_REPO',
      helpGroup: 'GLOBAL',
    }),
    verbose: Flags.boolean({description: 'print more detail, and stacks of unexpected errors', helpGroup: 'GLOBAL'}),
    'database-url': Flags.string({
      description: 'Postgres URL of the state (default: the embedded database in <repo>/.nexus/state)',
      env: 'NEXUS_DATABASE_URL',
      helpGroup: 'GLOBAL',
    }),
  }

  protected flags!: CommandFlags<T>
  protected args!: CommandArgs<T>
  protected style!: ChalkInstance

  override async init(): Promise<void> {
    await super.init()
    const ctor = this.ctor as typeof NexusCommand
    const {args, flags} = await this.parse({
      flags: ctor.flags,
      baseFlags: ctor.baseFlags,
      enableJsonFlag: ctor.enableJsonFlag,
      args: ctor.args,
      strict: ctor.strict,
    })
    this.flags = flags as CommandFlags<T>
    this.args = args as CommandArgs<T>
    this.style = createStyle()
  }

  /** The repo as the user named it, for paths in messages. */
  protected get repoArg(): string {
    return this.flags.repo ?? '.'
  }

  protected get repoPath(): string {
    return resolve(this.repoArg)
  }

  /** Where the state lives, from --database-url / NEXUS_DATABASE_URL and --repo. */
  protected get stateLocation(): StateLocation {
    const url = this.flags['database-url']
    // NEXUS_DATABASE_SCHEMA lets several states share one database (one schema each).
    const schema = process.env.NEXUS_DATABASE_SCHEMA
    return stateLocation(this.repoPath, url ? {databaseUrl: url, ...(schema ? {schema} : {})} : {})
  }

  /**
   * The `--json` document. oclif colours JSON token by token even when the
   * colour is then dropped, which costs seconds on a large plan (tens of MB);
   * without colour the text is plain `JSON.stringify`, as oclif would print it.
   */
  override logJson(json: unknown): void {
    if (colorEnabled()) {
      super.logJson(json)
      return
    }
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  }

  /** Human output on stdout; silent under --json, which returns the result instead. */
  protected print(text: string): void {
    if (!this.jsonEnabled()) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
  }

  /** Progress, warnings and notices: stderr, so stdout stays the result. */
  protected notice(text: string): void {
    if (!this.jsonEnabled()) process.stderr.write(text.endsWith('\n') ? text : `${text}\n`)
  }

  protected override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (error instanceof NexusError) {
      process.exitCode = error.exitCode
      if (this.jsonEnabled()) {
        // One line, so NDJSON readers (apply --json) can take it as their last event.
        process.stdout.write(
          `${JSON.stringify({error: {code: error.code, message: error.message, ...(error.hint ? {hint: error.hint} : {})}})}\n`,
        )
      } else {
        const s = this.style ?? createStyle(false)
        process.stderr.write(
          `${s.red('Error:')} ${error.message}\n${error.hint ? `${s.dim('hint:')} ${error.hint}\n` : ''}`,
        )
      }
      return undefined
    }
    // oclif's own errors (unknown flag, missing argument) carry their exit code and help text.
    if (error.oclif !== undefined) return super.catch(error)
    process.exitCode = 1
    const verbose = this.flags?.verbose === true
    if (this.jsonEnabled()) {
      process.stdout.write(
        `${JSON.stringify({error: {code: 'internal_error', message: error.message, ...(verbose ? {stack: error.stack} : {})}})}\n`,
      )
    } else {
      process.stderr.write(
        `nexus hit an unexpected error: ${error.message}\n${verbose ? `${error.stack}\n` : 'Run again with --verbose for the stack trace, and please report it.\n'}`,
      )
    }
    return undefined
  }
}
