/**
 * The subscription lifecycle: what a user's subscription is at a moment, and
 * how the record the state store keeps per user moves forward in time.
 *
 * Everything here is pure: the current time is a parameter, dates are UTC,
 * and nothing is read or written. The planner calls advanceSubscription for
 * every user (storing the record it returns and showing its events as
 * `subscription.<user>` changes) and subscriptionStatus to decide who is let
 * in; usage collection calls addUsage.
 *
 * Terms. A tariff with durationDays or durationMonths runs in terms; without
 * either it is indefinite. The first term on a tariff starts at its anchor:
 * the declared `subscription.start`, else the first use (startOnFirstUse),
 * else the activation. When a term ends, a tariff with a nextTariff continues
 * on that tariff with a new anchor at the old end; a tariff whose nextTariff is
 * itself renews, counting its terms from the same anchor (Jan 31 + 1, 2, 3
 * months = Feb 28, Mar 31, Apr 30); a tariff without one has ended.
 * A declared `subscription.expires` is a hard end: the term in effect runs
 * until then, whatever the tariff's duration, and no switch or renewal
 * happens any more.
 *
 * Traffic. trafficUsed counts the bytes of the current period. Periods are
 * calendar days, ISO weeks (Monday), calendar months, months from the anchor
 * (monthly_rolling) or the whole term (none). A period never spans two
 * tariffs: it starts no earlier than the tariff's anchor and ends no later
 * than its last term.
 */
import {addMonths, DAY_MS, monthsBetween, startOfDay, startOfMonth, startOfWeek} from './calendar.js'
import type {Tariff, User} from './desired.js'

export type SubscriptionState = 'active' | 'pending' | 'expired' | 'cancelled' | 'disabled'

/** Why a subscription is in its state; stable snake_case, in order of precedence. */
export type SubscriptionReason =
  | 'user_pending'
  | 'user_rejected'
  | 'user_disabled'
  | 'cancelled'
  | 'no_tariff'
  | 'not_activated'
  | 'awaiting_first_use'
  | 'not_started'
  | 'override_expired'
  | 'term_ended'
  | 'traffic_exhausted'
  | 'active'

/**
 * What the state store keeps per user. Instants are ISO 8601 UTC strings
 * (`Date#toISOString`); the record is plain JSON.
 */
export interface SubscriptionRecord {
  /** The tariff the user declares in YAML that this record follows; a different declared tariff restarts it. */
  readonly declaredTariff: string
  /** The declared `subscription.start` this record was started from; a different one restarts it. */
  readonly declaredStart?: string
  /** The tariff in effect: declaredTariff, or where its nextTariff chain has led. */
  readonly tariff: string
  /** When the record was created or last restarted. */
  readonly activatedAt: string
  /** The first traffic seen since activation (set by usage collection); starts a startOnFirstUse term. */
  readonly firstUsedAt?: string
  /**
   * When `tariff` took effect: the start of its first term. Renewals and
   * monthly_rolling periods count from here. Absent while awaiting first use.
   */
  readonly termAnchor?: string
  /** Start of the current term: termAnchor, or a later renewal of a tariff that renews into itself. */
  readonly termStart?: string
  /** When the subscription was cancelled; it stays cancelled while this is set. */
  readonly cancelledAt?: string
  /**
   * Who cancelled: `declaration` (YAML `subscription.cancelled`; undone when
   * the YAML no longer says so) or `state` (a state-side action; stays until
   * cleared there or the subscription restarts).
   */
  readonly cancelledBy?: 'declaration' | 'state'
  /** Start of the traffic period trafficUsed belongs to. Absent while the term has no start. */
  readonly periodStart?: string
  /** Bytes (upload + download) used in the current period. */
  readonly trafficUsed: number
  /** The status when the record was last advanced; a change shows as an event. */
  readonly status: SubscriptionState
  readonly reason: SubscriptionReason
}

export interface SubscriptionInput {
  readonly user: User
  readonly tariffs: ReadonlyMap<string, Tariff>
  /** The stored record; absent before the first activation. */
  readonly record?: SubscriptionRecord
  readonly now: Date
}

