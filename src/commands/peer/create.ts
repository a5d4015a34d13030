import {resolve} from 'node:path'

import {Flags} from '@oclif/core'

import {createPeer, type PeerCreated} from '../../app/peer.js'
import {NexusCommand} from '../../cli/base-command.js'
import {inlineApply, inlineApplyFlags} from '../../cli/inline-apply.js'
import {colorEnabled} from '../../cli/style.js'
import {writeBytesAtomic} from '../../git/edit-repo.js'
import {formatPeerCreated, qrPng, qrTerminal} from '../../views/peer-view.js'

export type PeerCreateResult = PeerCreated & {
  /** Where the QR code PNG was saved (--qr), or null. */
  readonly qr: string | null
}

export default class PeerCreate extends NexusCommand<typeof PeerCreate> {
  static override summary = 'Add a WireGuard peer to the repo and print its client config and QR code.'
  static override description = `Validates first: the whole repo, with the new peer in it, must validate, or nothing is written. Without --public-key an x25519 key pair is generated; its private key appears only in the printed config (and QR code), and is never stored: not in the repo, not in state, not in a log. Save it now. With --json the config, private key included, is in the "config" field: the only copy.

The peer's addresses are allocated as the next apply would (state allocations and quarantined addresses respected) and pinned in the YAML, so the printed config stays valid. When the gateway interface has no key in state yet, one is generated and recorded there, for the same reason.

The peer goes into peers/NAME.yaml with the editor schema header, or, when the peers of that interface (or all peers) live in one multi-document file, is appended to it. Existing files keep their comments and formatting. --commit commits exactly that file; --apply then applies to the peer's node (asking first in a terminal; pass --yes elsewhere).`
  static override examples = [
    '<%= config.bin %> peer create --name alice-tablet --interface wg0 --user alice',
    '<%= config.bin %> peer create --name office --interface wg0 --public-key KEY --allowed-ips 192.168.10.0/24 --commit',
    '<%= config.bin %> peer create --name bob-phone --interface wg0 --user bob --qr bob-phone.png --commit --apply --yes',
    '<%= config.bin %> peer create --name ci --interface wg0 --json | jq -r .config > ci.conf',
  ]
  static override flags = {
    name: Flags.string({description: 'name of the peer (a DNS label, e.g. alice-laptop)', required: true}),
    interface: Flags.string({description: 'WireGuard interface it connects to', required: true}),
    node: Flags.string({description: 'node of the interface (needed when several nodes have one of that name)'}),
    user: Flags.string({description: 'user the device belongs to'}),
    'public-key': Flags.string({description: "the device's own public key (then no key pair is generated)"}),
    address: Flags.string({
      description: 'tunnel address to pin (one per family; the rest is allocated)',
      multiple: true,
      delimiter: ',',
    }),
    'allowed-ips': Flags.string({
      description: 'networks behind the peer routed to it (site-to-site), comma-separated or repeated',
      multiple: true,
      delimiter: ',',
    }),
    qr: Flags.string({description: 'also save the QR code of the config as a PNG to this file (mode 0600)'}),
    commit: Flags.boolean({description: 'commit the written file (only that file)'}),
    ...inlineApplyFlags,
  }

  async run(): Promise<PeerCreateResult> {
    const {flags} = this
    const inline = inlineApply(flags, {json: this.jsonEnabled(), style: this.style})
    const result = await createPeer({
      root: this.repoPath,
      location: this.stateLocation,
      env: process.env,
      now: new Date(),
      name: flags.name,
      interface: flags.interface,
      ...(flags.node ? {node: flags.node} : {}),
      ...(flags.user ? {user: flags.user} : {}),
      ...(flags['public-key'] ? {publicKey: flags['public-key']} : {}),
      ...(flags.address ? {addresses: flags.address} : {}),
      ...(flags['allowed-ips'] ? {allowedIPs: flags['allowed-ips']} : {}),
      commit: flags.commit === true,
      ...(inline.request ? {apply: inline.request} : {}),
      notice: (text) => this.notice(text),
    }).finally(inline.done)

    // The config is printed before anything else can fail: its private key exists nowhere else.
    this.print(formatPeerCreated(result, this.style))
    if (!this.jsonEnabled()) this.print(`\n${await qrTerminal(result.config, colorEnabled())}`)
    let qr: string | null = null
    if (flags.qr) {
      const target = resolve(flags.qr)
      try {
        await writeBytesAtomic(target, await qrPng(result.config), 0o600)
        qr = target
        this.notice(`saved the QR code to ${flags.qr}`)
      } catch (error) {
        process.exitCode = 1
        this.notice(
          `${this.style.red('Error:')} could not save the QR code to ${flags.qr}: ${error instanceof Error ? error.message : String(error)}`,
        )
      }
    }
    if (result.commitError) {
      process.exitCode = 1
      this.notice(
        `${this.style.red('Error:')} ${result.commitError.message}${result.commitError.hint ? `\n${this.style.dim('hint:')} ${result.commitError.hint}` : ''}`,
      )
    }
    if (result.privateKeyGenerated) {
      this.notice(
        this.style.yellow(
          `! The private key of ${flags.name} is in the config above and nowhere else: nexus has not stored it. Save the config now.`,
        ),
      )
    }
    if (result.serverKeyRecorded) {
      this.notice(`recorded a new key for ${result.node}/${flags.interface} in state; the next apply deploys it`)
    }
    if (!result.applied) {
      this.notice(
        `next: ${result.committed ? '' : `commit ${result.file}, then `}nexus apply --node ${result.node} puts the peer on the gateway`,
      )
    } else if (result.applied.outcome !== 'success' && result.applied.outcome !== 'no_changes') {
      process.exitCode = result.applied.outcome === 'interrupted' ? 130 : 1
    }
    return {...result, qr}
  }
}
