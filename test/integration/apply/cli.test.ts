/**
 * `nexus apply` as users and CI run it (the built CLI in a child process,
 * stdin not a terminal): it refuses to apply unasked without --yes, `--json`
 * is an NDJSON event stream that starts with its version and ends with
 * apply_complete, and the exit code is 0 only when every targeted node is
 * verified (or nothing needed doing).
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {currentLease} from '../../../src/state/lease.js'
import {openState, stateLocation} from '../../../src/state/open.js'
import {
  addPeer,
  cli,
  fleetRepo,
  jsonError,
  ndjson,
  plan,
  readState,
  treeOf,
  writeRepoFile,
} from '../../helpers/apply-fleet.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-apply-cli-')
let sshd: TestSshd
let fake: FakeNode
let repo: string

async function world() {
  const state = await readState(repo).catch(() => undefined)
  return {
    files: treeOf(fake.root),
    log: fake.log(),
    serial: state?.snapshot.serial,
    revisions: state?.revisions.length,
  }
}

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

describe('nexus apply (CLI)', () => {
  it('without a terminal and without --yes: refuses (confirmation_required), exit 1, nothing changed', async () => {
    const before = await world()

    const human = await cli(repo, ['apply'])

    expect(human.exitCode).toBe(1)
    expect(human.stderr).toContain('Error: apply changes the fleet, and there is no terminal to confirm it in')
    expect(human.stderr).toContain('pass --yes')
    expect(human.stdout).toBe('')
    const json = await cli(repo, ['apply', '--json'])
    expect(json.exitCode).toBe(1)
    expect(jsonError(json.stdout).code).toBe('confirmation_required')

    const after = await world()
    expect(after.files).toEqual({})
    expect(after.log).toEqual([])
    expect({serial: after.serial ?? 0, revisions: after.revisions ?? 0}).toEqual({
      serial: before.serial ?? 0,
      revisions: before.revisions ?? 0,
    })
    const store = await openState(stateLocation(repo, {}), {mode: 'read', env: {}})
    try {
      expect(store ? await currentLease(store) : undefined).toBeUndefined()
    } finally {
      await store?.close()
    }
  })

  it('--yes --json: NDJSON from version to apply_complete, every step reported, exit 0 when verified', async () => {
    const run = await cli(repo, ['apply', '--yes', '--json'])

    expect(run.stderr).toBe('')
    expect(run.exitCode).toBe(0)
    const lines = run.stdout.trimEnd().split('\n')
    const events = ndjson(run.stdout)
    expect(events).toHaveLength(lines.length)
    expect(lines[0]).toBe('{"type":"version","format_version":"1"}')
    expect(events.every((e) => typeof e.type === 'string')).toBe(true)
    expect(events[1]).toMatchObject({type: 'apply_start', git_commit: null, nodes: ['gw-1']})
    const steps = events.filter((e) => e.type === 'node_progress' && e.status === 'done').map((e) => e.step as string)
    expect(steps).toEqual(['connect', 'upload', 'check', 'swap', 'confirm', 'activate', 'verify'])
    expect(events.find((e) => e.type === 'node_complete')).toMatchObject({
      node: 'gw-1',
      result: 'verified',
      revision: 1,
    })
    const last = events.at(-1)
    expect(last).toMatchObject({type: 'apply_complete', result: 'success', nodes: {'gw-1': 'verified'}})
    // The serial it reports is the state's after everything the apply recorded.
    expect(last?.state_serial).toBe((await readState(repo)).snapshot.serial)
    expect(fake.log()).toEqual(['restart wg0', 'nft-load', 'xray-restart', 'dnsmasq-restart'])
  })

  it('nothing to do: --json still says so (version, then apply_complete no_changes), exit 0, nothing reloaded', async () => {
    const before = await world()

    const run = await cli(repo, ['apply', '--yes', '--json'])

    expect(run.exitCode).toBe(0)
    expect(ndjson(run.stdout)).toEqual([
      {type: 'version', format_version: '1'},
      {type: 'apply_complete', result: 'no_changes', state_serial: before.serial, nodes: {'gw-1': 'unchanged'}},
    ])
    expect(await world()).toEqual(before)
    const human = await cli(repo, ['apply', '--yes'])
    expect(human.exitCode).toBe(0)
    expect(human.stdout).toContain('No changes.')
  })

  it('a failed node: exit 1, apply_complete failed, the error in its node_errored event', async () => {
    const wiki = readFileSync(join(repo, 'services/wiki.yaml'), 'utf8')
    writeRepoFile(
      repo,
      'services/wiki.yaml',
      wiki.replace('[wiki.corp.example]', '[wiki.corp.example, docs.corp.example]'),
    )
    fake.failing('dnsmasq-restart', {whenFileContains: 'docs.corp.example'})
    try {
      const run = await cli(repo, ['apply', '--yes', '--json'])

      expect(run.exitCode).toBe(1)
      const events = ndjson(run.stdout)
      expect(events.find((e) => e.type === 'node_errored')).toMatchObject({
        node: 'gw-1',
        step: 'activate',
        error: {code: 'reload_failed'},
        rolled_back: true,
      })
      expect(events.at(-1)).toMatchObject({type: 'apply_complete', result: 'failed', nodes: {'gw-1': 'failed'}})
      // Without --json: progress on stderr, the verdict on stdout, the same exit code.
      const human = await cli(repo, ['apply', '--yes'])
      expect(human.exitCode).toBe(1)
      expect(human.stderr).toMatch(/gw-1: failed at activate: restarting dnsmasq on node gw-1 failed/)
      expect(human.stdout).toMatch(/^Apply failed\. 1 failed\./m)
    } finally {
      fake.failing('dnsmasq-restart', false)
    }
    const fixed = await cli(repo, ['apply', '--yes'])
    expect(fixed.exitCode).toBe(0)
    expect(fixed.stdout).toMatch(/^Apply complete\. 1 verified\./m)
  })

  it('a node that diverges after its reload (verify fails): exit 1; the next apply puts it right', async () => {
    fake.failing('sync-silently', true)
    addPeer(repo, 'alice-tablet', 'alice', 'p9miLJg5zPJQDrZ0ovlJE4tG4zUvPoDodgXmT2WnDg0=')
    try {
      const run = await cli(repo, ['apply', '--yes', '--json'])

      expect(run.exitCode).toBe(1)
      const events = ndjson(run.stdout)
      expect(events.find((e) => e.type === 'node_complete')).toMatchObject({
        node: 'gw-1',
        result: 'diverged',
        divergences: ['wg0: peers differ'],
      })
      expect(events.at(-1)).toMatchObject({type: 'apply_complete', result: 'failed', nodes: {'gw-1': 'diverged'}})
      expect((await readState(repo)).revisions[0]).toMatchObject({node: 'gw-1', result: 'diverged'})
    } finally {
      fake.failing('sync-silently', false)
    }
    // The next apply puts the live peers right (the plan sees the interface drifted) and verifies.
    const logBefore = fake.log().length
    const again = await cli(repo, ['apply', '--yes', '--json'])
    expect(again.exitCode).toBe(0)
    expect(fake.log().slice(logBefore)).toEqual(['sync wg0'])
    expect(readFileSync(join(fake.stateDir, 'wg/wg0.dump'), 'utf8')).toContain(
      'p9miLJg5zPJQDrZ0ovlJE4tG4zUvPoDodgXmT2WnDg0=',
    )
    expect(ndjson(again.stdout).at(-1)).toMatchObject({result: 'success', nodes: {'gw-1': 'verified'}})
    expect((await plan(repo)).result?.plan.has_changes).toBe(false)
  })

  it('--node with a name the repo does not declare: exit 1, unknown_node', async () => {
    const run = await cli(repo, ['apply', '--yes', '--json', '--node', 'gw-9'])
    expect(run.exitCode).toBe(1)
    expect(jsonError(run.stdout)).toMatchObject({code: 'unknown_node'})
  })
})