/** A subscription at a moment. Instants are ISO 8601 UTC strings. */
export interface SubscriptionStatus {
  readonly status: SubscriptionState
  readonly reason: SubscriptionReason
  /**
   * Whether the user's clients belong on the nodes: when active, and while a
   * startOnFirstUse term waits for the first connection (which needs them).
   */
  readonly letIn: boolean
  /** The tariff in effect (may differ from the declared one after a nextTariff switch); null without one. */
  readonly tariff: string | null
  /** The current term; null before it has a start. termEnd is null for an indefinite tariff. */
  readonly termStart: string | null
  readonly termEnd: string | null
  /** When access ends for good (after any nextTariff switches); null when nothing ends it. */
  readonly endsAt: string | null
  /** The current traffic period; periodEnd is null when it lasts as long as an indefinite term. */
  readonly periodStart: string | null
  readonly periodEnd: string | null
  /** Bytes per period; null = unlimited. */
  readonly trafficLimit: number | null
  readonly trafficUsed: number
  /** When trafficUsed next goes back to zero; null when it never does. */
  readonly nextReset: string | null
}

/** Status changes between two advances, named after where they lead. */
export type SubscriptionTransition = 'started' | 'reactivated' | 'expired' | 'cancelled' | 'disabled' | 'suspended'

export type SubscriptionEvent =
  | {
      readonly kind: 'activated'
      readonly tariff: string
      readonly termStart: string | null
      readonly status: SubscriptionState
      readonly reason: SubscriptionReason
    }
  | {
      /** The declared tariff or start changed: a new subscription from `to` at termStart. */
      readonly kind: 'restarted'
      readonly cause: 'tariff_changed' | 'start_changed'
      readonly from: string
      readonly to: string
      readonly termStart: string | null
      readonly status: SubscriptionState
      readonly reason: SubscriptionReason
    }
  | {readonly kind: 'tariff_switched'; readonly from: string; readonly to: string; readonly at: string}
  | {readonly kind: 'renewed'; readonly tariff: string; readonly termStart: string}
  | {
      readonly kind: 'period_reset'
      readonly periodStart: string
      readonly previousPeriodStart: string
      /** Bytes the ended period had used. */
      readonly trafficUsed: number
    }
  | {
      readonly kind: SubscriptionTransition
      readonly status: SubscriptionState
      readonly reason: SubscriptionReason
      readonly previousStatus: SubscriptionState
      readonly previousReason: SubscriptionReason
    }

export type SubscriptionEventKind = SubscriptionEvent['kind']

export interface SubscriptionAdvance {
  /** The record to store; absent only when there was none and the user is not activated. */
  readonly record?: SubscriptionRecord
  /**
   * What happened, oldest first; none when advancing again at the same `now`.
   * A few record changes come without one (a cancellation or first use noted
   * while the user is disabled): store the record whenever it differs.
   */
  readonly events: readonly SubscriptionEvent[]
}

/** nextTariff switches per advance at most; a longer chain resumes on the next advance. */
const MAX_SWITCHES = 1000

export function tariffsByName(tariffs: readonly Tariff[]): ReadonlyMap<string, Tariff> {
  return new Map(tariffs.map((tariff) => [tariff.name, tariff]))
}

/**
 * The subscription at `now`. A stored record is first brought forward to
 * `now` in memory (exactly as advanceSubscription would), so the answer does
 * not depend on when it was last stored. Without a record nothing has been
 * activated: an eligible user is `pending` / `not_activated`.
 */
export function subscriptionStatus(input: SubscriptionInput): SubscriptionStatus {
  const draft = input.record ? step(input).draft : undefined
  return evaluate(input.user, input.tariffs, draft, input.now.getTime())
}

/**
 * The record as it should be stored at `now`, and what happened to get there.
 * Without a record an active user with a known tariff who is not cancelled
 * is activated; anyone else gets no record. A user moved to another tariff
 * in YAML, or given another `subscription.start`, restarts: a fresh record
 * on the declared tariff whose term starts at the declared start, else at
 * `now` (or at the first use). Restarts need `status: active`. Time keeps
 * running (switches, renewals, period rollovers) whatever the user's status.
 * Advancing the result again at the same `now` changes nothing.
 */
