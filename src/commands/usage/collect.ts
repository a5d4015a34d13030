import {Flags} from '@oclif/core'

import {collectUsage, type UsageCollectResult} from '../../app/usage.js'
import {NexusCommand} from '../../cli/base-command.js'
import {TransportByNode} from '../../transport/by-node.js'
import {LocalTransport} from '../../transport/local.js'
import {SshTransport} from '../../transport/ssh.js'
import {formatCollectHuman} from '../../views/usage-view.js'

export default class UsageCollect extends NexusCommand<typeof UsageCollect> {
  static override summary = "Read every node's traffic counters and add the new traffic to the state."
  static override description =
    "Reads the per-peer WireGuard counters (wg show all dump) and the per-user xray counters (xray's stats API) of every node over SSH, one round trip per node, and adds what moved since the last collection to the state: per user, node and UTC day, and to each user's subscription (the traffic used in the current period; a first use starts a startOnFirstUse term). A counter that went down was reset by a restart: its new value is counted. Collecting again without new traffic adds nothing. Peers and xray e-mails no declared user owns are counted as unattributed. A user whose traffic limit is used up is cut off by the next plan and apply. Unreachable nodes are reported and skipped (exit 1); their counters are collected next time."
  static override examples = [
    '<%= config.bin %> usage collect',
    '<%= config.bin %> usage collect --node fra-1',
    '<%= config.bin %> usage collect --json | jq ".users"',
  ]
  static override flags = {
    node: Flags.string({description: 'only this node (repeatable)', multiple: true}),
    'lock-timeout': Flags.integer({description: 'seconds to wait for a running apply to finish', default: 60, min: 0}),
  }

  async run(): Promise<UsageCollectResult> {
    const result = await collectUsage({
      root: this.repoPath,
      location: this.stateLocation,
      env: process.env,
      transport: new TransportByNode({ssh: new SshTransport(), local: new LocalTransport()}),
      ...(this.flags.node ? {nodes: this.flags.node} : {}),
      lockTimeoutMs: this.flags['lock-timeout'] * 1000,
      now: () => new Date(),
      notice: (text) => this.notice(text),
      ...(this.flags.verbose
        ? {onCommand: (node: string, script: string) => this.notice(`[${node}] ${script.trim().split('\n')[0]}`)}
        : {}),
    })
    this.print(formatCollectHuman(result, this.style))
    if (result.nodes.some((node) => node.status === 'unreachable')) process.exitCode = 1
    return result
  }
}
