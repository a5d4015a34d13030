import {Flags} from '@oclif/core'

import {nodeStatus, type StatusResult} from '../app/status.js'
import {NexusCommand} from '../cli/base-command.js'
import {LocalTransport} from '../transport/local.js'
import {SshTransport} from '../transport/ssh.js'
import {TransportByNode} from '../transport/by-node.js'
import {formatStatusHuman} from '../views/status-view.js'

export default class Status extends NexusCommand<typeof Status> {
  static override summary = 'Show each node: its revision, its last apply, and whether it still runs that revision.'
  static override description =
    'For every node: the latest revision in state (number, how it ended, when, commit, who), the last apply that included it, and what the node reports now over SSH compared with what that revision recorded (deployed file hashes, live WireGuard peers, the loaded nft table, xray users, the revision marker): verified, diverged (with what differs), unreachable, or never applied. Status only reads; nexus plan shows what an apply would change.'
  static override examples = [
    '<%= config.bin %> status',
    '<%= config.bin %> status --offline',
    '<%= config.bin %> status --json | jq ".nodes[] | {node, live: .live.state}"',
  ]
  static override flags = {
    offline: Flags.boolean({description: 'do not read the nodes; show what state records only'}),
  }

  async run(): Promise<StatusResult> {
    const result = await nodeStatus({
      root: this.repoPath,
      location: this.stateLocation,
      env: process.env,
      offline: this.flags.offline === true,
      transport: new TransportByNode({ssh: new SshTransport(), local: new LocalTransport()}),
      ...(this.flags.verbose
        ? {onCommand: (node: string, script: string) => this.notice(`[${node}] ${script.trim().split('\n')[0]}`)}
        : {}),
    })
    this.print(formatStatusHuman(result, this.style))
    return result
  }
}
