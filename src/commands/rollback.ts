import {createInterface} from 'node:readline/promises'

import {Flags} from '@oclif/core'

import {type RollbackPreview, type RollbackResult, rollbackNode} from '../apply/rollback.js'
import {NexusCommand} from '../cli/base-command.js'
import {NexusError} from '../errors.js'
import {LocalTransport} from '../transport/local.js'
import {SshTransport} from '../transport/ssh.js'
import {TransportByNode} from '../transport/by-node.js'
import {formatRollbackPreview, formatRollbackResult} from '../views/history-view.js'

export default class Rollback extends NexusCommand<typeof Rollback> {
  static override summary = "Re-push an earlier revision's files to a node."
  static override description =
    "Takes the files revision REV deployed (state keeps them for the newest 10 revisions of each node) and pushes the ones that differ from what the node has now through the same safe path as apply: upload, check with the node's tools, atomic swap, reload (a firewall under the watchdog), read back. The result is recorded as a new revision. The repo is not changed: it still declares the newer state, so the next nexus plan shows the difference. Asks for confirmation in a terminal; elsewhere pass --yes."
  static override examples = [
    '<%= config.bin %> rollback --node fra-1 --to 7',
    '<%= config.bin %> rollback --node fra-1 --to 7 --yes --json',
  ]
  static override flags = {
    node: Flags.string({description: 'the node to roll back', required: true}),
    to: Flags.integer({
      description: 'the revision whose files to re-push (nexus history lists them)',
      required: true,
      min: 1,
    }),
    yes: Flags.boolean({char: 'y', description: 'roll back without asking (required without a terminal)'}),
    'lock-timeout': Flags.integer({description: 'seconds to wait for an apply to finish', default: 60, min: 0}),
    'confirm-timeout': Flags.integer({
      description: 'seconds a restored firewall has to be confirmed before the node puts the current one back',
      default: 60,
      min: 5,
    }),
  }

  async run(): Promise<RollbackResult> {
    // Refused before the lock is taken or the node is touched.
    if (!this.flags.yes && (!process.stdin.isTTY || this.jsonEnabled())) throw confirmationRequired()
    const result = await rollbackNode({
      root: this.repoPath,
      location: this.stateLocation,
      env: process.env,
      transport: new TransportByNode({ssh: new SshTransport(), local: new LocalTransport()}),
      node: this.flags.node,
      to: this.flags.to,
      confirm: (preview) => this.confirm(preview),
      lockTimeoutMs: this.flags['lock-timeout'] * 1000,
      confirmTimeoutSec: this.flags['confirm-timeout'],
      progress: (step, status, detail) => {
        if (status !== 'started') this.notice(`${this.flags.node}: ${step} ${status}${detail ? ` (${detail})` : ''}`)
      },
      now: () => new Date(),
    })
    this.print(formatRollbackResult(result, this.style))
    process.exitCode = result.outcome === 'diverged' ? 1 : 0
    return result
  }

  private async confirm(preview: RollbackPreview): Promise<boolean> {
    if (this.flags.yes) return true
    process.stderr.write(formatRollbackPreview(preview, this.style))
    const prompt = createInterface({input: process.stdin, output: process.stderr})
    try {
      const answer = await prompt.question(`\n${this.style.bold('Roll back?')} Only 'yes' is accepted: `)
      return answer.trim() === 'yes'
    } finally {
      prompt.close()
    }
  }
}

function confirmationRequired(): NexusError {
  return new NexusError(
    'confirmation_required',
    'rollback changes a node, and there is no terminal to confirm it in',
    'pass --yes',
  )
}
