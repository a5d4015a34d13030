/**
 * The plan for people, in the style of Terraform: one line per change with
 * its symbol (+ create, ~ update, - delete, -/+ replace), what it costs, the
 * drift each node shows, and a summary line. Rendered from the same Plan the
 * JSON view prints.
 */
import type {ChalkInstance} from 'chalk'

import type {Action, Change, NodePlan, Plan} from '../plan/types.js'

const SYMBOL: Record<Action, string> = {create: '+', update: '~', delete: '-', replace: '-/+'}

export function formatPlanHuman(
  plan: Plan,
  s: ChalkInstance,
  extra: {newHostKeys?: readonly {node: string; key: string}[]} = {},
): string {
  const lines: string[] = []
  const color = (action: Action) =>
    action === 'create' ? s.green : action === 'update' ? s.yellow : action === 'delete' ? s.red : s.magenta
  const row = (change: Change, width: number, detail?: string) => {
    const symbol = color(change.action)(SYMBOL[change.action].padStart(3))
    const note = [change.summary ?? reasonText(change.reason), detail].filter(Boolean).join('  ')
    return `${symbol} ${change.address.padEnd(width)}  ${s.dim(note)}${change.disruptive ? `  ${s.red('(drops connections)')}` : ''}`
  }

  if (plan.changes.length > 0) {
    lines.push(s.bold('State'))
    const width = Math.max(...plan.changes.map((c) => c.address.length))
    for (const change of plan.changes) lines.push(row(change, width))
    lines.push('')
  }
  for (const node of plan.nodes) {
    const header = nodeHeader(node, s)
    if (node.artifacts.length === 0 && node.drift.length === 0 && node.status === 'planned') continue
    lines.push(header)
    if (node.error) lines.push(`    ${s.red(`${node.error.code}: ${node.error.message}`)}`)
    const width = Math.max(0, ...node.artifacts.map((a) => a.address.length))
    for (const artifact of node.artifacts) {
      lines.push(row(artifact, width, artifact.path))
      if (artifact.diff !== undefined) lines.push(...formatDiff(artifact.diff, s))
    }
    for (const item of node.drift) {
      lines.push(
        `  ${s.magenta('!')} drift: ${item.kind.replaceAll('_', ' ')} ${item.subject}${item.detail ? ` (${item.detail})` : ''}`,
      )
    }
    lines.push('')
  }
  for (const {node, key} of extra.newHostKeys ?? []) {
    lines.push(s.yellow(`! ${node}: host key ${key.split(' ')[0]} seen for the first time; apply will record it`))
  }
  for (const warning of plan.warnings) lines.push(s.yellow(`! ${warning}`))
  if ((extra.newHostKeys?.length ?? 0) + plan.warnings.length > 0) lines.push('')

  lines.push(summaryLine(plan, s))
  return `${lines.join('\n')}\n`
}

function nodeHeader(node: NodePlan, s: ChalkInstance): string {
  const {from, to} = node.revision
  const revision = from === to ? `revision ${from ?? '(none)'}` : `revision ${from ?? '(none)'} → ${to}`
  const status =
    node.status === 'unreachable'
      ? s.red('unreachable')
      : node.status === 'offline'
        ? s.dim('not read (--offline)')
        : node.status === 'disabled'
          ? s.dim('disabled: left alone')
          : s.dim('observed')
  return `${s.bold(`Node ${node.node}`)}  ${revision}  ${status}`
}

function summaryLine(plan: Plan, s: ChalkInstance): string {
  const {summary} = plan
  if (!plan.has_changes && summary.drift === 0 && summary.unreachable === 0) {
    return `${s.green('No changes.')} State and nodes match the repo.`
  }
  const parts = [
    `${summary.create} to create`,
    `${summary.update} to change`,
    `${summary.replace} to replace`,
    `${summary.delete} to delete`,
  ]
  const extra = [
    ...(summary.disruptive > 0
      ? [s.red(`${summary.disruptive} drop${summary.disruptive === 1 ? 's' : ''} connections`)]
      : []),
    ...(summary.drift > 0 ? [s.magenta(`${summary.drift} drifted`)] : []),
    ...(summary.unreachable > 0
      ? [s.red(`${summary.unreachable} node${summary.unreachable === 1 ? '' : 's'} unreachable`)]
      : []),
  ]
  return `${s.bold('Plan:')} ${parts.join(', ')}.${extra.length > 0 ? ` ${extra.join(', ')}.` : ''}`
}

function reasonText(reason: string): string {
  return reason.replaceAll('_', ' ')
}

function formatDiff(diff: string, s: ChalkInstance): string[] {
  return diff
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => {
      const text = `      ${line}`
      if (line.startsWith('+++') || line.startsWith('---')) return s.bold(text)
      if (line.startsWith('+')) return s.green(text)
      if (line.startsWith('-')) return s.red(text)
      if (line.startsWith('@@')) return s.cyan(text)
      return s.dim(text)
    })
}
