/**
 * `nexus history` through the built CLI after two applies to a quickstart node
 * (test sshd, fake node toolkit), the second one adding a peer.
 */
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {HistoryResult} from '../../../src/app/history.js'
import {createStyle} from '../../../src/cli/style.js'
import {formatHistoryHuman} from '../../../src/views/history-view.js'
import {addPeer, apply, cli, fleetRepo} from '../../helpers/apply-fleet.js'
import {ANSI, exampleCopy} from '../../helpers/cli.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {expectGolden} from '../../helpers/golden.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-history-cli-')
let sshd: TestSshd
let fake: FakeNode
let repo: string

beforeAll(async () => {
  fake = installFakeNode(join(tmp.path, 'node'))
  sshd = await startSshd({binDir: fake.binDir})
  repo = fleetRepo(join(tmp.path, 'repo'), [{name: 'gw-1', sshd, fake}])
})

afterAll(async () => {
  await sshd?.stop()
  fake?.killProcesses()
  tmp.cleanup()
})

describe('nexus history', () => {
  it('says there is nothing yet before the first apply', async () => {
    const empty = exampleCopy('quickstart', join(tmp.path, 'empty'))
    const run = await cli(empty, ['history'])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toBe('no revisions yet: nothing was applied')
    expect(JSON.parse((await cli(empty, ['history', '--json'])).stdout)).toEqual({node: null, total: 0, entries: []})
  })

  it('lists both revisions newest first, with the files the second one changed', async () => {
    expect((await apply(repo, {env: {NEXUS_ACTOR: 'alice'}})).nodes).toEqual({'gw-1': 'verified'})
    addPeer(repo, 'alice-tablet', 'alice', 'p9miLJg5zPJQDrZ0ovlJE4tG4zUvPoDodgXmT2WnDg0=')
    expect((await apply(repo, {env: {NEXUS_ACTOR: 'bob'}})).nodes).toEqual({'gw-1': 'verified'})

    const run = await cli(repo, ['history', '--json'])
    expect(run.exitCode).toBe(0)
    const result = JSON.parse(run.stdout) as HistoryResult
    expect(result.node).toBeNull()
    expect(result.total).toBe(2)
    const wg0 = join(fake.root, 'etc/wireguard/wg0.conf')
    const nft = join(fake.root, 'etc/nexus/nexus.nft')
    expect(
      result.entries.map((e) => [e.node, e.revision, e.result, e.actor, e.commit, e.rollback_to, e.files_kept]),
    ).toEqual([
      ['gw-1', 2, 'verified', 'bob', null, null, true],
      ['gw-1', 1, 'verified', 'alice', null, null, true],
    ])
    // The peer lands in wg0.conf and in the ruleset (its address); nothing else changed.
    expect(result.entries[0]?.files).toEqual([
      {path: nft, change: 'changed'},
      {path: wg0, change: 'changed'},
    ])
    // The first revision adds everything it deployed.
    expect(result.entries[1]?.files.map((f) => f.change)).toEqual(['added', 'added', 'added', 'added'])
    expect(result.entries[1]?.files.map((f) => f.path)).toContain(wg0)

    const human = await cli(repo, ['history'])
    expect(human.exitCode).toBe(0)
    expect(human.stdout).not.toMatch(ANSI)
    const lines = human.stdout.split('\n')
    expect(lines[0]).toMatch(/^NODE\s+REV\s+RESULT\s+WHEN\s+COMMIT\s+BY\s+FILES$/)
    expect(lines[1]).toMatch(/^gw-1\s+2\s+verified\s+\S+ \S+\s+-\s+bob\s+~ nexus\/nexus\.nft, ~ wireguard\/wg0\.conf$/)
    expect(lines[2]).toMatch(/^gw-1\s+1\s+verified\s+\S+ \S+\s+-\s+alice\s+\+ 4 files$/)
    expect(human.stdout).toContain('files kept for nexus rollback: gw-1 1-2')
  })

  it('--node and --limit', async () => {
    const limited = JSON.parse((await cli(repo, ['history', '--limit', '1', '--json'])).stdout) as HistoryResult
    expect(limited.total).toBe(2)
    expect(limited.entries.map((e) => e.revision)).toEqual([2])
    expect((await cli(repo, ['history', '--limit', '1'])).stdout).toContain(
      '(1 older revision(s) not shown; see --limit)',
    )

    const node = JSON.parse((await cli(repo, ['history', '--node', 'gw-1', '--json'])).stdout) as HistoryResult
    expect(node).toMatchObject({node: 'gw-1', total: 2})
    const other = await cli(repo, ['history', '--node', 'nope'])
    expect(other.exitCode).toBe(0)
    expect(other.stdout).toBe('no revisions of node nope')

    const bad = await cli(repo, ['history', '--limit', '0'])
    expect(bad.exitCode).toBe(1)
  })

  it('history view (golden)', () => {
    const result: HistoryResult = {
      node: null,
      total: 6,
      entries: [
        {
          node: 'fra-1',
          revision: 13,
          result: 'verified',
          at: '2025-03-02T09:00:00.000Z',
          commit: '0123456789abcdef0123456789abcdef01234567',
          actor: 'alice',
          files: [{path: '/etc/wireguard/wg0.conf', change: 'changed'}],
          rollback_to: 11,
          files_kept: true,
        },
        {
          node: 'fra-1',
          revision: 12,
          result: 'diverged',
          at: '2025-03-01T10:02:03.000Z',
          commit: 'fedcba9876543210fedcba9876543210fedcba98',
          actor: 'ci-bot',
          files: [
            {path: '/etc/wireguard/wg0.conf', change: 'changed'},
            {path: '/etc/nexus/nexus.nft', change: 'changed'},
            {path: '/etc/xray/config.json', change: 'added'},
            {path: '/etc/dnsmasq.d/nexus.conf', change: 'removed'},
            {path: '/etc/wireguard/wg1.conf', change: 'added'},
          ],
          rollback_to: null,
          files_kept: true,
        },
        {
          node: 'ams-1',
          revision: 2,
          result: 'verified',
          at: '2025-03-01T10:02:02.000Z',
          commit: 'fedcba9876543210fedcba9876543210fedcba98',
          actor: 'ci-bot',
          files: [],
          rollback_to: null,
          files_kept: true,
        },
        {
          node: 'fra-1',
          revision: 11,
          result: 'verified',
          at: '2025-02-20T10:00:00.000Z',
          commit: null,
          actor: 'ci-bot',
          files: [{path: '/etc/dnsmasq.d/nexus.conf', change: 'changed'}],
          rollback_to: null,
          files_kept: true,
        },
        {
          node: 'ams-1',
          revision: 1,
          result: 'verified',
          at: '2025-02-19T10:00:00.000Z',
          commit: null,
          actor: 'ci-bot',
          files: [
            {path: '/etc/wireguard/wg0.conf', change: 'added'},
            {path: '/etc/nexus/nexus.nft', change: 'added'},
            {path: '/etc/xray/config.json', change: 'added'},
            {path: '/etc/dnsmasq.d/nexus.conf', change: 'added'},
          ],
          rollback_to: null,
          files_kept: false,
        },
      ],
    }
    const s = createStyle(false)
    expectGolden(
      'views/history.txt',
      [
        formatHistoryHuman(result, s),
        formatHistoryHuman({node: null, total: 0, entries: []}, s),
        formatHistoryHuman({node: 'fra-1', total: 0, entries: []}, s),
      ].join('---\n'),
    )
  })
})
