/**
 * `nexus usage` through the built CLI over a state seeded with fixed days
 * (no node needed), and the human output of both usage commands pinned as
 * golden files.
 */
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {UsageCollectResult} from '../../../src/app/usage.js'
import {createStyle} from '../../../src/cli/style.js'
import type {TotalsDelta} from '../../../src/model/usage.js'
import {openState, stateLocation} from '../../../src/state/open.js'
import {commitUsage} from '../../../src/state/usage.js'
import {formatCollectHuman} from '../../../src/views/usage-view.js'
import {cli} from '../../helpers/apply-fleet.js'
import {ANSI, exampleCopy, STACK_FRAME} from '../../helpers/cli.js'
import {expectGolden} from '../../helpers/golden.js'
import {tempDir} from '../../helpers/tools.js'

const MiB = 2 ** 20
const GiB = 2 ** 30
const tmp = tempDir('nexus-usage-report-')
let repo: string

const TOTALS: TotalsDelta[] = [
  {user: 'alice', node: 'gw-1', day: '2026-02-27', upload: 120 * MiB, download: 2 * GiB},
  {user: 'alice', node: 'gw-1', day: '2026-03-01', upload: 40 * MiB, download: 700 * MiB},
  {user: 'alice', node: 'gw-2', day: '2026-03-01', upload: 3 * MiB, download: 90 * MiB},
  {user: 'alice', node: 'gw-1', day: '2026-03-04', upload: 300 * MiB, download: 5 * GiB},
  {user: 'bob', node: 'gw-1', day: '2026-03-02', upload: 2 * MiB, download: 15 * MiB},
  {user: 'bob', node: 'gw-1', day: '2026-03-03', upload: 1 * MiB, download: 30 * MiB},
  {user: 'bob', node: 'gw-1', day: '2026-01-15', upload: 1 * GiB, download: 1 * GiB},
  {user: null, node: 'gw-1', day: '2026-03-02', upload: 1500, download: 640},
]

beforeAll(async () => {
  repo = exampleCopy('quickstart', tmp.path)
  const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
  if (!store) throw new Error('no state')
  try {
    await commitUsage(store, [], () => ({write: {counters: [], totals: TOTALS, subscriptions: []}, result: null}))
  } finally {
    await store.close()
  }
})
afterAll(() => tmp.cleanup())

const RANGE = ['--since', '2026-02-25', '--until', '2026-03-06']

describe('nexus usage', () => {
  it('prints per user and node, with a sparkline per day (golden)', async () => {
    const run = await cli(repo, ['usage', ...RANGE])
    expect(run.exitCode).toBe(0)
    expect(run.stderr).toBe('')
    expect(run.stdout).not.toMatch(ANSI)
    expectGolden('usage/report.txt', run.stdout)
  })

  it('prints the same as JSON (golden)', async () => {
    const run = await cli(repo, ['usage', '--json', ...RANGE])
    expect(run.exitCode).toBe(0)
    const report = JSON.parse(run.stdout)
    expect(report).toMatchObject({since: '2026-02-25', until: '2026-03-06', filter: {user: null, node: null}})
    expectGolden('usage/report.json', run.stdout)
  })

  it('filters by user and node (golden)', async () => {
    const run = await cli(repo, ['usage', '--user', 'alice', '--node', 'gw-1', ...RANGE])
    expect(run.exitCode).toBe(0)
    expectGolden('usage/report-alice-gw-1.txt', run.stdout)
  })

  it('groups days when the range is long, and says when there is nothing', async () => {
    const long = await cli(repo, ['usage', '--user', 'bob', '--since', '2026-01-01', '--until', '2026-03-31'])
    expect(long.stdout).toMatch(/^USER\s+UPLOAD\s+DOWNLOAD\s+TOTAL\s+PER 2 DAYS$/m)
    expect(long.stdout).toMatch(/^bob\s+1\.0 GiB\s+1\.0 GiB\s+2\.0 GiB\s+[·▁-█]{45}$/m)
    const none = await cli(repo, ['usage', '--since', '2025-01-01', '--until', '2025-01-31'])
    expect(none.exitCode).toBe(0)
    expect(none.stdout).toContain('no traffic recorded in this range')
  })

  it('colours only when asked to', async () => {
    const plain = await cli(repo, ['usage', ...RANGE], {FORCE_COLOR: '1', NO_COLOR: '1'})
    expect(plain.stdout).not.toMatch(ANSI)
    const forced = await cli(repo, ['usage', ...RANGE], {FORCE_COLOR: '1'})
    expect(forced.stdout).toMatch(ANSI)
  })

  it('refuses a date it cannot read, and a reversed range', async () => {
    const bad = await cli(repo, ['usage', '--since', '2026-02-30'])
    expect(bad.exitCode).toBe(1)
    expect(bad.stderr).toContain('--since 2026-02-30 is not a date')
    expect(bad.stderr).not.toMatch(STACK_FRAME)
    const reversed = await cli(repo, ['usage', '--since', '2026-03-02', '--until', '2026-03-01'])
    expect(reversed.exitCode).toBe(1)
    expect(reversed.stderr).toContain('--since 2026-03-02 is after --until 2026-03-01')
  })

  it('reports nothing, without creating a state, in a repo that has none', async () => {
    const empty = exampleCopy('quickstart', join(tmp.path, 'empty'))
    const run = await cli(empty, ['usage', '--json', ...RANGE])
    expect(run.exitCode).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({users: [], unattributed: null, totals: {upload: 0, download: 0}})
  })
})

