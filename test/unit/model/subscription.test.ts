import {describe, expect, it} from 'vitest'

import {addDays, addMonths} from '../../../src/model/calendar.js'
import type {Tariff, User} from '../../../src/model/desired.js'
import {
  activateSubscription,
  addUsage,
  advanceSubscription,
  declaredActive,
  type SubscriptionEvent,
  type SubscriptionInput,
  type SubscriptionRecord,
  subscriptionStatus,
  tariffsByName,
} from '../../../src/model/subscription.js'

const GiB = 2 ** 30
const at = (text: string): Date => new Date(text)

/** An indefinite, unlimited tariff that starts at activation: a test sets only what it is about. */
function tariff(name: string, fields: Partial<Tariff> = {}): Tariff {
  return {
    name,
    durationDays: null,
    durationMonths: null,
    trafficLimit: null,
    trafficReset: 'none',
    startOnFirstUse: false,
    maxDevices: null,
    protocols: ['wireguard'],
    nodes: {kind: 'all'},
    ...fields,
  }
}

type UserFields = Partial<Omit<User, 'subscription'>> & {subscription?: Partial<User['subscription']>}

/** An active user on `tariff` with no subscription override. */
function user(fields: UserFields = {}): User {
  const {subscription, ...rest} = fields
  return {
    name: 'alice',
    status: 'active',
    tariff: 'plan',
    groups: [],
    links: ['default'],
    ...rest,
    subscription: {cancelled: false, ...subscription},
  }
}

const catalog = (...tariffs: Tariff[]) => tariffsByName(tariffs)

function activated(u: User, tariffs: ReadonlyMap<string, Tariff>, when: string): SubscriptionRecord {
  const record = activateSubscription({user: u, tariffs, now: at(when)})
  if (record === undefined) throw new Error(`${u.name} was not activated`)
  return record
}

function advanced(input: SubscriptionInput): SubscriptionRecord {
  const {record} = advanceSubscription(input)
  if (record === undefined) throw new Error('no record')
  return record
}

/** Activates at `from` and looks at the subscription at `now`. */
function statusAt(u: User, tariffs: ReadonlyMap<string, Tariff>, from: string, now: string) {
  return subscriptionStatus({user: u, tariffs, record: activated(u, tariffs, from), now: at(now)})
}

const kinds = (events: readonly SubscriptionEvent[]) => events.map((event) => event.kind)

describe('subscriptionStatus: who the user is', () => {
  const tariffs = catalog(tariff('plan'))
  const stored = activated(user(), tariffs, '2026-01-01T00:00:00Z')

  it.each([
    {name: 'a pending user', u: user({status: 'pending'}), status: 'pending', reason: 'user_pending'},
    {name: 'a rejected user', u: user({status: 'rejected'}), status: 'disabled', reason: 'user_rejected'},
    {name: 'a disabled user', u: user({status: 'disabled'}), status: 'disabled', reason: 'user_disabled'},
    {
      name: 'a cancelled subscription',
      u: user({subscription: {cancelled: true}}),
      status: 'cancelled',
      reason: 'cancelled',
    },
    {name: 'no tariff', u: user({tariff: undefined}), status: 'disabled', reason: 'no_tariff'},
    {name: 'an unknown tariff', u: user({tariff: 'gone'}), status: 'disabled', reason: 'no_tariff'},
    {
      name: 'user status before cancellation',
      u: user({status: 'pending', subscription: {cancelled: true}}),
      status: 'pending',
      reason: 'user_pending',
    },
    {
      name: 'cancellation before a missing tariff',
      u: user({tariff: 'gone', subscription: {cancelled: true}}),
      status: 'cancelled',
      reason: 'cancelled',
    },
  ] as const)('$name: $status / $reason, not let in', ({u, status, reason}) => {
    for (const record of [undefined, stored]) {
      const result = subscriptionStatus({
        user: u,
        tariffs,
        now: at('2026-02-01T00:00:00Z'),
        ...(record ? {record} : {}),
      })
      expect([result.status, result.reason, result.letIn]).toEqual([status, reason, false])
    }
  })

  it('never activates on its own: without a record an eligible user is pending / not_activated', () => {
    const result = subscriptionStatus({user: user(), tariffs, now: at('2026-02-01T00:00:00Z')})
    expect(result).toEqual({
      status: 'pending',
      reason: 'not_activated',
      letIn: false,
      tariff: 'plan',
      termStart: null,
      termEnd: null,
      endsAt: null,
      periodStart: null,
      periodEnd: null,
      trafficLimit: null,
      trafficUsed: 0,
      nextReset: null,
    })
  })

  it('a cancellation held in state stands although the YAML does not say so', () => {
    const record: SubscriptionRecord = {...stored, cancelledAt: '2026-01-10T00:00:00.000Z', cancelledBy: 'state'}
    const result = subscriptionStatus({user: user(), tariffs, record, now: at('2026-02-01T00:00:00Z')})
    expect([result.status, result.reason]).toEqual(['cancelled', 'cancelled'])
  })

  it('a record whose tariff left the YAML has no tariff', () => {
    const record: SubscriptionRecord = {...stored, tariff: 'retired'}
    const result = subscriptionStatus({user: user(), tariffs, record, now: at('2026-02-01T00:00:00Z')})
    expect([result.status, result.reason, result.tariff]).toEqual(['disabled', 'no_tariff', 'retired'])
  })
})

