/**
 * Reading traffic counters from a node in one round trip (design.md §5,
 * formats.md §2.5 and §6): `wg show all dump` for every WireGuard peer and
 * `xray api statsquery -pattern 'user>>>'` for every xray user, framed as
 * nonce-marked sections like the observation script (observation.ts), and
 * the parser of that output. Counters are read, never reset (`-reset` would
 * lose bytes if the collector failed before storing them); a counter that
 * went down is a daemon restart, which model/usage.ts handles.
 *
 * Every probe tolerates failure: wg or xray missing, the xray API not
 * listening, odd output are values (`unavailable`), never an error of the
 * whole read. Secrets stay on the node: the script blanks the private and
 * preshared keys before printing, and the parser keeps only keys and counts.
 */
import {randomBytes} from 'node:crypto'

import {NexusError} from '../errors.js'
import type {Node} from '../model/desired.js'
import {parseWireguardDump} from './observation.js'
import {
  assertNonce,
  firstLines,
  NOT_FOUND,
  PROBE_PRELUDE,
  type Section,
  splitSections,
  UNAVAILABLE,
  XRAY_TIMEOUT_S,
  xrayUnavailable,
} from './probe.js'
import {onEachNode, type UnreachableNode} from './each-node.js'
import {sh, shellQuote} from './shell.js'
import type {ConnectOptions, NodeConnection, NodeTransport} from './types.js'

// ---------------------------------------------------------------- the result

/** One peer of `wg show all dump`: rx = received from the peer (upload), tx = sent to it (download). */
export interface PeerCounters {
  readonly iface: string
  readonly publicKey: string
  readonly rx: number
  readonly tx: number
}

export type WireguardCounters =
  | {readonly state: 'available'; readonly interfaces: readonly string[]; readonly peers: readonly PeerCounters[]}
  | {readonly state: 'unavailable'; readonly reason: string}

/** One xray user: uplink = client to server (upload), downlink = server to client (download). */
export interface XrayUserCounters {
  readonly email: string
  readonly uplink: number
  readonly downlink: number
}

export type XrayCounters =
  | {readonly state: 'available'; readonly users: readonly XrayUserCounters[]}
  | {readonly state: 'unavailable'; readonly reason: string}

export interface UsageProbeResult {
  readonly node: string
  readonly reachable: true
  /** When the output arrived. */
  readonly observedAt: Date
  /** null: the node declares no WireGuard interface, so `wg` was not asked. */
  readonly wireguard: WireguardCounters | null
  /** null: the node declares no xray. */
  readonly xray: XrayCounters | null
}

/** A node whose counters could not be read. */
export type UnreachableUsageNode = UnreachableNode

// ---------------------------------------------------------------- the script

export interface UsageProbePlan {
  readonly node: string
  readonly wireguard: boolean
  readonly xray?: {readonly apiPort: number}
}

export function usageProbePlan(node: Node): UsageProbePlan {
  return {
    node: node.name,
    wireguard: node.interfaces.length > 0,
    ...(node.xray ? {xray: {apiPort: node.xray.apiPort}} : {}),
  }
}

const SCRIPT_FUNCTIONS = String.raw`nx_wg_all() {
  nx_need wg || return
  # Interface lines (5 fields) carry the private key, peer lines (9 fields) the preshared key: never printed.
  wg show all dump | awk -F '\t' -v OFS='\t' 'NF == 5 { $2 = "(hidden)" } NF == 9 && $3 != "(none)" { $3 = "(hidden)" } { print }'
}
nx_xray_stats() {
  nx_need xray || return
  if ! (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    printf 'nothing listens on 127.0.0.1:%s (the xray API)\n' "$1" >&2
    return ${UNAVAILABLE}
  fi
  if command -v timeout >/dev/null 2>&1; then
    timeout ${XRAY_TIMEOUT_S} xray api statsquery --server="127.0.0.1:$1" -pattern 'user>>>'
  else
    xray api statsquery --server="127.0.0.1:$1" -pattern 'user>>>'
  fi
}
`

