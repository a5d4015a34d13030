import {Args, Flags} from '@oclif/core'

import {type PeerShown, showPeer} from '../../app/peer.js'
import {NexusCommand} from '../../cli/base-command.js'
import {colorEnabled} from '../../cli/style.js'
import {formatPeerShown, qrTerminal} from '../../views/peer-view.js'

export default class PeerShow extends NexusCommand<typeof PeerShow> {
  static override summary = 'Show one peer, and optionally its client config and QR code.'
  static override description =
    "The peer's declaration and state: user, node and interface, public key, addresses, whether its node carries it, and the file it is declared in. --config adds the device's wg-quick file; nexus never stores a device's private key, so the file holds a placeholder to replace with it. --qr prints the QR code of that file. The state is only read."
  static override examples = [
    '<%= config.bin %> peer show alice-laptop',
    '<%= config.bin %> peer show alice-laptop --config',
    '<%= config.bin %> peer show alice-laptop --json | jq -r .config',
  ]
  static override args = {name: Args.string({description: 'name of the peer', required: true})}
  static override flags = {
    config: Flags.boolean({description: "print the device's wg-quick file (private key as a placeholder)"}),
    qr: Flags.boolean({description: 'print the QR code of that file'}),
  }

  async run(): Promise<PeerShown> {
    const result = await showPeer({
      root: this.repoPath,
      location: this.stateLocation,
      env: process.env,
      now: new Date(),
      name: this.args.name,
      config: this.flags.config || this.flags.qr || this.jsonEnabled(),
    })
    const shown = this.flags.config || this.jsonEnabled() ? result : {...result, config: null}
    this.print(formatPeerShown(shown, this.style))
    if (this.flags.qr && result.config !== null && !this.jsonEnabled()) {
      this.print(`\n${await qrTerminal(result.config, colorEnabled())}`)
    }
    if (result.preview && result.config !== null) {
      this.notice(
        this.style.yellow(
          `! ${result.node}/${result.interface} has no key in state yet: the config's PublicKey is a preview; run nexus apply first`,
        ),
      )
    }
    return shown
  }
}