describe('subscriptionStatus: terms', () => {
  it.each([
    {
      name: 'durationDays counts 24-hour days',
      plan: {durationDays: 30},
      from: '2026-01-31T10:00:00Z',
      end: '2026-03-02T10:00:00.000Z',
    },
    {
      name: 'one month from Jan 31 ends Feb 28',
      plan: {durationMonths: 1},
      from: '2026-01-31T00:00:00Z',
      end: '2026-02-28T00:00:00.000Z',
    },
    {
      name: 'in a leap year Feb 29',
      plan: {durationMonths: 1},
      from: '2028-01-31T00:00:00Z',
      end: '2028-02-29T00:00:00.000Z',
    },
    {
      name: '2100 is not a leap year',
      plan: {durationMonths: 1},
      from: '2100-01-31T00:00:00Z',
      end: '2100-02-28T00:00:00.000Z',
    },
    {
      name: 'two months from Jan 31 end Mar 31',
      plan: {durationMonths: 2},
      from: '2026-01-31T00:00:00Z',
      end: '2026-03-31T00:00:00.000Z',
    },
    {
      name: 'a year from Feb 29',
      plan: {durationMonths: 12},
      from: '2028-02-29T12:00:00Z',
      end: '2029-02-28T12:00:00.000Z',
    },
    {
      name: 'December into January',
      plan: {durationMonths: 1},
      from: '2026-12-31T08:00:00Z',
      end: '2027-01-31T08:00:00.000Z',
    },
    {
      name: 'November + 3 months',
      plan: {durationMonths: 3},
      from: '2026-11-30T00:00:00Z',
      end: '2027-02-28T00:00:00.000Z',
    },
  ])('$name', ({plan, from, end}) => {
    const tariffs = catalog(tariff('plan', plan))
    const before = statusAt(user(), tariffs, from, new Date(Date.parse(end) - 1).toISOString())
    expect(before).toMatchObject({status: 'active', reason: 'active', letIn: true, termEnd: end, endsAt: end})
    expect(before.termStart).toBe(new Date(from).toISOString())
    const after = statusAt(user(), tariffs, from, end)
    expect(after).toMatchObject({status: 'expired', reason: 'term_ended', letIn: false, termEnd: end})
  })

  it('an indefinite tariff never ends', () => {
    const result = statusAt(user(), catalog(tariff('plan')), '2026-01-01T00:00:00Z', '2096-01-01T00:00:00Z')
    expect(result).toMatchObject({
      status: 'active',
      termStart: '2026-01-01T00:00:00.000Z',
      termEnd: null,
      endsAt: null,
      periodEnd: null,
      nextReset: null,
    })
  })
})

describe('subscriptionStatus: startOnFirstUse', () => {
  const tariffs = catalog(tariff('plan', {durationDays: 7, startOnFirstUse: true}))
  const record = activated(user(), tariffs, '2026-03-01T00:00:00Z')

  it('waits for the first use: pending, yet let in so the first connection can happen', () => {
    expect(record.termStart).toBeUndefined()
    const result = subscriptionStatus({user: user(), tariffs, record, now: at('2026-05-01T00:00:00Z')})
    expect(result).toMatchObject({
      status: 'pending',
      reason: 'awaiting_first_use',
      letIn: true,
      termStart: null,
      termEnd: null,
      periodStart: null,
    })
  })

  it.each([
    {now: '2026-04-10T12:00:00Z', status: 'active', reason: 'active'},
    {now: '2026-04-17T11:59:59Z', status: 'active', reason: 'active'},
    {now: '2026-04-17T12:00:00Z', status: 'expired', reason: 'term_ended'},
  ] as const)('counts the term from the first use: at $now $status', ({now, status, reason}) => {
    const used = {...record, firstUsedAt: '2026-04-10T12:00:00.000Z'}
    const result = subscriptionStatus({user: user(), tariffs, record: used, now: at(now)})
    expect(result).toMatchObject({
      status,
      reason,
      termStart: '2026-04-10T12:00:00.000Z',
      termEnd: '2026-04-17T12:00:00.000Z',
    })
  })

  it('a declared start wins over the first use', () => {
    const u = user({subscription: {start: '2026-03-05'}})
    const result = statusAt(u, tariffs, '2026-03-01T00:00:00Z', '2026-03-06T00:00:00Z')
    expect(result).toMatchObject({
      status: 'active',
      termStart: '2026-03-05T00:00:00.000Z',
      termEnd: '2026-03-12T00:00:00.000Z',
    })
  })
})

describe('subscriptionStatus: the declared override', () => {
  const monthly = catalog(tariff('plan', {durationMonths: 1}))

  it('a start in the future: pending / not_started, not let in', () => {
    const u = user({subscription: {start: '2026-07-01'}})
    const result = statusAt(u, monthly, '2026-06-15T00:00:00Z', '2026-06-20T00:00:00Z')
    expect(result).toMatchObject({
      status: 'pending',
      reason: 'not_started',
      letIn: false,
      termStart: '2026-07-01T00:00:00.000Z',
      termEnd: '2026-08-01T00:00:00.000Z',
    })
  })

  it('a start in the past counts the term from it, not from the activation', () => {
    const u = user({subscription: {start: '2026-01-31T00:00:00Z'}})
    expect(statusAt(u, monthly, '2026-02-20T00:00:00Z', '2026-02-27T00:00:00Z')).toMatchObject({
      status: 'active',
      termEnd: '2026-02-28T00:00:00.000Z',
    })
    expect(statusAt(u, monthly, '2026-02-20T00:00:00Z', '2026-02-28T00:00:00Z').reason).toBe('term_ended')
  })

  it('expires before the tariff ends cuts the term short', () => {
    const u = user({subscription: {expires: '2026-01-10T00:00:00Z'}})
    expect(statusAt(u, monthly, '2026-01-01T00:00:00Z', '2026-01-09T23:59:59Z')).toMatchObject({
      status: 'active',
      termEnd: '2026-01-10T00:00:00.000Z',
      endsAt: '2026-01-10T00:00:00.000Z',
    })
    expect(statusAt(u, monthly, '2026-01-01T00:00:00Z', '2026-01-10T00:00:00Z')).toMatchObject({
      status: 'expired',
      reason: 'override_expired',
      letIn: false,
    })
  })

  it('expires after the tariff would end extends it, and no nextTariff switch happens', () => {
    const tariffs = catalog(tariff('plan', {durationMonths: 1, nextTariff: 'after'}), tariff('after'))
    const u = user({subscription: {expires: '2026-12-31T00:00:00Z'}})
    expect(statusAt(u, tariffs, '2026-01-01T00:00:00Z', '2026-06-01T00:00:00Z')).toMatchObject({
      status: 'active',
      tariff: 'plan',
      termEnd: '2026-12-31T00:00:00.000Z',
    })
    expect(statusAt(u, tariffs, '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z')).toMatchObject({
      status: 'expired',
      reason: 'override_expired',
      tariff: 'plan',
    })
  })
})

