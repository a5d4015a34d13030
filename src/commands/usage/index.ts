import {Flags} from '@oclif/core'

import {usageReportOf} from '../../app/usage.js'
import {NexusCommand} from '../../cli/base-command.js'
import {NexusError} from '../../errors.js'
import type {UsageReport} from '../../model/usage.js'
import {formatUsageHuman} from '../../views/usage-view.js'

export default class Usage extends NexusCommand<typeof Usage> {
  static override summary = 'Show the traffic per user and node: upload, download, and a sparkline per day.'
  static override description =
    "Sums what nexus usage collect stored, per user and per node, over a range of UTC days (the last 30 by default): upload (from the user), download (to the user) and their total, with a sparkline of each user's traffic per day. Traffic of peers and xray e-mails that no declared user owns is shown as unattributed."
  static override examples = [
    '<%= config.bin %> usage',
    '<%= config.bin %> usage --user alice --since 2026-01-01',
    '<%= config.bin %> usage --json | jq ".users[] | {user, download}"',
  ]
  static override flags = {
    user: Flags.string({description: 'only this user'}),
    node: Flags.string({description: 'only this node'}),
    since: Flags.string({description: 'first day to include, YYYY-MM-DD (UTC; default: 29 days before --until)'}),
    until: Flags.string({description: 'last day to include, YYYY-MM-DD (UTC; default: today)'}),
  }

  async run(): Promise<UsageReport> {
    const result = await usageReportOf({
      location: this.stateLocation,
      env: process.env,
      now: new Date(),
      ...(this.flags.user === undefined ? {} : {user: this.flags.user}),
      ...(this.flags.node === undefined ? {} : {node: this.flags.node}),
      ...(this.flags.since === undefined ? {} : {since: day(this.flags.since, '--since')}),
      ...(this.flags.until === undefined ? {} : {until: day(this.flags.until, '--until')}),
    })
    this.print(formatUsageHuman(result, this.style))
    return result
  }
}

/** `2026-01-31`, or an ISO 8601 instant taken as its UTC day. */
function day(text: string, flag: string): string {
  const plain = /^\d{4}-\d{2}-\d{2}$/.test(text)
  const time = Date.parse(plain ? `${text}T00:00:00Z` : text)
  if (Number.isNaN(time) || (plain && new Date(time).toISOString().slice(0, 10) !== text)) {
    throw new NexusError('invalid_date', `${flag} ${text} is not a date`, 'write it as YYYY-MM-DD, e.g. 2026-01-31')
  }
  return new Date(time).toISOString().slice(0, 10)
}
