/**
 * `--apply` on a command that edits the repo (peer create, peer remove): the
 * flags, the refusal where nobody can confirm, and the apply request with
 * its progress view.
 */
import {Flags} from '@oclif/core'
import type {ChalkInstance} from 'chalk'

import type {ApplyRequest} from '../app/peer.js'
import {NexusError} from '../errors.js'
import {TransportByNode} from '../transport/by-node.js'
import {LocalTransport} from '../transport/local.js'
import {SshTransport} from '../transport/ssh.js'
import {listrReporter, plainReporter} from '../views/apply-view.js'
import {askToApply} from '../views/peer-view.js'

export const inlineApplyFlags = {
  apply: Flags.boolean({description: "apply to the peer's node right away"}),
  yes: Flags.boolean({char: 'y', description: 'with --apply: apply without asking'}),
  'allow-dirty': Flags.boolean({description: 'with --apply: even when other declaration changes are uncommitted'}),
}

export interface InlineApply {
  /** Undefined without --apply. */
  readonly request?: ApplyRequest
  /** Closes the progress view once the command's work is done. */
  readonly done: () => Promise<void>
}

export function inlineApply(
  flags: {readonly apply?: boolean; readonly yes?: boolean; readonly 'allow-dirty'?: boolean},
  view: {readonly json: boolean; readonly style: ChalkInstance},
): InlineApply {
  if (!flags.apply) return {done: async () => {}}
  if (!flags.yes && (!process.stdin.isTTY || view.json)) {
    throw new NexusError(
      'confirmation_required',
      '--apply changes the node, and there is no terminal to confirm it in',
      'pass --yes as well, or leave out --apply and run nexus apply later',
    )
  }
  // As in nexus apply: the first Ctrl-C lets the node in flight finish or roll back, a second stops at once.
  let interrupted = false
  const onSigint = () => {
    if (interrupted) process.exit(130)
    interrupted = true
    if (!view.json)
      process.stderr.write('interrupt: finishing the node in flight; press Ctrl-C again to stop at once\n')
  }
  process.on('SIGINT', onSigint)
  const reporter = view.json
    ? {sink: () => {}, done: async () => {}}
    : process.stderr.isTTY
      ? listrReporter(view.style)
      : plainReporter((line) => process.stderr.write(line), view.style)
  return {
    request: {
      transport: new TransportByNode({ssh: new SshTransport(), local: new LocalTransport()}),
      confirm: async (plan) => flags.yes === true || askToApply(plan, view.style),
      allowDirty: flags['allow-dirty'] === true,
      emit: reporter.sink,
      interrupted: () => interrupted,
    },
    done: async () => {
      process.off('SIGINT', onSigint)
      await reporter.done()
    },
  }
}
