/**
 * `nexus usage collect` and `nexus usage` (design.md §5).
 *
 * Collect: read the counters of every node in one round trip each
 * (transport/usage-probe.ts), attribute them to users (WireGuard peers by
 * public key, xray e-mails `user.link@nexus`), then — holding the apply lease
 * so no apply's state write races it — turn them into deltas against the
 * stored last readings and write, in one transaction, the new readings, the
 * per-user/node/day totals and each user's subscription record (addUsage).
 * Unreachable nodes are reported and skipped; their counters keep growing on
 * the node and are counted by the next collection.
 *
 * Report: the stored totals per user and node over a range of UTC days.
 */
import {NexusError} from '../errors.js'
import {compareText} from '../model/compare.js'
import type {Node} from '../model/desired.js'
import {type SubscriptionReason, type SubscriptionState, tariffsByName} from '../model/subscription.js'
import {
  type Attribution,
  chargeSubscriptions,
  type CounterOutcome,
  type CounterReading,
  type NodeCounters,
  type Traffic,
  type UsageReport,
  usageAttribution,
  usageDeltas,
  usageReport,
  utcDay,
  wireguardCounterKey,
} from '../model/usage.js'
import {withLease} from '../state/lease.js'
import {openState, type StateLocation} from '../state/open.js'
import {commitUsage, readUsageTotals} from '../state/usage.js'
import type {HostKeyStore, NodeTransport} from '../transport/types.js'
import {
  probeUsageOfNodes,
  type UnreachableUsageNode,
  type UsageProbeResult,
  type XrayCounters,
} from '../transport/usage-probe.js'
import {loadRepo} from './load-repo.js'
import {serverKeys} from './server-keys.js'

// ---------------------------------------------------------------- collect

export type SourceState =
  | {state: 'read'; counters: number}
  | {state: 'unavailable'; reason: string}
  /** The node declares no WireGuard interface / no xray. */
  | {state: 'not_declared'}

export interface NodeCollectEntry {
  node: string
  status: 'collected' | 'unreachable'
  error?: {code: string; message: string}
  wireguard: SourceState | null
  xray: SourceState | null
  /** Bytes added from this node. */
  upload: number
  download: number
  /** Counters that went down since the last reading (a daemon restart or a re-added peer). */
  resets: number
  notes: string[]
}

export interface UserCollectEntry {
  user: string
  upload: number
  download: number
  /** The subscription after the charge; null when the user has none (not activated, no tariff). */
  subscription: {
    status: SubscriptionState
    reason: SubscriptionReason
    /** Whether the next apply keeps the user's clients on the nodes. */
    let_in: boolean
    traffic_used: number
    traffic_limit: number | null
    period_end: string | null
  } | null
}

export interface UnattributedEntry {
  node: string
  kind: 'wireguard' | 'xray'
  /** The public key (`IFACE:KEY`) or the e-mail. */
  key: string
  /** The declared peer without a user, when it is one. */
  peer: string | null
  upload: number
  download: number
}

export interface UsageCollectResult {
  collected_at: string
  nodes: NodeCollectEntry[]
  /** Users with new traffic, by name. */
  users: UserCollectEntry[]
  unattributed: UnattributedEntry[]
  totals: {upload: number; download: number}
  /** The state serial after the write; null when there was nothing new to write. */
  state_serial: number | null
  warnings: string[]
}

export interface CollectOptions {
  readonly root: string
  readonly location: StateLocation
  readonly env: NodeJS.ProcessEnv
  readonly transport: NodeTransport
  /** Only these nodes. */
  readonly nodes?: readonly string[]
  readonly lockTimeoutMs: number
  readonly leaseTtlMs?: number
  readonly now: () => Date
  readonly onCommand?: (node: string, script: string) => void
  readonly notice?: (text: string) => void
}

