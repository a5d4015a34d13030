import {Flags} from '@oclif/core'

import {planRepo} from '../app/plan.js'
import {savePlan} from '../app/save-plan.js'
import {NexusCommand} from '../cli/base-command.js'
import type {Plan} from '../plan/types.js'
import {LocalTransport} from '../transport/local.js'
import {SshTransport} from '../transport/ssh.js'
import {TransportByNode} from '../transport/by-node.js'
import {formatPlanHuman} from '../views/plan-view.js'
import {formatValidateHuman, type ValidateResult, validateResult} from '../views/validate-view.js'

export default class PlanCommand extends NexusCommand<typeof PlanCommand> {
  static override summary = 'Show what apply would change in state and on every node.'
  static override description =
    'Compares the repo with the state (Postgres or the embedded database) and with what each node reports over SSH, then lists every change: state objects, secrets, links and subscriptions, and per node the files that will change, how (wg syncconf, interface restart, nft reload, xray API or restart) and the revision the node moves to. Drift (a node changed by hand since its last revision) is shown separately. Plan never writes state or touches a node.'
  static override examples = [
    '<%= config.bin %> plan',
    '<%= config.bin %> plan --offline',
    '<%= config.bin %> plan --out plan.json --detailed-exitcode',
    '<%= config.bin %> plan --json | jq ".summary"',
  ]
  static override flags = {
    out: Flags.string({
      description: 'save the plan for `nexus apply FILE` (secrets in it are encrypted with the state key)',
    }),
    offline: Flags.boolean({description: 'do not read the nodes; plan against state only'}),
    'detailed-exitcode': Flags.boolean({description: 'exit 0 without changes, 2 with changes, 1 on error'}),
    diff: Flags.boolean({description: 'show unified diffs of the files that change, secrets masked'}),
  }

  async run(): Promise<Plan | ValidateResult> {
    const transport = new TransportByNode({ssh: new SshTransport(), local: new LocalTransport()})
    const run = await planRepo({
      root: this.repoPath,
      location: this.stateLocation,
      env: process.env,
      offline: this.flags.offline,
      diff: this.flags.diff,
      transport,
      now: new Date(),
      ...(this.flags.verbose
        ? {onCommand: (node: string, script: string) => this.notice(`[${node}] ${firstLine(script)}`)}
        : {}),
    })
    if (!run.result) {
      const invalid = validateResult(run.inventory, this.repoArg)
      process.exitCode = 1
      this.print(formatValidateHuman(invalid, this.style))
      return invalid
    }
    const {plan} = run.result
    if (this.flags.out) {
      await savePlan(this.stateLocation, this.flags.out, run.result, {env: process.env, notice: (t) => this.notice(t)})
    }
    this.print(formatPlanHuman(plan, this.style, {newHostKeys: run.newHostKeys}))
    if (this.flags.out)
      this.notice(`saved the plan to ${this.flags.out}; run nexus apply ${this.flags.out} to carry it out`)
    process.exitCode =
      plan.summary.unreachable > 0
        ? 1
        : this.flags['detailed-exitcode'] && (plan.has_changes || plan.summary.drift > 0)
          ? 2
          : 0
    return plan
  }
}

function firstLine(script: string): string {
  const line = script.trim().split('\n')[0] ?? ''
  return line.length > 100 ? `${line.slice(0, 97)}...` : line
}
