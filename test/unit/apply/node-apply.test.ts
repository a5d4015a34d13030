/**
 * One node's apply (applyNode) against the fake node's tools through the
 * local transport (bash on this machine, files in a temp root): the on-node
 * check holds a WireGuard file to the peer count the plan gives, not to the
 * count in the file itself, and an interface the plan leaves without peers is
 * restarted, never `wg syncconf`ed.
 */
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {applyNode, type NodeApplyInput} from '../../../src/apply/node-apply.js'
import type {Node} from '../../../src/model/desired.js'
import {sha256} from '../../../src/plan/hashes.js'
import type {ArtifactChange} from '../../../src/plan/types.js'
import type {RenderedFile} from '../../../src/render/types.js'
import {LocalTransport} from '../../../src/transport/local.js'
import type {NodeConnection} from '../../../src/transport/types.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {node as fixtureNode} from '../../helpers/fixture.js'
import {tempDir} from '../../helpers/tools.js'

const GOOD = readFileSync(
  join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'golden', 'wireguard', 'fra-1', 'wg0.conf'),
  'utf8',
)
const PEERLESS = `${GOOD.slice(0, GOOD.indexOf('\n# peer='))}\n`

const tmp = tempDir('nexus-node-apply-')
let fake: FakeNode
let node: Node
let connection: NodeConnection
let wg0: string

beforeAll(async () => {
  fake = installFakeNode(join(tmp.path, 'node'))
  node = {
    ...fixtureNode,
    name: 'gw-1',
    paths: {
      wireguard: join(fake.root, 'etc/wireguard'),
      nftables: join(fake.root, 'etc/nexus/nexus.nft'),
      xray: join(fake.root, 'etc/xray/config.json'),
      dnsmasq: join(fake.root, 'etc/dnsmasq.d/nexus.conf'),
      state: join(fake.root, 'var/lib/nexus'),
    },
    reload: {
      wireguard: 'fake-wg-sync {iface} {file}',
      wireguardRestart: 'fake-wg-restart {iface} {file}',
      wireguardDown: 'fake-wg-down {iface}',
      nftables: 'nft -f {file}',
      xray: 'fake-reload xray-restart {file}',
      dnsmasq: 'fake-reload dnsmasq-restart {file}',
    },
  }
  wg0 = join(node.paths.wireguard, 'wg0.conf')
  const transport = new LocalTransport({env: {PATH: `${fake.binDir}:${process.env.PATH ?? ''}`}})
  connection = await transport.connect(node, {hostKeys: {get: async () => undefined, record: async () => {}}})
})

afterAll(async () => {
  await connection?.close()
  tmp.cleanup()
})

/** wg0 is deployed and running `before`; the apply brings `after` with `planned` peers in the plan. */
async function applyWg0(before: string, after: string, planned: number) {
  mkdirSync(dirname(wg0), {recursive: true})
  writeFileSync(wg0, before, {mode: 0o600})
  const change: ArtifactChange = {
    address: 'node.gw-1/wireguard/wg0',
    node: 'gw-1',
    path: wg0,
    action: 'update',
    reason: 'peers_changed',
    effect: 'wg_syncconf',
    disruptive: false,
    sha256Before: sha256(before),
    sha256After: sha256(after),
  }
  const file: RenderedFile = {
    path: 'nodes/gw-1/wireguard/wg0.conf',
    kind: 'wireguard',
    node: 'gw-1',
    content: after,
    mode: 0o600,
    target: {artifact: 'wireguard/wg0', path: wg0},
  }
  const logBefore = fake.log().length
  const input: NodeApplyInput = {
    node,
    connection,
    reconnect: async () => connection,
    artifacts: [change],
    files: [file],
    plannedPeers: new Map([['wg0', planned]]),
    revision: 2,
    commit: null,
    confirmTimeoutSec: 5,
    progress: () => {},
    interrupted: () => false,
    now: new Date(),
  }
  const outcome = await applyNode(input)
  return {outcome, reloads: fake.log().slice(logBefore)}
}

describe('applyNode: WireGuard peer counts come from the plan', () => {
  it('refuses a file whose peers differ from the plan, though the file agrees with itself; nothing swapped', async () => {
    const {outcome, reloads} = await applyWg0(PEERLESS, GOOD, 5)

    expect(outcome).toMatchObject({
      status: 'failed',
      step: 'check',
      error: {code: 'check_failed', message: 'wireguard/wg0: holds 4 peers, the plan has 5'},
      rolledBack: false,
    })
    expect(reloads).toEqual([])
    expect(readFileSync(wg0, 'utf8')).toBe(PEERLESS)
  })

  it('restarts an interface the plan leaves without peers, for a change planned as a wg syncconf', async () => {
    const {outcome, reloads} = await applyWg0(GOOD, PEERLESS, 0)

    expect(reloads).toEqual(['restart wg0'])
    expect(outcome).toMatchObject({status: 'verified', notes: ['wg0: restarted instead of synced (no peers left)']})
    expect(readFileSync(wg0, 'utf8')).toBe(PEERLESS)
  })

  it('syncs a peer change that leaves peers on the interface', async () => {
    const {outcome, reloads} = await applyWg0(PEERLESS, GOOD, 4)

    expect(reloads).toEqual(['sync wg0'])
    expect(outcome).toMatchObject({status: 'verified', notes: []})
  })
})
