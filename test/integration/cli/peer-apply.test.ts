/**
 * `nexus peer create/remove --apply` and the live columns of `nexus peer
 * list`, through the built CLI, against the quickstart's node reached over a
 * test sshd and running the fake node toolkit (its `wg show dump` reflects
 * what was loaded).
 */
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {PeerCreated, PeerListResult, PeerRemoved} from '../../../src/app/peer.js'
import {cli, fleetRepo, gitCommitAll, jsonError, readState} from '../../helpers/apply-fleet.js'
import {BIN, localState} from '../../helpers/cli.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-peer-apply-')
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
  const left = fake?.killProcesses() ?? []
  tmp.cleanup()
  expect(left).toEqual([])
})

/** `wg show wg0 dump` of the node: public key -> allowed IPs. */
function wgPeers(): Map<string, string> {
  const file = join(fake.stateDir, 'wg', 'wg0.dump')
  if (!existsSync(file)) return new Map()
  const [, ...lines] = readFileSync(file, 'utf8').trim().split('\n')
  return new Map(lines.map((line) => line.split('\t')).map((f) => [f[0] ?? '', f[3] ?? '']))
}

describe('nexus peer create --apply', () => {
  it('without --yes and without a terminal: refused before anything is written', async () => {
    const run = await cli(repo, [
      'peer',
      'create',
      '--name',
      'dave-laptop',
      '--interface',
      'wg0',
      '--user',
      'bob',
      '--apply',
    ])
    expect(run.exitCode).toBe(1)
    expect(run.stderr).toContain('no terminal to confirm it in')
    expect(existsSync(join(repo, 'peers/dave-laptop.yaml'))).toBe(false)
    expect(localState(repo)).toEqual([])
    expect(fake.log()).toEqual([])
  })

  it('--apply --yes: writes the peer, applies the node, and the peer is in its wg dump', async () => {
    const run = await cli(repo, [
      'peer',
      'create',
      '--name',
      'dave-laptop',
      '--interface',
      'wg0',
      '--user',
      'bob',
      '--apply',
      '--yes',
      '--json',
    ])

    expect(run.stderr).toBe('')
    expect(run.exitCode).toBe(0)
    const result = JSON.parse(run.stdout) as PeerCreated
    expect(result.applied).toMatchObject({outcome: 'success', nodes: {'gw-1': 'verified'}})
    const publicKey = String(result.peer.publicKey)
    expect(wgPeers().get(publicKey)).toBe('10.66.0.6/32,fd66::6/128')
    // The gateway runs the key the config names.
    const [head = ''] = readFileSync(join(fake.stateDir, 'wg', 'wg0.dump'), 'utf8').split('\n')
    expect(result.config).toContain(`PublicKey = ${head.split('\t')[1]}`)
    // State holds the allocation the YAML pins, and nothing of the private key.
    const {snapshot} = await readState(repo)
    expect(snapshot.allocations.filter((a) => a.peer === 'dave-laptop').map((a) => [a.address, a.state])).toEqual([
      ['10.66.0.6', 'active'],
      ['fd66::6', 'active'],
    ])
  })

  it('peer list reads the node: present peers with their handshake and transfer, the rest not on the node', async () => {
    // alice's laptop has been talking: a handshake, an endpoint and traffic in the node's dump.
    const dump = join(fake.stateDir, 'wg', 'wg0.dump')
    writeFileSync(
      dump,
      readFileSync(dump, 'utf8').replace(
        /^(xLMoDCZ1GjJnYlHQo7Ta88s3ZUrhUULmZTkQta79VxM=\t[^\t]*)\t[^\t]*\t([^\t]*)\t0\t0\t0\t/m,
        '$1\t198.51.100.7:51000\t$2\t1767225600\t1572864\t4096\t',
      ),
    )
    const run = await cli(repo, ['peer', 'list', '--json'])
    expect(run.exitCode).toBe(0)
    const result = JSON.parse(run.stdout) as PeerListResult
    expect(result.offline).toBe(false)
    expect(result.warnings).toEqual([])
    const byName = new Map(result.peers.map((p) => [p.name, p]))
    expect(byName.get('dave-laptop')).toMatchObject({
      addresses: ['10.66.0.6', 'fd66::6'],
      addressSource: 'pinned',
      active: true,
      live: {state: 'present', latestHandshake: null, endpoint: null, rxBytes: 0, txBytes: 0},
    })
    expect(byName.get('alice-laptop')?.live).toEqual({
      state: 'present',
      latestHandshake: '2026-01-01T00:00:00.000Z',
      endpoint: '198.51.100.7:51000',
      rxBytes: 1572864,
      txBytes: 4096,
    })
    expect(byName.get('alice-phone')).toMatchObject({addressSource: 'allocated', live: {state: 'present'}})
    // carol's subscription ran out: declared, but her node does not carry the phone.
    expect(byName.get('carol-phone')).toMatchObject({active: false, live: {state: 'not_on_node'}})

    const human = await cli(repo, ['peer', 'list', '--node', 'gw-1'])
    expect(human.exitCode).toBe(0)
    expect(human.stdout).toMatch(/^NAME +USER +NODE +IFACE +ADDRESS +STATE +HANDSHAKE +RX +TX$/m)
    expect(human.stdout).toMatch(/^dave-laptop +bob +gw-1 +wg0 +10\.66\.0\.6, fd66::6 +active +never +0 B +0 B$/m)
    expect(human.stdout).toMatch(
      /^alice-laptop +alice +gw-1 +wg0 +10\.66\.0\.2, fd66::2 \(allocated\) +active +2026-01-01 00:00Z +1\.5 MiB +4\.0 KiB$/m,
    )
    expect(human.stdout).toMatch(/^carol-phone .* inactive +not on node/m)
  })

  it('peer remove --apply --yes: the peer leaves the file and the node; its address is tombstoned', async () => {
    const before = wgPeers()
    const key = [...before.entries()].find(([, ips]) => ips === '10.66.0.6/32,fd66::6/128')?.[0]
    expect(key).toBeDefined()

    const run = await cli(repo, ['peer', 'remove', 'dave-laptop', '--apply', '--yes', '--json'])

    expect(run.exitCode).toBe(0)
    const result = JSON.parse(run.stdout) as PeerRemoved
    expect(result).toMatchObject({
      fileDeleted: true,
      addresses: ['10.66.0.6', 'fd66::6'],
      applied: {outcome: 'success', nodes: {'gw-1': 'verified'}},
    })
    expect(wgPeers().has(key ?? '')).toBe(false)
    expect(wgPeers().size).toBe(before.size - 1)
    const {snapshot} = await readState(repo)
    expect(snapshot.allocations.filter((a) => a.peer === 'dave-laptop').map((a) => a.state)).toEqual([
      'tombstone',
      'tombstone',
    ])
  })

  it('the address just released is not handed out again while in quarantine', async () => {
    const run = await cli(repo, ['peer', 'create', '--name', 'erin-laptop', '--interface', 'wg0', '--json'])
    expect(run.exitCode).toBe(0)
    expect((JSON.parse(run.stdout) as PeerCreated).addresses).toEqual(['10.66.0.7', 'fd66::7'])
  })

  it('in a git repo with other uncommitted declarations: --apply is refused before anything is written', async () => {
    await gitCommitAll(repo, 'fleet')
    writeFileSync(join(repo, 'users/bob.yaml'), `${readFileSync(join(repo, 'users/bob.yaml'), 'utf8')}# edited\n`)
    const serial = (await readState(repo)).snapshot.serial

    const run = await cli(repo, [
      'peer',
      'create',
      '--name',
      'finn-laptop',
      '--interface',
      'wg0',
      '--apply',
      '--yes',
      '--json',
    ])

    expect(run.exitCode).toBe(1)
    expect(jsonError(run.stdout).code).toBe('dirty_tree')
    expect(existsSync(join(repo, 'peers/finn-laptop.yaml'))).toBe(false)
    expect((await readState(repo)).snapshot.serial).toBe(serial)
  })
})

