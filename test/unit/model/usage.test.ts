import {describe, expect, it} from 'vitest'

import type {Peer, Tariff, User} from '../../../src/model/desired.js'
import {activateSubscription, tariffsByName} from '../../../src/model/subscription.js'
import {
  chargeSubscriptions,
  counterDelta,
  type CounterReading,
  daysBetween,
  type NodeCounters,
  type StoredCounter,
  usageAttribution,
  usageDeltas,
  usageReport,
  userOfXrayEmail,
  wireguardCounterKey,
} from '../../../src/model/usage.js'
import {formatBytes, sparkline} from '../../../src/views/usage-view.js'

const GiB = 2 ** 30
const at = (text: string): Date => new Date(text)

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

function user(name: string, fields: Partial<User> = {}): User {
  return {
    name,
    status: 'active',
    tariff: 'plan',
    groups: [],
    links: ['default'],
    subscription: {cancelled: false},
    ...fields,
  }
}

function peer(name: string, publicKey: string, fields: Partial<Peer> = {}): Peer {
  return {
    name,
    node: 'gw-1',
    interface: 'wg0',
    publicKey,
    addresses: [],
    allowedIPs: [],
    keepalive: 25,
    tunnel: 'full',
    enabled: true,
    ...fields,
  }
}

const wg = (key: string, rx: number, tx: number, user: string | null = 'alice'): CounterReading => ({
  kind: 'wireguard',
  key: wireguardCounterKey('wg0', key),
  rx,
  tx,
  user,
  label: key,
})

const reading = (when: string, counters: CounterReading[], node = 'gw-1'): NodeCounters => ({
  node,
  observedAt: at(when),
  counters,
})

const stored = (when: string, key: string, rx: number, tx: number, node = 'gw-1'): StoredCounter => ({
  node,
  kind: 'wireguard',
  key: wireguardCounterKey('wg0', key),
  rx,
  tx,
  observedAt: at(when),
})

describe('counterDelta', () => {
  it('counts a first reading in full: the counter started at zero when the peer appeared', () => {
    expect(counterDelta(undefined, {rx: 100, tx: 250})).toEqual({kind: 'first', upload: 100, download: 250})
  })

  it('counts an increase as the difference (rx is the upload, tx the download)', () => {
    expect(counterDelta({rx: 100, tx: 250}, {rx: 160, tx: 1250})).toEqual({
      kind: 'increase',
      upload: 60,
      download: 1000,
    })
  })

  it('adds nothing for an unchanged counter', () => {
    expect(counterDelta({rx: 100, tx: 250}, {rx: 100, tx: 250})).toEqual({kind: 'unchanged', upload: 0, download: 0})
  })

  it('treats a counter that went down as reset: the new value is the traffic since, never negative', () => {
    expect(counterDelta({rx: 1000, tx: 5000}, {rx: 300, tx: 700})).toEqual({kind: 'reset', upload: 300, download: 700})
  })

  it('treats a restart to 0 as a reset that adds nothing', () => {
    expect(counterDelta({rx: 1000, tx: 5000}, {rx: 0, tx: 0})).toEqual({kind: 'reset', upload: 0, download: 0})
  })

  it('treats one direction going down as a reset of both (they restart together)', () => {
    expect(counterDelta({rx: 1000, tx: 5000}, {rx: 2000, tx: 10})).toEqual({kind: 'reset', upload: 2000, download: 10})
  })
})

