/**
 * Traffic accounting, the pure half (design.md §5): cumulative counters read
 * from the nodes become deltas against the last stored readings, deltas are
 * attributed to users and summed per user, node and UTC day, and each user's
 * bytes are charged to their subscription record.
 *
 * Counters. Every counter is a pair of cumulative byte counts as the node
 * sees them: `rx` = received by the node = the user's upload, `tx` = sent by
 * the node = the user's download (`wg show dump` transfer-rx/-tx, xray's
 * uplink/downlink). A counter only grows while its daemon runs; one that went
 * down (in either direction) was reset — a peer removed and re-added, an
 * interface or xray restarted — so its whole new value is what was used since.
 * A counter seen for the first time counts in full: it started at zero when
 * the peer or user appeared on the node. A counter that is missing from a
 * reading adds nothing and keeps its stored reading.
 *
 * Nothing here reads or writes: app/usage.ts reads the nodes and the state,
 * calls these functions, and writes the result in one transaction.
 */
import {compareText} from './compare.js'
import type {Peer, Tariff, User} from './desired.js'
import {
  addUsage,
  type SubscriptionEvent,
  type SubscriptionRecord,
  type SubscriptionStatus,
  subscriptionStatus,
} from './subscription.js'

export type CounterKind = 'wireguard' | 'xray'

/** Cumulative bytes: rx = received by the node (upload), tx = sent by the node (download). */
export interface CounterPair {
  readonly rx: number
  readonly tx: number
}

export type DeltaKind = 'first' | 'increase' | 'unchanged' | 'reset'

export interface CounterDelta {
  readonly kind: DeltaKind
  readonly upload: number
  readonly download: number
}

/** The traffic between two readings of one counter (`previous` absent: never read before). */
export function counterDelta(previous: CounterPair | undefined, current: CounterPair): CounterDelta {
  if (previous === undefined) return {kind: 'first', upload: current.rx, download: current.tx}
  if (current.rx < previous.rx || current.tx < previous.tx) {
    return {kind: 'reset', upload: current.rx, download: current.tx}
  }
  const upload = current.rx - previous.rx
  const download = current.tx - previous.tx
  return {kind: upload === 0 && download === 0 ? 'unchanged' : 'increase', upload, download}
}

// ---------------------------------------------------------------- attribution

/** The usage_counters key of a WireGuard peer: its interface and public key. */
export function wireguardCounterKey(iface: string, publicKey: string): string {
  return `${iface}:${publicKey}`
}

/** The user of an xray e-mail `user.link@nexus` (model/names.ts xrayEmail), when that user is declared. */
export function userOfXrayEmail(email: string, users: ReadonlySet<string>): string | null {
  const match = /^([a-z][a-z0-9-]{0,62})\.[a-z0-9-]+@nexus$/.exec(email)
  const user = match?.[1]
  return user !== undefined && users.has(user) ? user : null
}

export interface Attribution {
  /** The declared peer with this key on this node (else anywhere), and its user (null for a peer without one). */
  wireguard(node: string, publicKey: string): {readonly peer: string | null; readonly user: string | null}
  xray(email: string): string | null
}

export function usageAttribution(peers: readonly Peer[], users: readonly User[]): Attribution {
  const byKey = new Map<string, Peer[]>()
  for (const peer of peers) byKey.set(peer.publicKey, [...(byKey.get(peer.publicKey) ?? []), peer])
  const userNames = new Set(users.map((u) => u.name))
  return {
    wireguard(node, publicKey) {
      const candidates = byKey.get(publicKey) ?? []
      const peer = candidates.find((p) => p.node === node) ?? candidates[0]
      if (!peer) return {peer: null, user: null}
      const user = peer.user !== undefined && userNames.has(peer.user) ? peer.user : null
      return {peer: peer.name, user}
    },
    xray: (email) => userOfXrayEmail(email, userNames),
  }
}

// ---------------------------------------------------------------- deltas

/** One counter as read from a node, attributed. */
export interface CounterReading extends CounterPair {
  readonly kind: CounterKind
  /** The usage_counters key: `IFACE:PUBLIC_KEY` (wireguardCounterKey) or the xray e-mail. */
  readonly key: string
  /** The user it belongs to; null when unattributed. */
  readonly user: string | null
  /** What a person recognises: the peer name, else the key. */
  readonly label: string
}

/** Everything read from one node at one moment. */
export interface NodeCounters {
  readonly node: string
  readonly observedAt: Date
  readonly counters: readonly CounterReading[]
}

/** A last reading as stored (usage_counters). */
export interface StoredCounter extends CounterPair {
  readonly node: string
  readonly kind: CounterKind
  readonly key: string
  readonly observedAt: Date
}