describe('nexus peer create --apply, interrupted', () => {
  it('Ctrl-C finishes the node in flight and records it; exit 130', async () => {
    await execa('git', ['checkout', '--', 'users/bob.yaml'], {cwd: repo})
    fake.slow('nft-load', 60)
    const child = execa(
      'node',
      [
        BIN,
        'peer',
        'create',
        '--name',
        'gus-phone',
        '--interface',
        'wg0',
        '--apply',
        '--yes',
        '--json',
        '--repo',
        repo,
      ],
      {cwd: repo, env: {...process.env, NEXUS_DATABASE_URL: undefined}, extendEnv: false, reject: false},
    )
    try {
      const deadline = Date.now() + 30_000
      while (!fake.running('nft-load')) {
        if (Date.now() > deadline) throw new Error('the nft load never started on the node')
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      child.kill('SIGINT')
      await new Promise((resolve) => setTimeout(resolve, 300))
    } finally {
      fake.slow('nft-load', false)
    }
    const run = await child

    expect(run.exitCode).toBe(130)
    const result = JSON.parse(String(run.stdout)) as PeerCreated
    expect(result.applied).toMatchObject({outcome: 'interrupted', nodes: {'gw-1': 'verified'}})
    expect(wgPeers().get(String(result.peer.publicKey))).toBe(
      result.addresses.map((a) => `${a}/${a.includes(':') ? 128 : 32}`).join(','),
    )
    expect((await readState(repo)).revisions[0]).toMatchObject({node: 'gw-1', result: 'verified'})
  })
})
