import {Flags} from '@oclif/core'

import {listPeers, type PeerListResult} from '../../app/peer.js'
import {NexusCommand} from '../../cli/base-command.js'
import {LocalTransport} from '../../transport/local.js'
import {SshTransport} from '../../transport/ssh.js'
import {TransportByNode} from '../../transport/by-node.js'
import {formatPeerList} from '../../views/peer-view.js'

export default class PeerList extends NexusCommand<typeof PeerList> {
  static override summary = 'List the WireGuard peers: address, state, and what their node reports.'
  static override description =
    "One row per declared peer: its user, node and interface, its addresses (pinned in YAML, or allocated in state), whether it is enabled and carried by its node (its user's subscription lets it in), and, read live from each node over SSH (wg show dump), its latest handshake and the bytes received from and sent to it. --offline skips the nodes. Nothing is written, not even a node's host key seen for the first time."
  static override examples = [
    '<%= config.bin %> peer list',
    '<%= config.bin %> peer list --node fra-1 --offline',
    '<%= config.bin %> peer list --user alice --json | jq ".peers[] | {name, handshake: .live.latestHandshake}"',
  ]
  static override flags = {
    node: Flags.string({description: 'only the peers of this node'}),
    user: Flags.string({description: 'only the peers of this user'}),
    offline: Flags.boolean({description: 'do not read the nodes; no handshakes or transfer'}),
  }

  async run(): Promise<PeerListResult> {
    const result = await listPeers({
      root: this.repoPath,
      location: this.stateLocation,
      env: process.env,
      now: new Date(),
      offline: this.flags.offline === true,
      transport: new TransportByNode({ssh: new SshTransport(), local: new LocalTransport()}),
      ...(this.flags.node ? {node: this.flags.node} : {}),
      ...(this.flags.user ? {user: this.flags.user} : {}),
    })
    this.print(formatPeerList(result, this.style))
    return result
  }
}