describe('usageDeltas', () => {
  const T0 = '2026-03-01T10:00:00Z'
  const T1 = '2026-03-01T11:00:00Z'

  it('sums per user, node and UTC day, and stores readings that moved', () => {
    const result = usageDeltas(
      [reading(T1, [wg('A', 150, 300), wg('B', 10, 20, 'bob'), wg('C', 5, 5, null)])],
      [stored(T0, 'A', 100, 100)],
    )
    expect(result.totals).toEqual([
      {user: null, node: 'gw-1', day: '2026-03-01', upload: 5, download: 5},
      {user: 'alice', node: 'gw-1', day: '2026-03-01', upload: 50, download: 200},
      {user: 'bob', node: 'gw-1', day: '2026-03-01', upload: 10, download: 20},
    ])
    expect(result.counters.map((c) => [c.key, c.rx, c.tx])).toEqual([
      ['wg0:A', 150, 300],
      ['wg0:B', 10, 20],
      ['wg0:C', 5, 5],
    ])
    expect(result.outcomes.map((o) => [o.key, o.delta])).toEqual([
      ['wg0:A', 'increase'],
      ['wg0:B', 'first'],
      ['wg0:C', 'first'],
    ])
  })

  it('is idempotent: the same readings again add and store nothing', () => {
    const first = usageDeltas([reading(T0, [wg('A', 150, 300)])], [])
    const again = usageDeltas([reading(T1, [wg('A', 150, 300)])], first.counters)
    expect(again.totals).toEqual([])
    expect(again.counters).toEqual([])
    expect(again.outcomes.map((o) => o.delta)).toEqual(['unchanged'])
  })

  it('counts a reset from the new value', () => {
    const result = usageDeltas([reading(T1, [wg('A', 40, 80)])], [stored(T0, 'A', 1000, 2000)])
    expect(result.totals).toEqual([{user: 'alice', node: 'gw-1', day: '2026-03-01', upload: 40, download: 80}])
    expect(result.counters.map((c) => [c.rx, c.tx])).toEqual([[40, 80]])
    expect(result.outcomes[0]?.delta).toBe('reset')
  })

  it('leaves a missing key alone: no delta, its stored reading kept', () => {
    const result = usageDeltas([reading(T1, [wg('A', 100, 100)])], [stored(T0, 'A', 100, 100), stored(T0, 'B', 9, 9)])
    expect(result.totals).toEqual([])
    expect(result.counters).toEqual([])
    expect(result.outcomes.map((o) => o.key)).toEqual(['wg0:A'])
  })

  it('does not store a first reading of zero (it would count the same later)', () => {
    const result = usageDeltas([reading(T0, [wg('A', 0, 0)])], [])
    expect(result.counters).toEqual([])
    expect(result.outcomes.map((o) => o.delta)).toEqual(['first'])
  })

  it('skips a reading older than the stored one (another collection stored a newer one)', () => {
    const result = usageDeltas([reading(T0, [wg('A', 50, 50)])], [stored(T1, 'A', 100, 100)])
    expect(result.totals).toEqual([])
    expect(result.counters).toEqual([])
    expect(result.outcomes.map((o) => o.delta)).toEqual(['stale'])
  })

  it('keeps counters of different nodes apart', () => {
    const result = usageDeltas(
      [reading(T1, [wg('A', 100, 100)], 'gw-1'), reading(T1, [wg('A', 100, 100)], 'gw-2')],
      [stored(T0, 'A', 100, 100, 'gw-1')],
    )
    expect(result.totals).toEqual([{user: 'alice', node: 'gw-2', day: '2026-03-01', upload: 100, download: 100}])
  })

  it('puts the traffic on the UTC day of the reading', () => {
    const result = usageDeltas([reading('2026-03-01T23:59:59.999Z', [wg('A', 1, 1)])], [])
    expect(result.totals[0]?.day).toBe('2026-03-01')
    expect(usageDeltas([reading('2026-03-02T00:00:00Z', [wg('A', 1, 1)])], []).totals[0]?.day).toBe('2026-03-02')
  })
})

describe('attribution', () => {
  const users = [user('alice'), user('bob')]
  const peers = [
    peer('alice-laptop', 'KEY-A', {user: 'alice'}),
    peer('bob-laptop', 'KEY-B', {user: 'bob', node: 'gw-2'}),
    peer('printer', 'KEY-P'),
    peer('ghost', 'KEY-G', {user: 'gone'}),
  ]
  const attribution = usageAttribution(peers, users)

  it('maps WireGuard public keys to the declared peer and its user', () => {
    expect(attribution.wireguard('gw-1', 'KEY-A')).toEqual({peer: 'alice-laptop', user: 'alice'})
    expect(attribution.wireguard('gw-1', 'KEY-B')).toEqual({peer: 'bob-laptop', user: 'bob'})
  })

  it('leaves unknown keys, peers without a user and undeclared users unattributed', () => {
    expect(attribution.wireguard('gw-1', 'KEY-X')).toEqual({peer: null, user: null})
    expect(attribution.wireguard('gw-1', 'KEY-P')).toEqual({peer: 'printer', user: null})
    expect(attribution.wireguard('gw-1', 'KEY-G')).toEqual({peer: 'ghost', user: null})
  })

  it('maps xray e-mails user.link@nexus to declared users', () => {
    const names = new Set(['alice', 'bob'])
    expect(userOfXrayEmail('alice.phone@nexus', names)).toBe('alice')
    expect(userOfXrayEmail('bob.default@nexus', names)).toBe('bob')
    expect(userOfXrayEmail('carol.default@nexus', names)).toBeNull()
    expect(userOfXrayEmail('alice@example.com', names)).toBeNull()
    expect(userOfXrayEmail('alice.phone@nexus.example', names)).toBeNull()
    expect(attribution.xray('alice.default@nexus')).toBe('alice')
  })
})

