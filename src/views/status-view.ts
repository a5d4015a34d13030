/**
 * `nexus status` for people: one row per node (revision, how it ended, when,
 * commit, who, the last apply, and what the node reports now), then what
 * differs on each diverged node and why an unreachable one could not be read.
 */
import type {ChalkInstance} from 'chalk'

import type {LiveState, NodeStatusEntry, StatusResult} from '../app/status.js'

const LIVE_TEXT: Record<LiveState, string> = {
  verified: 'verified',
  diverged: 'diverged',
  unreachable: 'unreachable',
  never_applied: 'never applied',
  not_read: 'not read',
}

export function formatStatusHuman(result: StatusResult, s: ChalkInstance): string {
  if (result.nodes.length === 0) return 'no nodes are declared and the state records none\n'
  const lines = table(
    ['NODE', 'REV', 'RESULT', 'WHEN', 'COMMIT', 'BY', 'LAST APPLY', 'LIVE'],
    result.nodes.map((entry) => [
      {text: entry.node},
      {text: entry.revision ? String(entry.revision.number) : '-'},
      {text: entry.revision?.result ?? '-', color: entry.revision ? resultColor(entry.revision.result, s) : s.dim},
      {text: entry.revision ? shortTime(entry.revision.at) : '-'},
      {text: entry.revision ? shortCommit(entry.revision.commit) : '-'},
      {text: entry.revision?.actor ?? '-'},
      {text: lastApplyText(entry)},
      {text: liveText(entry), color: liveColor(entry.live.state, s)},
    ]),
    s,
  )
  const details: string[] = []
  for (const entry of result.nodes) {
    const {live} = entry
    const body: string[] = []
    if (live.error) body.push(`    ${s.red(`${live.error.code}: ${live.error.message}`)}`)
    for (const difference of live.differences) {
      body.push(
        `  ${s.magenta('!')} ${difference.kind.replaceAll('_', ' ')} ${difference.subject}: ${difference.detail}`,
      )
    }
    for (const note of live.notes) body.push(`    ${s.dim(note)}`)
    if (body.length === 0) continue
    details.push('', `${s.bold(entry.node)}: ${liveColor(live.state, s)(LIVE_TEXT[live.state])}`, ...body)
  }
  const warnings = result.warnings.map((w) => s.yellow(`! ${w}`))
  return `${[...lines, ...details, ...(warnings.length > 0 ? ['', ...warnings] : []), '', summaryLine(result, s)].join('\n')}\n`
}

function lastApplyText(entry: NodeStatusEntry): string {
  const apply = entry.last_apply
  if (!apply) return '-'
  // The node's own result, when the apply's overall one does not already say it.
  const node =
    (apply.result === 'success' && apply.node_result === 'verified') || apply.node_result === apply.result
      ? ''
      : ` (${apply.node_result})`
  return `#${apply.id} ${apply.result}${node} ${shortTime(apply.at)}`
}

function liveText(entry: NodeStatusEntry): string {
  const {live} = entry
  if (live.state === 'not_read') return `not read (${live.reason ?? 'unknown'})`
  if (live.state === 'diverged') return `diverged (${live.differences.length})`
  return LIVE_TEXT[live.state]
}

function liveColor(state: LiveState, s: ChalkInstance): ChalkInstance {
  return state === 'verified' ? s.green : state === 'diverged' ? s.magenta : state === 'unreachable' ? s.red : s.dim
}

function resultColor(result: string, s: ChalkInstance): ChalkInstance {
  return result === 'verified' ? s.green : result === 'diverged' ? s.magenta : s.yellow
}

function summaryLine(result: StatusResult, s: ChalkInstance): string {
  const {summary} = result
  const parts = (Object.keys(LIVE_TEXT) as LiveState[])
    .filter((state) => summary[state] > 0)
    .map((state) => liveColor(state, s)(`${summary[state]} ${LIVE_TEXT[state]}`))
  return `${s.bold(`${result.nodes.length} node${result.nodes.length === 1 ? '' : 's'}:`)} ${parts.join(', ')}.`
}

// ---------------------------------------------------------------- shared with the history view

export interface Cell {
  readonly text: string
  readonly color?: ChalkInstance
}

/** A plain table: a dim header, columns padded to their widest cell (colour applied after padding). */
export function table(headers: readonly string[], rows: readonly (readonly Cell[])[], s: ChalkInstance): string[] {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => row[i]?.text.length ?? 0)))
  const line = (cells: readonly Cell[]) =>
    cells
      .map((cell, i) => {
        const text = i === cells.length - 1 ? cell.text : cell.text.padEnd(widths[i] ?? 0)
        return cell.color ? cell.color(text) : text
      })
      .join('  ')
      .trimEnd()
  return [s.dim(line(headers.map((text) => ({text})))), ...rows.map(line)]
}

/** `2024-05-01 12:00Z`: minutes are enough in a table, and UTC reads the same everywhere. */
export function shortTime(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`
}

export function shortCommit(commit: string | null): string {
  return commit ? commit.slice(0, 8) : '-'
}
