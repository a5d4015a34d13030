/**
 * Usage accounting in the state (migrations.ts: usage_counters,
 * usage_totals, and the subscription records' trafficUsed).
 *
 * - usage_counters holds the last reading of every counter: (node, kind, key)
 *   with key `IFACE:PUBLIC_KEY` for a WireGuard peer and the e-mail for an
 *   xray user; rx = received by the node (upload), tx = sent (download).
 * - usage_totals sums the bytes per user, node and UTC day. Traffic no
 *   declared user owns is kept under the user name `''` (no user can be
 *   called that); readers get it as `user: null`.
 *
 * A collection is one transaction that locks state_meta first (as every
 * state write does), reads the stored counters and subscription records,
 * lets the caller compute what to add, writes it, and bumps the serial —
 * unless there was nothing to write, so collecting without new traffic
 * leaves the state (and a saved plan's serial) alone.
 */
import type {SubscriptionRecord} from '../model/subscription.js'
import type {CounterKind, StoredCounter, TotalsDelta, UsageTotalRow} from '../model/usage.js'
import type {SqlExecutor} from './driver.js'
import type {StateStore} from './store.js'

/** How unattributed traffic is keyed in usage_totals. */
const UNATTRIBUTED = ''

export interface UsageWrite {
  /** Last readings to store (upserted). */
  readonly counters: readonly StoredCounter[]
  /** Bytes to add. */
  readonly totals: readonly TotalsDelta[]
  /** Subscription records to store (upserted). */
  readonly subscriptions: readonly {readonly user: string; readonly record: SubscriptionRecord}[]
}

export interface UsageStateView {
  readonly serial: number
  /** The stored readings of the nodes asked for. */
  readonly counters: readonly StoredCounter[]
  readonly subscriptions: ReadonlyMap<string, SubscriptionRecord>
}

/**
 * Runs `compute` on the stored counters of `nodes` and every subscription
 * record, inside one transaction, and writes what it returns. Returns the
 * new serial, or null when there was nothing to write (nothing changed).
 */
export async function commitUsage<T>(
  store: StateStore,
  nodes: readonly string[],
  compute: (view: UsageStateView) => {readonly write: UsageWrite; readonly result: T},
): Promise<{readonly result: T; readonly serial: number | null}> {
  return store.driver.transaction(async (tx) => {
    const [meta] = await tx.query<{serial: string | number}>('select serial from state_meta where id = 1 for update')
    const serial = Number(meta?.serial ?? 0)
    const counters = await readCounters(tx, nodes)
    const subscriptions = new Map(
      (await tx.query<{user_name: string; record: unknown}>('select user_name, record from subscriptions')).map(
        (row) => [row.user_name, parseJson(row.record) as SubscriptionRecord],
      ),
    )
    const {write, result} = compute({serial, counters, subscriptions})
    if (write.counters.length === 0 && write.totals.length === 0 && write.subscriptions.length === 0) {
      return {result, serial: null}
    }
    for (const counter of write.counters) {
      await tx.query(
        `insert into usage_counters (node, kind, key, rx, tx, observed_at) values ($1, $2, $3, $4, $5, $6)
         on conflict (node, kind, key) do update set rx = excluded.rx, tx = excluded.tx, observed_at = excluded.observed_at`,
        [counter.node, counter.kind, counter.key, counter.rx, counter.tx, counter.observedAt.toISOString()],
      )
    }
    for (const total of write.totals) {
      await tx.query(
        `insert into usage_totals (user_name, node, day, upload, download) values ($1, $2, $3, $4, $5)
         on conflict (user_name, node, day) do update
           set upload = usage_totals.upload + excluded.upload, download = usage_totals.download + excluded.download`,
        [total.user ?? UNATTRIBUTED, total.node, total.day, total.upload, total.download],
      )
    }
    for (const subscription of write.subscriptions) {
      await tx.query(
        `insert into subscriptions (user_name, record) values ($1, $2)
         on conflict (user_name) do update set record = excluded.record, updated_at = now()`,
        [subscription.user, JSON.stringify(subscription.record)],
      )
    }
    await tx.query('update state_meta set serial = serial + 1 where id = 1')
    return {result, serial: serial + 1}
  })
}

/** The stored last readings, of some nodes or of all. */
export async function readUsageCounters(store: StateStore, nodes?: readonly string[]): Promise<StoredCounter[]> {
  return readCounters(store.driver, nodes)
}

async function readCounters(q: SqlExecutor, nodes: readonly string[] | undefined): Promise<StoredCounter[]> {
  const rows = await q.query<{
    node: string
    kind: CounterKind
    key: string
    rx: string | number
    tx: string | number
    observed_at: Date | string
  }>(
    `select node, kind, key, rx, tx, observed_at from usage_counters
     ${nodes === undefined ? '' : 'where node = any($1)'} order by node, kind, key`,
    nodes === undefined ? [] : [[...nodes]],
  )
  return rows.map((row) => ({
    node: row.node,
    kind: row.kind,
    key: row.key,
    rx: Number(row.rx),
    tx: Number(row.tx),
    observedAt: new Date(row.observed_at),
  }))
}

/**
 * usage_totals rows, optionally of one user (null: the unattributed ones) or
 * node, within days `since`..`until` (inclusive, `YYYY-MM-DD`).
 */
export async function readUsageTotals(
  store: StateStore,
  filter: {
    readonly since?: string
    readonly until?: string
    readonly user?: string | null
    readonly node?: string
  } = {},
): Promise<UsageTotalRow[]> {
  const where: string[] = []
  const params: unknown[] = []
  const add = (clause: string, value: unknown) => {
    params.push(value)
    where.push(clause.replace('?', `$${params.length}`))
  }
  if (filter.since !== undefined) add('day >= ?::date', filter.since)
  if (filter.until !== undefined) add('day <= ?::date', filter.until)
  if (filter.user !== undefined) add('user_name = ?', filter.user ?? UNATTRIBUTED)
  if (filter.node !== undefined) add('node = ?', filter.node)
  const rows = await store.driver.query<{
    user_name: string
    node: string
    day: string
    upload: string | number
    download: string | number
  }>(
    `select user_name, node, to_char(day, 'YYYY-MM-DD') as day, upload, download from usage_totals
     ${where.length > 0 ? `where ${where.join(' and ')}` : ''} order by user_name, node, day`,
    params,
  )
  return rows.map((row) => ({
    user: row.user_name === UNATTRIBUTED ? null : row.user_name,
    node: row.node,
    day: row.day,
    upload: Number(row.upload),
    download: Number(row.download),
  }))
}

function parseJson(value: unknown): unknown {
  return typeof value === 'string' ? (JSON.parse(value) as unknown) : value
}
