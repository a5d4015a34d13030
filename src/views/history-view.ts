/**
 * `nexus history` for people: one row per revision, newest first, with the
 * files it changed (the last two parts of each path: `wireguard/wg0.conf`),
 * rollbacks marked, and which revisions `nexus rollback` can still re-push.
 */
import type {ChalkInstance} from 'chalk'

import type {HistoryEntry, HistoryResult} from '../app/history.js'
import type {RollbackPreview, RollbackResult} from '../apply/rollback.js'
import type {Effect} from '../plan/types.js'
import {shortCommit, shortTime, table} from './status-view.js'

const SIGN = {added: '+', changed: '~', removed: '-'} as const

export function formatHistoryHuman(result: HistoryResult, s: ChalkInstance): string {
  if (result.entries.length === 0) {
    return result.node === null ? 'no revisions yet: nothing was applied\n' : `no revisions of node ${result.node}\n`
  }
  const lines = table(
    ['NODE', 'REV', 'RESULT', 'WHEN', 'COMMIT', 'BY', 'FILES'],
    result.entries.map((entry) => [
      {text: entry.node},
      {text: String(entry.revision)},
      {text: entry.result, color: entry.result === 'verified' ? s.green : s.magenta},
      {text: shortTime(entry.at)},
      {text: shortCommit(entry.commit)},
      {text: entry.actor},
      {text: filesText(entry)},
    ]),
    s,
  )
  const footer: string[] = []
  if (result.entries.length < result.total) {
    footer.push(s.dim(`(${result.total - result.entries.length} older revision(s) not shown; see --limit)`))
  }
  const kept = keptText(result.entries)
  if (kept) footer.push(s.dim(`files kept for nexus rollback: ${kept}`))
  return `${[...lines, ...(footer.length > 0 ? ['', ...footer] : [])].join('\n')}\n`
}

function filesText(entry: HistoryEntry): string {
  const prefix = entry.rollback_to === null ? '' : `rollback to ${entry.rollback_to}: `
  if (entry.files.length === 0) return `${prefix}no file changed`
  if (entry.files.every((f) => f.change === 'added') && entry.files.length > 3) {
    return `${prefix}+ ${entry.files.length} files`
  }
  const shown = entry.files.slice(0, 3).map((f) => `${SIGN[f.change]} ${shortPath(f.path)}`)
  const more = entry.files.length > 3 ? `, +${entry.files.length - 3} more` : ''
  return `${prefix}${shown.join(', ')}${more}`
}

function shortPath(path: string): string {
  return path.split('/').filter(Boolean).slice(-2).join('/')
}

/** `gw-1 1-3, 5; fra-1 4` over the entries shown. */
function keptText(entries: readonly HistoryEntry[]): string {
  const byNode = new Map<string, number[]>()
  for (const entry of entries) {
    if (entry.files_kept) byNode.set(entry.node, [...(byNode.get(entry.node) ?? []), entry.revision])
  }
  return [...byNode].map(([node, revisions]) => `${node} ${ranges(revisions.sort((a, b) => a - b))}`).join('; ')
}

function ranges(sorted: readonly number[]): string {
  const parts: string[] = []
  let start = sorted[0]
  let end = start
  for (const n of [...sorted.slice(1), Number.NaN]) {
    if (start === undefined || end === undefined) break
    if (n === end + 1) {
      end = n
      continue
    }
    parts.push(start === end ? String(start) : `${start}-${end}`)
    start = n
    end = n
  }
  return parts.join(', ')
}

// ---------------------------------------------------------------- nexus rollback

export function formatRollbackPreview(preview: RollbackPreview, s: ChalkInstance): string {
  const lines = [
    `${s.bold(`Node ${preview.node}`)}  revision ${preview.from} → ${preview.revision} (the files of revision ${preview.to}, commit ${shortCommit(preview.commit)})`,
  ]
  if (preview.changes.length === 0)
    lines.push(s.dim('  the node already has these files; only the revision marker is written'))
  const width = Math.max(0, ...preview.changes.map((c) => c.address.length))
  for (const change of preview.changes) {
    const symbol =
      change.action === 'create' ? s.green('  +') : change.action === 'delete' ? s.red('  -') : s.yellow('  ~')
    lines.push(
      `${symbol} ${change.address.padEnd(width)}  ${s.dim(`${change.reason.replaceAll('_', ' ')}; ${EFFECT_TEXT[change.effect]}`)}${change.disruptive ? `  ${s.red('(drops connections)')}` : ''}`,
    )
  }
  return `${lines.join('\n')}\n`
}

export function formatRollbackResult(result: RollbackResult, s: ChalkInstance): string {
  if (result.outcome === 'cancelled') return 'rollback cancelled; nothing was changed\n'
  const color = result.outcome === 'verified' ? s.green : s.magenta
  const lines = [
    formatRollbackPreview(result, s).trimEnd(),
    '',
    `${color(result.outcome === 'verified' ? '✔' : '!')} ${result.node} runs the files of revision ${result.to} again: ${color(result.outcome)}, recorded as revision ${result.revision}`,
    ...result.divergences.map((d) => `  ${s.magenta('!')} ${d}`),
    ...result.notes.map((n) => `  ${s.dim(n)}`),
    s.yellow(`note: ${result.repo_note}`),
  ]
  return `${lines.join('\n')}\n`
}

const EFFECT_TEXT: Record<Effect, string> = {
  state_only: 'state only',
  wg_syncconf: 'wg syncconf: no session dropped',
  interface_restart: 'interface restart',
  nft_reload: 'nft -f under the watchdog',
  xray_api: 'xray API',
  xray_restart: 'xray restart',
  dnsmasq_restart: 'dnsmasq restart',
}