describe('subscriptionStatus: traffic', () => {
  const limited = (trafficReset: Tariff['trafficReset'], fields: Partial<Tariff> = {}) =>
    catalog(tariff('plan', {trafficLimit: 10 * GiB, trafficReset, ...fields}))

  function usedUp(tariffs: ReadonlyMap<string, Tariff>, from: string, when: string, bytes = 10 * GiB) {
    const start = activated(user(), tariffs, from)
    const {record} = addUsage({user: user(), tariffs, record: start, now: at(when), bytes})
    if (record === undefined) throw new Error('no record')
    return record
  }

  it('below the limit is active; at the limit is expired / traffic_exhausted', () => {
    const tariffs = limited('none')
    const almost = usedUp(tariffs, '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', 10 * GiB - 1)
    const now = at('2026-01-03T00:00:00Z')
    expect(subscriptionStatus({user: user(), tariffs, record: almost, now})).toMatchObject({
      status: 'active',
      trafficUsed: 10 * GiB - 1,
      trafficLimit: 10 * GiB,
    })
    const record = {...almost, trafficUsed: 10 * GiB}
    expect(subscriptionStatus({user: user(), tariffs, record, now})).toMatchObject({
      status: 'expired',
      reason: 'traffic_exhausted',
      letIn: false,
    })
  })

  it('without a limit traffic never expires', () => {
    const tariffs = catalog(tariff('plan'))
    const record = usedUp(tariffs, '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', 1e15)
    const result = subscriptionStatus({user: user(), tariffs, record, now: at('2026-01-03T00:00:00Z')})
    expect(result).toMatchObject({status: 'active', trafficLimit: null, trafficUsed: 1e15})
  })

  it.each([
    {
      reset: 'daily',
      used: '2026-06-03T10:00:00Z',
      periodStart: '2026-06-03T00:00:00.000Z',
      nextReset: '2026-06-04T00:00:00.000Z',
    },
    {
      reset: 'weekly',
      used: '2026-04-01T09:00:00Z',
      periodStart: '2026-03-30T00:00:00.000Z',
      nextReset: '2026-04-06T00:00:00.000Z',
    },
    {
      reset: 'monthly',
      used: '2026-06-20T00:00:00Z',
      periodStart: '2026-06-01T00:00:00.000Z',
      nextReset: '2026-07-01T00:00:00.000Z',
    },
    {
      reset: 'monthly',
      used: '2026-12-20T00:00:00Z',
      periodStart: '2026-12-01T00:00:00.000Z',
      nextReset: '2027-01-01T00:00:00.000Z',
    },
  ] as const)('$reset: exhausted until $nextReset, then counts from zero', ({reset, used, periodStart, nextReset}) => {
    const tariffs = limited(reset)
    const record = usedUp(tariffs, '2026-01-01T00:00:00Z', used)
    const justBefore = new Date(Date.parse(nextReset) - 1)
    expect(subscriptionStatus({user: user(), tariffs, record, now: justBefore})).toMatchObject({
      status: 'expired',
      reason: 'traffic_exhausted',
      periodStart,
      periodEnd: nextReset,
      nextReset,
    })
    expect(subscriptionStatus({user: user(), tariffs, record, now: at(nextReset)})).toMatchObject({
      status: 'active',
      trafficUsed: 0,
      periodStart: nextReset,
    })
  })

  it('monthly: the first period starts at the activation and ends on the 1st', () => {
    const result = statusAt(user(), limited('monthly'), '2026-01-15T09:30:00Z', '2026-01-20T00:00:00Z')
    expect(result).toMatchObject({periodStart: '2026-01-15T09:30:00.000Z', periodEnd: '2026-02-01T00:00:00.000Z'})
  })

  it.each([
    {now: '2026-02-01T00:00:00Z', periodStart: '2026-01-31T00:00:00.000Z', periodEnd: '2026-02-28T00:00:00.000Z'},
    {now: '2026-02-28T00:00:00Z', periodStart: '2026-02-28T00:00:00.000Z', periodEnd: '2026-03-31T00:00:00.000Z'},
    {now: '2026-04-15T00:00:00Z', periodStart: '2026-03-31T00:00:00.000Z', periodEnd: '2026-04-30T00:00:00.000Z'},
    {now: '2028-02-29T00:00:00Z', periodStart: '2028-02-29T00:00:00.000Z', periodEnd: '2028-03-31T00:00:00.000Z'},
  ])(
    'monthly_rolling from the 31st: at $now the period is $periodStart..$periodEnd',
    ({now, periodStart, periodEnd}) => {
      const result = statusAt(user(), limited('monthly_rolling'), '2026-01-31T00:00:00Z', now)
      expect(result).toMatchObject({periodStart, periodEnd, nextReset: periodEnd})
    },
  )

  it('monthly_rolling: used up until the next anniversary', () => {
    const tariffs = limited('monthly_rolling')
    const record = usedUp(tariffs, '2026-01-31T00:00:00Z', '2026-03-01T00:00:00Z')
    expect(subscriptionStatus({user: user(), tariffs, record, now: at('2026-03-30T23:59:59Z')}).reason).toBe(
      'traffic_exhausted',
    )
    expect(subscriptionStatus({user: user(), tariffs, record, now: at('2026-03-31T00:00:00Z')})).toMatchObject({
      status: 'active',
      trafficUsed: 0,
      periodStart: '2026-03-31T00:00:00.000Z',
    })
  })

  it('none: the limit covers the whole term and never resets within it', () => {
    const tariffs = limited('none', {durationMonths: 3})
    const record = usedUp(tariffs, '2026-01-01T00:00:00Z', '2026-01-05T00:00:00Z')
    expect(subscriptionStatus({user: user(), tariffs, record, now: at('2026-03-31T23:00:00Z')})).toMatchObject({
      status: 'expired',
      reason: 'traffic_exhausted',
      periodStart: '2026-01-01T00:00:00.000Z',
      periodEnd: '2026-04-01T00:00:00.000Z',
      nextReset: null,
    })
    expect(subscriptionStatus({user: user(), tariffs, record, now: at('2026-04-01T00:00:00Z')}).reason).toBe(
      'term_ended',
    )
  })

  it('a period never outlasts a term that ends for good', () => {
    const result = statusAt(
      user(),
      limited('monthly', {durationDays: 10}),
      '2026-01-25T00:00:00Z',
      '2026-02-02T00:00:00Z',
    )
    expect(result).toMatchObject({
      periodStart: '2026-02-01T00:00:00.000Z',
      periodEnd: '2026-02-04T00:00:00.000Z',
      nextReset: null,
    })
  })
})

