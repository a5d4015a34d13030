/**
 * `nexus plan` end to end over a real OpenSSH sshd on loopback: the node's
 * paths live in a temp directory and `wg`/`nft`/`xray` are fakes first on the
 * session PATH (the real tools would read the host). Covers a first plan, a
 * no-op plan once state and node match, drift with a masked diff read from
 * the node, a pinned host key that does not match, and an unreachable node;
 * and trust on first use: an apply records the node's host key in state, and
 * a later plan refuses a node that presents another one.
 */
import {cpSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {dirname, join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {planRepo, type PlanRun} from '../../../src/app/plan.js'
import {artifactHashes, digestFile, observedHashes} from '../../../src/plan/node-plan.js'
import {openState, stateLocation} from '../../../src/state/open.js'
import {MemoryHostKeyStore} from '../../../src/transport/host-keys.js'
import {
  apply as applyFleet,
  fleetRepo,
  nodeYaml as fleetNodeYaml,
  plan as planFleet,
  readState,
} from '../../helpers/apply-fleet.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {observeNode} from '../../../src/transport/observe.js'
import {SshTransport} from '../../../src/transport/ssh.js'
import {ROOT} from '../../helpers/cli.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {tempDir} from '../../helpers/tools.js'
import {type FakeTools, installFakeTools} from '../../unit/transport/fakes.js'

const tmp = tempDir('nexus-plan-ssh-')
let sshd: TestSshd
let tools: FakeTools
let repo: string
const nodeRoot = join(tmp.path, 'node')
const transport = new SshTransport({env: {}})

function nodeYaml(options: {port: number; hostKey: string}): string {
  const original = readFileSync(join(ROOT, 'examples/quickstart/nodes/gw-1.yaml'), 'utf8')
  return original
    .replace(
      /ssh:\n {2}host: 192\.0\.2\.10\n {2}user: root\n/,
      [
        'ssh:',
        '  host: 127.0.0.1',
        `  port: ${options.port}`,
        '  user: root',
        `  identityFile: ${sshd.userKey}`,
        `  hostKey: "${options.hostKey}"`,
        '',
      ].join('\n'),
    )
    .concat(
      [
        'paths:',
        `  wireguard: ${nodeRoot}/etc/wireguard`,
        `  nftables: ${nodeRoot}/etc/nexus/nexus.nft`,
        `  xray: ${nodeRoot}/etc/xray/config.json`,
        `  dnsmasq: ${nodeRoot}/etc/dnsmasq.d/nexus.conf`,
        `  state: ${nodeRoot}/var/lib/nexus`,
        '',
      ].join('\n'),
    )
}

beforeAll(async () => {
  tools = installFakeTools(join(tmp.path, 'bin'), join(tmp.path, 'fake-state'))
  sshd = await startSshd({binDir: tools.binDir})
  repo = join(tmp.path, 'repo')
  cpSync(join(ROOT, 'examples/quickstart'), repo, {recursive: true})
  writeFileSync(join(repo, 'nodes/gw-1.yaml'), nodeYaml({port: sshd.port, hostKey: sshd.hostKey}))
})
afterAll(async () => {
  await sshd?.stop()
  tmp.cleanup()
})

async function plan(options: {diff?: boolean} = {}): Promise<PlanRun> {
  return planRepo({
    root: repo,
    location: stateLocation(repo, {}),
    env: {},
    offline: false,
    transport,
    now: new Date(),
    ...(options.diff ? {diff: true} : {}),
  })
}

/** What apply will do, by hand: deploy the files, make the fake tools report them, record state and revision. */
async function deploy(run: PlanRun): Promise<void> {
  const result = run.result
  if (!result) throw new Error('no plan')
  const node = result.desired.nodes[0]
  if (!node) throw new Error('no node')
  const files = result.allFiles().filter((f) => f.target)
  for (const file of files) {
    const path = file.target?.path as string
    mkdirSync(dirname(path), {recursive: true})
    writeFileSync(path, file.content)
  }
  const revision = result.plan.nodes[0]?.revision.to ?? 1
  mkdirSync(join(nodeRoot, 'var/lib/nexus'), {recursive: true})
  writeFileSync(join(nodeRoot, 'var/lib/nexus/revision.json'), JSON.stringify({revision}))
  tools.nftTable('table inet nexus {\n}\n')
  const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
  if (!store) throw new Error('no state')
  try {
    await store.write(result.state.write, {actor: 'test', expectedSerial: result.plan.state.serial})
    const connection = await transport.connect(node, {hostKeys: new MemoryHostKeyStore()})
    const observation = await observeNode(connection, node).finally(() => connection.close())
    await store.recordRevision({
      node: node.name,
      revision,
      hashes: {...artifactHashes(files.map(digestFile)), ...observedHashes(observation)},
      actor: 'test',
      result: 'verified',
    })
  } finally {
    await store.close()
  }
}

describe('nexus plan over SSH', () => {
  it('reads a fresh node and plans every artifact as new', async () => {
    const run = await plan()
    const node = run.result?.plan.nodes[0]
    expect(node).toMatchObject({status: 'planned', revision: {from: null, to: 1}, drift: []})
    expect(node?.fingerprint).toMatch(/^[0-9a-f]{64}$/)
    expect(node?.artifacts.map((a) => a.action)).toEqual(['create', 'create', 'create', 'create'])
  })

  it('plans nothing once state and node match, and shows a hand edit as drift with a masked diff', async () => {
    await deploy(await plan())
    const clean = await plan()
    expect(clean.result?.plan.has_changes).toBe(false)
    expect(clean.result?.plan.nodes[0]).toMatchObject({revision: {from: 1, to: 1}, artifacts: [], drift: []})

    const wg0 = join(nodeRoot, 'etc/wireguard/wg0.conf')
    const deployed = readFileSync(wg0, 'utf8')
    const privateKey = /^PrivateKey = (.+)$/m.exec(deployed)?.[1] ?? ''
    writeFileSync(wg0, deployed.replace('ListenPort = 51820', 'ListenPort = 51999'))
    const drifted = await plan({diff: true})
    const node = drifted.result?.plan.nodes[0]
    expect(node?.drift.map((d) => `${d.kind} ${d.subject}`)).toEqual([`file ${wg0}`])
    const artifact = node?.artifacts[0]
    expect(artifact).toMatchObject({action: 'update', reason: 'drifted', effect: 'interface_restart'})
    expect(artifact?.diff).toContain('-ListenPort = 51999')
    expect(artifact?.diff).toContain('+ListenPort = 51820')
    expect(JSON.stringify(drifted.result?.plan)).not.toContain(privateKey)
    writeFileSync(wg0, deployed)
  })

  it('refuses a node whose host key is not the pinned one, and runs nothing there', async () => {
    const other = readFileSync(`${sshd.strangerKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ')
    const yaml = join(repo, 'nodes/gw-1.yaml')
    const original = readFileSync(yaml, 'utf8')
    writeFileSync(yaml, nodeYaml({port: sshd.port, hostKey: other}))
    try {
      const run = await plan()
      expect(run.result?.plan.nodes[0]).toMatchObject({status: 'unreachable', error: {code: 'host_key_changed'}})
      expect(run.result?.plan.changes).toBeDefined()
    } finally {
      writeFileSync(yaml, original)
    }
  })

  it('reports a node nobody listens for as unreachable', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as {port: number}).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const yaml = join(repo, 'nodes/gw-1.yaml')
    const original = readFileSync(yaml, 'utf8')
    writeFileSync(yaml, nodeYaml({port, hostKey: sshd.hostKey}))
    try {
      const run = await plan()
      expect(run.result?.plan.nodes[0]).toMatchObject({status: 'unreachable', error: {code: 'node_unreachable'}})
      expect(run.result?.plan.summary.unreachable).toBe(1)
    } finally {
      writeFileSync(yaml, original)
    }
  })
})

describe('trust on first use, end to end', () => {
  const servers: TestSshd[] = []
  afterAll(async () => {
    for (const server of servers) await server.stop()
  })

  it('an apply records the host key in state; a plan against a node with another key is refused', async () => {
    const fake: FakeNode = installFakeNode(join(tmp.path, 'tofu-node'))
    const first = await startSshd({binDir: fake.binDir})
    servers.push(first)
    // No ssh.hostKey: the key is trusted on first use.
    const unpinned = (sshd: TestSshd) => fleetNodeYaml({name: 'gw-1', sshd, fake}).replace(/^ {2}hostKey: .*\n/m, '')
    const tofuRepo = fleetRepo(join(tmp.path, 'tofu-repo'), [{name: 'gw-1', sshd: first, fake}])
    const yaml = join(tofuRepo, 'nodes/gw-1.yaml')
    writeFileSync(yaml, unpinned(first))
    expect(readFileSync(yaml, 'utf8')).not.toContain('hostKey')

    const applied = await applyFleet(tofuRepo)
    expect(applied.nodes).toEqual({'gw-1': 'verified'})
    expect((await readState(tofuRepo)).snapshot.hostKeys.get('gw-1')).toBe(first.hostKey)

    // The same node again: the recorded key matches, nothing to do.
    const again = await planFleet(tofuRepo)
    expect(again.result?.plan.nodes[0]).toMatchObject({status: 'planned'})
    expect(again.newHostKeys).toEqual([])

    // Another server (another host key) answers for gw-1: refused, and the recorded key stays.
    const impostor = await startSshd({binDir: fake.binDir, userKey: first.userKey})
    servers.push(impostor)
    expect(impostor.hostKey).not.toBe(first.hostKey)
    writeFileSync(yaml, unpinned(impostor))
    const refused = await planFleet(tofuRepo)
    const node = refused.result?.plan.nodes[0]
    expect(node).toMatchObject({status: 'unreachable', error: {code: 'host_key_changed'}})
    expect(node?.error?.message).toContain('recorded on the first connection')
    expect(refused.newHostKeys).toEqual([])
    expect((await readState(tofuRepo)).snapshot.hostKeys.get('gw-1')).toBe(first.hostKey)
    // The handshake stopped at the host key: no login on the impostor.
    expect(impostor.log()).not.toMatch(/Accepted publickey/)
  })
})