/** The bash script that reads a node's counters in one exec. `nonce`: hex, fresh per run. */
export function usageProbeScript(plan: UsageProbePlan, nonce: string): string {
  assertNonce(nonce)
  const lines = [PROBE_PRELUDE + SCRIPT_FUNCTIONS, sh`nx_nonce=${nonce}`]
  if (plan.wireguard) lines.push('nx_probe wg nx_wg_all')
  if (plan.xray) lines.push(sh`nx_probe xray nx_xray_stats ${plan.xray.apiPort}`)
  lines.push(`printf '\\n@@nexus:%s:done@@\\n' ${shellQuote(nonce)}`)
  return `${lines.join('\n')}\n`
}

// ---------------------------------------------------------------- the parser

/**
 * Turns the output of `usageProbeScript` into counters. Throws a NexusError
 * `usage_probe_failed` only when the script did not run to its end.
 */
export function parseUsageProbe(
  plan: UsageProbePlan,
  output: {readonly exitCode: number | null; readonly stdout: string; readonly stderr: string},
  nonce: string,
  observedAt: Date,
): UsageProbeResult {
  const {sections, done} = splitSections(output.stdout, nonce)
  if (!done) {
    const detail = firstLines(output.stderr) || `exit ${output.exitCode ?? 'by signal'}`
    throw new NexusError(
      'usage_probe_failed',
      `reading the counters of node ${plan.node} failed: the probe script stopped early (${detail})`,
      'the node needs bash; rerun with --verbose to see the script',
    )
  }
  const section = (id: string): Section =>
    sections.get(id) ?? {stdout: '', stderr: 'the probe printed no section', exitCode: -1}
  return {
    node: plan.node,
    reachable: true,
    observedAt,
    wireguard: plan.wireguard ? parseWireguardSection(section('wg')) : null,
    xray: plan.xray ? parseXraySection(section('xray')) : null,
  }
}

function parseWireguardSection(section: Section): WireguardCounters {
  if (section.exitCode !== 0) {
    const detail = firstLines(section.stderr)
    if (section.exitCode === NOT_FOUND) return {state: 'unavailable', reason: detail || 'wg is not installed'}
    return {
      state: 'unavailable',
      reason: `\`wg show all dump\` failed (exit ${section.exitCode})${detail ? `: ${detail}` : ''}`,
    }
  }
  const parsed = parseWireguardAllDump(section.stdout)
  return parsed
    ? {state: 'available', ...parsed}
    : {state: 'unavailable', reason: 'unrecognised output from `wg show all dump`'}
}

/**
 * Parses `wg show all dump`: every line starts with the interface name, then
 * an interface line (private key, public key, listen port, fwmark) or a peer
 * line (public key, preshared key, endpoint, allowed IPs, latest handshake,
 * rx, tx, keepalive) as in `wg show IFACE dump`. Interfaces are sorted, peers
 * by interface and public key. Undefined when the text is not that.
 */
export function parseWireguardAllDump(text: string): {interfaces: string[]; peers: PeerCounters[]} | undefined {
  const byInterface = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const tab = line.indexOf('\t')
    if (tab <= 0) return undefined
    const iface = line.slice(0, tab)
    byInterface.set(iface, [...(byInterface.get(iface) ?? []), line.slice(tab + 1)])
  }
  const interfaces = [...byInterface.keys()].sort()
  const peers: PeerCounters[] = []
  for (const iface of interfaces) {
    const dump = parseWireguardDump((byInterface.get(iface) ?? []).join('\n'))
    if (!dump) return undefined
    for (const peer of dump.peers) peers.push({iface, publicKey: peer.publicKey, rx: peer.rxBytes, tx: peer.txBytes})
  }
  return {interfaces, peers}
}

function parseXraySection(section: Section): XrayCounters {
  if (section.exitCode !== 0) return xrayUnavailable(section, 'xray api statsquery')
  const users = parseXrayStats(section.stdout)
  return users
    ? {state: 'available', users}
    : {state: 'unavailable', reason: 'unrecognised output from `xray api statsquery`'}
}