describe('subscriptionStatus: nextTariff', () => {
  const trial = tariff('plan', {durationDays: 7, nextTariff: 'basic', trafficLimit: 5 * GiB})
  const basic = tariff('basic', {durationMonths: 1, trafficLimit: 100 * GiB, trafficReset: 'monthly'})

  it('one step: the next tariff starts a term at the old end', () => {
    const tariffs = catalog(trial, basic)
    expect(statusAt(user(), tariffs, '2026-01-01T00:00:00Z', '2026-01-03T00:00:00Z')).toMatchObject({
      tariff: 'plan',
      termEnd: '2026-01-08T00:00:00.000Z',
      endsAt: '2026-02-08T00:00:00.000Z',
      trafficLimit: 5 * GiB,
      nextReset: '2026-01-08T00:00:00.000Z',
    })
    expect(statusAt(user(), tariffs, '2026-01-01T00:00:00Z', '2026-01-09T00:00:00Z')).toMatchObject({
      status: 'active',
      tariff: 'basic',
      termStart: '2026-01-08T00:00:00.000Z',
      termEnd: '2026-02-08T00:00:00.000Z',
      trafficLimit: 100 * GiB,
      periodStart: '2026-01-08T00:00:00.000Z',
      periodEnd: '2026-02-01T00:00:00.000Z',
    })
    expect(statusAt(user(), tariffs, '2026-01-01T00:00:00Z', '2026-02-08T00:00:00Z')).toMatchObject({
      status: 'expired',
      reason: 'term_ended',
      tariff: 'basic',
    })
  })

  it('several steps at once after a long time', () => {
    const tariffs = catalog(trial, {...basic, nextTariff: 'free'}, tariff('free'))
    const start = activated(user(), tariffs, '2026-01-01T00:00:00Z')
    const {record, events} = advanceSubscription({
      user: user(),
      tariffs,
      record: start,
      now: at('2027-06-01T00:00:00Z'),
    })
    expect(events.filter((event) => event.kind === 'tariff_switched')).toEqual([
      {kind: 'tariff_switched', from: 'plan', to: 'basic', at: '2026-01-08T00:00:00.000Z'},
      {kind: 'tariff_switched', from: 'basic', to: 'free', at: '2026-02-08T00:00:00.000Z'},
    ])
    expect(record).toMatchObject({declaredTariff: 'plan', tariff: 'free', termStart: '2026-02-08T00:00:00.000Z'})
    const result = subscriptionStatus({user: user(), tariffs, record: start, now: at('2027-06-01T00:00:00Z')})
    expect(result).toMatchObject({status: 'active', tariff: 'free', termEnd: null, endsAt: null})
  })

  it('a nextTariff that is not declared ends the term', () => {
    const result = statusAt(user(), catalog(trial), '2026-01-01T00:00:00Z', '2026-01-09T00:00:00Z')
    expect(result).toMatchObject({status: 'expired', reason: 'term_ended', tariff: 'plan'})
  })

  it.each([
    {now: '2026-02-27T23:59:59Z', termStart: '2026-01-31T00:00:00.000Z', termEnd: '2026-02-28T00:00:00.000Z'},
    {now: '2026-03-15T00:00:00Z', termStart: '2026-02-28T00:00:00.000Z', termEnd: '2026-03-31T00:00:00.000Z'},
    {now: '2026-04-30T00:00:00Z', termStart: '2026-04-30T00:00:00.000Z', termEnd: '2026-05-31T00:00:00.000Z'},
    {now: '2036-02-29T12:00:00Z', termStart: '2036-02-29T00:00:00.000Z', termEnd: '2036-03-31T00:00:00.000Z'},
  ])('a tariff renewing into itself keeps its anchor: at $now $termStart..$termEnd', ({now, termStart, termEnd}) => {
    const tariffs = catalog(tariff('plan', {durationMonths: 1, nextTariff: 'plan'}))
    expect(statusAt(user(), tariffs, '2026-01-31T00:00:00Z', now)).toMatchObject({
      status: 'active',
      tariff: 'plan',
      termStart,
      termEnd,
      endsAt: null,
    })
  })

  it('a self-renewing tariff a decade later takes one renewal event, not a hundred', () => {
    const tariffs = catalog(tariff('plan', {durationDays: 30, nextTariff: 'plan'}))
    const start = activated(user(), tariffs, '2026-01-01T00:00:00Z')
    const {record, events} = advanceSubscription({
      user: user(),
      tariffs,
      record: start,
      now: at('2036-01-01T00:00:00Z'),
    })
    // 3652 days later: 121 whole terms of 30 days.
    expect(events).toEqual([
      {kind: 'renewed', tariff: 'plan', termStart: '2035-12-10T00:00:00.000Z'},
      {
        kind: 'period_reset',
        periodStart: '2035-12-10T00:00:00.000Z',
        previousPeriodStart: '2026-01-01T00:00:00.000Z',
        trafficUsed: 0,
      },
    ])
    expect(record?.termAnchor).toBe('2026-01-01T00:00:00.000Z')
  })

  it('traffic resets with each renewal when the limit covers the term', () => {
    const tariffs = catalog(tariff('plan', {durationMonths: 1, nextTariff: 'plan', trafficLimit: GiB}))
    const start = activated(user(), tariffs, '2026-01-31T00:00:00Z')
    const record = {...start, trafficUsed: GiB}
    expect(subscriptionStatus({user: user(), tariffs, record, now: at('2026-02-27T00:00:00Z')})).toMatchObject({
      reason: 'traffic_exhausted',
      nextReset: '2026-02-28T00:00:00.000Z',
    })
    expect(subscriptionStatus({user: user(), tariffs, record, now: at('2026-02-28T00:00:00Z')})).toMatchObject({
      status: 'active',
      trafficUsed: 0,
      periodStart: '2026-02-28T00:00:00.000Z',
    })
  })
})