export function advanceSubscription(input: SubscriptionInput): SubscriptionAdvance {
  const stepped = step(input)
  const {draft} = stepped
  if (draft === undefined) return {events: []}
  const status = evaluate(input.user, input.tariffs, draft, input.now.getTime())
  const record = fromDraft(draft, status)
  const termStart = draft.termStart === undefined ? null : iso(draft.termStart)
  const outcome = {status: status.status, reason: status.reason}
  const events: SubscriptionEvent[] = []
  if (stepped.origin.kind === 'activated') {
    events.push({kind: 'activated', tariff: draft.declaredTariff, termStart, ...outcome})
  } else if (stepped.origin.kind === 'restarted') {
    const {cause, from} = stepped.origin
    events.push({kind: 'restarted', cause, from, to: draft.declaredTariff, termStart, ...outcome})
  }
  events.push(...stepped.facts)
  const before = input.record
  if (
    stepped.origin.kind === 'existing' &&
    before &&
    (before.status !== status.status || before.reason !== status.reason)
  ) {
    events.push({
      kind: transitionKind(before, status.status),
      ...outcome,
      previousStatus: before.status,
      previousReason: before.reason,
    })
  }
  return {record, events}
}

/** The explicit first activation at `now`: advanceSubscription without a stored record. */
export function activateSubscription(input: Omit<SubscriptionInput, 'record'>): SubscriptionRecord | undefined {
  return advanceSubscription({user: input.user, tariffs: input.tariffs, now: input.now}).record
}

/**
 * Counts `bytes` of traffic seen at `now`: the record is advanced to `now`
 * first (so the bytes land in the current period), the first use is stamped
 * when there was none, and the status is re-evaluated (a used-up allowance
 * shows as an `expired` event). Without a record the user is activated first
 * if eligible; otherwise the bytes are dropped.
 */
export function addUsage(input: SubscriptionInput & {readonly bytes: number}): SubscriptionAdvance {
  const events: SubscriptionEvent[] = []
  const advance = (record: SubscriptionRecord | undefined): SubscriptionRecord | undefined => {
    const next = advanceSubscription({user: input.user, tariffs: input.tariffs, now: input.now, record})
    events.push(...next.events)
    return next.record
  }
  let record = advance(input.record)
  if (record === undefined || input.bytes <= 0) return {...(record ? {record} : {}), events}
  if (record.firstUsedAt === undefined) record = advance({...record, firstUsedAt: iso(input.now.getTime())}) ?? record
  record = advance({...record, trafficUsed: record.trafficUsed + input.bytes}) ?? record
  return {record, events}
}

/**
 * Whether the user is let in before any state exists: the status of a first
 * activation at `now` (so a declared start, expiry, cancellation, user status
 * and, with `tariffs`, the tariff's duration from the declared start count).
 * Without `tariffs` the user's tariff counts as indefinite and unlimited: only
 * the declarations on the user decide.
 */
export function declaredActive(user: User, now: Date, tariffs?: ReadonlyMap<string, Tariff>): boolean {
  if (tariffs === undefined) {
    const name = user.tariff ?? 'declared'
    return declaredActive({...user, tariff: name}, now, new Map([[name, openEndedTariff(name)]]))
  }
  const record = activateSubscription({user, tariffs, now})
  return subscriptionStatus({user, tariffs, now, ...(record ? {record} : {})}).letIn
}

function openEndedTariff(name: string): Tariff {
  return {
    name,
    durationDays: null,
    durationMonths: null,
    trafficLimit: null,
    trafficReset: 'none',
    startOnFirstUse: false,
    maxDevices: null,
    protocols: [],
    nodes: {kind: 'all'},
  }
}

// ---------------------------------------------------------------------------
// Moving a record forward

