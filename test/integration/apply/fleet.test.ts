/**
 * Three nodes: gw-1 and gw-2 each with an sshd and a fake node of their own,
 * gw-3 declared at a port nothing listens on. The reachable nodes converge
 * while gw-3 is reported unreachable (outcome partial, exit 1); a node whose
 * host key does not match its pin gets nothing, and the others go on.
 */
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {ApplyEvent} from '../../../src/apply/events.js'
import {
  apply,
  cli,
  fleetRepo,
  ndjson,
  type NodeSpec,
  nodeYaml,
  placePeers,
  plan,
  readState,
  treeOf,
  writeRepoFile,
} from '../../helpers/apply-fleet.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {keygen, startSshd, type TestSshd} from '../../helpers/sshd.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-apply-fleet-')
const fakes: FakeNode[] = []
const servers: TestSshd[] = []
let specs: NodeSpec[]
let repo: string

const byNode = (events: readonly ApplyEvent[], type: ApplyEvent['type'], node: string) =>
  events.filter((e) => e.type === type && 'node' in e && e.node === node)

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}

function writeNodes(nodes: readonly NodeSpec[]): void {
  writeFileSync(join(repo, 'nodes/gw-1.yaml'), nodes.map(nodeYaml).join('---\n'))
}

beforeAll(async () => {
  for (const name of ['gw-1', 'gw-2', 'gw-3']) fakes.push(installFakeNode(join(tmp.path, name)))
  const first = await startSshd({binDir: fakes[0]?.binDir as string})
  servers.push(first)
  // One user key logs in everywhere.
  servers.push(await startSshd({binDir: fakes[1]?.binDir as string, userKey: first.userKey}))
  specs = [
    {name: 'gw-1', sshd: servers[0] as TestSshd, fake: fakes[0] as FakeNode},
    {name: 'gw-2', sshd: servers[1] as TestSshd, fake: fakes[1] as FakeNode},
    {name: 'gw-3', sshd: servers[0] as TestSshd, fake: fakes[2] as FakeNode, port: await closedPort()},
  ]
  repo = fleetRepo(join(tmp.path, 'repo'), specs)
  // Several nodes have a wg0: each peer names its node.
  placePeers(repo, {'alice-laptop': 'gw-1', 'alice-phone': 'gw-2', 'bob-laptop': 'gw-1', 'carol-phone': 'gw-3'})
})

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()))
  const left = fakes.flatMap((f) => f.killProcesses())
  tmp.cleanup()
  expect(left).toEqual([])
})

describe('apply: a fleet with one node down', () => {
  it('the two reachable nodes converge and are verified; the third is unreachable; outcome partial', async () => {
    const run = await apply(repo)

    expect(run.outcome).toBe('partial')
    expect(run.nodes).toEqual({'gw-1': 'verified', 'gw-2': 'verified', 'gw-3': 'unreachable'})
    expect(byNode(run.events, 'node_errored', 'gw-3')).toEqual([
      expect.objectContaining({step: 'connect', error: expect.objectContaining({code: 'node_unreachable'})}),
    ])
    for (const fake of fakes.slice(0, 2)) {
      expect(fake.log()).toEqual(['restart wg0', 'nft-load', 'xray-restart', 'dnsmasq-restart'])
      expect(JSON.parse(readFileSync(join(fake.root, 'var/lib/nexus/revision.json'), 'utf8'))).toMatchObject({
        revision: 1,
      })
    }
    expect(treeOf((fakes[2] as FakeNode).root)).toEqual({})
    const revisions = (await readState(repo)).revisions
    expect(revisions.map((r) => [r.node, r.revision, r.result]).sort()).toEqual([
      ['gw-1', 1, 'verified'],
      ['gw-2', 1, 'verified'],
    ])
    expect(run.events.at(-1)).toMatchObject({type: 'apply_complete', result: 'partial'})
  })

  it('through the CLI: exit 1 while a targeted node is unreachable, exit 0 for the verified ones alone', async () => {
    const logs = fakes.map((f) => f.log().length)
    const all = await cli(repo, ['apply', '--yes', '--json'])
    expect(all.exitCode).toBe(1)
    const events = ndjson(all.stdout)
    expect(events[0]).toEqual({type: 'version', format_version: '1'})
    expect(events.at(-1)).toMatchObject({
      type: 'apply_complete',
      result: 'partial',
      nodes: {'gw-1': 'unchanged', 'gw-2': 'unchanged', 'gw-3': 'unreachable'},
    })
    expect(fakes.map((f) => f.log().length)).toEqual(logs)

    const reachable = await cli(repo, ['apply', '--yes', '--node', 'gw-1', '--node', 'gw-2'])
    expect(reachable.stderr).not.toMatch(/Error/)
    expect(reachable.exitCode).toBe(0)
  })

  it('a changed host key: that node is refused with host_key_changed and gets nothing; the others go on', async () => {
    const wrong = readFileSync(`${await keygen(join(tmp.path, 'impostor_key'))}.pub`, 'utf8')
      .trim()
      .split(/\s+/)
      .slice(0, 2)
      .join(' ')
    // gw-3 (and carol's phone on it) leave the fleet; gw-2 is pinned to another key.
    rmSync(join(repo, 'peers/carol-phone.yaml'))
    writeNodes([specs[0] as NodeSpec, {...(specs[1] as NodeSpec), hostKey: wrong}])
    const gw2 = fakes[1] as FakeNode
    const before = {files: treeOf(gw2.root), log: gw2.log(), wg: treeOf(join(gw2.stateDir, 'wg'))}
    const sessionsBefore = (servers[1] as TestSshd).log().match(/Accepted publickey/g)?.length ?? 0
    // A change for every node: a service domain goes to each node's dnsmasq and xray.
    const wiki = readFileSync(join(repo, 'services/wiki.yaml'), 'utf8')
    writeRepoFile(
      repo,
      'services/wiki.yaml',
      wiki.replace('[wiki.corp.example]', '[wiki.corp.example, docs.corp.example]'),
    )

    const run = await apply(repo)

    expect(run.outcome).toBe('partial')
    expect(run.nodes).toEqual({'gw-1': 'verified', 'gw-2': 'unreachable'})
    const [error] = byNode(run.events, 'node_errored', 'gw-2')
    expect(error).toMatchObject({step: 'connect', error: {code: 'host_key_changed'}, rolled_back: false})
    expect(error?.type === 'node_errored' && error.error.message).toMatch(/nothing was run/)
    // Nothing pushed to gw-2, nor even a login: the handshake stopped at the host key.
    expect({files: treeOf(gw2.root), log: gw2.log(), wg: treeOf(join(gw2.stateDir, 'wg'))}).toEqual(before)
    expect((servers[1] as TestSshd).log().match(/Accepted publickey/g)?.length ?? 0).toBe(sessionsBefore)
    expect(readFileSync(join((fakes[0] as FakeNode).root, 'etc/dnsmasq.d/nexus.conf'), 'utf8')).toContain(
      'docs.corp.example',
    )
    const revisions = (await readState(repo)).revisions
    expect(revisions.filter((r) => r.node === 'gw-2').map((r) => r.revision)).toEqual([1])
    expect(revisions.filter((r) => r.node === 'gw-1').map((r) => r.revision)).toEqual([2, 1])

    // The right key pinned again: gw-2 catches up.
    writeNodes(specs.slice(0, 2))
    const fixed = await apply(repo)
    expect(fixed.nodes).toEqual({'gw-1': 'unchanged', 'gw-2': 'verified'})
    expect(fixed.outcome).toBe('success')
    expect((await plan(repo)).result?.plan.has_changes).toBe(false)
  })
})
