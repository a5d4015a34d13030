/**
 * `nexus peer ...` for people: what was written (and committed, applied),
 * the device's wg-quick file and its QR code, and the peer table. The JSON
 * form is the app's result itself.
 */
import {createInterface} from 'node:readline/promises'

import type {ChalkInstance} from 'chalk'
import QRCode from 'qrcode'

import type {ApplySummary, PeerCreated, PeerEntry, PeerListResult, PeerRemoved, PeerShown} from '../app/peer.js'
import type {CommitResult} from '../git/edit-repo.js'
import type {Plan} from '../plan/types.js'
import {formatPlanHuman} from './plan-view.js'
import {type Cell, shortTime, table} from './status-view.js'

/**
 * The QR code of a wg-quick file for a terminal: with colour, black on an
 * explicit white background in half-height blocks (scannable on dark
 * terminals too); without, plain block characters on the terminal's own
 * background. Comment lines are left out of the code, which keeps it small.
 */
export async function qrTerminal(config: string, colour: boolean): Promise<string> {
  const text = qrPayload(config)
  const code = colour
    ? await QRCode.toString(text, {type: 'terminal', small: true, errorCorrectionLevel: 'L'})
    : await QRCode.toString(text, {type: 'utf8', errorCorrectionLevel: 'L', margin: 2})
  return code.endsWith('\n') ? code : `${code}\n`
}

/** The QR code of a wg-quick file (comment lines left out) as a PNG image. */
export async function qrPng(config: string): Promise<Buffer> {
  return QRCode.toBuffer(qrPayload(config), {type: 'png', errorCorrectionLevel: 'L', margin: 4, scale: 6})
}

/** What a QR code of a config holds: the file without its comment lines. */
export function qrPayload(config: string): string {
  return config
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .join('\n')
}

export function formatPeerCreated(result: PeerCreated, s: ChalkInstance): string {
  const user = typeof result.peer.user === 'string' ? ` (user ${result.peer.user})` : ''
  const lines = [
    `${s.green('✔')} Created peer ${s.bold(String(result.peer.name))} on ${result.node}/${String(result.peer.interface)}${user}`,
    ...fields([
      ['address', `${result.addresses.join(', ')} (pinned in the YAML)`],
      ['public key', String(result.peer.publicKey)],
      ['file', `${result.file} (${result.appended ? 'appended to the file' : 'new file'})`],
      ...commitField(result.committed),
      ...applyField(result.applied),
    ]),
    '',
    s.dim(
      result.privateKeyGenerated
        ? `# ${result.peer.name}.conf: wg-quick file for the device (its private key is shown only now)`
        : `# ${result.peer.name}.conf: wg-quick file for the device (put its own private key in)`,
    ),
    result.config.trimEnd(),
  ]
  return `${lines.join('\n')}\n`
}

export function formatPeerRemoved(result: PeerRemoved, s: ChalkInstance): string {
  const addresses =
    result.addresses.length > 0
      ? `${result.addresses.join(', ')}: released by the next apply, then quarantined for ${result.quarantineDays} days`
      : 'none held'
  const lines = [
    `${s.green('✔')} Removed peer ${s.bold(result.peer)} (${result.node}/${result.interface})`,
    ...fields([
      ['file', `${result.file} (${result.fileDeleted ? 'file deleted' : 'document removed, the rest kept'})`],
      ['addresses', addresses],
      ...commitField(result.committed),
      ...applyField(result.applied),
    ]),
  ]
  return `${lines.join('\n')}\n`
}

export function formatPeerList(result: PeerListResult, s: ChalkInstance): string {
  if (result.peers.length === 0) return 'no peers are declared\n'
  const headers = ['NAME', 'USER', 'NODE', 'IFACE', 'ADDRESS', 'STATE']
  if (!result.offline) headers.push('HANDSHAKE', 'RX', 'TX')
  const rows = result.peers.map((peer): Cell[] => {
    const row: Cell[] = [
      {text: peer.name},
      {text: peer.user ?? '-'},
      {text: peer.node},
      {text: peer.interface},
      {text: addressText(peer), ...(peer.addresses.length === 0 ? {color: s.dim} : {})},
      stateCell(peer, s),
    ]
    if (!result.offline) row.push(...liveCells(peer, s))
    return row
  })
  const active = result.peers.filter((p) => p.active).length
  const connected = result.peers.filter((p) => p.live?.latestHandshake).length
  const summary = [
    `${result.peers.length} peer${result.peers.length === 1 ? '' : 's'}`,
    `${active} active`,
    ...(result.peers.length > active ? [`${result.peers.length - active} not on their node`] : []),
    ...(result.offline ? [] : [`${connected} with a handshake`]),
  ]
  const warnings = result.warnings.map((w) => s.yellow(`! ${w}`))
  return `${[...table(headers, rows, s), ...(warnings.length > 0 ? ['', ...warnings] : []), '', `${s.bold(`${summary[0]}:`)} ${summary.slice(1).join(', ')}.`].join('\n')}\n`
}