export async function collectUsage(options: CollectOptions): Promise<UsageCollectResult> {
  const store = await openState(options.location, {
    mode: 'write',
    env: options.env,
    ...(options.notice ? {notice: options.notice} : {}),
  })
  if (!store) throw new NexusError('no_state', 'the state could not be opened')
  try {
    // Neither needs the secret key: usage touches no secret.
    const known = await store.hostKeys()
    const inventory = await loadRepo(options.root, {serverKeys: serverKeys(await store.publicValues())})
    const desired = inventory.desired
    if (!desired) {
      const errors = inventory.diagnostics.filter((d) => d.severity === 'error').length
      throw new NexusError(
        'invalid_declarations',
        `the declarations have ${errors} error(s); no usage was collected`,
        'run nexus validate',
      )
    }
    const targets = targetNodes(desired.nodes, options.nodes)
    const warnings: string[] = []
    const firstSeen: string[] = []
    const hostKeys: HostKeyStore = {
      get: async (node) => known.get(node),
      record: async (node) => {
        firstSeen.push(node)
      },
    }
    const probes = await probeUsageOfNodes(options.transport, targets, {
      connect: {hostKeys, ...(options.onCommand ? {onCommand: options.onCommand} : {})},
      now: options.now,
    })
    for (const node of firstSeen.sort(compareText)) {
      warnings.push(`${node}: host key seen for the first time; usage collect does not record it (the next apply does)`)
    }

    const attribution = usageAttribution(desired.peers, desired.users)
    const readings: NodeCounters[] = []
    const entries = new Map<string, NodeCollectEntry>()
    for (const probe of probes) {
      if (!probe.reachable) {
        entries.set(probe.node, unreachableEntry(probe))
        continue
      }
      const node = targets.find((n) => n.name === probe.node) as Node
      const {reading, entry} = readNode(node, probe, attribution)
      readings.push(reading)
      entries.set(probe.node, entry)
    }

    return await withLease(
      store,
      {
        ttlMs: options.leaseTtlMs ?? 30_000,
        waitMs: options.lockTimeoutMs,
        env: options.env,
        now: options.now,
      },
      async () => {
        const now = options.now()
        const {result, serial} = await commitUsage(
          store,
          readings.map((r) => r.node),
          (view) => {
            const deltas = usageDeltas(readings, view.counters)
            const bytes = new Map<string, number>()
            for (const total of deltas.totals) {
              if (total.user !== null)
                bytes.set(total.user, (bytes.get(total.user) ?? 0) + total.upload + total.download)
            }
            const charges = chargeSubscriptions({
              users: desired.users,
              tariffs: tariffsByName(desired.tariffs),
              records: view.subscriptions,
              bytes,
              now,
            })
            return {
              write: {
                counters: deltas.counters,
                totals: deltas.totals,
                subscriptions: charges.flatMap((c) => (c.record ? [{user: c.user, record: c.record}] : [])),
              },
              result: {outcomes: deltas.outcomes, charges},
            }
          },
        )
        for (const outcome of result.outcomes) {
          const entry = entries.get(outcome.node)
          if (!entry) continue
          entry.upload += outcome.upload
          entry.download += outcome.download
          if (outcome.delta === 'reset') entry.resets++
        }
        for (const entry of entries.values()) {
          const stale = result.outcomes.filter((o) => o.node === entry.node && o.delta === 'stale').length
          if (stale > 0) {
            entry.notes.push(`${stale} counter(s) skipped: the state has a newer reading (another collection ran)`)
          }
        }
        const users = usersOf(result.outcomes, result.charges)
        return {
          collected_at: now.toISOString(),
          nodes: targets.map((n) => entries.get(n.name) as NodeCollectEntry),
          users,
          unattributed: unattributedOf(result.outcomes),
          totals: sumTraffic(result.outcomes),
          state_serial: serial,
          warnings,
        }
      },
    )
  } finally {
    await store.close()
  }
}

function targetNodes(nodes: readonly Node[], only: readonly string[] | undefined): Node[] {
  if (only !== undefined && only.length > 0) {
    const unknown = only.filter((name) => !nodes.some((n) => n.name === name))
    if (unknown.length > 0) {
      throw new NexusError(
        'unknown_node',
        `no node is declared as ${unknown.join(', ')}`,
        `declared nodes: ${nodes.map((n) => n.name).join(', ') || '(none)'}`,
      )
    }
  }
  return nodes.filter(
    (node) => node.status !== 'disabled' && (only === undefined || only.length === 0 || only.includes(node.name)),
  )
}

function unreachableEntry(probe: UnreachableUsageNode): NodeCollectEntry {
  return {
    node: probe.node,
    status: 'unreachable',
    error: {code: probe.error.code, message: probe.error.message},
    wireguard: null,
    xray: null,
    upload: 0,
    download: 0,
    resets: 0,
    notes: [],
  }
}

