/**
 * Changes to a node that already runs revision 1, through one sshd and one
 * fake node: the cheapest reload for a peer change, a check that fails before
 * anything is swapped, a reload that fails and is rolled back, and a firewall
 * that is not confirmed (new SSH logins locked out; the watchdog firing first),
 * the last peer of an interface removed (a restart: `wg syncconf` of a
 * peerless file would wipe the interface), and a new listen port on a running
 * interface (a restart, not a sync). Every test leaves the node converged for
 * the next one.
 */
import {readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {ApplyEvent} from '../../../src/apply/events.js'
import {addPeer, apply, fleetRepo, plan, readState, treeOf, writeRepoFile} from '../../helpers/apply-fleet.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-apply-changes-')
let sshd: TestSshd
let fake: FakeNode
let repo: string

const NFT = 'etc/nexus/nexus.nft'
const WG0 = 'etc/wireguard/wg0.conf'
const DNS = 'etc/dnsmasq.d/nexus.conf'
const MARKER = 'var/lib/nexus/revision.json'

/** The files a node runs and its revision marker (not the `.nexus-*` and watchdog bookkeeping). */
function managed(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(treeOf(fake.root)).filter(([path]) => !path.includes('.nexus-') && !path.endsWith('nft-before.nft')),
  )
}

const errored = (events: readonly ApplyEvent[]) => events.filter((e) => e.type === 'node_errored')

async function latestRevision(): Promise<number> {
  return (await readState(repo)).revisions.find((r) => r.node === 'gw-1')?.revision ?? 0
}

/** Applies until the node is verified again (after a test broke something on purpose). */
async function converge(): Promise<void> {
  const run = await apply(repo)
  expect(errored(run.events)).toEqual([])
  expect(['success', 'no_changes']).toContain(run.outcome)
  expect((await plan(repo)).result?.plan.has_changes).toBe(false)
}

/** The node's processes once the sessions of a finished apply had a moment to end. */
async function settledProcesses(): Promise<{pid: number; command: string}[]> {
  for (let i = 0; i < 20 && fake.processes().length > 0; i++) await new Promise((r) => setTimeout(r, 50))
  return fake.processes()
}

beforeAll(async () => {
  fake = installFakeNode(join(tmp.path, 'node'))
  sshd = await startSshd({binDir: fake.binDir})
  repo = fleetRepo(join(tmp.path, 'repo'), [{name: 'gw-1', sshd, fake}])
  const first = await apply(repo)
  expect(first.nodes).toEqual({'gw-1': 'verified'})
})

afterAll(async () => {
  await sshd?.stop()
  // The watchdog and anything else the sessions started must be gone with the sshd.
  const left = fake?.killProcesses() ?? []
  tmp.cleanup()
  expect(left).toEqual([])
})