/** A record being worked on: instants as epoch milliseconds. */
interface Draft {
  declaredTariff: string
  declaredStart?: number
  tariff: string
  activatedAt: number
  firstUsedAt?: number
  termAnchor?: number
  termStart?: number
  cancelledAt?: number
  cancelledBy?: 'declaration' | 'state'
  periodStart?: number
  trafficUsed: number
}

type Origin =
  | {readonly kind: 'activated'}
  | {readonly kind: 'restarted'; readonly cause: 'tariff_changed' | 'start_changed'; readonly from: string}
  | {readonly kind: 'existing'}

interface Stepped {
  readonly draft?: Draft
  readonly origin: Origin
  /** tariff_switched, renewed and period_reset, in order. */
  readonly facts: SubscriptionEvent[]
}

function step(input: SubscriptionInput): Stepped {
  const {user, tariffs, record} = input
  const now = input.now.getTime()
  const declared = user.tariff === undefined ? undefined : tariffs.get(user.tariff)
  const declaredStart = instant(user.subscription.start)
  let draft: Draft
  let origin: Origin
  if (record === undefined) {
    if (user.status !== 'active' || declared === undefined || user.subscription.cancelled) {
      return {origin: {kind: 'existing'}, facts: []}
    }
    draft = freshDraft(declared, declaredStart, now)
    origin = {kind: 'activated'}
  } else {
    draft = toDraft(record)
    origin = {kind: 'existing'}
    if (user.status === 'active' && declared !== undefined) {
      const cause =
        declared.name !== record.declaredTariff
          ? 'tariff_changed'
          : declaredStart !== draft.declaredStart
            ? 'start_changed'
            : undefined
      if (cause !== undefined) {
        origin = {kind: 'restarted', cause, from: record.tariff}
        draft = freshDraft(declared, declaredStart, now)
      }
    }
  }

  if (user.subscription.cancelled && draft.cancelledAt === undefined) {
    draft.cancelledAt = now
    draft.cancelledBy = 'declaration'
  } else if (!user.subscription.cancelled && draft.cancelledBy === 'declaration') {
    delete draft.cancelledAt
    delete draft.cancelledBy
  }

  const facts: SubscriptionEvent[] = []
  anchorAtFirstUse(draft, tariffs, now)
  const expires = instant(user.subscription.expires)
  if (expires === undefined) rollTerms(draft, tariffs, now, facts)
  const term = currentTerm(draft, tariffs, expires)
  if (term !== undefined) {
    const period = currentPeriod(term, draft.periodStart, now)
    if (draft.periodStart === undefined) {
      draft.periodStart = period.start
    } else if (period.start > draft.periodStart) {
      facts.push({
        kind: 'period_reset',
        periodStart: iso(period.start),
        previousPeriodStart: iso(draft.periodStart),
        trafficUsed: draft.trafficUsed,
      })
      draft.periodStart = period.start
      draft.trafficUsed = 0
    }
  }
  return {draft, origin, facts}
}

function freshDraft(tariff: Tariff, declaredStart: number | undefined, now: number): Draft {
  const draft: Draft = {declaredTariff: tariff.name, tariff: tariff.name, activatedAt: now, trafficUsed: 0}
  if (declaredStart !== undefined) draft.declaredStart = declaredStart
  // A declared start wins over startOnFirstUse; otherwise the term waits for the first use.
  const anchor = declaredStart ?? (tariff.startOnFirstUse ? undefined : now)
  if (anchor !== undefined) draft.termAnchor = draft.termStart = anchor
  return draft
}

/** A term waiting for its first use starts at it (or now, if the tariff stopped waiting). */
function anchorAtFirstUse(draft: Draft, tariffs: ReadonlyMap<string, Tariff>, now: number): void {
  if (draft.termAnchor !== undefined) return
  const tariff = tariffs.get(draft.tariff)
  if (tariff === undefined) return
  const anchor = tariff.startOnFirstUse ? draft.firstUsedAt : now
  if (anchor !== undefined) draft.termAnchor = draft.termStart = anchor
}