/** Follows a nextTariff chain one term at a time: the obvious way, to check the fast one against. */
function referenceChain(tariffs: ReadonlyMap<string, Tariff>, first: string, start: string, now: string) {
  let name = first
  let termStart = new Date(start)
  for (;;) {
    const current = tariffs.get(name)
    if (current === undefined) throw new Error(`no tariff ${name}`)
    const end =
      current.durationDays !== null
        ? addDays(termStart, current.durationDays)
        : addMonths(termStart, current.durationMonths ?? Number.NaN)
    if (end.getTime() > Date.parse(now) || current.nextTariff === undefined) {
      return {tariff: name, termStart: termStart.toISOString()}
    }
    name = current.nextTariff
    termStart = end
  }
}

describe('nextTariff cycles', () => {
  it.each([
    {
      name: 'days a -> b -> a, a century later',
      tariffs: catalog(
        tariff('plan', {durationDays: 10, nextTariff: 'b'}),
        tariff('b', {durationDays: 20, nextTariff: 'plan'}),
      ),
      from: '2026-01-01T06:00:00Z',
      now: '2126-01-01T00:00:00Z',
    },
    {
      name: 'days, landing on b',
      tariffs: catalog(
        tariff('plan', {durationDays: 10, nextTariff: 'b'}),
        tariff('b', {durationDays: 20, nextTariff: 'plan'}),
      ),
      from: '2026-01-01T00:00:00Z',
      now: '2026-12-31T00:00:00Z',
    },
    {
      name: 'months from the 31st (clamped into the 28th, then a fixed cycle)',
      tariffs: catalog(
        tariff('plan', {durationMonths: 1, nextTariff: 'b'}),
        tariff('b', {durationMonths: 2, nextTariff: 'plan'}),
      ),
      from: '2026-01-31T00:00:00Z',
      now: '2041-05-30T00:00:00Z',
    },
    {
      name: 'three tariffs in a months cycle',
      tariffs: catalog(
        tariff('plan', {durationMonths: 1, nextTariff: 'b'}),
        tariff('b', {durationMonths: 1, nextTariff: 'c'}),
        tariff('c', {durationMonths: 12, nextTariff: 'b'}),
      ),
      from: '2026-03-15T00:00:00Z',
      now: '2050-01-01T00:00:00Z',
    },
  ])('$name: the term containing now, as stepping one term at a time finds it', ({tariffs, from, now}) => {
    const expected = referenceChain(tariffs, 'plan', from, now)
    const start = activated(user(), tariffs, from)
    const {record, events} = advanceSubscription({user: user(), tariffs, record: start, now: at(now)})
    expect({tariff: record?.tariff, termStart: record?.termStart}).toEqual(expected)
    // Whole cycles are skipped, not listed: a handful of events, not thousands.
    expect(events.length).toBeLessThan(12)
    expect(subscriptionStatus({user: user(), tariffs, record: start, now: at(now)}).status).toBe('active')
  })

  it('skips month cycles only once they run from a day every month has', () => {
    const tariffs = catalog(
      tariff('plan', {durationMonths: 1, nextTariff: 'b'}),
      tariff('b', {durationMonths: 2, nextTariff: 'plan'}),
    )
    const start = activated(user(), tariffs, '2026-01-31T00:00:00Z')
    for (let day = 0; day < 1500; day += 13) {
      const now = addDays(at('2026-01-31T00:00:00Z'), day)
      const record = advanced({user: user(), tariffs, record: start, now})
      expect({tariff: record.tariff, termStart: record.termStart}).toEqual(
        referenceChain(tariffs, 'plan', '2026-01-31T00:00:00Z', now.toISOString()),
      )
    }
  })

  it('a cycle that mixes days and months is stepped, at most 1000 switches per advance', () => {
    const tariffs = catalog(
      tariff('plan', {durationDays: 1, nextTariff: 'b'}),
      tariff('b', {durationMonths: 1, nextTariff: 'plan'}),
    )
    const start = activated(user(), tariffs, '2026-01-01T00:00:00Z')
    const now = at('2126-01-01T00:00:00Z')
    const first = advanceSubscription({user: user(), tariffs, record: start, now})
    expect(first.events.filter((event) => event.kind === 'tariff_switched')).toHaveLength(1000)
    const second = advanceSubscription({user: user(), tariffs, record: first.record, now})
    expect(Date.parse(second.record?.termStart ?? '')).toBeGreaterThan(Date.parse(first.record?.termStart ?? ''))
    // Nearby, stepping reaches now in one go.
    const near = advanced({user: user(), tariffs, record: start, now: at('2026-06-01T00:00:00Z')})
    expect({tariff: near.tariff, termStart: near.termStart}).toEqual(
      referenceChain(tariffs, 'plan', '2026-01-01T00:00:00Z', '2026-06-01T00:00:00Z'),
    )
  })

  it('endsAt is null for a chain that cycles', () => {
    const tariffs = catalog(
      tariff('plan', {durationDays: 10, nextTariff: 'b'}),
      tariff('b', {durationDays: 20, nextTariff: 'plan'}),
    )
    expect(statusAt(user(), tariffs, '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z').endsAt).toBeNull()
  })
})

