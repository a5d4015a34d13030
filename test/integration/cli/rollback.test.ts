/**
 * `nexus rollback` through the built CLI: a quickstart node (test sshd, fake
 * node toolkit) at revision 2 goes back to the files of revision 1, recorded
 * as revision 3, while the repo still declares revision 2's state.
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {HistoryResult} from '../../../src/app/history.js'
import type {StatusResult} from '../../../src/app/status.js'
import type {RollbackResult} from '../../../src/apply/rollback.js'
import {createStyle} from '../../../src/cli/style.js'
import {openState, stateLocation} from '../../../src/state/open.js'
import type {RevisionFile} from '../../../src/state/store.js'
import {formatRollbackPreview, formatRollbackResult} from '../../../src/views/history-view.js'
import {addPeer, apply, cli, fleetRepo, plan} from '../../helpers/apply-fleet.js'
import {ANSI, STACK_FRAME} from '../../helpers/cli.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {expectGolden} from '../../helpers/golden.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-rollback-cli-')
let sshd: TestSshd
let fake: FakeNode
let repo: string

const MARKER = 'var/lib/nexus/revision.json'

beforeAll(async () => {
  fake = installFakeNode(join(tmp.path, 'node'))
  sshd = await startSshd({binDir: fake.binDir})
  repo = fleetRepo(join(tmp.path, 'repo'), [{name: 'gw-1', sshd, fake}])
})

afterAll(async () => {
  await sshd?.stop()
  const left = fake?.killProcesses() ?? []
  tmp.cleanup()
  expect(left).toEqual([])
})

/** A revision's kept files, read with a store opened and closed again (one process at a time). */
async function keptFiles(revision: number): Promise<RevisionFile[]> {
  const store = await openState(stateLocation(repo, {}), {mode: 'read', env: {}})
  if (!store) throw new Error('no state')
  try {
    return await store.revisionFiles('gw-1', revision)
  } finally {
    await store.close()
  }
}

/** What the node has at each path of a revision's files. */
function onNode(files: readonly RevisionFile[]): Record<string, string> {
  return Object.fromEntries(files.map((f) => [f.path, readFileSync(f.path, 'utf8')]))
}

const contents = (files: readonly RevisionFile[]) => Object.fromEntries(files.map((f) => [f.path, f.content]))