/**
 * Follows ended terms to the term containing `now`: renewals of a tariff that
 * renews into itself in one step, switches to nextTariff one by one. A cycle
 * of switches (a -> b -> a) whose length is fixed (all durations in days, or
 * all in months from a day of the month that needs no clamping) is skipped
 * over whole; anything else is bounded by MAX_SWITCHES per advance.
 */
function rollTerms(draft: Draft, tariffs: ReadonlyMap<string, Tariff>, now: number, facts: SubscriptionEvent[]): void {
  let anchor = draft.termAnchor
  if (anchor === undefined) return
  /** Tariffs entered since the last cycle skip, with their anchors. */
  const path: {tariff: Tariff; anchor: number}[] = []
  for (let switches = 0; switches < MAX_SWITCHES; switches++) {
    const tariff = tariffs.get(draft.tariff)
    if (tariff === undefined) return
    if (renewsItself(tariff)) {
      const term = renewalContaining(tariff, anchor, now)
      if (term.start > (draft.termStart ?? anchor)) {
        draft.termStart = term.start
        facts.push({kind: 'renewed', tariff: tariff.name, termStart: iso(term.start)})
      }
      return
    }
    const end = termEnd(tariff, anchor)
    const next = tariff.nextTariff === undefined ? undefined : tariffs.get(tariff.nextTariff)
    if (end === null || now < end || next === undefined) return
    facts.push({kind: 'tariff_switched', from: tariff.name, to: next.name, at: iso(end)})
    path.push({tariff, anchor})
    anchor = end
    const repeat = path.findIndex((entry) => entry.tariff.name === next.name)
    const first = path[repeat]
    if (first !== undefined) {
      anchor = skipCycles(
        path.slice(repeat).map((entry) => entry.tariff),
        first.anchor,
        end,
        now,
      )
      path.length = 0
    }
    draft.tariff = next.name
    draft.termAnchor = draft.termStart = anchor
  }
}

/**
 * `cycle` was entered at `from` and again at `to`; returns the last entry of
 * it not after `now` when its length is fixed, else `to`.
 */
function skipCycles(cycle: readonly Tariff[], from: number, to: number, now: number): number {
  if (cycle.every((tariff) => tariff.durationDays !== null)) {
    const length = to - from
    const cycles = Math.floor((now - to) / length)
    return cycles > 0 ? to + cycles * length : to
  }
  if (cycle.every((tariff) => tariff.durationMonths !== null) && new Date(from).getUTCDate() <= 28) {
    const months = monthsBetween(new Date(from), new Date(to))
    const cycles = Math.floor(monthsBetween(new Date(to), new Date(now)) / months)
    return cycles > 0 ? addMonths(new Date(to), cycles * months).getTime() : to
  }
  return to
}

function renewsItself(tariff: Tariff): boolean {
  return tariff.nextTariff === tariff.name && (tariff.durationDays !== null || tariff.durationMonths !== null)
}

/** End of a term that starts at `start`; null for an indefinite tariff. */
function termEnd(tariff: Tariff, start: number): number | null {
  if (tariff.durationDays !== null) return start + tariff.durationDays * DAY_MS
  if (tariff.durationMonths !== null) return addMonths(new Date(start), tariff.durationMonths).getTime()
  return null
}

/** The term of a time-limited tariff counted from `anchor` that contains `at` (the first one before it). */
function renewalContaining(tariff: Tariff, anchor: number, at: number): {start: number; end: number | null} {
  if (tariff.durationDays !== null) {
    const length = tariff.durationDays * DAY_MS
    const index = Math.max(0, Math.floor((at - anchor) / length))
    return {start: anchor + index * length, end: anchor + (index + 1) * length}
  }
  if (tariff.durationMonths !== null) {
    const months = tariff.durationMonths
    const index = Math.max(0, Math.floor(monthsBetween(new Date(anchor), new Date(at)) / months))
    return {
      start: addMonths(new Date(anchor), index * months).getTime(),
      end: addMonths(new Date(anchor), (index + 1) * months).getTime(),
    }
  }
  return {start: anchor, end: null}
}