export interface Traffic {
  readonly upload: number
  readonly download: number
}

/** Bytes to add to usage_totals; `user` null = unattributed. */
export interface TotalsDelta extends Traffic {
  readonly user: string | null
  readonly node: string
  /** UTC day of the reading, `YYYY-MM-DD`. */
  readonly day: string
}

export interface CounterOutcome extends Traffic {
  readonly node: string
  readonly kind: CounterKind
  readonly key: string
  readonly label: string
  readonly user: string | null
  readonly delta: DeltaKind | 'stale'
}

export interface UsageDeltas {
  /** Readings to store: new counters with traffic, and counters whose values moved. */
  readonly counters: readonly StoredCounter[]
  /** Summed per user (or unattributed), node and day; only non-zero entries. */
  readonly totals: readonly TotalsDelta[]
  /** Every counter read, with what it added (sorted by node, kind, key). */
  readonly outcomes: readonly CounterOutcome[]
}

/**
 * Turns the readings into deltas against the stored last readings. A stored
 * reading taken after this one (another collector got there first) wins:
 * the counter is skipped (`stale`). Collecting the same readings twice adds
 * nothing the second time.
 */
export function usageDeltas(readings: readonly NodeCounters[], stored: readonly StoredCounter[]): UsageDeltas {
  const last = new Map(stored.map((s) => [counterId(s.node, s.kind, s.key), s]))
  const counters: StoredCounter[] = []
  const outcomes: CounterOutcome[] = []
  const totals = new Map<string, {user: string | null; node: string; day: string; upload: number; download: number}>()
  for (const reading of readings) {
    const day = utcDay(reading.observedAt)
    for (const counter of reading.counters) {
      const previous = last.get(counterId(reading.node, counter.kind, counter.key))
      const base = {node: reading.node, kind: counter.kind, key: counter.key, label: counter.label, user: counter.user}
      if (previous && previous.observedAt.getTime() >= reading.observedAt.getTime()) {
        outcomes.push({...base, delta: 'stale', upload: 0, download: 0})
        continue
      }
      const delta = counterDelta(previous, counter)
      outcomes.push({...base, delta: delta.kind, upload: delta.upload, download: delta.download})
      const moved = previous ? previous.rx !== counter.rx || previous.tx !== counter.tx : counter.rx + counter.tx > 0
      if (moved) {
        counters.push({
          node: reading.node,
          kind: counter.kind,
          key: counter.key,
          rx: counter.rx,
          tx: counter.tx,
          observedAt: reading.observedAt,
        })
      }
      if (delta.upload === 0 && delta.download === 0) continue
      const id = `${counter.user ?? ''}\n${reading.node}\n${day}`
      const sum = totals.get(id) ?? {user: counter.user, node: reading.node, day, upload: 0, download: 0}
      sum.upload += delta.upload
      sum.download += delta.download
      totals.set(id, sum)
    }
  }
  const order = (a: {node: string; kind: string; key: string}, b: {node: string; kind: string; key: string}) =>
    compareText(a.node, b.node) || compareText(a.kind, b.kind) || compareText(a.key, b.key)
  return {
    counters: counters.sort(order),
    totals: [...totals.values()].sort(
      (a, b) => compareText(a.user ?? '', b.user ?? '') || compareText(a.node, b.node) || compareText(a.day, b.day),
    ),
    outcomes: outcomes.sort(order),
  }
}

function counterId(node: string, kind: string, key: string): string {
  return `${node}\n${kind}\n${key}`
}

/** `YYYY-MM-DD` of an instant, in UTC. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10)
}

// ---------------------------------------------------------------- subscriptions

export interface SubscriptionCharge {
  readonly user: string
  /** Upload + download added. */
  readonly bytes: number
  /** The record to store; absent when the user has none and cannot be activated (the bytes are dropped). */
  readonly record?: SubscriptionRecord
  /** What addUsage reported (activation, first use, period reset, a status change). */
  readonly events: readonly SubscriptionEvent[]
  /** The subscription after the charge, at `now`. */
  readonly status: SubscriptionStatus
}

/**
 * Charges each user's bytes to their subscription with addUsage (the record
 * is advanced to `now`, the first use stamped, the traffic added). A stored
 * record keeps the status and reason it had: those are what the planner last
 * advanced it to, and the next plan reports the change (`subscription.<user>`
 * expired, traffic_exhausted) and removes a user who is no longer let in.
 * Other steps addUsage takes on the way (a period reset, a renewal, a restart
 * after the declared tariff changed) are stored as they are, so the plan
 * does not list them again. A user without a record is activated first when
 * eligible (addUsage), and that record is stored with its own status.
 */