describe('nexus usage collect, human output', () => {
  const result: UsageCollectResult = {
    collected_at: '2026-03-04T12:00:00.000Z',
    nodes: [
      {
        node: 'gw-1',
        status: 'collected',
        wireguard: {state: 'read', counters: 4},
        xray: {state: 'unavailable', reason: 'nothing listens on 127.0.0.1:10085 (the xray API)'},
        upload: 320 * MiB,
        download: 5 * GiB,
        resets: 1,
        notes: ['not counted (not declared on this node): wg9'],
      },
      {
        node: 'gw-2',
        status: 'unreachable',
        error: {code: 'node_unreachable', message: 'cannot connect to node gw-2 at 192.0.2.20:22: connection refused'},
        wireguard: null,
        xray: null,
        upload: 0,
        download: 0,
        resets: 0,
        notes: [],
      },
    ],
    users: [
      {
        user: 'alice',
        upload: 300 * MiB,
        download: 4 * GiB,
        subscription: {
          status: 'active',
          reason: 'active',
          let_in: true,
          traffic_used: 12 * GiB,
          traffic_limit: null,
          period_end: null,
        },
      },
      {
        user: 'bob',
        upload: 20 * MiB,
        download: GiB,
        subscription: {
          status: 'expired',
          reason: 'traffic_exhausted',
          let_in: false,
          traffic_used: 101 * GiB,
          traffic_limit: 100 * GiB,
          period_end: '2026-04-01T00:00:00.000Z',
        },
      },
      {user: 'dave', upload: 1000, download: 2000, subscription: null},
    ],
    unattributed: [
      {
        node: 'gw-1',
        kind: 'wireguard',
        key: 'wg0:k3Uq4mO7w7d1F7zSxmAN6WzOq2Q0cq8bP2v6y0x9jWA=',
        peer: null,
        upload: 10,
        download: 20,
      },
      {node: 'gw-1', kind: 'wireguard', key: 'wg0:printer-key', peer: 'printer', upload: 0, download: 4096},
    ],
    totals: {upload: 320 * MiB + 1010, download: 5 * GiB + 6116},
    state_serial: 42,
    warnings: ['gw-3: host key seen for the first time; usage collect does not record it (the next apply does)'],
  }

  it('shows nodes, users and their subscriptions, and unattributed counters (golden)', () => {
    expectGolden('usage/collect.txt', formatCollectHuman(result, createStyle(false)))
  })

  it('says when there was nothing new', () => {
    const text = formatCollectHuman(
      {
        ...result,
        nodes: [{...(result.nodes[0] as UsageCollectResult['nodes'][number]), upload: 0, download: 0, resets: 0}],
        users: [],
        unattributed: [],
        totals: {upload: 0, download: 0},
        state_serial: null,
        warnings: [],
      },
      createStyle(false),
    )
    expect(text).toContain('Nothing new since the last collection; the state is unchanged.')
    expect(text).not.toContain('USER')
  })
})