// ---------------------------------------------------------------------------
// Terms and periods of a record

interface Term {
  readonly tariff: Tariff
  readonly anchor: number
  readonly start: number
  /** null: indefinite. */
  readonly end: number | null
  /** The tariff renews into itself at `end`. */
  readonly renews: boolean
  /** Something follows `end` (a renewal or a nextTariff); otherwise access ends there. */
  readonly continues: boolean
}

function currentTerm(
  draft: Draft,
  tariffs: ReadonlyMap<string, Tariff>,
  expires: number | undefined,
): Term | undefined {
  const tariff = tariffs.get(draft.tariff)
  const anchor = draft.termAnchor
  if (tariff === undefined || anchor === undefined) return undefined
  const start = draft.termStart ?? anchor
  if (expires !== undefined) return {tariff, anchor, start, end: expires, renews: false, continues: false}
  if (renewsItself(tariff)) {
    return {tariff, anchor, start, end: renewalContaining(tariff, anchor, start).end, renews: true, continues: true}
  }
  const continues = tariff.nextTariff !== undefined && tariffs.has(tariff.nextTariff)
  return {tariff, anchor, start, end: termEnd(tariff, anchor), renews: false, continues}
}

/**
 * The traffic period at `now` (kept within the term, and never before the
 * stored period, so time does not run backwards for a record).
 */
function currentPeriod(term: Term, stored: number | undefined, now: number): {start: number; end: number | null} {
  let at = Math.max(now, term.start, stored ?? -Infinity)
  if (term.end !== null && at >= term.end) at = Math.max(term.start, term.end - 1)
  const date = new Date(at)
  let start: number
  let end: number | null
  switch (term.tariff.trafficReset) {
    case 'none':
      return {start: term.start, end: term.end}
    case 'daily':
      start = startOfDay(date).getTime()
      end = start + DAY_MS
      break
    case 'weekly':
      start = startOfWeek(date).getTime()
      end = start + 7 * DAY_MS
      break
    case 'monthly':
      start = startOfMonth(date).getTime()
      end = addMonths(new Date(start), 1).getTime()
      break
    case 'monthly_rolling': {
      const anchor = new Date(term.anchor)
      const months = monthsBetween(anchor, date)
      start = addMonths(anchor, months).getTime()
      end = addMonths(anchor, months + 1).getTime()
      break
    }
  }
  start = Math.max(start, term.anchor)
  if (!term.renews && term.end !== null) end = Math.min(end, term.end)
  return {start, end}
}

/** When access ends for good, following nextTariff switches; null when nothing ends it. */
function finalEnd(term: Term, tariffs: ReadonlyMap<string, Tariff>): number | null {
  let {end, tariff} = term
  if (!term.continues || end === null) return end
  if (term.renews) return null
  const seen = new Set([tariff.name])
  for (;;) {
    const next = tariff.nextTariff === undefined ? undefined : tariffs.get(tariff.nextTariff)
    if (next === undefined) return end
    if (seen.has(next.name) || renewsItself(next)) return null
    end = termEnd(next, end)
    if (end === null) return null
    seen.add(next.name)
    tariff = next
  }
}

// ---------------------------------------------------------------------------
// Status