export function formatPeerShown(result: PeerShown, s: ChalkInstance): string {
  const lines = [
    `${s.bold('Peer')} ${s.bold(result.name)}`,
    ...fields([
      ['user', result.user ?? '-'],
      ['node', `${result.node} / ${result.interface}`],
      ['public key', result.publicKey],
      ['address', addressText(result)],
      ...(result.allowedIPs.length > 0 ? ([['allowed IPs', result.allowedIPs.join(', ')]] as const) : []),
      ['tunnel', result.tunnel],
      ['state', stateText(result)],
      ['file', result.file],
    ]),
  ]
  if (result.config !== null) {
    lines.push(
      '',
      s.dim(`# ${result.name}.conf: put the device's private key in place of the placeholder`),
      result.config.trimEnd(),
    )
  }
  return `${lines.join('\n')}\n`
}

function fields(entries: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...entries.map(([label]) => label.length))
  return entries.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`)
}

function commitField(commit: CommitResult | null): [string, string][] {
  return commit ? [['commit', `${commit.commit.slice(0, 8)} ${commit.message}`]] : []
}

function applyField(applied: ApplySummary | null): [string, string][] {
  if (!applied) return []
  if (applied.error) {
    return [['apply', `failed: ${applied.error.message}${applied.error.hint ? ` (${applied.error.hint})` : ''}`]]
  }
  const nodes = Object.entries(applied.nodes)
    .map(([node, result]) => `${node} ${result}`)
    .join(', ')
  return [['apply', `${applied.outcome.replaceAll('_', ' ')}${nodes ? `: ${nodes}` : ''}`]]
}

function addressText(peer: PeerEntry): string {
  if (peer.addresses.length === 0) return '(allocated by the next apply)'
  return `${peer.addresses.join(', ')}${peer.addressSource === 'pinned' ? '' : ' (allocated)'}`
}

function stateText(peer: PeerEntry): string {
  if (!peer.enabled) return 'disabled'
  return peer.active ? 'active' : 'inactive (its user is not let in)'
}

function stateCell(peer: PeerEntry, s: ChalkInstance): Cell {
  if (!peer.enabled) return {text: 'disabled', color: s.dim}
  return peer.active ? {text: 'active', color: s.green} : {text: 'inactive', color: s.yellow}
}

function liveCells(peer: PeerEntry, s: ChalkInstance): Cell[] {
  const live = peer.live
  if (!live) return [{text: '-'}, {text: '-'}, {text: '-'}]
  if (live.state !== 'present') {
    const text = live.state.replaceAll('_', ' ')
    return [{text, color: live.state === 'not_on_node' ? s.dim : s.red}, {text: '-'}, {text: '-'}]
  }
  return [
    live.latestHandshake ? {text: shortTime(live.latestHandshake)} : {text: 'never', color: s.dim},
    {text: formatBytes(live.rxBytes ?? 0)},
    {text: formatBytes(live.txBytes ?? 0)},
  ]
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`
}

/**
 * Asks on the terminal whether to apply the plan shown (stderr), as
 * `nexus apply` does: only `yes` is accepted.
 */
export async function askToApply(plan: Plan, s: ChalkInstance): Promise<boolean> {
  process.stderr.write(formatPlanHuman(plan, s))
  const prompt = createInterface({input: process.stdin, output: process.stderr})
  try {
    const answer = await prompt.question(`\n${s.bold('Apply these changes?')} Only 'yes' is accepted: `)
    return answer.trim() === 'yes'
  } finally {
    prompt.close()
  }
}