describe('nexus rollback', () => {
  it('re-pushes revision 1 over revision 2, records revision 3, and plan shows the repo difference again', async () => {
    expect((await apply(repo)).nodes).toEqual({'gw-1': 'verified'})
    const revision1 = await keptFiles(1)
    expect(revision1).toHaveLength(4)
    expect(onNode(revision1)).toEqual(contents(revision1))

    addPeer(repo, 'alice-tablet', 'alice', 'p9miLJg5zPJQDrZ0ovlJE4tG4zUvPoDodgXmT2WnDg0=')
    expect((await apply(repo)).nodes).toEqual({'gw-1': 'verified'})
    expect(onNode(revision1)).not.toEqual(contents(revision1))

    const logBefore = fake.log().length
    const run = await cli(repo, ['rollback', '--node', 'gw-1', '--to', '1', '--yes', '--json'])
    expect(run.stderr).toBe('')
    expect(run.exitCode).toBe(0)
    const result = JSON.parse(run.stdout) as RollbackResult
    const wg0 = join(fake.root, 'etc/wireguard/wg0.conf')
    const nft = join(fake.root, 'etc/nexus/nexus.nft')
    expect(result).toMatchObject({
      node: 'gw-1',
      from: 2,
      to: 1,
      revision: 3,
      commit: null,
      outcome: 'verified',
      apply_id: expect.any(Number),
      divergences: [],
    })
    expect(result.repo_note).toContain('the repo still declares the newer state')
    // Only the files revision 2 changed, the cheap way: the peer set synced live, the ruleset reloaded.
    expect(result.changes).toEqual([
      {
        address: 'node.gw-1/wireguard/wg0',
        path: wg0,
        action: 'update',
        reason: 'rolled_back',
        effect: 'wg_syncconf',
        disruptive: false,
      },
      {
        address: 'node.gw-1/nftables',
        path: nft,
        action: 'update',
        reason: 'rolled_back',
        effect: 'nft_reload',
        disruptive: false,
      },
    ])
    expect(fake.log().slice(logBefore)).toEqual(['sync wg0', 'nft-load'])

    // Byte for byte what revision 1 deployed; the marker says revision 3.
    expect(onNode(revision1)).toEqual(contents(revision1))
    expect(JSON.parse(readFileSync(join(fake.root, MARKER), 'utf8'))).toMatchObject({revision: 3})
    expect(contents(await keptFiles(3))).toEqual(contents(revision1))

    const history = JSON.parse((await cli(repo, ['history', '--json'])).stdout) as HistoryResult
    expect(history.entries.map((e) => [e.revision, e.result, e.rollback_to])).toEqual([
      [3, 'verified', 1],
      [2, 'verified', null],
      [1, 'verified', null],
    ])
    expect(history.entries[0]?.files.map((f) => f.path)).toEqual([nft, wg0])

    const status = JSON.parse((await cli(repo, ['status', '--json'])).stdout) as StatusResult
    expect(status.nodes[0]).toMatchObject({
      revision: {number: 3, result: 'verified'},
      last_apply: {id: result.apply_id, result: 'success', node_result: 'verified'},
      live: {state: 'verified'},
    })

    // GitOps stays the source of truth: the repo still declares revision 2's peer.
    const planned = (await plan(repo)).result?.plan
    expect(planned?.has_changes).toBe(true)
    const node = planned?.nodes.find((n) => n.node === 'gw-1')
    expect(node?.revision).toEqual({from: 3, to: 4})
    expect(node?.artifacts.map((a) => `${a.address}:${a.action}`).sort()).toEqual([
      'node.gw-1/nftables:update',
      'node.gw-1/wireguard/wg0:update',
    ])
    expect(node?.drift).toEqual([])
  })

  it('in a terminal-less human run: progress on stderr, the result and the note on stdout', async () => {
    const run = await cli(repo, ['rollback', '--node', 'gw-1', '--to', '2', '--yes'])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).not.toMatch(ANSI)
    expect(run.stdout).toContain('Node gw-1  revision 3 → 4 (the files of revision 2, commit -)')
    expect(run.stdout).toContain('✔ gw-1 runs the files of revision 2 again: verified, recorded as revision 4')
    expect(run.stdout).toContain('note: the repo still declares the newer state')
    expect(run.stderr).toContain('gw-1: verify done (verified)')
    // Revision 2 is what the repo declares: nothing left to plan.
    expect((await plan(repo)).result?.plan.has_changes).toBe(false)
  })

  it('refuses without --yes outside a terminal, an unknown node or revision, and a revision whose files are gone', async () => {
    const noYes = await cli(repo, ['rollback', '--node', 'gw-1', '--to', '1'])
    expect(noYes.exitCode).toBe(1)
    expect(noYes.stderr).toContain('Error: rollback changes a node, and there is no terminal to confirm it in')
    expect(noYes.stderr).toContain('hint: pass --yes')
    expect(noYes.stderr).not.toMatch(STACK_FRAME)

    const node = await cli(repo, ['rollback', '--node', 'gw-9', '--to', '1', '--yes', '--json'])
    expect(node.exitCode).toBe(1)
    expect(JSON.parse(node.stdout)).toEqual({
      error: {code: 'unknown_node', message: 'no node named gw-9', hint: 'nodes: gw-1'},
    })

    const revision = await cli(repo, ['rollback', '--node', 'gw-1', '--to', '9', '--yes'])
    expect(revision.exitCode).toBe(1)
    expect(revision.stderr).toContain('Error: node gw-1 has no revision 9 (its revisions: 1 to 4)')
    expect(revision.stderr).toContain('hint: revisions of gw-1 with their files kept: 4, 3, 2, 1')

    // As if revision 1 had aged out of the kept window.
    const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
    await store?.driver.query('delete from node_revision_files where node = $1 and revision = 1', ['gw-1'])
    await store?.close()
    const gone = await cli(repo, ['rollback', '--node', 'gw-1', '--to', '1', '--yes'])
    expect(gone.exitCode).toBe(1)
    expect(gone.stderr).toContain('Error: the files of revision 1 of gw-1 are no longer kept')
    expect(gone.stderr).toContain('hint: revisions of gw-1 with their files kept: 4, 3, 2')
    expect(gone.stderr).not.toMatch(STACK_FRAME)
    const log = await cli(repo, ['history', '--json'])
    expect((JSON.parse(log.stdout) as HistoryResult).entries.map((e) => e.revision)).toEqual([4, 3, 2, 1])
  })

  it('rollback views (golden)', () => {
    const s = createStyle(false)
    const result: RollbackResult = {
      node: 'fra-1',
      from: 12,
      to: 10,
      revision: 13,
      commit: '0123456789abcdef0123456789abcdef01234567',
      changes: [
        {
          address: 'node.fra-1/wireguard/wg0',
          path: '/etc/wireguard/wg0.conf',
          action: 'update',
          reason: 'rolled_back',
          effect: 'wg_syncconf',
          disruptive: false,
        },
        {
          address: 'node.fra-1/xray',
          path: '/usr/local/etc/xray/config.json',
          action: 'update',
          reason: 'drifted',
          effect: 'xray_restart',
          disruptive: true,
        },
        {
          address: 'node.fra-1/dns',
          path: '/etc/dnsmasq.d/nexus.conf',
          action: 'delete',
          reason: 'not_in_revision',
          effect: 'dnsmasq_restart',
          disruptive: false,
        },
        {
          address: 'node.fra-1/nftables',
          path: '/etc/nexus/nexus.nft',
          action: 'update',
          reason: 'live_state_drifted',
          effect: 'nft_reload',
          disruptive: false,
        },
      ],
      outcome: 'diverged',
      apply_id: 41,
      divergences: ['wg0: peers differ'],
      notes: ['xray: restarted (its API could not apply the user changes)'],
      repo_note: 'the repo still declares the newer state, so the next nexus plan shows the difference',
    }
    expectGolden(
      'views/rollback.txt',
      [
        formatRollbackPreview(result, s),
        formatRollbackResult(result, s),
        formatRollbackResult({...result, outcome: 'verified', changes: [], divergences: [], notes: []}, s),
        formatRollbackResult({...result, outcome: 'cancelled'}, s),
      ].join('---\n'),
    )
  })
})