function evaluate(
  user: User,
  tariffs: ReadonlyMap<string, Tariff>,
  draft: Draft | undefined,
  now: number,
): SubscriptionStatus {
  const name = draft?.tariff ?? user.tariff ?? null
  const tariff = name === null ? undefined : tariffs.get(name)
  const expires = instant(user.subscription.expires)
  const term = draft && currentTerm(draft, tariffs, expires)
  const period = term && currentPeriod(term, draft?.periodStart, now)
  const trafficUsed = draft?.trafficUsed ?? 0
  const trafficLimit = tariff?.trafficLimit ?? null
  const ends = term && finalEnd(term, tariffs)
  const periodEnd = period?.end ?? null
  const resets =
    periodEnd !== null && term !== undefined && (term.continues || term.end === null || periodEnd < term.end)
  const facts = {
    tariff: name,
    termStart: term ? iso(term.start) : null,
    termEnd: term?.end == null ? null : iso(term.end),
    endsAt: ends == null ? null : iso(ends),
    periodStart: period ? iso(period.start) : null,
    periodEnd: periodEnd === null ? null : iso(periodEnd),
    trafficLimit,
    trafficUsed,
    nextReset: resets ? iso(periodEnd) : null,
  }
  const result = (status: SubscriptionState, reason: SubscriptionReason): SubscriptionStatus => ({
    status,
    reason,
    letIn: status === 'active' || reason === 'awaiting_first_use',
    ...facts,
  })

  if (user.status === 'pending') return result('pending', 'user_pending')
  if (user.status === 'rejected') return result('disabled', 'user_rejected')
  if (user.status === 'disabled') return result('disabled', 'user_disabled')
  if (user.subscription.cancelled || draft?.cancelledAt !== undefined) return result('cancelled', 'cancelled')
  const declared = user.tariff === undefined ? undefined : tariffs.get(user.tariff)
  if (declared === undefined || tariff === undefined) return result('disabled', 'no_tariff')
  if (draft === undefined) return result('pending', 'not_activated')
  if (term === undefined) return result('pending', 'awaiting_first_use')
  // Only a declared start lies ahead; activations, first uses and switches happened already.
  if (draft.declaredStart !== undefined && now < draft.declaredStart) return result('pending', 'not_started')
  if (expires !== undefined && now >= expires) return result('expired', 'override_expired')
  if (!term.continues && term.end !== null && now >= term.end) return result('expired', 'term_ended')
  if (trafficLimit !== null && trafficUsed >= trafficLimit) return result('expired', 'traffic_exhausted')
  return result('active', 'active')
}

function transitionKind(before: SubscriptionRecord, status: SubscriptionState): SubscriptionTransition {
  switch (status) {
    case 'active':
      return before.reason === 'not_started' || before.reason === 'awaiting_first_use' ? 'started' : 'reactivated'
    case 'pending':
      return 'suspended'
    case 'expired':
      return 'expired'
    case 'cancelled':
      return 'cancelled'
    case 'disabled':
      return 'disabled'
  }
}

// ---------------------------------------------------------------------------
// Conversions

function iso(time: number): string {
  return new Date(time).toISOString()
}

/** A declared or stored date (`2026-01-31` is midnight UTC) as epoch milliseconds. */
function instant(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const time = Date.parse(text)
  return Number.isNaN(time) ? undefined : time
}

function toDraft(record: SubscriptionRecord): Draft {
  const draft: Draft = {
    declaredTariff: record.declaredTariff,
    tariff: record.tariff,
    activatedAt: Date.parse(record.activatedAt),
    trafficUsed: record.trafficUsed,
  }
  const times = ['declaredStart', 'firstUsedAt', 'termAnchor', 'termStart', 'cancelledAt', 'periodStart'] as const
  for (const key of times) {
    const time = instant(record[key])
    if (time !== undefined) draft[key] = time
  }
  if (record.cancelledBy !== undefined && draft.cancelledAt !== undefined) draft.cancelledBy = record.cancelledBy
  return draft
}

function fromDraft(draft: Draft, status: SubscriptionStatus): SubscriptionRecord {
  const optional = (key: string, time: number | undefined) => (time === undefined ? {} : {[key]: iso(time)})
  return {
    declaredTariff: draft.declaredTariff,
    ...optional('declaredStart', draft.declaredStart),
    tariff: draft.tariff,
    activatedAt: iso(draft.activatedAt),
    ...optional('firstUsedAt', draft.firstUsedAt),
    ...optional('termAnchor', draft.termAnchor),
    ...optional('termStart', draft.termStart),
    ...optional('cancelledAt', draft.cancelledAt),
    ...(draft.cancelledBy === undefined ? {} : {cancelledBy: draft.cancelledBy}),
    ...optional('periodStart', draft.periodStart),
    trafficUsed: draft.trafficUsed,
    status: status.status,
    reason: status.reason,
  }
}