/** The counters of one node, attributed; interfaces the node does not declare are left out. */
function readNode(
  node: Node,
  probe: UsageProbeResult,
  attribution: Attribution,
): {reading: NodeCounters; entry: NodeCollectEntry} {
  const counters: CounterReading[] = []
  const notes: string[] = []
  let wireguard: SourceState
  if (probe.wireguard === null) wireguard = {state: 'not_declared'}
  else if (probe.wireguard.state === 'unavailable') wireguard = {state: 'unavailable', reason: probe.wireguard.reason}
  else {
    const live = probe.wireguard.interfaces
    const declared = new Set(node.interfaces.map((i) => i.name))
    const ignored = live.filter((iface) => !declared.has(iface))
    if (ignored.length > 0) notes.push(`not counted (not declared on this node): ${ignored.join(', ')}`)
    const missing = [...declared].filter((iface) => !live.includes(iface)).sort(compareText)
    if (missing.length > 0) notes.push(`not running: ${missing.join(', ')}`)
    let read = 0
    for (const peer of probe.wireguard.peers) {
      if (!declared.has(peer.iface)) continue
      const owner = attribution.wireguard(node.name, peer.publicKey)
      counters.push({
        kind: 'wireguard',
        key: wireguardCounterKey(peer.iface, peer.publicKey),
        rx: peer.rx,
        tx: peer.tx,
        user: owner.user,
        label: owner.peer ?? peer.publicKey,
      })
      read++
    }
    wireguard = {state: 'read', counters: read}
  }
  const xray = xraySource(probe.xray, counters, attribution)
  return {
    reading: {node: node.name, observedAt: probe.observedAt, counters},
    entry: {
      node: node.name,
      status: 'collected',
      wireguard,
      xray,
      upload: 0,
      download: 0,
      resets: 0,
      notes,
    },
  }
}

function xraySource(xray: XrayCounters | null, counters: CounterReading[], attribution: Attribution): SourceState {
  if (xray === null) return {state: 'not_declared'}
  if (xray.state === 'unavailable') return {state: 'unavailable', reason: xray.reason}
  for (const user of xray.users) {
    counters.push({
      kind: 'xray',
      key: user.email,
      rx: user.uplink,
      tx: user.downlink,
      user: attribution.xray(user.email),
      label: user.email,
    })
  }
  return {state: 'read', counters: xray.users.length}
}

function usersOf(
  outcomes: readonly CounterOutcome[],
  charges: ReturnType<typeof chargeSubscriptions>,
): UserCollectEntry[] {
  const traffic = new Map<string, {upload: number; download: number}>()
  for (const outcome of outcomes) {
    if (outcome.user === null || outcome.upload + outcome.download === 0) continue
    const sum = traffic.get(outcome.user) ?? {upload: 0, download: 0}
    sum.upload += outcome.upload
    sum.download += outcome.download
    traffic.set(outcome.user, sum)
  }
  return [...traffic]
    .sort(([a], [b]) => compareText(a, b))
    .map(([user, sum]) => {
      const charge = charges.find((c) => c.user === user)
      const status = charge?.record ? charge.status : undefined
      return {
        user,
        ...sum,
        subscription: status
          ? {
              status: status.status,
              reason: status.reason,
              let_in: status.letIn,
              traffic_used: status.trafficUsed,
              traffic_limit: status.trafficLimit,
              period_end: status.periodEnd,
            }
          : null,
      }
    })
}

function unattributedOf(outcomes: readonly CounterOutcome[]): UnattributedEntry[] {
  return outcomes
    .filter((o) => o.user === null && o.upload + o.download > 0)
    .map((o) => ({
      node: o.node,
      kind: o.kind,
      key: o.key,
      peer: o.kind === 'wireguard' && !o.key.endsWith(`:${o.label}`) ? o.label : null,
      upload: o.upload,
      download: o.download,
    }))
}

function sumTraffic(items: readonly Traffic[]): {upload: number; download: number} {
  return items.reduce((sum, t) => ({upload: sum.upload + t.upload, download: sum.download + t.download}), {
    upload: 0,
    download: 0,
  })
}

// ---------------------------------------------------------------- report

export interface ReportOptions {
  readonly location: StateLocation
  readonly env: NodeJS.ProcessEnv
  readonly user?: string
  readonly node?: string
  /** `YYYY-MM-DD`; default: 29 days before `until`. */
  readonly since?: string
  /** `YYYY-MM-DD`; default: today (UTC). */
  readonly until?: string
  readonly now: Date
}

/** Days a report covers when --since is not given (today included). */
export const DEFAULT_REPORT_DAYS = 30

export async function usageReportOf(options: ReportOptions): Promise<UsageReport> {
  const until = options.until ?? utcDay(options.now)
  const since =
    options.since ?? utcDay(new Date(Date.parse(`${until}T00:00:00Z`) - (DEFAULT_REPORT_DAYS - 1) * 86_400_000))
  if (since > until) {
    throw new NexusError('invalid_range', `--since ${since} is after --until ${until}`, 'swap them')
  }
  const filter = {
    ...(options.user === undefined ? {} : {user: options.user}),
    ...(options.node === undefined ? {} : {node: options.node}),
  }
  const store = await openState(options.location, {mode: 'read', env: options.env})
  if (!store) return usageReport([], {since, until}, filter)
  try {
    const rows = await readUsageTotals(store, {since, until, ...filter})
    return usageReport(rows, {since, until}, filter)
  } finally {
    await store.close()
  }
}