describe('apply: changes to a running node', () => {
  it('one peer added: wg syncconf (no restart) and an nft reload carrying its address; revision 2 verified', async () => {
    const logBefore = fake.log().length
    const wgBefore = readFileSync(join(fake.root, WG0), 'utf8')
    addPeer(repo, 'alice-tablet', 'alice', 'p9miLJg5zPJQDrZ0ovlJE4tG4zUvPoDodgXmT2WnDg0=')

    const run = await apply(repo)

    expect(errored(run.events)).toEqual([])
    expect(run.outcome).toBe('success')
    expect(run.nodes).toEqual({'gw-1': 'verified'})
    // Only what the change needs: the peer set synced live, the ruleset reloaded; xray and dnsmasq untouched.
    expect(fake.log().slice(logBefore)).toEqual(['sync wg0', 'nft-load'])
    const state = await readState(repo)
    const v4 = state.snapshot.allocations.find((a) => a.peer === 'alice-tablet' && a.family === 4)?.address
    const v6 = state.snapshot.allocations.find((a) => a.peer === 'alice-tablet' && a.family === 6)?.address
    expect(v4).toMatch(/^10\.66\.0\.\d+$/)
    expect(v6).toMatch(/^fd66::/)
    // The new peer is on the interface (what `wg show dump` reports after the sync) ...
    const wg = readFileSync(join(fake.root, WG0), 'utf8')
    expect(wg).toContain('PublicKey = p9miLJg5zPJQDrZ0ovlJE4tG4zUvPoDodgXmT2WnDg0=')
    expect(wg).not.toBe(wgBefore)
    expect(readFileSync(join(fake.stateDir, 'wg/wg0.dump'), 'utf8')).toContain(
      'p9miLJg5zPJQDrZ0ovlJE4tG4zUvPoDodgXmT2WnDg0=',
    )
    // ... and its addresses are in the peer sets of the ruleset that was loaded.
    const loaded = fake.loadedRuleset() ?? ''
    expect(loaded).toBe(readFileSync(join(fake.root, NFT), 'utf8'))
    const peersV4 = /set nx_peers_v4 \{[^}]*\}/.exec(loaded)?.[0] ?? ''
    const peersV6 = /set nx_peers_v6 \{[^}]*\}/.exec(loaded)?.[0] ?? ''
    expect(peersV4).toContain(`${v4},`)
    expect(peersV6).toContain(`${v6},`)

    const rev = state.revisions.filter((r) => r.node === 'gw-1')
    expect(rev.map((r) => [r.revision, r.result])).toEqual([
      [2, 'verified'],
      [1, 'verified'],
    ])
    expect(JSON.parse(readFileSync(join(fake.root, MARKER), 'utf8'))).toMatchObject({revision: 2})
    // The confirmed firewall's watchdog is gone, its sleep included: nothing of the apply runs on.
    expect(await settledProcesses()).toEqual([])
    const complete = run.events.find((e) => e.type === 'node_complete')
    expect(complete).toMatchObject({node: 'gw-1', result: 'verified', revision: 2, changes: 2})
    expect((await plan(repo)).result?.plan.has_changes).toBe(false)
  })

  it('a failed on-node check leaves the old files: nothing swapped, nothing reloaded, no revision', async () => {
    const filesBefore = treeOf(fake.root)
    const fakeStateBefore = treeOf(join(fake.stateDir, 'wg'))
    const logBefore = fake.log()
    const revisionBefore = await latestRevision()
    fake.failing('nft-check', true)
    addPeer(repo, 'bob-tablet', 'bob', 'IXxiXrv+f0FJqobHeYtOQ5PtqzqE9yThZOik5JT2gjQ=')
    try {
      const run = await apply(repo)

      expect(run.outcome).toBe('failed')
      expect(run.nodes).toEqual({'gw-1': 'failed'})
      const [error] = errored(run.events)
      expect(error).toMatchObject({
        node: 'gw-1',
        step: 'check',
        error: {code: 'check_failed'},
        rolled_back: false,
      })
      expect(JSON.stringify(error)).toContain('syntax error (test)')
      // Byte for byte what was there, and no staging file left behind.
      expect(treeOf(fake.root)).toEqual(filesBefore)
      expect(treeOf(join(fake.stateDir, 'wg'))).toEqual(fakeStateBefore)
      expect(fake.log()).toEqual(logBefore)
      expect(run.events.some((e) => e.type === 'node_progress' && e.step === 'swap')).toBe(false)
      expect(await latestRevision()).toBe(revisionBefore)
      expect(run.events.at(-1)).toMatchObject({type: 'apply_complete', result: 'failed'})
    } finally {
      fake.failing('nft-check', false)
    }
    // Fixed: the same change goes through.
    await converge()
    expect(await latestRevision()).toBe(revisionBefore + 1)
  })

  it('a failed reload is rolled back: previous files back and reloaded, no revision; fixed, it verifies', async () => {
    const before = managed()
    const logBefore = fake.log().length
    const revisionBefore = await latestRevision()
    // The new dnsmasq config is the one that makes the restart fail; the old one still restarts.
    fake.failing('dnsmasq-restart', {whenFileContains: 'docs.corp.example'})
    const wiki = readFileSync(join(repo, 'services/wiki.yaml'), 'utf8')
    writeRepoFile(
      repo,
      'services/wiki.yaml',
      wiki.replace('[wiki.corp.example]', '[wiki.corp.example, docs.corp.example]'),
    )
    try {
      // A service domain goes to dnsmasq and to xray's routing.
      const planned = (await plan(repo)).result?.plan.nodes[0]?.artifacts.map((a) => a.address)
      expect(planned?.sort()).toEqual(['node.gw-1/dns', 'node.gw-1/xray'])

      const run = await apply(repo)

      expect(run.outcome).toBe('failed')
      expect(errored(run.events)).toEqual([
        expect.objectContaining({
          node: 'gw-1',
          step: 'activate',
          error: expect.objectContaining({code: 'reload_failed'}),
          rolled_back: true,
        }),
      ])
      // The previous files are back, byte for byte (the marker still names the previous revision).
      expect(managed()).toEqual(before)
      expect(readFileSync(join(fake.root, DNS), 'utf8')).not.toContain('docs.corp.example')
      expect(Object.keys(treeOf(fake.root)).filter((p) => p.endsWith('.nexus-new'))).toEqual([])
      // xray restarted on its new config, dnsmasq failed on its own (logging nothing); then both
      // were restarted on the restored configs.
      expect(fake.log().slice(logBefore)).toEqual(['xray-restart', 'xray-restart', 'dnsmasq-restart'])
      expect(await latestRevision()).toBe(revisionBefore)
      expect((await readState(repo)).revisions[0]?.result).toBe('verified')
    } finally {
      fake.failing('dnsmasq-restart', false)
    }
    const fixed = await apply(repo)
    expect(fixed.nodes).toEqual({'gw-1': 'verified'})
    expect(fake.log().slice(logBefore + 3)).toEqual(['xray-restart', 'dnsmasq-restart'])
    expect(readFileSync(join(fake.root, DNS), 'utf8')).toContain('address=/docs.corp.example/10.10.0.20')
    expect(await latestRevision()).toBe(revisionBefore + 1)
    expect((await plan(repo)).result?.plan.has_changes).toBe(false)
  })

  it('a firewall that locks out new SSH logins is not confirmed: the previous ruleset is back', async () => {
    const authorizedKeys = join(sshd.dir, 'authorized_keys')
    const oldRuleset = readFileSync(join(fake.root, NFT), 'utf8')
    expect(fake.loadedRuleset()).toBe(oldRuleset)
    const before = managed()
    const loadsBefore = fake.nftLoads().length
    const revisionBefore = await latestRevision()
    const rule = readFileSync(join(repo, 'rules/no-smtp.yaml'), 'utf8')
    writeRepoFile(repo, 'rules/no-smtp.yaml', rule.replace('ports: [25, 465, 587]', 'ports: [25, 465, 587, 2525]'))
    fake.blockNewSshOnNextLoad(authorizedKeys)
    try {
      const run = await apply(repo, {confirmTimeoutSec: 5})

      expect(run.outcome).toBe('failed')
      const [error] = errored(run.events)
      expect(error).toMatchObject({node: 'gw-1', step: 'confirm', error: {code: 'confirm_failed'}, rolled_back: true})
      expect(error?.type === 'node_errored' && error.error.message).toMatch(/new SSH connection/)
      // The new ruleset was loaded (and locked SSH out), then the previous one was loaded again.
      expect(fake.nftLoads().length).toBeGreaterThanOrEqual(loadsBefore + 2)
      expect(fake.loadedRuleset()).toBe(oldRuleset)
      expect(managed()).toEqual(before)
      expect(await latestRevision()).toBe(revisionBefore)
      // Past the watchdog's deadline nothing else is loaded over the restored ruleset.
      const loads = fake.nftLoads().length
      await new Promise((resolve) => setTimeout(resolve, 6_000))
      expect(fake.nftLoads()).toHaveLength(loads)
      expect(fake.loadedRuleset()).toBe(oldRuleset)
    } finally {
      fake.sshAccess(authorizedKeys)
    }
    await converge()
    expect(fake.loadedRuleset()).toContain('2525')
  })

  it('a firewall whose watchdog fires before the confirmation: the node restores the old table, apply rolls back', async () => {
    const oldRuleset = readFileSync(join(fake.root, NFT), 'utf8')
    const before = managed()
    const loadsBefore = fake.nftLoads().length
    const revisionBefore = await latestRevision()
    const rule = readFileSync(join(repo, 'rules/no-smtp.yaml'), 'utf8')
    writeRepoFile(repo, 'rules/no-smtp.yaml', rule.replace('ports: [25, 465, 587, 2525]', 'ports: [25, 465, 587]'))
    // The load takes effect at once, but the command returns only after the 5 s watchdog fired.
    fake.slow('nft-load', 7, {once: true})
    try {
      const run = await apply(repo, {confirmTimeoutSec: 5})

      expect(run.outcome).toBe('failed')
      expect(errored(run.events)).toEqual([
        expect.objectContaining({
          node: 'gw-1',
          step: 'confirm',
          error: expect.objectContaining({code: 'confirm_expired'}),
          rolled_back: true,
        }),
      ])
      const loads = fake.nftLoads().slice(loadsBefore)
      // The new ruleset, then the watchdog's copy of the table as it was, then the rollback's restored file.
      expect(loads).toEqual([
        join(fake.root, NFT),
        join(fake.root, 'var/lib/nexus/nft-before.nft'),
        join(fake.root, NFT),
      ])
      const saved = readFileSync(join(fake.root, 'var/lib/nexus/nft-before.nft'), 'utf8')
      expect(saved).toContain(oldRuleset)
      expect(fake.loadedRuleset()).toBe(oldRuleset)
      expect(managed()).toEqual(before)
      expect(await latestRevision()).toBe(revisionBefore)
    } finally {
      fake.slow('nft-load', false)
    }
    await converge()
    expect(fake.loadedRuleset()).not.toContain('2525')
  })

  it('the last peer of an interface removed: the interface is restarted (never synced) and verified', async () => {
    const peersDir = join(repo, 'peers')
    const declared = Object.fromEntries(
      readdirSync(peersDir).map((name) => [name, readFileSync(join(peersDir, name), 'utf8')]),
    )
    expect(Object.keys(declared).length).toBeGreaterThan(0)
    const revisionBefore = await latestRevision()
    try {
      for (const name of Object.keys(declared)) rmSync(join(peersDir, name))
      const planned = (await plan(repo)).result?.plan.nodes[0]?.artifacts.find(
        (a) => a.address === 'node.gw-1/wireguard/wg0',
      )
      // Planned as a peer change: only the apply knows a peerless file must not be synced.
      expect(planned).toMatchObject({effect: 'wg_syncconf', reason: 'peers_changed'})
      const logBefore = fake.log().length

      const run = await apply(repo)

      expect(errored(run.events)).toEqual([])
      expect(run.nodes).toEqual({'gw-1': 'verified'})
      const reloads = fake.log().slice(logBefore)
      expect(reloads).toContain('restart wg0')
      expect(reloads).not.toContain('sync wg0')
      expect(run.events.find((e) => e.type === 'node_complete')).toMatchObject({
        notes: ['wg0: restarted instead of synced (no peers left)'],
      })
      expect(readFileSync(join(fake.root, WG0), 'utf8')).not.toContain('[Peer]')
      // The interface runs on, with its key and without peers.
      const dump = readFileSync(join(fake.stateDir, 'wg/wg0.dump'), 'utf8').trim().split('\n')
      expect(dump).toHaveLength(1)
      expect(dump[0]).toMatch(/^\(hidden\)\t\S{44}\t51820\t/)
      expect(await latestRevision()).toBe(revisionBefore + 1)
      expect((await plan(repo)).result?.plan.has_changes).toBe(false)
    } finally {
      for (const [name, text] of Object.entries(declared)) writeFileSync(join(peersDir, name), text)
    }
    // Peers again: back to a live sync.
    const logBefore = fake.log().length
    await converge()
    expect(fake.log().slice(logBefore)).toContain('sync wg0')
    expect(fake.log().slice(logBefore)).not.toContain('restart wg0')
  })

  it('a new listen port on a running interface: restarted, not synced; the node verified on the new port', async () => {
    const nodeFile = join(repo, 'nodes/gw-1.yaml')
    const declared = readFileSync(nodeFile, 'utf8')
    expect(readFileSync(join(fake.stateDir, 'wg/wg0.dump'), 'utf8')).toMatch(/^\(hidden\)\t\S+\t51820\t/)
    writeFileSync(nodeFile, declared.replace('listenPort: 51820', 'listenPort: 51821'))
    try {
      const planned = (await plan(repo)).result?.plan.nodes[0]?.artifacts.find(
        (a) => a.address === 'node.gw-1/wireguard/wg0',
      )
      expect(planned).toMatchObject({effect: 'interface_restart', disruptive: true})
      const logBefore = fake.log().length

      const run = await apply(repo)

      expect(errored(run.events)).toEqual([])
      expect(run.nodes).toEqual({'gw-1': 'verified'})
      const reloads = fake.log().slice(logBefore)
      expect(reloads).toContain('restart wg0')
      expect(reloads).not.toContain('sync wg0')
      expect(readFileSync(join(fake.stateDir, 'wg/wg0.dump'), 'utf8')).toMatch(/^\(hidden\)\t\S+\t51821\t/)
      expect((await plan(repo)).result?.plan.has_changes).toBe(false)
    } finally {
      writeFileSync(nodeFile, declared)
    }
    await converge()
    expect(readFileSync(join(fake.stateDir, 'wg/wg0.dump'), 'utf8')).toMatch(/^\(hidden\)\t\S+\t51820\t/)
  })
})