describe('advanceSubscription', () => {
  const basic = tariff('plan', {durationMonths: 1, trafficLimit: 100 * GiB, trafficReset: 'monthly'})
  const tariffs = catalog(basic, tariff('pro'))

  it('activates a new user and says so', () => {
    const result = advanceSubscription({user: user(), tariffs, now: at('2026-01-15T09:30:00Z')})
    expect(result.record).toEqual({
      declaredTariff: 'plan',
      tariff: 'plan',
      activatedAt: '2026-01-15T09:30:00.000Z',
      termAnchor: '2026-01-15T09:30:00.000Z',
      termStart: '2026-01-15T09:30:00.000Z',
      periodStart: '2026-01-15T09:30:00.000Z',
      trafficUsed: 0,
      status: 'active',
      reason: 'active',
    })
    expect(result.events).toEqual([
      {kind: 'activated', tariff: 'plan', termStart: '2026-01-15T09:30:00.000Z', status: 'active', reason: 'active'},
    ])
  })

  it('activates a startOnFirstUse tariff without a term start', () => {
    const waiting = catalog(tariff('plan', {durationDays: 7, startOnFirstUse: true}))
    const result = advanceSubscription({user: user(), tariffs: waiting, now: at('2026-01-15T00:00:00Z')})
    expect(result.record).toEqual({
      declaredTariff: 'plan',
      tariff: 'plan',
      activatedAt: '2026-01-15T00:00:00.000Z',
      trafficUsed: 0,
      status: 'pending',
      reason: 'awaiting_first_use',
    })
    expect(result.events).toEqual([
      {kind: 'activated', tariff: 'plan', termStart: null, status: 'pending', reason: 'awaiting_first_use'},
    ])
  })

  it('keeps the declared start in the record', () => {
    const u = user({subscription: {start: '2026-02-01'}})
    const record = advanced({user: u, tariffs, now: at('2026-01-15T00:00:00Z')})
    expect(record).toMatchObject({
      declaredStart: '2026-02-01T00:00:00.000Z',
      termStart: '2026-02-01T00:00:00.000Z',
      periodStart: '2026-02-01T00:00:00.000Z',
      status: 'pending',
      reason: 'not_started',
    })
  })

  it.each([
    {name: 'pending', u: user({status: 'pending'})},
    {name: 'rejected', u: user({status: 'rejected'})},
    {name: 'disabled', u: user({status: 'disabled'})},
    {name: 'cancelled', u: user({subscription: {cancelled: true}})},
    {name: 'without a tariff', u: user({tariff: undefined})},
    {name: 'on an unknown tariff', u: user({tariff: 'gone'})},
  ])('does not activate a user who is $name', ({u}) => {
    expect(advanceSubscription({user: u, tariffs, now: at('2026-01-15T00:00:00Z')})).toEqual({events: []})
  })

  describe('is idempotent: advancing again at the same moment changes nothing', () => {
    const cycle = catalog(
      tariff('plan', {durationDays: 10, nextTariff: 'b'}),
      tariff('b', {durationDays: 20, nextTariff: 'plan'}),
    )
    const renewing = catalog(
      tariff('plan', {durationMonths: 1, nextTariff: 'plan', trafficLimit: GiB, trafficReset: 'daily'}),
    )
    it.each([
      {name: 'activation', tariffs, u: user(), from: undefined},
      {name: 'a term that ended', tariffs, u: user(), from: '2025-01-01T00:00:00Z'},
      {name: 'a cycle a -> b -> a', tariffs: cycle, u: user(), from: '2020-01-01T00:00:00Z'},
      {name: 'renewals and daily periods', tariffs: renewing, u: user(), from: '2025-01-31T00:00:00Z'},
      {name: 'a tariff change', tariffs, u: user({tariff: 'pro'}), from: '2025-12-01T00:00:00Z'},
      {name: 'a cancellation', tariffs, u: user({subscription: {cancelled: true}}), from: '2026-01-01T00:00:00Z'},
      {name: 'a disabled user', tariffs, u: user({status: 'disabled'}), from: '2026-01-01T00:00:00Z'},
      {name: 'a future start', tariffs, u: user({subscription: {start: '2026-09-01'}}), from: '2026-05-01T00:00:00Z'},
    ])('$name', ({tariffs: t, u, from}) => {
      const now = at('2026-06-10T12:00:00Z')
      const stored = from === undefined ? undefined : activated(user(), t, from)
      const once = advanceSubscription({user: u, tariffs: t, now, ...(stored ? {record: stored} : {})})
      expect(once.record).toBeDefined()
      expect(once.events.length).toBeGreaterThan(0)
      const twice = advanceSubscription({user: u, tariffs: t, now, record: once.record})
      expect(twice).toEqual({record: once.record, events: []})
    })
  })

  it('advancing day by day or at once leads to the same record', () => {
    const chain = catalog(
      tariff('plan', {durationDays: 7, nextTariff: 'b', trafficLimit: GiB, trafficReset: 'weekly'}),
      tariff('b', {durationMonths: 1, nextTariff: 'c', trafficLimit: GiB, trafficReset: 'monthly_rolling'}),
      tariff('c', {durationDays: 3, nextTariff: 'b', trafficLimit: GiB, trafficReset: 'daily'}),
    )
    let record = activated(user(), chain, '2026-01-30T15:00:00Z')
    const start = record
    for (let day = 1; day <= 200; day++) {
      record = advanced({user: user(), tariffs: chain, record, now: addDays(at('2026-01-30T15:00:00Z'), day)})
    }
    const atOnce = advanced({
      user: user(),
      tariffs: chain,
      record: start,
      now: addDays(at('2026-01-30T15:00:00Z'), 200),
    })
    expect(atOnce).toEqual(record)
  })

  it('rolls the period over: used traffic back to zero, with the old amount in the event', () => {
    const start = activated(user(), tariffs, '2026-01-15T00:00:00Z')
    const record = {...start, trafficUsed: 5 * GiB}
    const result = advanceSubscription({user: user(), tariffs, record, now: at('2026-02-03T00:00:00Z')})
    expect(result.events).toEqual([
      {
        kind: 'period_reset',
        periodStart: '2026-02-01T00:00:00.000Z',
        previousPeriodStart: '2026-01-15T00:00:00.000Z',
        trafficUsed: 5 * GiB,
      },
    ])
    expect(result.record).toMatchObject({periodStart: '2026-02-01T00:00:00.000Z', trafficUsed: 0})
  })

  it('expires a term that ended: one expired event, then nothing', () => {
    const start = activated(user(), tariffs, '2026-01-15T00:00:00Z')
    const result = advanceSubscription({user: user(), tariffs, record: start, now: at('2026-03-20T00:00:00Z')})
    expect(result.events).toEqual([
      {
        kind: 'period_reset',
        periodStart: '2026-02-01T00:00:00.000Z',
        previousPeriodStart: '2026-01-15T00:00:00.000Z',
        trafficUsed: 0,
      },
      {kind: 'expired', status: 'expired', reason: 'term_ended', previousStatus: 'active', previousReason: 'active'},
    ])
    // The last period stays: no rollovers after the end.
    expect(result.record).toMatchObject({periodStart: '2026-02-01T00:00:00.000Z', status: 'expired'})
    const later = advanceSubscription({user: user(), tariffs, record: result.record, now: at('2027-01-01T00:00:00Z')})
    expect(later.events).toEqual([])
  })

  it('switches tariffs through nextTariff without counting it as a change in YAML', () => {
    const chain = catalog(tariff('plan', {durationDays: 7, nextTariff: 'pro'}), tariff('pro'))
    const start = activated(user(), chain, '2026-01-01T00:00:00Z')
    const result = advanceSubscription({user: user(), tariffs: chain, record: start, now: at('2026-01-10T00:00:00Z')})
    expect(kinds(result.events)).toEqual(['tariff_switched', 'period_reset'])
    expect(result.record).toMatchObject({declaredTariff: 'plan', tariff: 'pro', termAnchor: '2026-01-08T00:00:00.000Z'})
    const again = advanceSubscription({
      user: user(),
      tariffs: chain,
      record: result.record,
      now: at('2026-05-01T00:00:00Z'),
    })
    expect(again.events).toEqual([])
  })

  it('a user moved to another tariff in YAML starts a new term now', () => {
    const start = {...activated(user(), tariffs, '2026-01-15T00:00:00Z'), trafficUsed: 7 * GiB}
    const result = advanceSubscription({
      user: user({tariff: 'pro'}),
      tariffs,
      record: start,
      now: at('2026-01-20T12:00:00Z'),
    })
    expect(result.events).toEqual([
      {
        kind: 'restarted',
        cause: 'tariff_changed',
        from: 'plan',
        to: 'pro',
        termStart: '2026-01-20T12:00:00.000Z',
        status: 'active',
        reason: 'active',
      },
    ])
    expect(result.record).toEqual({
      declaredTariff: 'pro',
      tariff: 'pro',
      activatedAt: '2026-01-20T12:00:00.000Z',
      termAnchor: '2026-01-20T12:00:00.000Z',
      termStart: '2026-01-20T12:00:00.000Z',
      periodStart: '2026-01-20T12:00:00.000Z',
      trafficUsed: 0,
      status: 'active',
      reason: 'active',
    })
  })

  it('a changed declared start restarts from it', () => {
    const u = user({subscription: {start: '2026-01-01'}})
    const start = activated(u, tariffs, '2026-01-10T00:00:00Z')
    const moved = user({subscription: {start: '2026-01-05T00:00:00Z'}})
    const result = advanceSubscription({user: moved, tariffs, record: start, now: at('2026-01-20T00:00:00Z')})
    expect(result.events).toMatchObject([
      {kind: 'restarted', cause: 'start_changed', termStart: '2026-01-05T00:00:00.000Z'},
    ])
    // The same instant written differently is no change.
    const same = user({subscription: {start: '2026-01-01T00:00:00.000Z'}})
    expect(advanceSubscription({user: same, tariffs, record: start, now: at('2026-01-20T00:00:00Z')}).events).toEqual(
      [],
    )
  })

  it('does not restart a user who is not active; the tariff change waits', () => {
    const start = activated(user(), tariffs, '2026-01-15T00:00:00Z')
    const result = advanceSubscription({
      user: user({tariff: 'pro', status: 'disabled'}),
      tariffs,
      record: start,
      now: at('2026-01-20T00:00:00Z'),
    })
    expect(result.record).toMatchObject({declaredTariff: 'plan', tariff: 'plan', status: 'disabled'})
    expect(kinds(result.events)).toEqual(['disabled'])
  })

  it('keeps time running for a disabled user', () => {
    const chain = catalog(tariff('plan', {durationDays: 7, nextTariff: 'pro'}), tariff('pro'))
    const start = activated(user(), chain, '2026-01-01T00:00:00Z')
    const result = advanceSubscription({
      user: user({status: 'disabled'}),
      tariffs: chain,
      record: start,
      now: at('2026-01-10T00:00:00Z'),
    })
    expect(result.record?.tariff).toBe('pro')
    expect(kinds(result.events)).toEqual(['tariff_switched', 'period_reset', 'disabled'])
  })

  it('cancels from the YAML and undoes it when the YAML does', () => {
    const start = activated(user(), tariffs, '2026-01-15T00:00:00Z')
    const cancelled = advanceSubscription({
      user: user({subscription: {cancelled: true}}),
      tariffs,
      record: start,
      now: at('2026-01-20T00:00:00Z'),
    })
    expect(cancelled.record).toMatchObject({cancelledAt: '2026-01-20T00:00:00.000Z', cancelledBy: 'declaration'})
    expect(cancelled.events).toEqual([
      {kind: 'cancelled', status: 'cancelled', reason: 'cancelled', previousStatus: 'active', previousReason: 'active'},
    ])
    const back = advanceSubscription({user: user(), tariffs, record: cancelled.record, now: at('2026-01-21T00:00:00Z')})
    expect(back.record?.cancelledAt).toBeUndefined()
    expect(back.record?.cancelledBy).toBeUndefined()
    expect(kinds(back.events)).toEqual(['reactivated'])
  })

  it('a cancellation made in state is not undone by the YAML', () => {
    const start: SubscriptionRecord = {
      ...activated(user(), tariffs, '2026-01-15T00:00:00Z'),
      cancelledAt: '2026-01-16T00:00:00.000Z',
      cancelledBy: 'state',
    }
    const result = advanceSubscription({user: user(), tariffs, record: start, now: at('2026-01-20T00:00:00Z')})
    expect(result.record).toMatchObject({
      cancelledAt: '2026-01-16T00:00:00.000Z',
      cancelledBy: 'state',
      status: 'cancelled',
    })
    expect(kinds(result.events)).toEqual(['cancelled'])
  })

  it('a declared start arriving shows as started', () => {
    const u = user({subscription: {start: '2026-02-01'}})
    const start = activated(u, tariffs, '2026-01-15T00:00:00Z')
    const result = advanceSubscription({user: u, tariffs, record: start, now: at('2026-02-01T00:00:00Z')})
    expect(result.events).toEqual([
      {kind: 'started', status: 'active', reason: 'active', previousStatus: 'pending', previousReason: 'not_started'},
    ])
  })

  it('a user set back to pending is suspended', () => {
    const start = activated(user(), tariffs, '2026-01-15T00:00:00Z')
    const result = advanceSubscription({
      user: user({status: 'pending'}),
      tariffs,
      record: start,
      now: at('2026-01-16T00:00:00Z'),
    })
    expect(result.events).toEqual([
      {
        kind: 'suspended',
        status: 'pending',
        reason: 'user_pending',
        previousStatus: 'active',
        previousReason: 'active',
      },
    ])
  })

  it('never moves a record back in time', () => {
    const daily = catalog(
      tariff('plan', {durationMonths: 1, nextTariff: 'plan', trafficLimit: GiB, trafficReset: 'daily'}),
    )
    const start = activated(user(), daily, '2026-01-31T00:00:00Z')
    const later = advanced({user: user(), tariffs: daily, record: start, now: at('2026-03-05T12:00:00Z')})
    const earlier = at('2026-02-20T00:00:00Z')
    const result = advanceSubscription({user: user(), tariffs: daily, record: later, now: earlier})
    expect(result.record).toMatchObject({
      termStart: '2026-02-28T00:00:00.000Z',
      periodStart: '2026-03-05T00:00:00.000Z',
    })
    expect(result.events).toEqual([])
    expect(subscriptionStatus({user: user(), tariffs: daily, record: later, now: earlier})).toMatchObject({
      termStart: '2026-02-28T00:00:00.000Z',
      periodStart: '2026-03-05T00:00:00.000Z',
      periodEnd: '2026-03-06T00:00:00.000Z',
    })
  })
})

