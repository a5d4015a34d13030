/**
 * `nexus usage collect` and `nexus usage` for people: sizes in binary units
 * (`1.5 GiB`), a table per node and per user, and for the report a
 * sparkline of each user's traffic per day. Colour only through the style
 * (none without a TTY or with NO_COLOR); the sparkline is plain characters.
 */
import type {ChalkInstance} from 'chalk'

import type {NodeCollectEntry, SourceState, UsageCollectResult, UserCollectEntry} from '../app/usage.js'
import {daysBetween, type Traffic, type UsageReport} from '../model/usage.js'
import {type Cell, table} from './status-view.js'

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const

/** `512 B`, `1.5 KiB`, `10.0 GiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

// ---------------------------------------------------------------- collect

export function formatCollectHuman(result: UsageCollectResult, s: ChalkInstance): string {
  const lines: string[] = []
  if (result.nodes.length === 0) lines.push('no node to read (every selected node is disabled)')
  else {
    lines.push(
      ...table(
        ['NODE', 'STATUS', 'WIREGUARD', 'XRAY', 'UPLOAD', 'DOWNLOAD'],
        result.nodes.map((entry) => [
          {text: entry.node},
          entry.status === 'collected' ? {text: 'collected', color: s.green} : {text: 'unreachable', color: s.red},
          sourceCell(entry.wireguard, 'peer', s),
          sourceCell(entry.xray, 'user', s),
          {text: entry.status === 'collected' ? formatBytes(entry.upload) : '-'},
          {text: entry.status === 'collected' ? formatBytes(entry.download) : '-'},
        ]),
        s,
      ),
    )
    const details = result.nodes.flatMap((entry) => nodeDetails(entry, s))
    if (details.length > 0) lines.push(...details)
  }

  if (result.users.length > 0) {
    lines.push(
      '',
      ...table(
        ['USER', 'UPLOAD', 'DOWNLOAD', 'THIS PERIOD', 'SUBSCRIPTION'],
        result.users.map((user) => [
          {text: user.user, color: s.bold},
          {text: formatBytes(user.upload)},
          {text: formatBytes(user.download)},
          {text: periodText(user)},
          subscriptionCell(user, s),
        ]),
        s,
      ),
    )
  }
  if (result.unattributed.length > 0) {
    lines.push('', s.bold('Unattributed (no declared user owns these counters):'))
    lines.push(
      ...table(
        ['NODE', 'KIND', 'KEY', 'UPLOAD', 'DOWNLOAD'],
        result.unattributed.map((entry) => [
          {text: entry.node},
          {text: entry.kind},
          {text: entry.peer === null ? entry.key : `${entry.key} (peer ${entry.peer}, no user)`},
          {text: formatBytes(entry.upload)},
          {text: formatBytes(entry.download)},
        ]),
        s,
      ).map((line) => `  ${line}`),
    )
  }
  for (const warning of result.warnings) lines.push(s.yellow(`warning: ${warning}`))

  lines.push('')
  const unreachable = result.nodes.filter((n) => n.status === 'unreachable').length
  if (result.state_serial === null) {
    lines.push('Nothing new since the last collection; the state is unchanged.')
  } else {
    const users = plural(result.users.length, 'user')
    lines.push(
      `${s.green('✔')} Added ${formatBytes(result.totals.upload)} up, ${formatBytes(result.totals.download)} down (${users}) to the state (serial ${result.state_serial}).`,
    )
  }
  if (unreachable > 0) {
    lines.push(
      s.red(
        `${plural(unreachable, 'node')} could not be read; ${unreachable === 1 ? 'its' : 'their'} counters keep counting and are collected next time.`,
      ),
    )
  }
  return `${lines.join('\n')}\n`
}

function sourceCell(source: SourceState | null, noun: string, s: ChalkInstance): Cell {
  if (source === null || source.state === 'not_declared') return {text: '-'}
  if (source.state === 'unavailable') return {text: 'unavailable', color: s.yellow}
  return {text: plural(source.counters, noun)}
}

function nodeDetails(entry: NodeCollectEntry, s: ChalkInstance): string[] {
  const lines: string[] = []
  if (entry.error) lines.push(`  ${s.red('!')} ${entry.node}: ${entry.error.code}: ${entry.error.message}`)
  for (const [name, source] of [
    ['wireguard', entry.wireguard],
    ['xray', entry.xray],
  ] as const) {
    if (source?.state === 'unavailable') lines.push(`  ${s.yellow('!')} ${entry.node} ${name}: ${source.reason}`)
  }
  if (entry.resets > 0) {
    lines.push(
      s.dim(
        `  ${entry.node}: ${plural(entry.resets, 'counter')} went down (a restart or a re-added peer): counted from the new value`,
      ),
    )
  }
  for (const note of entry.notes) lines.push(s.dim(`  ${entry.node}: ${note}`))
  return lines
}

function periodText(user: UserCollectEntry): string {
  const sub = user.subscription
  if (!sub) return '-'
  return sub.traffic_limit === null
    ? `${formatBytes(sub.traffic_used)} (no limit)`
    : `${formatBytes(sub.traffic_used)} of ${formatBytes(sub.traffic_limit)}`
}

function subscriptionCell(user: UserCollectEntry, s: ChalkInstance): Cell {
  const sub = user.subscription
  if (!sub) return {text: 'none: traffic not charged', color: s.dim}
  const reason = sub.reason === sub.status ? '' : ` (${sub.reason.replaceAll('_', ' ')})`
  if (sub.let_in) return {text: `${sub.status}${reason}`, color: sub.status === 'active' ? s.green : undefined}
  return {text: `${sub.status}${reason}: the next apply cuts the user off`, color: s.red}
}

// ---------------------------------------------------------------- report

/** Sparkline levels, lowest first; a day without traffic is a dot. */
const LEVELS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'] as const
const NO_TRAFFIC = '·'
/** At most this many characters per sparkline; longer ranges put several days in one. */
const MAX_SPARK = 56

