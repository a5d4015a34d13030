import {Args, Flags} from '@oclif/core'

import {type PeerRemoved, removePeer} from '../../app/peer.js'
import {NexusCommand} from '../../cli/base-command.js'
import {inlineApply, inlineApplyFlags} from '../../cli/inline-apply.js'
import {formatPeerRemoved} from '../../views/peer-view.js'

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
    ...inlineApplyFlags,
  }

  async run(): Promise<PeerRemoved> {
    const {flags} = this
    const inline = inlineApply(flags, {json: this.jsonEnabled(), style: this.style})
    const result = await removePeer({
      root: this.repoPath,
      location: this.stateLocation,
      env: process.env,
      now: new Date(),
      name: this.args.name,
      commit: flags.commit === true,
      ...(inline.request ? {apply: inline.request} : {}),
    }).finally(inline.done)
    this.print(formatPeerRemoved(result, this.style))
    if (!result.applied) {
      this.notice(
        `next: ${result.committed ? '' : `commit ${result.file}, then `}nexus apply --node ${result.node} takes the peer off the gateway`,
      )
    } else if (result.applied.outcome !== 'success' && result.applied.outcome !== 'no_changes') {
      process.exitCode = result.applied.outcome === 'interrupted' ? 130 : 1
    }
    return result
  }
}