describe('addUsage', () => {
  const tariffs = catalog(tariff('plan', {durationDays: 7, startOnFirstUse: true, trafficLimit: 5 * GiB}))

  it('starts a startOnFirstUse term at the first traffic', () => {
    const start = activated(user(), tariffs, '2026-01-01T00:00:00Z')
    const result = addUsage({user: user(), tariffs, record: start, now: at('2026-01-05T08:00:00Z'), bytes: GiB})
    expect(result.record).toMatchObject({
      firstUsedAt: '2026-01-05T08:00:00.000Z',
      termStart: '2026-01-05T08:00:00.000Z',
      periodStart: '2026-01-05T08:00:00.000Z',
      trafficUsed: GiB,
      status: 'active',
    })
    expect(result.events).toEqual([
      {
        kind: 'started',
        status: 'active',
        reason: 'active',
        previousStatus: 'pending',
        previousReason: 'awaiting_first_use',
      },
    ])
  })

  it('adds to the period and expires the subscription when the allowance is used up', () => {
    const start = activated(user(), tariffs, '2026-01-01T00:00:00Z')
    const first = addUsage({user: user(), tariffs, record: start, now: at('2026-01-02T00:00:00Z'), bytes: 3 * GiB})
    const second = addUsage({
      user: user(),
      tariffs,
      record: first.record,
      now: at('2026-01-03T00:00:00Z'),
      bytes: 2 * GiB,
    })
    expect(second.record).toMatchObject({trafficUsed: 5 * GiB, firstUsedAt: '2026-01-02T00:00:00.000Z'})
    expect(second.events).toEqual([
      {
        kind: 'expired',
        status: 'expired',
        reason: 'traffic_exhausted',
        previousStatus: 'active',
        previousReason: 'active',
      },
    ])
  })

  it('counts bytes in the period they arrive in, after rolling over', () => {
    const monthly = catalog(tariff('plan', {trafficLimit: 5 * GiB, trafficReset: 'monthly'}))
    const start = {
      ...activated(user(), monthly, '2026-01-10T00:00:00Z'),
      trafficUsed: 5 * GiB,
      status: 'expired' as const,
    }
    const result = addUsage({
      user: user(),
      tariffs: monthly,
      record: start,
      now: at('2026-02-02T00:00:00Z'),
      bytes: GiB,
    })
    expect(result.record).toMatchObject({periodStart: '2026-02-01T00:00:00.000Z', trafficUsed: GiB})
    expect(kinds(result.events)).toEqual(['period_reset', 'reactivated'])
  })

  it('activates an eligible user first and drops the bytes of anyone else', () => {
    const fresh = addUsage({user: user(), tariffs, now: at('2026-01-02T00:00:00Z'), bytes: GiB})
    expect(fresh.record).toMatchObject({trafficUsed: GiB, termStart: '2026-01-02T00:00:00.000Z'})
    expect(kinds(fresh.events)).toEqual(['activated', 'started'])
    expect(addUsage({user: user({status: 'disabled'}), tariffs, now: at('2026-01-02T00:00:00Z'), bytes: GiB})).toEqual({
      events: [],
    })
  })
})

