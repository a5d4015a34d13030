/**
 * End-to-end proof (issue 6): real gateways and clients in network
 * namespaces, driven by the built nexus CLI over real SSH.
 *
 * One topology serves every scenario (harness/topology.ts): two gateways
 * with sshd, wireguard-go, nftables and dnsmasq (gw1 also v2ray as the xray
 * stand-in), three clients, an internal service host. The scenarios run in
 * order on the same fleet; each one that changes the fleet leaves it
 * converged (plan has no changes) for the next. Every assertion is on real
 * traffic or on real daemon state read straight from the namespaces.
 *
 * The state is the embedded PGlite in the fixture repo, or, when
 * NEXUS_TEST_DATABASE_URL is set (CI), a fresh schema of this run on that
 * Postgres (harness/state.ts): only there can two nexus processes share it,
 * so only there does scenario 8 meet the apply lease. Its name says which
 * state ran.
 *
 * Runs as root on Linux only (network namespaces); there a missing tool is a
 * failure, not a skip.
 */
import {mkdirSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {generateWireguardKeyPair} from '../../src/crypto/keys.js'
import type {KeyPair} from '../../src/model/state-values.js'
import type {UsageCollectResult} from '../../src/app/usage.js'
import type {UsageReport} from '../../src/model/usage.js'
import type {Plan} from '../../src/plan/types.js'
import {gitCommitAll, jsonError, ndjson} from '../helpers/apply-fleet.js'
import {keygen} from '../helpers/sshd.js'
import {requireTool} from '../helpers/tools.js'
import {
  clientHandshake,
  clientResolvers,
  dnsQuery,
  download,
  downloadViaProxy,
  holdConnection,
  httpGet,
  httpViaProxy,
  probe,
  startV2rayClient,
  tcp,
  tunnelDown,
  tunnelUp,
  vmessLinks,
  withPrivateKey,
} from './harness/clients.js'
import {PEERS, peerOf, WIKI_DOMAIN, writeFile, writeFixture, nodeYaml} from './harness/fixture.js'
import {
  type Gateway,
  nftCounter,
  nftTable,
  nftTableOfFile,
  pidsOf,
  startGateway,
  VMESS_PORT,
  wgDump,
} from './harness/gateway.js'
import {nexusCli, startNexusCli} from './harness/nexus.js'
import {openSuiteState, STATE_MODE, type StateConnection, type SuiteState} from './harness/state.js'
import {ADDR, buildTopology, CLIENTS, type ClientName, GATEWAYS, type GatewayName} from './harness/topology.js'
import {removeLeftovers, type Started, waitFor, World} from './harness/world.js'

const REQUIRED_TOOLS = [
  'ip',
  'nsenter',
  'unshare',
  'setsid',
  'sysctl',
  'sshd',
  'ssh',
  'ssh-keygen',
  'wg',
  'wg-quick',
  'wireguard-go',
  'nft',
  'dnsmasq',
  'v2ray',
  'v2ctl',
  'git',
]
const canRun = process.platform === 'linux' && process.getuid?.() === 0

let world: World
let state: SuiteState | undefined
let repo: string
let userKey: string
const gateways = {} as Record<GatewayName, Gateway>
const keys: Record<string, KeyPair> = {}

type Event = Record<string, unknown>

function onExit(): void {
  world?.destroy()
}
function onSignal(signal: NodeJS.Signals): void {
  onExit()
  process.exit(signal === 'SIGINT' ? 130 : 143)
}

/** `nexus ARGS` from the control host, on the suite's state. */
const nexus = (args: readonly string[], env?: Record<string, string>) =>
  nexusCli(world, repo, args, {env: {...state?.env, ...env}})

const APPLY = ['apply', '--yes', '--json', '--parallel', '2', '--confirm-timeout', '5']

/** `nexus apply --yes --json` with short test timeouts; its NDJSON events. */
async function apply(extra: readonly string[] = []): Promise<{exitCode: number; events: Event[]; stderr: string}> {
  const run = await nexus([...APPLY, ...extra])
  let events: Event[]
  try {
    events = ndjson(run.stdout)
  } catch {
    throw new Error(`apply printed no NDJSON (exit ${run.exitCode}):\n${run.stdout}\n${run.stderr}`)
  }
  return {exitCode: run.exitCode, events, stderr: run.stderr}
}

/** `nexus plan` has nothing to do (on failure: what it would do). */
async function expectConverged(): Promise<void> {
  const planned = await plan()
  const pending = {
    changes: planned.changes.map((c) => `${c.address} ${c.action} ${c.reason}`),
    nodes: planned.nodes.map((n) => ({
      node: n.node,
      status: n.status,
      artifacts: n.artifacts.map((a) => `${a.address} ${a.action} ${a.reason}`),
      drift: n.drift.map((d) => `${d.kind} ${d.subject}: ${d.detail ?? ''}`),
    })),
  }
  expect(planned.has_changes, JSON.stringify(pending, null, 2)).toBe(false)
}

async function plan(): Promise<Plan> {
  const run = await nexus(['plan', '--json'])
  if (run.exitCode !== 0) throw new Error(`plan failed (${run.exitCode}):\n${run.stdout}\n${run.stderr}`)
  return JSON.parse(run.stdout) as Plan
}

const nodeEvent = (events: readonly Event[], type: string, node: string) =>
  events.find((e) => e.type === type && e.node === node)

/** The gateway's kernel runs exactly the ruleset file nexus deployed (checked apart from nexus's own verify). */
async function expectRulesetInForce(gw: GatewayName): Promise<void> {
  expect(await nftTable(world, gw), `the loaded table of ${gw}`).toBe(await nftTableOfFile(gateways[gw]))
}

async function commit(message: string): Promise<void> {
  await gitCommitAll(repo, message)
}

/** The wg-quick config of a peer as `nexus peer show --config` prints it, with the device's own private key put in. */
async function clientConfig(peer: string): Promise<string> {
  const run = await nexus(['peer', 'show', peer, '--config', '--json'])
  if (run.exitCode !== 0) throw new Error(`peer show ${peer} failed (${run.exitCode}):\n${run.stdout}\n${run.stderr}`)
  const {config} = JSON.parse(run.stdout) as {config: string | null}
  const key = keys[peer]
  if (!config || !key) throw new Error(`no config or key for ${peer}: ${run.stdout}`)
  return withPrivateKey(config, key.privateKey)
}

/** A new SSH login from the control host to gw1 over the wan (`echo in`), giving up after `connectTimeout` s. */
const sshGw1 = (connectTimeout: number) =>
  world.run(
    'ctl',
    [
      'ssh',
      '-i',
      userKey,
      '-o',
      'BatchMode=yes',
      '-o',
      `ConnectTimeout=${connectTimeout}`,
      '-o',
      `UserKnownHostsFile=${join(world.dir, 'known_hosts')}`,
      '-o',
      'StrictHostKeyChecking=accept-new',
      `root@${ADDR.gw1.wan}`,
      'echo in',
    ],
    {timeoutMs: (connectTimeout + 10) * 1000},
  )

/** Brings the client's tunnel up and waits for its first handshake (a packet through the tunnel triggers it). */
async function connect(client: ClientName): Promise<void> {
  const peer = peerOf(client)
  await tunnelUp(world, client, await clientConfig(peer.name))
  const gw = ADDR[peer.node]
  await waitFor(`handshake of ${client}`, async () => {
    await tcp(world, client, gw.tunnel, 22, 1000)
    return (await clientHandshake(world, client)) > 0
  })
}

/** An apply running in the background: its NDJSON events as they arrive, each with its arrival time. */
interface Background {
  readonly started: Started
  ended(): boolean
  events(): {at: number; event: Event}[]
}

/** Starts `nexus apply` (as `actor`, the name the lease records) without waiting for it. */
function startApply(actor: string, extra: readonly string[]): Background {
  const started = startNexusCli(world, repo, [...APPLY, ...extra], {env: {...state?.env, NEXUS_ACTOR: actor}})
  let ended = false
  void started.result.then(() => (ended = true))
  const parse = (text: string): Event => {
    try {
      return JSON.parse(text) as Event
    } catch {
      return {type: 'not_json', text}
    }
  }
  return {started, ended: () => ended, events: () => started.lines.map(({at, text}) => ({at, event: parse(text)}))}
}

const leaseChecks = (connection: StateConnection, before = Infinity) =>
  connection.lease.filter((l) => l.statement === 'check' && l.at < before).length

/**
 * Scenario 8 on Postgres. The first apply is held inside its lease (gw1's
 * `nft -c` waits while the hold is on); the second starts only once the first
 * printed apply_start (it takes the lease before it plans), so they overlap
 * for real. The database relay shows the second asking for the lease again
 * and again while the first holds it; only then is the first let go. The
 * second must then either have failed with lock_held while the first held the
 * lease, or have waited: taken the lease after the first released it, and
 * found nothing left to do. Returns the first's events.
 */
async function applyDuringApply(): Promise<Event[]> {
  const suite = state as SuiteState
  const since = (t: number) => suite.connections().filter((c) => c.openedAt >= t)
  const output = (b: Background) => JSON.stringify(b.started.lines)
  gateways.gw1.holdNftChecks(true)
  const first = startApply('e2e-first', ['--lock-timeout', '60'])
  const {began, second, waiting} = await (async () => {
    try {
      const began = await waitFor(
        'apply_start of the first apply',
        () => first.events().find((e) => e.event.type === 'apply_start') ?? (first.ended() ? null : undefined),
        60_000,
      )
      if (!began) throw new Error(`the first apply ended without apply_start: ${output(first)}`)
      const second = startApply('e2e-second', ['--lock-timeout', '60'])
      const waiting = await waitFor(
        'the second apply asking for the lease twice',
        () => since(second.started.startedAt).find((c) => leaseChecks(c) >= 2) ?? (second.ended() ? null : undefined),
        60_000,
      )
      if (!waiting) throw new Error(`the second apply ended before it waited: ${output(second)}`)
      // Meanwhile the lease is the first's, and an apply that will not wait fails on it at once.
      const third = startApply('e2e-third', ['--lock-timeout', '0'])
      const [refused, lock] = await Promise.all([third.started.result, nexus(['lock', 'status', '--json'])])
      expect(refused.exitCode, output(third)).toBe(1)
      expect(third.events().map((e) => e.event)).toEqual([
        {error: expect.objectContaining({code: 'lock_held', message: expect.stringContaining('e2e-first')})},
      ])
      expect(JSON.parse(lock.stdout)).toMatchObject({held: true, lease: {holder: 'e2e-first', expired: false}})
      expect(first.ended(), output(first)).toBe(false)
      expect(second.ended(), output(second)).toBe(false)
      expect(second.events()).toEqual([])
      return {began, second, waiting}
    } finally {
      gateways.gw1.holdNftChecks(false)
    }
  })()
  const [one, two] = await Promise.all([first.started.result, second.started.result])

  expect(one.exitCode, one.stdout + one.stderr).toBe(0)
  const done = first.events().find((e) => e.event.type === 'apply_complete')
  expect(done?.event, output(first)).toMatchObject({result: 'success'})
  // On the wire: the first took the lease before it printed apply_start, and released it at its end.
  const took = since(first.started.startedAt).find((c) =>
    c.lease.some((l) => l.statement === 'take' && l.at <= began.at),
  )
  const released = took?.lease.find((l) => l.statement === 'release')?.at
  if (released === undefined || !done) throw new Error(`no lease release of the first apply: ${JSON.stringify(took)}`)
  // Every attempt of the second before that release found the lease held (it would have taken a free one).
  expect(leaseChecks(waiting, released)).toBeGreaterThanOrEqual(2)
  const events = second.events()
  if (two.exitCode === 0) {
    // It waited: it took the lease only after the first released it, then found nothing to do in the
    // state the first left.
    expect(waiting.lease.find((l) => l.statement === 'take')?.at).toBeGreaterThanOrEqual(released)
    expect(events.map((e) => e.event)).toEqual([
      {type: 'version', format_version: '1'},
      expect.objectContaining({type: 'apply_complete', result: 'no_changes', state_serial: done.event.state_serial}),
    ])
    expect(events[0]?.at).toBeGreaterThanOrEqual(done.at)
  } else {
    // It gave up on the lease while the first still held it.
    expect(two.exitCode, two.stdout + two.stderr).toBe(1)
    expect(jsonError(events[0] ? JSON.stringify(events[0].event) : '{}').code).toBe('lock_held')
    expect(waiting.lease.some((l) => l.statement === 'take')).toBe(false)
    expect(events[0]?.at).toBeLessThan(released)
  }
  return first.events().map((e) => e.event)
}

/**
 * Scenario 8 on PGlite: two applies at once. PGlite serves one process at a
 * time, so the second waits at the state's file lock (up to 30 s) and fails
 * there (state_busy) if the first is not done by then; it never gets to the
 * lease. Returns the worker's events.
 */
async function twoAppliesAtOnce(): Promise<Event[]> {
  const runs = await Promise.all([apply(['--lock-timeout', '60']), apply(['--lock-timeout', '60'])])
  const workers = runs.filter((r) => r.events.some((e) => e.type === 'apply_start'))
  expect(workers, JSON.stringify(runs)).toHaveLength(1)
  expect(workers[0]?.exitCode).toBe(0)
  const other = runs.find((r) => r !== workers[0])
  if (other?.exitCode === 0) {
    // It waited for the first (at the file lock), then found nothing to do.
    expect(other.events).toEqual([
      {type: 'version', format_version: '1'},
      expect.objectContaining({type: 'apply_complete', result: 'no_changes'}),
    ])
  } else {
    expect(other?.exitCode).toBe(1)
    expect(jsonError(JSON.stringify(other?.events[0] ?? {})).code).toBe('state_busy')
  }
  return workers[0]?.events ?? []
}

describe.skipIf(!canRun)('e2e: gateways and clients in network namespaces', () => {
  beforeAll(async () => {
    for (const tool of REQUIRED_TOOLS) await requireTool(tool)
    removeLeftovers()
    world = new World()
    process.once('exit', onExit)
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, onSignal)
    state = await openSuiteState(world)

    await buildTopology(world)
    mkdirSync(join(world.dir, 'svc'))
    const service = world.daemon('svc', [
      process.execPath,
      join(import.meta.dirname, 'programs', 'service.mjs'),
      join(world.dir, 'svc'),
    ])
    userKey = await keygen(join(world.dir, 'nexus_key'))
    for (const name of GATEWAYS) gateways[name] = await startGateway(world, name, {userKey, xray: name === 'gw1'})
    await waitFor('the service host', () => {
      if (service.child.exitCode !== null) throw new Error(`the service exited: ${service.log()}`)
      return service.log().includes('ready')
    })

    for (const peer of PEERS) keys[peer.name] = generateWireguardKeyPair()
    repo = join(world.dir, 'repo')
    writeFixture(repo, {
      gateways: GATEWAYS.map((name) => gateways[name]),
      identityFile: userKey,
      publicKeys: Object.fromEntries(PEERS.map((p) => [p.name, keys[p.name]?.publicKey ?? ''])),
    })
    await commit('e2e fleet')
  })

  afterAll(async () => {
    world?.destroy()
    process.removeListener('exit', onExit)
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeListener(signal, onSignal)
    await state?.close()
  })

  it('1. first apply: both gateways verified; every client handshakes and reaches its gateway over TCP', async () => {
    const validate = await nexus(['validate'])
    expect(validate.exitCode, validate.stdout + validate.stderr).toBe(0)

    const run = await apply()

    expect(run.exitCode, run.stderr).toBe(0)
    for (const gw of GATEWAYS) {
      expect(nodeEvent(run.events, 'node_complete', gw), JSON.stringify(run.events)).toMatchObject({
        result: 'verified',
        revision: 1,
      })
    }
    expect(run.events.at(-1)).toMatchObject({type: 'apply_complete', result: 'success'})
    for (const gw of GATEWAYS) {
      expect(await pidsOf(world, gw, 'wireguard-go')).toHaveLength(1)
      expect(await pidsOf(world, gw, 'dnsmasq')).toHaveLength(1)
    }
    expect(await pidsOf(world, 'gw1', 'v2ray')).toHaveLength(1)
    for (const gw of GATEWAYS) await expectRulesetInForce(gw)

    for (const client of CLIENTS) {
      await connect(client)
      const peer = peerOf(client)
      const gw = ADDR[peer.node]
      // The gateway saw the handshake too.
      const dump = await wgDump(world, peer.node)
      const seen = dump?.peers.find((p) => p.publicKey === keys[peer.name]?.publicKey)
      expect(seen?.latestHandshake).toBeGreaterThan(0)
      // TCP to the gateway's tunnel addresses, both families: its sshd answers through the tunnel.
      expect(await tcp(world, client, gw.tunnel, 22)).toMatchObject({
        ok: true,
        banner: expect.stringMatching(/^SSH-2\.0-OpenSSH/),
      })
      expect(await tcp(world, client, gw.tunnel6, 22)).toMatchObject({
        ok: true,
        banner: expect.stringMatching(/^SSH-2\.0-OpenSSH/),
      })
    }
    // Nothing left to do.
    await expectConverged()
  })

  it('2. DNS override: the service domain resolves through the gateway dnsmasq (A), and AAAA does not leak upstream', async () => {
    for (const client of ['c1', 'c3'] as const) {
      const gw = ADDR[peerOf(client).node]
      // wg-quick handed the config's DNS servers (the gateway's tunnel addresses) to resolvconf.
      const resolvers = clientResolvers(world, client)
      expect(resolvers).toEqual([gw.tunnel, gw.tunnel6])
      for (const server of resolvers) {
        expect(await dnsQuery(world, client, server, WIKI_DOMAIN, 'A')).toEqual({ok: true, addresses: [ADDR.svc.lan]})
        // The service has no IPv6 address: answered empty by the gateway, not forwarded.
        expect(await dnsQuery(world, client, server, WIKI_DOMAIN, 'AAAA')).toMatchObject({ok: false, code: 'ENODATA'})
        // Anything else is forwarded to the upstream (the fake upstream answers 10.231.1.99).
        expect(await dnsQuery(world, client, server, `${client}.other.corp.test`, 'A')).toEqual({
          ok: true,
          addresses: ['10.231.1.99'],
        })
      }
    }
    const upstream = readFileSync(join(world.dir, 'svc', 'dns-queries.log'), 'utf8')
    expect(upstream).toContain('c1.other.corp.test A')
    expect(upstream).toContain('c3.other.corp.test A')
    expect(upstream).not.toContain(WIKI_DOMAIN)
  })

  it('3. ACL: staff reach the wiki; a guest is dropped by nftables; the deny, log and rate_limit rules act on what they name', async () => {
    const wiki = `http://${ADDR.svc.lan}/`
    const gate = 'service wiki not admitted'
    const dropsBefore = await nftCounter(world, 'gw1', gate)

    // alice (staff) on gw1 and carol (staff) on gw2 get the page.
    for (const client of ['c1', 'c3'] as const) {
      const [address] =
        (await dnsQuery(world, client, clientResolvers(world, client)[0] ?? '', WIKI_DOMAIN, 'A')).addresses ?? []
      expect(await httpGet(world, client, `http://${address}/`)).toMatchObject({
        ok: true,
        status: 200,
        body: expect.stringContaining('wiki'),
      })
    }
    // bob (guests): no answer at all (dropped, not refused), and the gate's counter saw it.
    expect(await httpGet(world, 'c2', wiki, 2000)).toMatchObject({ok: false, code: 'TIMEOUT'})
    expect(await nftCounter(world, 'gw1', gate)).toBeGreaterThan(dropsBefore)
    // ... while his tunnel works: a port no rule names is allowed by default.
    expect(await httpGet(world, 'c2', `http://${ADDR.svc.lan}:8081/`)).toMatchObject({ok: true, status: 200})

    // The deny rule blocks port 8080 for everyone, staff included.
    const deniedBefore = await nftCounter(world, 'gw1', 'no-admin')
    for (const client of ['c1', 'c2'] as const) {
      expect(await httpGet(world, client, `http://${ADDR.svc.lan}:8080/`, 2000)).toMatchObject({
        ok: false,
        code: 'TIMEOUT',
      })
    }
    expect(await nftCounter(world, 'gw1', 'no-admin')).toBeGreaterThan(deniedBefore)

    // The log rule counts (and logs) 8081 without deciding anything.
    const loggedBefore = await nftCounter(world, 'gw1', 'log-web')
    expect(await httpGet(world, 'c1', `http://${ADDR.svc.lan}:8081/`)).toMatchObject({ok: true, body: 'public page\n'})
    expect(await nftCounter(world, 'gw1', 'log-web')).toBeGreaterThan(loggedBefore)

    // The rate limit (5/s, burst 5) lets the burst and the rate through, and drops the rest.
    const counted = () => Number(readFileSync(join(world.dir, 'svc', 'udp-9999.count'), 'utf8'))
    const received = counted()
    const limitedBefore = await nftCounter(world, 'gw1', 'limit-udp')
    const burst = await probe(world, 'c1', ['udp', ADDR.svc.lan, '9999', '60'])
    expect(burst).toMatchObject({ok: true, sent: 60})
    const dropped = await waitFor('the rate limit drops', async () => {
      const n = (await nftCounter(world, 'gw1', 'limit-udp')) - limitedBefore
      return n + (counted() - received) === 60 ? n : undefined
    })
    const passed = 60 - dropped
    expect(passed).toBeGreaterThanOrEqual(3)
    expect(passed).toBeLessThanOrEqual(5 + Math.ceil((5 * (burst.ms ?? 0)) / 1000) + 3)

    // Ordinary client traffic is not drift: the rate limit's per-source entries (a dynamic set
    // `nft -s list table` lists) are left out of what plan compares.
    const after = await plan()
    expect(after.nodes.find((n) => n.node === 'gw1')?.drift).toEqual([])
  })

  it('4. peer removal: the removed client is cut off; another client on the gateway keeps its session', async () => {
    const alice = keys['alice-laptop']?.publicKey
    const bob = keys['bob-laptop']?.publicKey
    // A fresh session, so that no rekey (every 2 minutes) falls into the window.
    if (Date.now() / 1000 - (await clientHandshake(world, 'c1')) > 60) {
      await tunnelDown(world, 'c1')
      await connect('c1')
    }
    const held = await holdConnection(world, 'c1', ADDR.svc.lan, 8081)
    expect(held.first).toMatchObject({ok: true, responses: ['public page']})
    const handshake = await clientHandshake(world, 'c1')
    const gatewayHandshake = (await wgDump(world, 'gw1'))?.peers.find((p) => p.publicKey === alice)?.latestHandshake
    const wireguardGo = await pidsOf(world, 'gw1', 'wireguard-go')

    rmSync(join(repo, 'peers', 'bob-laptop.yaml'))
    await commit('remove bob-laptop')
    const planned = await plan()
    const wg0 = planned.nodes
      .find((n) => n.node === 'gw1')
      ?.artifacts.find((a) => a.address === 'node.gw1/wireguard/wg0')
    expect(wg0).toMatchObject({action: 'update', effect: 'wg_syncconf', disruptive: false})

    const run = await apply()

    expect(run.exitCode, run.stderr).toBe(0)
    expect(nodeEvent(run.events, 'node_complete', 'gw1')).toMatchObject({result: 'verified'})
    await expectRulesetInForce('gw1')
    const dump = await wgDump(world, 'gw1')
    expect(dump?.peers.map((p) => p.publicKey)).not.toContain(bob)
    // bob's client is cut off.
    expect(await tcp(world, 'c2', ADDR.gw1.tunnel, 22, 2000)).toMatchObject({ok: false, code: 'TIMEOUT'})
    // alice's session survived: same TCP connection, no new handshake, same wireguard-go.
    expect(await held.release()).toMatchObject({
      ok: true,
      responses: ['public page', 'public page'],
      local: held.first.local,
    })
    expect(await tcp(world, 'c1', ADDR.gw1.tunnel, 22)).toMatchObject({ok: true})
    expect(dump?.peers.find((p) => p.publicKey === alice)?.latestHandshake).toBe(gatewayHandshake)
    expect(await clientHandshake(world, 'c1')).toBe(handshake)
    expect(await pidsOf(world, 'gw1', 'wireguard-go')).toEqual(wireguardGo)
    await expectConverged()
  })

  it('5. drift: a peer added with wg set and a rule added with nft show up in plan; apply restores the declared state', async () => {
    const declaredTable = await nftTable(world, 'gw1')
    const stranger = generateWireguardKeyPair().publicKey
    await world.sh('gw1', `wg set wg0 peer ${stranger} allowed-ips 10.231.64.200/32`)
    await world.sh('gw1', `nft insert rule inet nexus nx_forward ip daddr ${ADDR.svc.lan} tcp dport 8081 drop`)
    // The hand-made rule bites.
    expect(await httpGet(world, 'c1', `http://${ADDR.svc.lan}:8081/`, 2000)).toMatchObject({ok: false, code: 'TIMEOUT'})

    const planned = await plan()

    const gw1 = planned.nodes.find((n) => n.node === 'gw1')
    expect(gw1?.drift.map((d) => d.kind).sort()).toEqual(['nftables', 'wireguard_peers'])
    expect(gw1?.drift.find((d) => d.kind === 'wireguard_peers')).toMatchObject({subject: 'wg0'})
    expect(gw1?.artifacts.map((a) => [a.address, a.reason])).toEqual(
      expect.arrayContaining([
        ['node.gw1/wireguard/wg0', 'live_state_drifted'],
        ['node.gw1/nftables', 'live_state_drifted'],
      ]),
    )
    expect(planned.nodes.find((n) => n.node === 'gw2')?.drift).toEqual([])
    const detailed = await nexus(['plan', '--detailed-exitcode'])
    expect(detailed.exitCode).toBe(2)

    const run = await apply()

    expect(run.exitCode, run.stderr).toBe(0)
    expect(nodeEvent(run.events, 'node_complete', 'gw1')).toMatchObject({result: 'verified'})
    expect((await wgDump(world, 'gw1'))?.peers.map((p) => p.publicKey)).not.toContain(stranger)
    expect(await nftTable(world, 'gw1')).toBe(declaredTable)
    await expectRulesetInForce('gw1')
    expect(await httpGet(world, 'c1', `http://${ADDR.svc.lan}:8081/`)).toMatchObject({ok: true, status: 200})
    await expectConverged()
  })

  it('6. bad reload: a dnsmasq restart that stops the daemon and fails is rolled back: the previous config runs again, the node failed; the other converges', async () => {
    const docs = 'docs.corp.test'
    const file = gateways.gw2.paths.dnsmasq
    const previous = readFileSync(file, 'utf8')
    const [running] = await pidsOf(world, 'gw2', 'dnsmasq')
    expect(running).toBeDefined()
    // Its pid as the gateway's PID namespace sees it (what the reload script logs).
    const pidInGateway = readFileSync(join(gateways.gw2.dir, 'run', 'dnsmasq.pid'), 'utf8').trim()
    const restarts = gateways.gw2.dnsmasqRestarts().length
    // Like a real restart whose new config is refused: the running dnsmasq is gone when it fails.
    gateways.gw2.failDnsmasqWhen(docs)
    const service = readFileSync(join(repo, 'services', 'wiki.yaml'), 'utf8')
    writeFile(repo, 'services/wiki.yaml', service.replace(`[${WIKI_DOMAIN}]`, `[${WIKI_DOMAIN}, ${docs}]`))
    await commit('wiki: also docs')
    try {
      const run = await apply()

      expect(run.exitCode).toBe(1)
      expect(nodeEvent(run.events, 'node_errored', 'gw2')).toMatchObject({
        step: 'activate',
        error: {code: 'reload_failed', message: expect.stringContaining('e2e failure switch')},
        rolled_back: true,
      })
      expect(nodeEvent(run.events, 'node_complete', 'gw1')).toMatchObject({result: 'verified'})
      expect(run.events.at(-1)).toMatchObject({
        type: 'apply_complete',
        result: 'partial',
        nodes: {gw1: 'verified', gw2: 'failed'},
      })
      // The failing reload stopped dnsmasq; nexus's rollback put the previous file back and started it again.
      expect(gateways.gw2.dnsmasqRestarts().slice(restarts)).toEqual([
        `stopped ${pidInGateway}`,
        `failed ${file}`,
        `started ${file}`,
      ])
      expect(readFileSync(file, 'utf8')).toBe(previous)
      const now = await pidsOf(world, 'gw2', 'dnsmasq')
      expect(now).toHaveLength(1)
      expect(now).not.toContain(running)
      // ... and the restarted daemon answers with the previous config: the wiki, but not docs (forwarded upstream).
      const gw2 = ADDR.gw2.tunnel
      expect(await dnsQuery(world, 'c3', gw2, WIKI_DOMAIN, 'A')).toEqual({ok: true, addresses: [ADDR.svc.lan]})
      expect(await dnsQuery(world, 'c3', gw2, docs, 'A')).toEqual({ok: true, addresses: ['10.231.1.99']})
      // gw1 converged.
      expect(await dnsQuery(world, 'c1', ADDR.gw1.tunnel, docs, 'A')).toEqual({ok: true, addresses: [ADDR.svc.lan]})
      // status: gw2's last apply failed, and it still runs what its last revision recorded.
      const status = JSON.parse((await nexus(['status', '--json'])).stdout) as {
        nodes: {
          node: string
          revision: {number: number} | null
          last_apply: {node_result: string} | null
          live: {state: string}
        }[]
      }
      expect(status.nodes.find((n) => n.node === 'gw2')).toMatchObject({
        last_apply: {node_result: 'failed'},
        live: {state: 'verified'},
      })
    } finally {
      gateways.gw2.failDnsmasqWhen(false)
    }
    // A rerun converges.
    const again = await apply()
    expect(again.exitCode, again.stderr).toBe(0)
    expect(again.events.at(-1)).toMatchObject({result: 'success', nodes: {gw1: 'unchanged', gw2: 'verified'}})
    expect(await dnsQuery(world, 'c3', ADDR.gw2.tunnel, docs, 'A')).toEqual({ok: true, addresses: [ADDR.svc.lan]})
    await expectConverged()
  })

  it('7. lockout protection: a ruleset that blocks new SSH connections (a new one times out while it is loaded) is rolled back by the watchdog; SSH works afterwards', async () => {
    const before = await nftTable(world, 'gw1')
    const loads = gateways.gw1.nftLoads().length
    // A rule change, and a reload that (for this ruleset only) also drops new SSH connections, as a bad firewall would.
    writeFile(
      repo,
      'rules/lockout-test.yaml',
      [
        'apiVersion: nexus/v1',
        'kind: Rule',
        'name: lockout-test',
        'action: deny',
        'protocol: tcp',
        'ports: 2222',
        'nodes: [gw1]',
        '',
      ].join('\n'),
    )
    writeFile(
      repo,
      'nodes/gw1.yaml',
      nodeYaml(gateways.gw1, userKey, {
        nftablesReload:
          'nft -f {file} && if grep -q lockout-test {file}; then nft insert rule inet nexus nx_input tcp dport 22 ct state new drop; fi',
      }),
    )
    await commit('lockout')

    const started = Date.now()
    let applying = true
    const lockoutApply = apply().finally(() => (applying = false))
    // The window: from the reload that inserted the SSH drop until the watchdog (armed for 5 s before
    // the reload) restores the saved ruleset. In it a NEW SSH connection gets nowhere. The probe is
    // reliable: it starts within a few hundred ms of the rule showing up, and lasts 1 s (one SYN: the
    // first retransmission would come only at 1 s), well inside the window; and the rule is read back
    // after the probe too, so the SYN provably met it (had the watchdog fired meanwhile, the test says so).
    const lockout = 'tcp dport 22 ct state new drop'
    const locked = async () => (await nftTable(world, 'gw1'))?.includes(lockout) === true
    const seen = await waitFor(
      'the lockout rule in force on gw1',
      async () => (!applying ? 'the apply ended first' : (await locked()) && 'in force'),
      60_000,
      50,
    )
    expect(seen).toBe('in force')
    const during = await sshGw1(1)
    expect(await locked(), 'the watchdog restored the ruleset while the SSH probe ran').toBe(true)
    expect(during.exitCode, during.stdout).toBe(255)
    expect(during.stderr).toMatch(/timed out/i)
    const run = await lockoutApply

    expect(run.exitCode, JSON.stringify(run.events)).toBe(1)
    expect(nodeEvent(run.events, 'node_errored', 'gw1')).toMatchObject({
      step: 'confirm',
      error: {code: expect.stringMatching(/^confirm_(expired|failed)$/)},
      rolled_back: true,
    })
    expect(run.events.at(-1)).toMatchObject({nodes: {gw1: 'failed', gw2: 'unchanged'}})
    // The watchdog (armed for 5 s) put the saved ruleset back: its load is in the gateway's nft log.
    const after = gateways.gw1.nftLoads().slice(loads)
    expect(
      after.some((file) => file.endsWith('/nft-before.nft')),
      after.join('\n'),
    ).toBe(true)
    expect(Date.now() - started).toBeGreaterThan(5_000)
    // The previous ruleset is loaded again, and a NEW SSH connection gets in.
    expect(await nftTable(world, 'gw1')).toBe(before)
    const ssh = await sshGw1(5)
    expect(ssh, ssh.stderr).toMatchObject({exitCode: 0, stdout: 'in'})

    // Take the change back. State recorded the declarations before the push (state first), so the
    // next apply has only state to write: the nodes run what the repo says again.
    rmSync(join(repo, 'rules', 'lockout-test.yaml'))
    writeFile(repo, 'nodes/gw1.yaml', nodeYaml(gateways.gw1, userKey))
    await commit('no lockout')
    const planned = await plan()
    expect(planned.nodes.flatMap((n) => [...n.artifacts, ...n.drift])).toEqual([])
    const back = await apply()
    expect(back.exitCode, back.stderr).toBe(0)
    expect(back.events.at(-1)).toMatchObject({result: 'success', nodes: {gw1: 'unchanged', gw2: 'unchanged'}})
    await expectConverged()
  })

  it(
    STATE_MODE === 'postgres'
      ? '8. concurrency (Postgres state): an apply started while another runs waits on the lease until the first is done (with --lock-timeout 0 it fails, lock_held); state ends consistent'
      : '8. concurrency (PGlite state, no NEXUS_TEST_DATABASE_URL): of two applies at once one does the work, the other waits for or fails on the state file lock (state_busy) and never reaches the lease; state ends consistent',
    async () => {
      const rule = readFileSync(join(repo, 'rules', 'limit-udp.yaml'), 'utf8')
      writeFile(repo, 'rules/limit-udp.yaml', rule.replace('pps: 5, burst: 5', 'pps: 6, burst: 6'))
      await commit('limit-udp: 6/s')
      const status = async () =>
        (
          JSON.parse((await nexus(['status', '--json'])).stdout) as {
            nodes: {node: string; revision: {number: number}}[]
          }
        ).nodes
      const revisions = Object.fromEntries((await status()).map((n) => [n.node, n.revision.number]))

      const worker = STATE_MODE === 'postgres' ? await applyDuringApply() : await twoAppliesAtOnce()

      expect(worker.at(-1)).toMatchObject({result: 'success', nodes: {gw1: 'verified', gw2: 'verified'}})
      for (const gw of GATEWAYS) await expectRulesetInForce(gw)
      // One revision per node, no lease left, nothing to do, every node verified.
      const now = await status()
      for (const node of GATEWAYS)
        expect(now.find((n) => n.node === node)?.revision.number).toBe((revisions[node] ?? 0) + 1)
      expect(JSON.parse((await nexus(['lock', 'status', '--json'])).stdout)).toMatchObject({held: false})
      await expectConverged()
      const live = JSON.parse((await nexus(['status', '--json'])).stdout) as {nodes: {live: {state: string}}[]}
      expect(live.nodes.map((n) => n.live.state)).toEqual(['verified', 'verified'])
    },
  )

  it('9. proxy: a client using the exported subscription fetches the wiki through the gateway VMess inbound', async () => {
    const wiki = `http://${WIKI_DOMAIN}/`
    const subscription = async (user: string) => {
      const run = await nexus(['sub', 'export', user, '--format', 'v2ray'])
      expect(run.exitCode, run.stderr).toBe(0)
      return vmessLinks(run.stdout)
    }
    // alice (staff): her link points at gw1's VMess inbound; through it the wiki's domain reaches the wiki.
    const [alice] = await subscription('alice')
    expect(alice).toMatchObject({add: ADDR.gw1.wan, port: String(VMESS_PORT), net: 'tcp', tls: ''})
    await startV2rayClient(world, 'c1', alice as NonNullable<typeof alice>, 18080)
    expect(await httpViaProxy(world, 'c1', 18080, wiki)).toMatchObject({
      ok: true,
      status: 200,
      body: expect.stringContaining('wiki'),
    })
    // dave (guests): same inbound, but xray's routing keeps him off the wiki; other addresses work.
    const [dave] = await subscription('dave')
    expect(dave?.id).not.toBe(alice?.id)
    await startV2rayClient(world, 'c2', dave as NonNullable<typeof dave>, 18081)
    expect(await httpViaProxy(world, 'c2', 18081, `http://${ADDR.svc.lan}:8081/`)).toMatchObject({
      ok: true,
      status: 200,
    })
    const wikiRequests = () => readFileSync(join(world.dir, 'svc', 'http.log'), 'utf8').match(/^80 /gm)?.length ?? 0
    const before = wikiRequests()
    const refused = await httpViaProxy(world, 'c2', 18081, wiki)
    expect(refused.status).not.toBe(200)
    expect(refused.body ?? '').not.toContain('wiki')
    expect(wikiRequests()).toBe(before)
  })

  it('10. usage: usage collect records for each user the traffic sent in the window (at least the payload fetched), and nothing for an idle one', async () => {
    const collect = async () => {
      const run = await nexus(['usage', 'collect', '--json'])
      expect(run.exitCode, run.stderr).toBe(0)
      return JSON.parse(run.stdout) as UsageCollectResult
    }
    // A baseline: what the next collection reports is the traffic after it.
    const baseline = await collect()
    expect(baseline.nodes.find((n) => n.node === 'gw1')).toMatchObject({
      status: 'collected',
      wireguard: {state: 'read'},
      xray: {state: 'read'},
    })
    expect(baseline.nodes.find((n) => n.node === 'gw2')).toMatchObject({
      status: 'collected',
      wireguard: {state: 'read'},
    })
    // Payloads of known size from the service: carol through her WireGuard tunnel (gw2), dave
    // through VMess (gw1's inbound, from c2's v2ray client). alice (c1: a tunnel to gw1, a VMess
    // client) sends nothing; keepalives (every 25 s) and a rekey are all her counters may see.
    const payload = {carol: 512 * 1024, dave: 256 * 1024}
    const url = (bytes: number) => `http://${ADDR.svc.lan}:8081/bytes/${bytes}`
    expect(await download(world, 'c3', url(payload.carol))).toMatchObject({ok: true, status: 200, bytes: payload.carol})
    expect(await downloadViaProxy(world, 'c2', 18081, url(payload.dave))).toMatchObject({
      ok: true,
      status: 200,
      bytes: payload.dave,
    })

    const result = await collect()

    const users = JSON.stringify(result.users)
    for (const [user, bytes] of Object.entries(payload)) {
      const entry = result.users.find((u) => u.user === user)
      // At least the payload (plus headers and tunnel overhead), and not some other traffic besides.
      expect(entry?.download, `${user} in ${users}`).toBeGreaterThanOrEqual(bytes)
      expect(entry?.download, `${user} in ${users}`).toBeLessThan(2 * bytes)
      // Requests and acknowledgements.
      expect(entry?.upload, `${user} in ${users}`).toBeGreaterThan(0)
      expect(entry?.upload, `${user} in ${users}`).toBeLessThan(bytes / 4)
    }
    const alice = result.users.find((u) => u.user === 'alice')
    expect((alice?.upload ?? 0) + (alice?.download ?? 0), users).toBeLessThan(4096)
    // bob's peer is gone (scenario 4) and he sent nothing since.
    expect(result.users.find((u) => u.user === 'bob')).toBeUndefined()
    // The report sums what was collected, on the node each user's traffic crossed.
    const report = JSON.parse((await nexus(['usage', '--json'])).stdout) as UsageReport
    for (const [user, bytes] of Object.entries(payload)) {
      expect(report.users.find((u) => u.user === user)?.download, user).toBeGreaterThanOrEqual(bytes)
    }
    expect(report.users.find((u) => u.user === 'alice')?.nodes.map((n) => n.node)).toEqual(['gw1'])
    expect(report.users.find((u) => u.user === 'carol')?.nodes.map((n) => n.node)).toEqual(['gw2'])
    expect(report.users.find((u) => u.user === 'dave')?.nodes.map((n) => n.node)).toEqual(['gw1'])
  })
})