export function formatUsageHuman(report: UsageReport, s: ChalkInstance): string {
  const days = daysBetween(report.since, report.until)
  const per = Math.max(1, Math.ceil(days.length / MAX_SPARK))
  const heading = `Usage ${report.since} … ${report.until} (UTC)${filterText(report)}`
  if (report.users.length === 0 && report.unattributed === null) {
    return `${heading}\n\nno traffic recorded in this range; nexus usage collect reads it from the nodes\n`
  }
  const rows: Cell[][] = []
  const sizes = (t: Traffic): Cell[] => [
    {text: formatBytes(t.upload)},
    {text: formatBytes(t.download)},
    {text: formatBytes(t.upload + t.download)},
  ]
  for (const user of report.users) {
    rows.push([
      {text: user.user, color: s.bold},
      ...sizes(user),
      {text: sparkline(user.daily, days, per), color: s.cyan},
    ])
    for (const node of user.nodes) rows.push([{text: `  ${node.node}`, color: s.dim}, ...sizes(node), {text: ''}])
  }
  if (report.unattributed) {
    rows.push([{text: '(unattributed)', color: s.yellow}, ...sizes(report.unattributed), {text: ''}])
    for (const node of report.unattributed.nodes) {
      rows.push([{text: `  ${node.node}`, color: s.dim}, ...sizes(node), {text: ''}])
    }
  }
  const spark = per === 1 ? 'PER DAY' : `PER ${per} DAYS`
  const lines = [
    heading,
    '',
    ...table(['USER', 'UPLOAD', 'DOWNLOAD', 'TOTAL', spark], rows, s),
    '',
    `${plural(report.users.length, 'user')}${report.unattributed ? ' and unattributed traffic' : ''}: ${formatBytes(report.totals.upload)} up, ${formatBytes(report.totals.download)} down, ${formatBytes(report.totals.upload + report.totals.download)} in all.`,
  ]
  return `${lines.join('\n')}\n`
}

function filterText(report: UsageReport): string {
  const parts = [
    ...(report.filter.user === null ? [] : [`user ${report.filter.user}`]),
    ...(report.filter.node === null ? [] : [`node ${report.filter.node}`]),
  ]
  return parts.length === 0 ? '' : `, ${parts.join(', ')}`
}

/** One character per `per` days of `days`, scaled to the busiest one. */
export function sparkline(
  daily: readonly {readonly day: string; readonly upload: number; readonly download: number}[],
  days: readonly string[],
  per = 1,
): string {
  const byDay = new Map(daily.map((d) => [d.day, d.upload + d.download]))
  const buckets: number[] = []
  for (let i = 0; i < days.length; i += per) {
    buckets.push(days.slice(i, i + per).reduce((sum, day) => sum + (byDay.get(day) ?? 0), 0))
  }
  const max = Math.max(0, ...buckets)
  return buckets
    .map((value) => {
      if (value <= 0 || max <= 0) return NO_TRAFFIC
      const level = Math.min(LEVELS.length, Math.max(1, Math.ceil((value / max) * LEVELS.length)))
      return LEVELS[level - 1]
    })
    .join('')
}