/**
 * The per-user counters in `xray api statsquery` output
 * (`{"stat": [{"name": "user>>>EMAIL>>>traffic>>>uplink", "value": 123}, …]}`;
 * `{}` when there are none). A missing `value` is 0 (xray omits zeros); a
 * value may also come as a numeric string (int64 in protobuf JSON). Other
 * counters (inbound, outbound) are ignored. Sorted by e-mail; undefined when
 * the output is not that document.
 */
export function parseXrayStats(text: string): XrayUserCounters[] | undefined {
  const document = firstJsonDocument(text)
  if (document === undefined) return undefined
  if (document === null || typeof document !== 'object' || Array.isArray(document)) return undefined
  const stat = (document as {stat?: unknown}).stat
  if (stat === undefined) return []
  if (!Array.isArray(stat)) return undefined
  const users = new Map<string, {uplink: number; downlink: number}>()
  for (const entry of stat) {
    if (entry === null || typeof entry !== 'object') return undefined
    const {name, value} = entry as {name?: unknown; value?: unknown}
    if (typeof name !== 'string') return undefined
    const parts = name.split('>>>')
    const [kind, email, traffic, direction] = parts
    if (parts.length !== 4 || kind !== 'user' || traffic !== 'traffic' || !email) continue
    if (direction !== 'uplink' && direction !== 'downlink') continue
    const count = toCount(value)
    if (count === undefined) return undefined
    const user = users.get(email) ?? {uplink: 0, downlink: 0}
    user[direction] = count
    users.set(email, user)
  }
  return [...users].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([email, counts]) => ({email, ...counts}))
}

function toCount(value: unknown): number | undefined {
  if (value === undefined || value === null) return 0
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

/** The first JSON document of the text: some xray versions print a second one after the response. */
function firstJsonDocument(text: string): unknown {
  const trimmed = text.trim()
  if (trimmed === '') return {}
  try {
    return JSON.parse(trimmed) as unknown
  } catch {
    const end = trimmed.search(/\n\}/)
    if (!trimmed.startsWith('{') || end < 0) return undefined
    try {
      return JSON.parse(trimmed.slice(0, end + 2)) as unknown
    } catch {
      return undefined
    }
  }
}

// ---------------------------------------------------------------- the I/O

export const USAGE_PROBE_DEFAULTS = {
  /** The probe script, on one node. */
  timeoutMs: 60_000,
  /** Nodes read at once. */
  concurrency: 16,
} as const

/** Reads one node's counters in one round trip. Rejects with the connection's NexusErrors or `usage_probe_failed`. */
export async function probeUsage(
  connection: NodeConnection,
  node: Node,
  options: {readonly timeoutMs?: number; readonly now?: () => Date} = {},
): Promise<UsageProbeResult> {
  const plan = usageProbePlan(node)
  const nonce = randomBytes(16).toString('hex')
  const result = await connection.exec(usageProbeScript(plan, nonce), {
    timeoutMs: options.timeoutMs ?? USAGE_PROBE_DEFAULTS.timeoutMs,
  })
  return parseUsageProbe(plan, result, nonce, (options.now ?? (() => new Date()))())
}

/**
 * Reads every node (connect, probe, close), at most `concurrency` at once,
 * in the order of `nodes`. Any failure of one node becomes
 * `{reachable: false, error}` for that node only.
 */
export async function probeUsageOfNodes(
  transport: NodeTransport,
  nodes: readonly Node[],
  options: {
    readonly connect: ConnectOptions
    readonly concurrency?: number
    readonly timeoutMs?: number
    readonly now?: () => Date
  },
): Promise<(UsageProbeResult | UnreachableUsageNode)[]> {
  return onEachNode(
    transport,
    nodes,
    {
      connect: options.connect,
      concurrency: options.concurrency ?? USAGE_PROBE_DEFAULTS.concurrency,
      failure: {code: 'usage_probe_failed', doing: (node) => `reading the counters of node ${node}`},
    },
    (connection, node) => probeUsage(connection, node, options),
  )
}
