import {Args} from '@oclif/core'

import {type LinkReset, resetLink} from '../../app/link.js'
import {NexusCommand} from '../../cli/base-command.js'
import {formatLinkReset} from '../../views/user-view.js'

export default class LinkResetCommand extends NexusCommand<typeof LinkResetCommand> {
  static override summary = "Rotate a subscription link's UUID (the old one is revoked)."
  static override description =
    'Writes a new UUID for the link to state in one transaction, keeping the old one as revoked, and bumps the state serial. The nodes keep accepting the old UUID until the next nexus apply renders the new one (through the xray API where the node allows, without a restart). The UUID is a credential and is not printed; `nexus sub export USER --link LINK` gives the new subscription.'
  static override examples = [
    '<%= config.bin %> link reset alice/phone',
    '<%= config.bin %> link reset bob/default --json',
  ]
  static override args = {
    link: Args.string({description: 'USER/LINK (a bare USER means its "default" link)', required: true}),
  }

  async run(): Promise<LinkReset> {
    const result = await resetLink({
      root: this.repoPath,
      location: this.stateLocation,
      env: process.env,
      ref: this.args.link,
      notice: (text) => this.notice(text),
    })
    this.print(formatLinkReset(result, this.style))
    this.notice(
      `next: run nexus apply; until then the nodes still accept the old UUID of ${result.user}/${result.link}`,
    )
    return result
  }
}
