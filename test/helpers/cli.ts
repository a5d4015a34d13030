/**
 * Runs the built CLI (bin/run.js over dist/, as users run it) in a child
 * process, so exit codes, stdout/stderr separation and colour rules are
 * tested for real. `npm test` builds first (pretest).
 */
import {cpSync, existsSync, readdirSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN = join(ROOT, 'bin', 'run.js')

export interface CliRun {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

export async function nexus(
  args: readonly string[],
  options: {cwd?: string; env?: Record<string, string | undefined>} = {},
): Promise<CliRun> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    NO_COLOR: undefined,
    FORCE_COLOR: undefined,
    ...options.env,
  }
  const result = await execa('node', [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env,
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
  })
  return {exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr)}
}

export function exampleCopy(name: string, into: string): string {
  const target = join(into, name)
  // Not the example's .nexus/ (the parse cache a run there leaves): a copy starts clean.
  cpSync(join(ROOT, 'examples', name), target, {recursive: true, filter: (source) => basename(source) !== '.nexus'})
  return target
}

/** Lines that look like a JavaScript stack frame. */
export const STACK_FRAME = /^\s+at .+\(.+:\d+:\d+\)$/m
export const ANSI = /\u001b\[/

/** What a command left in `<repo>/.nexus` besides the parse cache: state, keys, locks. */
export function localState(repo: string): string[] {
  const dir = join(repo, '.nexus')
  // The parse cache and the .gitignore that keeps .nexus/ out of git are not state.
  return existsSync(dir) ? readdirSync(dir).filter((name) => name !== 'cache' && name !== '.gitignore') : []
}