describe('declaredActive', () => {
  const now = at('2026-06-01T00:00:00Z')

  it.each([
    {name: 'an active user', u: user(), expected: true},
    {name: 'a pending user', u: user({status: 'pending'}), expected: false},
    {name: 'a disabled user', u: user({status: 'disabled'}), expected: false},
    {name: 'a cancelled user', u: user({subscription: {cancelled: true}}), expected: false},
    {name: 'a future start', u: user({subscription: {start: '2026-06-02'}}), expected: false},
    {name: 'a past start', u: user({subscription: {start: '2026-01-01'}}), expected: true},
    {name: 'expired', u: user({subscription: {expires: '2026-05-31T23:59:59Z'}}), expected: false},
    {name: 'expiring exactly now', u: user({subscription: {expires: '2026-06-01T00:00:00Z'}}), expected: false},
    {name: 'not yet expired', u: user({subscription: {expires: '2026-06-01T00:00:01Z'}}), expected: true},
    {name: 'without a tariff', u: user({tariff: undefined}), expected: true},
  ])('from the declarations alone: $name -> $expected', ({u, expected}) => {
    expect(declaredActive(u, now)).toBe(expected)
  })

  it('with the tariffs, also counts their duration from a declared start and first use', () => {
    const tariffs = catalog(
      tariff('plan', {durationMonths: 1}),
      tariff('trial', {durationDays: 7, startOnFirstUse: true}),
    )
    expect(declaredActive(user(), now, tariffs)).toBe(true)
    expect(declaredActive(user({subscription: {start: '2026-01-01'}}), now, tariffs)).toBe(false)
    expect(declaredActive(user({subscription: {start: '2026-05-15'}}), now, tariffs)).toBe(true)
    expect(declaredActive(user({tariff: 'trial'}), now, tariffs)).toBe(true)
    expect(declaredActive(user({tariff: undefined}), now, tariffs)).toBe(false)
  })
})
