/**
 * The planner against a real state store (PGlite, and Postgres when
 * configured), on the quickstart example: every scenario the plan issue
 * names, with the state brought in line between plans by the state half of
 * an apply (test/helpers/plan.ts).
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, afterEach, describe, expect, it} from 'vitest'

import {generateRequested} from '../../../src/crypto/keys.js'
import {loadInventory} from '../../../src/inventory/load.js'
import {makePlan, type PlanResult} from '../../../src/plan/index.js'
import type {NodeReading} from '../../../src/plan/node-plan.js'
import {missingValues} from '../../../src/plan/state-plan.js'
import type {StateStore} from '../../../src/state/store.js'
import type {NodeObservation} from '../../../src/transport/observation.js'
import {ROOT} from '../../helpers/cli.js'
import {applyStateOnly, observedNode} from '../../helpers/plan.js'
import {exampleFiles, repo} from '../../helpers/repo.js'
import {cleanupStateWork, stateDriverCases, type TestState} from '../../helpers/state.js'

afterAll(() => cleanupStateWork())

const NOW = new Date('2026-11-22T12:00:00Z')
const QUICKSTART = join(ROOT, 'examples', 'quickstart')

const quickstart = () => exampleFiles('quickstart')

interface PlanOptions {
  readonly files?: Record<string, string>
  readonly readings?: ReadonlyMap<string, NodeReading>
  readonly now?: Date
}

async function plan(store: StateStore, options: PlanOptions = {}): Promise<PlanResult> {
  const inventory = loadInventory(repo(options.files ?? quickstart()))
  const desired = inventory.desired
  if (!desired) throw new Error(JSON.stringify(inventory.diagnostics, null, 2))
  const snapshot = await store.snapshot()
  return makePlan({
    desired,
    snapshot,
    stateKind: store.driver.kind,
    generated: generateRequested(missingValues(desired, snapshot)),
    readings: options.readings ?? new Map(),
    git: {commit: null, dirty: false},
    now: options.now ?? NOW,
    offline: options.readings === undefined,
  })
}

const observed = (observations: ReadonlyMap<string, NodeObservation>): Map<string, NodeReading> =>
  new Map([...observations].map(([node, observation]) => [node, {kind: 'observed', observation}]))

const addresses = (result: PlanResult) => result.plan.changes.map((c) => `${c.action} ${c.address}`)
const artifacts = (result: PlanResult, node = 'gw-1') =>
  result.plan.nodes.find((n) => n.node === node)?.artifacts.map((a) => `${a.action} ${a.address} ${a.effect}`) ?? []

describe.each(stateDriverCases())('plan on $name', (driverCase) => {
  const open: TestState[] = []
  const fresh = async () => {
    const state = await driverCase.open()
    open.push(state)
    return state.store
  }
  afterEach(async () => {
    for (const state of open.splice(0)) await state.cleanup()
  })

  /** A store in line with the quickstart, and what its node reports. */
  async function converged(files = quickstart()) {
    const store = await fresh()
    const observations = await applyStateOnly(store, await plan(store, {files}))
    return {store, observations}
  }

  it('first plan on an empty state creates everything and moves the node to revision 1', async () => {
    const store = await fresh()
    const result = await plan(store)
    expect(result.plan.state).toEqual({serial: 0, lineage: expect.any(String), kind: store.driver.kind})
    expect(addresses(result)).toEqual([
      'create tariff.basic',
      'create tariff.pro',
      'create group.staff',
      'create user.alice',
      'create user.bob',
      'create user.carol',
      'create node.gw-1',
      'create peer.alice-laptop',
      'create peer.alice-phone',
      'create peer.bob-laptop',
      'create peer.carol-phone',
      'create rule.no-smtp',
      'create rule.limit-dns',
      'create service.wiki',
      'create secret.gw-1/wireguard/wg0',
      'create secret.gw-1/reality/vless-reality',
      'create link.alice/phone',
      'create link.bob/default',
      'create link.carol/default',
      'create subscription.alice',
      'create subscription.bob',
      'create subscription.carol',
    ])
    expect(artifacts(result)).toEqual([
      'create node.gw-1/dns dnsmasq_restart',
      'create node.gw-1/nftables nft_reload',
      'create node.gw-1/wireguard/wg0 interface_restart',
      'create node.gw-1/xray xray_restart',
    ])
    expect(result.plan.nodes[0]?.revision).toEqual({from: null, to: 1})
    expect(result.plan.summary).toMatchObject({create: 26, update: 0, delete: 0, drift: 0, disruptive: 0})
    expect(result.plan.has_changes).toBe(true)
  })

  it('never puts a secret into the plan document', async () => {
    const store = await fresh()
    const result = await plan(store)
    const document = JSON.stringify(result.plan)
    for (const write of result.state.write.secrets ?? []) expect(document).not.toContain(write.value)
    for (const link of result.state.write.links ?? []) expect(document).not.toContain(link.uuid)
    expect(document).toContain('(sensitive)')
  })

  it('plans nothing once state and node match the repo', async () => {
    const {store, observations} = await converged()
    const again = await plan(store, {readings: observed(observations)})
    expect(addresses(again)).toEqual([])
    expect(again.plan.nodes[0]).toMatchObject({status: 'planned', revision: {from: 1, to: 1}, artifacts: [], drift: []})
    expect(again.plan.has_changes).toBe(false)
    expect(again.plan.summary).toMatchObject({create: 0, update: 0, delete: 0, replace: 0, drift: 0})
    // Offline too: against state alone.
    expect((await plan(store)).plan.has_changes).toBe(false)
  })

  it('shows one changed user with its fields; joining the wiki ACL restarts xray', async () => {
    const {store, observations} = await converged()
    const files = quickstart()
    files['users/bob.yaml'] = (files['users/bob.yaml'] as string).replace('tariff: basic', 'tariff: pro')
    const result = await plan(store, {files, readings: observed(observations)})
    const user = result.plan.changes.find((c) => c.address === 'user.bob')
    expect(user).toMatchObject({action: 'update', reason: 'fields_changed', summary: 'tariff: basic → pro'})
    expect(result.plan.changes.find((c) => c.address === 'subscription.bob')).toMatchObject({
      action: 'update',
      reason: 'restarted',
    })
    // pro adds vless, and bob (staff) joins the wiki's xray routing rule: a base change, so a restart.
    expect(artifacts(result)).toEqual(['update node.gw-1/xray xray_restart'])
    expect(result.plan.nodes[0]?.artifacts[0]).toMatchObject({reason: 'config_changed', disruptive: true})
    expect(result.plan.nodes[0]?.revision).toEqual({from: 1, to: 2})
  })

  it('adds a user without ACLs to xray live, through its API', async () => {
    const {store, observations} = await converged()
    const files = quickstart()
    files['users/dave.yaml'] = 'apiVersion: nexus/v1\nkind: User\nname: dave\ntariff: pro\n'
    const result = await plan(store, {files, readings: observed(observations)})
    expect(addresses(result)).toEqual(['create user.dave', 'create link.dave/default', 'create subscription.dave'])
    expect(artifacts(result)).toEqual(['update node.gw-1/xray xray_api'])
    expect(result.plan.nodes[0]?.artifacts[0]).toMatchObject({reason: 'users_changed', disruptive: false})
  })

  it('expires a tariff by time and takes the user off the node without dropping other sessions', async () => {
    const {store} = await converged()
    // bob's basic tariff is one month from activation.
    const later = new Date('2026-12-23T00:00:00Z')
    const result = await plan(store, {now: later})
    expect(result.plan.changes.find((c) => c.address === 'subscription.bob')).toMatchObject({
      action: 'update',
      after: expect.objectContaining({status: 'expired', reason: 'term_ended'}),
    })
    expect(artifacts(result)).toContain('update node.gw-1/wireguard/wg0 wg_syncconf')
    const wg = result.allFiles().find((f) => f.target?.artifact === 'wireguard/wg0')?.content ?? ''
    expect(wg).not.toContain('peer=bob-laptop')
    expect(wg).toContain('peer=alice-laptop')
  })

  it('expires a subscription whose traffic limit is used up', async () => {
    const {store} = await converged()
    const record = (await store.snapshot()).subscriptions.get('bob')
    if (!record) throw new Error('bob has no subscription record')
    await store.write({subscriptions: [{user: 'bob', record: {...record, trafficUsed: 100 * 2 ** 30}}]}, {actor: 't'})
    const result = await plan(store)
    expect(result.plan.changes.find((c) => c.address === 'subscription.bob')).toMatchObject({
      after: expect.objectContaining({status: 'expired', reason: 'traffic_exhausted'}),
    })
    // Off WireGuard, and out of the wiki's allow-set in nftables.
    expect(artifacts(result)).toEqual([
      'update node.gw-1/nftables nft_reload',
      'update node.gw-1/wireguard/wg0 wg_syncconf',
    ])
  })

  it('puts a reset link on the node through the xray API', async () => {
    const {store, observations} = await converged()
    await store.write(
      {links: [{user: 'alice', link: 'phone', uuid: '11111111-2222-4333-8444-555555555555'}]},
      {actor: 't'},
    )
    const result = await plan(store, {readings: observed(observations)})
    expect(addresses(result)).toEqual([])
    expect(artifacts(result)).toEqual(['update node.gw-1/xray xray_api'])
    const xray = result.allFiles().find((f) => f.target?.artifact === 'xray')?.content ?? ''
    expect(xray).toContain('11111111-2222-4333-8444-555555555555')
  })

  it('deletes a removed peer, tombstones its address and never hands it to the next peer', async () => {
    const {store} = await converged()
    const files = quickstart()
    const bobAddress = (await store.snapshot()).allocations.find(
      (a) => a.peer === 'bob-laptop' && a.family === 4,
    )?.address
    delete files['peers/bob-laptop.yaml']
    const removal = await plan(store, {files})
    expect(addresses(removal)).toContain('delete peer.bob-laptop')
    expect(removal.state.write.releases).toEqual(
      expect.arrayContaining([{node: 'gw-1', iface: 'wg0', address: bobAddress}]),
    )
    await applyStateOnly(store, removal)
    const tombstone = (await store.snapshot()).allocations.find((a) => a.address === bobAddress)
    expect(tombstone).toMatchObject({peer: 'bob-laptop', state: 'tombstone'})

    files['peers/dave-laptop.yaml'] = (readFileSync(join(QUICKSTART, 'peers/bob-laptop.yaml'), 'utf8') as string)
      .replace('bob-laptop', 'dave-laptop')
      .replace(/publicKey: .*/, 'publicKey: G/FL2Zclo72PKVVeTcwIASObeYWtQKG1l+HdHYylzTg=')
    const next = await plan(store, {files})
    const dave = next.state.write.allocations?.filter((a) => a.peer === 'dave-laptop').map((a) => a.address) ?? []
    expect(dave).toHaveLength(2)
    expect(dave).not.toContain(bobAddress)
  })

  it('reports drift: a file edited by hand, a peer added with wg set, a rule added with nft', async () => {
    const {store, observations} = await converged()
    const snapshotFiles = (await plan(store)).allFiles().filter((f) => f.target)
    const node = (await plan(store)).desired.nodes[0]
    if (!node) throw new Error('no node')
    const drifted = observedNode({
      node,
      files: snapshotFiles,
      revision: 1,
      editedFiles: {'/etc/dnsmasq.d/nexus.conf': 'address=/evil.example/10.0.0.66\n'},
      extraPeers: {wg0: [{publicKey: 'mySxEHpckw22EO9fDZtHsNhmArHDmklG0mva+cSvZ3s=', allowedIPs: ['10.66.0.200/32']}]},
      nftListing: 'table inet nexus { chain extra { } }',
    })
    expect(drifted.fingerprint).not.toBe(observations.get('gw-1')?.fingerprint)
    const result = await plan(store, {readings: new Map([['gw-1', {kind: 'observed', observation: drifted}]])})
    const drift = result.plan.nodes[0]?.drift.map((d) => `${d.kind} ${d.subject}`)
    expect(drift).toEqual(['file /etc/dnsmasq.d/nexus.conf', 'wireguard_peers wg0', 'nftables table inet nexus'])
    expect(result.plan.nodes[0]?.drift[1]?.detail).toContain('1 peer(s) not declared: mySxEHpckw22')
    // Apply restores the declared state: the file is rewritten, the peer set re-synced, the table reloaded.
    expect(artifacts(result)).toEqual([
      'update node.gw-1/dns dnsmasq_restart',
      'update node.gw-1/nftables nft_reload',
      'update node.gw-1/wireguard/wg0 wg_syncconf',
    ])
    expect(result.plan.nodes[0]?.artifacts.map((a) => a.reason)).toEqual([
      'drifted',
      'live_state_drifted',
      'live_state_drifted',
    ])
    expect(result.plan.summary.drift).toBe(3)
  })

  it('reports an unreachable node without hiding the rest of the plan', async () => {
    const store = await fresh()
    const result = await plan(store, {
      readings: new Map([
        ['gw-1', {kind: 'unreachable', error: {code: 'node_unreachable', message: 'connect ECONNREFUSED'}}],
      ]),
    })
    expect(result.plan.nodes[0]).toMatchObject({
      status: 'unreachable',
      error: {code: 'node_unreachable', message: 'connect ECONNREFUSED'},
      fingerprint: null,
    })
    expect(result.plan.nodes[0]?.artifacts).toHaveLength(4)
    expect(result.plan.changes.length).toBeGreaterThan(20)
    expect(result.plan.summary.unreachable).toBe(1)
  })

  it('reports a node whose host key changed as unreachable with host_key_changed', async () => {
    const store = await fresh()
    const result = await plan(store, {
      readings: new Map([
        [
          'gw-1',
          {
            kind: 'unreachable',
            error: {
              code: 'host_key_changed',
              message: 'the SSH host key of gw-1 changed from SHA256:aaa to SHA256:bbb',
            },
          },
        ],
      ]),
    })
    expect(result.plan.nodes[0]).toMatchObject({status: 'unreachable', error: {code: 'host_key_changed'}})
  })

  it('replaces a Shadowsocks key whose cipher changed size, and deletes secrets of a removed node', async () => {
    const files = quickstart()
    files['nodes/gw-1.yaml'] = (files['nodes/gw-1.yaml'] as string).replace(
      'dns:',
      '    - tag: ss\n      protocol: shadowsocks\n      port: 8388\n      method: 2022-blake3-aes-128-gcm\ndns:',
    )
    const {store} = await converged(files)
    files['nodes/gw-1.yaml'] = (files['nodes/gw-1.yaml'] as string).replace('aes-128-gcm', 'aes-256-gcm')
    const result = await plan(store, {files})
    expect(result.plan.changes.find((c) => c.address === 'secret.gw-1/shadowsocks/ss')).toMatchObject({
      action: 'replace',
      reason: 'method_changed',
    })
  })
})