export function chargeSubscriptions(input: {
  readonly users: readonly User[]
  readonly tariffs: ReadonlyMap<string, Tariff>
  readonly records: ReadonlyMap<string, SubscriptionRecord>
  readonly bytes: ReadonlyMap<string, number>
  readonly now: Date
}): SubscriptionCharge[] {
  const charges: SubscriptionCharge[] = []
  for (const user of [...input.users].sort((a, b) => compareText(a.name, b.name))) {
    const bytes = input.bytes.get(user.name) ?? 0
    if (bytes <= 0) continue
    const before = input.records.get(user.name)
    const {tariffs, now} = input
    const charged = addUsage({user, tariffs, now, bytes, ...(before ? {record: before} : {})})
    const record =
      charged.record && before ? {...charged.record, status: before.status, reason: before.reason} : charged.record
    const status = subscriptionStatus({user, tariffs, now, ...(record ? {record} : {})})
    charges.push({user: user.name, bytes, ...(record ? {record} : {}), events: charged.events, status})
  }
  return charges
}

// ---------------------------------------------------------------- the report

/** One usage_totals row; `user` null = unattributed. */
export type UsageTotalRow = TotalsDelta

export interface NodeTraffic extends Traffic {
  readonly node: string
}

export interface DayTraffic extends Traffic {
  readonly day: string
}

export interface UserUsage extends Traffic {
  readonly user: string
  readonly nodes: readonly NodeTraffic[]
  /** Days with traffic, oldest first. */
  readonly daily: readonly DayTraffic[]
}

export interface UsageReport {
  /** The days covered, inclusive (`YYYY-MM-DD`, UTC). */
  readonly since: string
  readonly until: string
  readonly filter: {readonly user: string | null; readonly node: string | null}
  /** Users with traffic in the range, by name. */
  readonly users: readonly UserUsage[]
  /** Traffic of peers and xray e-mails no declared user owns; null when there was none. */
  readonly unattributed: (Traffic & {readonly nodes: readonly NodeTraffic[]}) | null
  readonly totals: Traffic
}

/** Sums usage_totals rows (already limited to the range and filters) into the report. */
export function usageReport(
  rows: readonly UsageTotalRow[],
  range: {readonly since: string; readonly until: string},
  filter: {readonly user?: string; readonly node?: string} = {},
): UsageReport {
  const inRange = rows.filter(
    (row) =>
      row.day >= range.since &&
      row.day <= range.until &&
      (filter.user === undefined || row.user === filter.user) &&
      (filter.node === undefined || row.node === filter.node),
  )
  const byUser = new Map<string, UsageTotalRow[]>()
  const unattributedRows: UsageTotalRow[] = []
  for (const row of inRange) {
    if (row.user === null) unattributedRows.push(row)
    else byUser.set(row.user, [...(byUser.get(row.user) ?? []), row])
  }
  const users = [...byUser]
    .sort(([a], [b]) => compareText(a, b))
    .map(([user, list]): UserUsage => ({
      user,
      ...sum(list),
      nodes: group(list, (row) => row.node).map(([node, items]) => ({node, ...sum(items)})),
      daily: group(list, (row) => row.day).map(([day, items]) => ({day, ...sum(items)})),
    }))
  const unattributed =
    unattributedRows.length === 0
      ? null
      : {
          ...sum(unattributedRows),
          nodes: group(unattributedRows, (row) => row.node).map(([node, items]) => ({node, ...sum(items)})),
        }
  return {
    since: range.since,
    until: range.until,
    filter: {user: filter.user ?? null, node: filter.node ?? null},
    users,
    unattributed,
    totals: sum(inRange),
  }
}

function sum(rows: readonly Traffic[]): Traffic {
  let upload = 0
  let download = 0
  for (const row of rows) {
    upload += row.upload
    download += row.download
  }
  return {upload, download}
}

function group<T>(rows: readonly T[], key: (row: T) => string): [string, T[]][] {
  const groups = new Map<string, T[]>()
  for (const row of rows) groups.set(key(row), [...(groups.get(key(row)) ?? []), row])
  return [...groups].sort(([a], [b]) => compareText(a, b))
}

/** Every day from `since` to `until`, inclusive. */
export function daysBetween(since: string, until: string): string[] {
  const days: string[] = []
  const end = Date.parse(`${until}T00:00:00Z`)
  for (let at = Date.parse(`${since}T00:00:00Z`); at <= end; at += 86_400_000) days.push(utcDay(new Date(at)))
  return days
}
