import {createInterface} from 'node:readline/promises'

import {Args, Flags} from '@oclif/core'

import type {ApplyResult} from '../apply/run.js'
import {applyRepo} from '../apply/run.js'
import {NexusCommand} from '../cli/base-command.js'
import {NexusError} from '../errors.js'
import type {Plan} from '../plan/types.js'
import {LocalTransport} from '../transport/local.js'
import {SshTransport} from '../transport/ssh.js'
import {TransportByNode} from '../transport/by-node.js'
import {formatApplyResult, listrReporter, ndjsonReporter, plainReporter} from '../views/apply-view.js'
import {formatPlanHuman} from '../views/plan-view.js'

export default class Apply extends NexusCommand<typeof Apply> {
  static override summary = 'Carry out a plan: write state, push to the nodes, verify, record revisions.'
  static override description =
    "Without PLANFILE it plans, shows the plan and asks for confirmation (in a terminal; elsewhere pass --yes). With PLANFILE it applies exactly that saved plan, and refuses it if the commit, the state or any node changed since. Per node: upload to staging paths, check with the node's own tools, swap atomically, reload (wg syncconf for peer changes, nft -f under a watchdog confirmed over a new SSH connection, xray API or restart, dnsmasq restart), then read the node back. A failed node is rolled back and the others go on. Exit 0 only when every targeted node is verified."
  static override examples = [
    '<%= config.bin %> apply',
    '<%= config.bin %> apply plan.json',
    '<%= config.bin %> apply --yes --node fra-1 --node ams-1',
    '<%= config.bin %> apply --yes --json | jq -c "select(.type==\\"node_errored\\")"',
  ]
  static override args = {planfile: Args.string({description: 'a plan saved by nexus plan --out'})}
  static override flags = {
    yes: Flags.boolean({char: 'y', description: 'apply without asking (required without a terminal)'}),
    parallel: Flags.integer({description: 'nodes pushed at once', default: 10, min: 1}),
    node: Flags.string({description: 'only this node (repeatable)', multiple: true}),
    'allow-dirty': Flags.boolean({description: 'apply from a repo with uncommitted changes'}),
    'lock-timeout': Flags.integer({description: 'seconds to wait for another apply to finish', default: 60, min: 0}),
    'confirm-timeout': Flags.integer({
      description: 'seconds a new firewall has to be confirmed before the node restores the old one',
      default: 60,
      min: 5,
    }),
    'max-fail-percent': Flags.integer({
      description: 'stop starting nodes once more than this share has failed',
      min: 0,
      max: 100,
    }),
  }

  async run(): Promise<ApplyResult | undefined> {
    const json = this.jsonEnabled()
    const reporter = json
      ? ndjsonReporter((line) => process.stdout.write(line))
      : process.stderr.isTTY
        ? listrReporter(this.style)
        : plainReporter((line) => process.stderr.write(line), this.style)
    let interrupted = false
    const onSigint = () => {
      if (interrupted) process.exit(130)
      interrupted = true
      this.notice('interrupt: finishing the nodes in flight; press Ctrl-C again to stop at once')
    }
    process.on('SIGINT', onSigint)
    try {
      const result = await applyRepo({
        root: this.repoPath,
        location: this.stateLocation,
        env: process.env,
        transport: new TransportByNode({ssh: new SshTransport(), local: new LocalTransport()}),
        ...(this.args.planfile ? {planFile: this.args.planfile} : {}),
        confirm: (plan) => this.confirm(plan),
        parallel: this.flags.parallel,
        ...(this.flags.node ? {nodes: this.flags.node} : {}),
        allowDirty: this.flags['allow-dirty'],
        lockTimeoutMs: this.flags['lock-timeout'] * 1000,
        confirmTimeoutSec: this.flags['confirm-timeout'],
        ...(this.flags['max-fail-percent'] === undefined ? {} : {maxFailPercent: this.flags['max-fail-percent']}),
        emit: reporter.sink,
        interrupted: () => interrupted,
        now: () => new Date(),
      })
      await reporter.done()
      if (!json) this.print(formatApplyResult(result, this.style))
      process.exitCode = result.outcome === 'success' || result.outcome === 'no_changes' ? 0 : interrupted ? 130 : 1
      // With --json the NDJSON events were the output.
      return json ? undefined : result
    } finally {
      process.off('SIGINT', onSigint)
    }
  }

  private async confirm(plan: Plan): Promise<boolean> {
    if (this.flags.yes) return true
    if (!process.stdin.isTTY || this.jsonEnabled()) {
      throw new NexusError(
        'confirmation_required',
        'apply changes the fleet, and there is no terminal to confirm it in',
        'pass --yes, or apply a saved plan: nexus plan --out plan.json && nexus apply plan.json',
      )
    }
    process.stderr.write(formatPlanHuman(plan, this.style))
    const prompt = createInterface({input: process.stdin, output: process.stderr})
    try {
      const answer = await prompt.question(`\n${this.style.bold('Apply these changes?')} Only 'yes' is accepted: `)
      return answer.trim() === 'yes'
    } finally {
      prompt.close()
    }
  }
}
