import {Args, Flags} from '@oclif/core'

import {type ApplyRequest, type PeerRemoved, removePeer} from '../../app/peer.js'
import {NexusCommand} from '../../cli/base-command.js'
import {NexusError} from '../../errors.js'
import {LocalTransport} from '../../transport/local.js'
import {SshTransport} from '../../transport/ssh.js'
import {TransportByNode} from '../../transport/by-node.js'
import {type ApplyReporter, listrReporter, plainReporter} from '../../views/apply-view.js'
import {askToApply, formatPeerRemoved} from '../../views/peer-view.js'

export default class PeerRemove extends NexusCommand<typeof PeerRemove> {
  static override summary = 'Remove a WireGuard peer from the repo.'
  static override description =
    "Deletes the peer's declaration: its file when it declares nothing else, else only its document, with the other documents and their comments left as they were. The repo must validate without it, or nothing is written. The next apply takes the peer off its node and releases its addresses into quarantine, so an old config cannot reach whoever gets them next. --commit commits exactly that file; --apply then applies to the peer's node (asking first in a terminal; pass --yes elsewhere)."
  static override examples = [
    '<%= config.bin %> peer remove bob-phone',
    '<%= config.bin %> peer remove bob-phone --commit --apply --yes',
  ]
  static override args = {name: Args.string({description: 'name of the peer', required: true})}
  static override flags = {
    commit: Flags.boolean({description: 'commit the change (only that file)'}),
    apply: Flags.boolean({description: "apply to the peer's node right away"}),
    yes: Flags.boolean({char: 'y', description: 'with --apply: apply without asking'}),
    'allow-dirty': Flags.boolean({description: 'with --apply: even when other declaration changes are uncommitted'}),
  }

  async run(): Promise<PeerRemoved> {
    const {flags} = this
    if (flags.apply && !flags.yes && (!process.stdin.isTTY || this.jsonEnabled())) {
      throw new NexusError(
        'confirmation_required',
        '--apply changes the node, and there is no terminal to confirm it in',
        'pass --yes as well, or leave out --apply and run nexus apply later',
      )
    }
    const reporter: ApplyReporter | undefined = flags.apply
      ? this.jsonEnabled()
        ? {sink: () => {}, done: async () => {}}
        : process.stderr.isTTY
          ? listrReporter(this.style)
          : plainReporter((line) => process.stderr.write(line), this.style)
      : undefined
    const apply: ApplyRequest | undefined = reporter
      ? {
          transport: new TransportByNode({ssh: new SshTransport(), local: new LocalTransport()}),
          confirm: async (plan) => flags.yes || askToApply(plan, this.style),
          allowDirty: flags['allow-dirty'] === true,
          emit: reporter.sink,
        }
      : undefined
    const result = await removePeer({
      root: this.repoPath,
      location: this.stateLocation,
      env: process.env,
      now: new Date(),
      name: this.args.name,
      commit: flags.commit === true,
      ...(apply ? {apply} : {}),
    })
    await reporter?.done()
    this.print(formatPeerRemoved(result, this.style))
    if (!result.applied) {
      this.notice(
        `next: ${result.committed ? '' : `commit ${result.file}, then `}nexus apply --node ${result.node} takes the peer off the gateway`,
      )
    } else if (result.applied.outcome !== 'success' && result.applied.outcome !== 'no_changes') {
      process.exitCode = 1
    }
    return result
  }
}