describe('chargeSubscriptions', () => {
  const tariffs = tariffsByName([
    tariff('plan', {trafficLimit: 10 * GiB, trafficReset: 'monthly', durationMonths: 1, nextTariff: 'plan'}),
    tariff('trial', {durationDays: 7, startOnFirstUse: true}),
  ])
  const alice = user('alice')
  const record = activateSubscription({user: alice, tariffs, now: at('2026-03-01T00:00:00Z')})
  if (!record) throw new Error('not activated')

  it('adds the bytes to the current period and keeps the stored status for the planner to report', () => {
    const [charge] = chargeSubscriptions({
      users: [alice],
      tariffs,
      records: new Map([['alice', record]]),
      bytes: new Map([['alice', 11 * GiB]]),
      now: at('2026-03-10T00:00:00Z'),
    })
    expect(charge?.record).toMatchObject({trafficUsed: 11 * GiB, status: 'active', reason: 'active'})
    expect(charge?.record?.firstUsedAt).toBe('2026-03-10T00:00:00.000Z')
    expect(charge?.status).toMatchObject({status: 'expired', reason: 'traffic_exhausted', letIn: false})
    expect(charge?.events.map((e) => e.kind)).toEqual(['expired'])
  })

  it('charges only users with traffic', () => {
    const charges = chargeSubscriptions({
      users: [alice, user('bob')],
      tariffs,
      records: new Map([['alice', record]]),
      bytes: new Map([
        ['alice', 0],
        ['bob', 0],
      ]),
      now: at('2026-03-10T00:00:00Z'),
    })
    expect(charges).toEqual([])
  })

  it('starts a startOnFirstUse term at the first use', () => {
    const dave = user('dave', {tariff: 'trial'})
    const waiting = activateSubscription({user: dave, tariffs, now: at('2026-03-01T00:00:00Z')})
    expect(waiting?.termStart).toBeUndefined()
    const [charge] = chargeSubscriptions({
      users: [dave],
      tariffs,
      records: new Map(waiting ? [['dave', waiting]] : []),
      bytes: new Map([['dave', 1000]]),
      now: at('2026-03-05T12:00:00Z'),
    })
    expect(charge?.record).toMatchObject({
      firstUsedAt: '2026-03-05T12:00:00.000Z',
      termStart: '2026-03-05T12:00:00.000Z',
      trafficUsed: 1000,
    })
    expect(charge?.status).toMatchObject({status: 'active', termEnd: '2026-03-12T12:00:00.000Z'})
  })

  it('drops the bytes of a user who cannot be activated', () => {
    const [charge] = chargeSubscriptions({
      users: [user('erin', {status: 'disabled'})],
      tariffs,
      records: new Map(),
      bytes: new Map([['erin', 1000]]),
      now: at('2026-03-05T12:00:00Z'),
    })
    expect(charge?.record).toBeUndefined()
    expect(charge?.status.status).toBe('disabled')
  })
})

describe('usageReport', () => {
  const rows = [
    {user: 'alice', node: 'gw-1', day: '2026-03-01', upload: 10, download: 100},
    {user: 'alice', node: 'gw-2', day: '2026-03-01', upload: 1, download: 2},
    {user: 'alice', node: 'gw-1', day: '2026-03-03', upload: 20, download: 200},
    {user: 'bob', node: 'gw-1', day: '2026-02-27', upload: 5, download: 5},
    {user: null, node: 'gw-1', day: '2026-03-02', upload: 7, download: 3},
  ]

  it('sums per user, node and day within the range', () => {
    const report = usageReport(rows, {since: '2026-03-01', until: '2026-03-31'})
    expect(report.users).toEqual([
      {
        user: 'alice',
        upload: 31,
        download: 302,
        nodes: [
          {node: 'gw-1', upload: 30, download: 300},
          {node: 'gw-2', upload: 1, download: 2},
        ],
        daily: [
          {day: '2026-03-01', upload: 11, download: 102},
          {day: '2026-03-03', upload: 20, download: 200},
        ],
      },
    ])
    expect(report.unattributed).toEqual({upload: 7, download: 3, nodes: [{node: 'gw-1', upload: 7, download: 3}]})
    expect(report.totals).toEqual({upload: 38, download: 305})
  })

  it('filters by user and node', () => {
    expect(
      usageReport(rows, {since: '2026-01-01', until: '2026-12-31'}, {user: 'bob'}).users.map((u) => u.user),
    ).toEqual(['bob'])
    const gw2 = usageReport(rows, {since: '2026-01-01', until: '2026-12-31'}, {node: 'gw-2'})
    expect(gw2.totals).toEqual({upload: 1, download: 2})
    expect(gw2.unattributed).toBeNull()
  })
})

describe('presentation helpers', () => {
  it('formats sizes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(1023)).toBe('1023 B')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(10 * GiB)).toBe('10.0 GiB')
  })

  it('draws one character per day, a dot for a day without traffic', () => {
    const days = daysBetween('2026-03-01', '2026-03-05')
    expect(days).toEqual(['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05'])
    const daily = [
      {day: '2026-03-01', upload: 0, download: 800},
      {day: '2026-03-03', upload: 50, download: 50},
      {day: '2026-03-05', upload: 1, download: 0},
    ]
    expect(sparkline(daily, days)).toBe('█·▁·▁')
    expect(sparkline(daily, days, 2)).toBe('█▁▁')
    expect(sparkline([], days)).toBe('·····')
  })
})
