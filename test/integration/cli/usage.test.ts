/**
 * `nexus usage collect` and `nexus usage` through the built CLI, against the
 * quickstart's gw-1 reached over a test sshd and running the fake node
 * toolkit. This test's own bin dir comes first on the session PATH: a `wg`
 * that answers `wg show all dump` from the fake node's per-interface dumps,
 * and an `xray` that answers `api statsquery` from a file (both hand
 * everything else to the fake node's tools). The counters are written by the
 * test; the xray API port is a loopback listener of the test.
 */
import {chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {UsageCollectResult} from '../../../src/app/usage.js'
import type {UsageReport} from '../../../src/model/usage.js'
import {apply, cli, fleetRepo, readState} from '../../helpers/apply-fleet.js'
import {ANSI, STACK_FRAME} from '../../helpers/cli.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {shellQuote, tempDir} from '../../helpers/tools.js'

const GiB = 2 ** 30
const ALICE_LAPTOP = 'xLMoDCZ1GjJnYlHQo7Ta88s3ZUrhUULmZTkQta79VxM='
const ALICE_PHONE = 'oQQdOiWywtVH7KEI3mKXWgxYUQPUkN+osA6wyATxWwI='
const BOB_LAPTOP = 'BbnwOTjCPkFw/5LZJRVB0C7nXxyKhMeTLXyFFAvtkmc='
const STRANGER = 'k3Uq4mO7w7d1F7zSxmAN6WzOq2Q0cq8bP2v6y0x9jWA='

const tmp = tempDir('nexus-usage-cli-')
let fake: FakeNode
let sshd: TestSshd
let api: Server
let apiPort: number
let repo: string
let bin: string

/** This test's wrappers, first on PATH; the fake node's tools (linked) behind them. */
function installWrappers(dir: string, node: FakeNode): void {
  mkdirSync(dir, {recursive: true})
  for (const name of readdirSync(node.binDir)) {
    if (name !== 'wg' && name !== 'xray') symlinkSync(join(node.binDir, name), join(dir, name))
  }
  const state = shellQuote(node.stateDir)
  const write = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/bash\nset -u\nstate=${state}\n${body}`)
    chmodSync(join(dir, name), 0o755)
  }
  write(
    'wg',
    `if [ "$*" = 'show all dump' ]; then
  for f in "$state"/wg/*.dump; do
    [ -e "$f" ] || continue
    i=$(basename "$f" .dump)
    awk -v i="$i" '{ print i "\\t" $0 }' "$f"
  done
  exit 0
fi
exec ${shellQuote(join(node.binDir, 'wg'))} "$@"
`,
  )
  write(
    'xray',
    `if [ "\${1:-} \${2:-}" = 'api statsquery' ]; then
  [ "\${4:-} \${5:-}" = "-pattern user>>>" ] || { echo "unexpected: $*" >&2; exit 2; }
  if [ -f "$state/xray-stats.json" ]; then cat "$state/xray-stats.json"; exit 0; fi
  echo 'failed to dial: connection refused (test)' >&2; exit 1
fi
exec ${shellQuote(join(node.binDir, 'xray'))} "$@"
`,
  )
}

/** Rewrites the counters of the fake node's wg0 dump: `{publicKey: [rx, tx]}`; unknown keys are added as peers. */
function setWireguard(counters: Record<string, [number, number]>): void {
  const file = join(fake.stateDir, 'wg', 'wg0.dump')
  const [head = '', ...peers] = readFileSync(file, 'utf8').trim().split('\n')
  const seen = new Set<string>()
  const lines = peers.map((line) => {
    const fields = line.split('\t')
    const key = fields[0] ?? ''
    const value = counters[key]
    seen.add(key)
    if (!value) return line
    fields[5] = String(value[0])
    fields[6] = String(value[1])
    return fields.join('\t')
  })
  for (const [key, [rx, tx]] of Object.entries(counters)) {
    if (!seen.has(key)) lines.push([key, '(none)', '(none)', '10.66.0.250/32', '0', rx, tx, 'off'].join('\t'))
  }
  writeFileSync(file, `${[head, ...lines].join('\n')}\n`)
}

/** What `xray api statsquery` answers: `{email: [uplink, downlink]}`, zero values left out as xray does; null = API down. */
function setXray(users: Record<string, [number, number]> | null): void {
  const file = join(fake.stateDir, 'xray-stats.json')
  if (users === null) {
    rmSync(file, {force: true})
    return
  }
  const stat = Object.entries(users).flatMap(([email, [up, down]]) => [
    {name: `user>>>${email}>>>traffic>>>uplink`, ...(up === 0 ? {} : {value: up})},
    {name: `user>>>${email}>>>traffic>>>downlink`, ...(down === 0 ? {} : {value: down})},
  ])
  writeFileSync(file, JSON.stringify({stat}, null, 4))
}

async function collect(...args: string[]): Promise<{exitCode: number; result: UsageCollectResult; stderr: string}> {
  const run = await cli(repo, ['usage', 'collect', '--json', ...args])
  expect(run.stderr).not.toMatch(STACK_FRAME)
  return {exitCode: run.exitCode, result: JSON.parse(run.stdout) as UsageCollectResult, stderr: run.stderr}
}

async function report(...args: string[]): Promise<UsageReport> {
  const run = await cli(repo, ['usage', '--json', ...args])
  expect(run.exitCode).toBe(0)
  return JSON.parse(run.stdout) as UsageReport
}

const userTotals = (r: UsageReport) => Object.fromEntries(r.users.map((u) => [u.user, [u.upload, u.download]]))

beforeAll(async () => {
  fake = installFakeNode(join(tmp.path, 'node'), {xray: true})
  bin = join(tmp.path, 'usage-bin')
  installWrappers(bin, fake)
  sshd = await startSshd({binDir: bin})
  api = createServer((socket) => socket.destroy())
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve))
  const address = api.address()
  apiPort = typeof address === 'object' && address ? address.port : 0
  repo = fleetRepo(join(tmp.path, 'repo'), [{name: 'gw-1', sshd, fake}])
  const nodeFile = join(repo, 'nodes/gw-1.yaml')
  writeFileSync(nodeFile, readFileSync(nodeFile, 'utf8').replace('xray:\n', `xray:\n  apiPort: ${apiPort}\n`))
})

afterAll(async () => {
  await sshd?.stop()
  await new Promise<void>((resolve) => (api ? api.close(() => resolve()) : resolve()))
  tmp.cleanup()
})

describe('nexus usage collect', () => {
  it('applies the quickstart first (alice and bob on gw-1; carol has expired)', async () => {
    const run = await apply(repo)
    expect(run.outcome).toBe('success')
    expect(existsSync(join(fake.stateDir, 'wg', 'wg0.dump'))).toBe(true)
  })

  it('adds the counters of WireGuard peers and xray users, unknown keys as unattributed', async () => {
    setWireguard({[ALICE_LAPTOP]: [1000, 5000], [BOB_LAPTOP]: [2000, 3000], [STRANGER]: [10, 20]})
    setXray({'alice.phone@nexus': [100, 400], 'bob.default@nexus': [0, 0], 'nobody.default@nexus': [0, 7]})
    const serialBefore = (await readState(repo)).snapshot.serial

    const {exitCode, result} = await collect()
    expect(exitCode).toBe(0)
    expect(result.nodes).toEqual([
      {
        node: 'gw-1',
        status: 'collected',
        wireguard: {state: 'read', counters: 4},
        xray: {state: 'read', counters: 3},
        upload: 3110,
        download: 8427,
        resets: 0,
        notes: [],
      },
    ])
    expect(result.users).toEqual([
      {
        user: 'alice',
        upload: 1100,
        download: 5400,
        subscription: {
          status: 'active',
          reason: 'active',
          let_in: true,
          traffic_used: 6500,
          traffic_limit: null,
          period_end: expect.any(String),
        },
      },
      {
        user: 'bob',
        upload: 2000,
        download: 3000,
        subscription: expect.objectContaining({status: 'active', traffic_used: 5000, traffic_limit: 100 * GiB}),
      },
    ])
    expect(result.unattributed).toEqual([
      {node: 'gw-1', kind: 'wireguard', key: `wg0:${STRANGER}`, peer: null, upload: 10, download: 20},
      {node: 'gw-1', kind: 'xray', key: 'nobody.default@nexus', peer: null, upload: 0, download: 7},
    ])
    expect(result.totals).toEqual({upload: 3110, download: 8427})
    expect(result.state_serial).toBe(serialBefore + 1)

    const {snapshot} = await readState(repo)
    expect(snapshot.subscriptions.get('alice')).toMatchObject({trafficUsed: 6500, status: 'active'})
    expect(snapshot.subscriptions.get('bob')?.trafficUsed).toBe(5000)
    expect(snapshot.subscriptions.get('bob')?.firstUsedAt).toBeDefined()
  })

  it('adds nothing when collecting again without traffic, and leaves the state serial alone', async () => {
    const serialBefore = (await readState(repo)).snapshot.serial
    const before = await report()
    const {exitCode, result} = await collect()
    expect(exitCode).toBe(0)
    expect(result.users).toEqual([])
    expect(result.unattributed).toEqual([])
    expect(result.totals).toEqual({upload: 0, download: 0})
    expect(result.state_serial).toBeNull()
    expect((await readState(repo)).snapshot.serial).toBe(serialBefore)
    expect(await report()).toEqual(before)

    const human = await cli(repo, ['usage', 'collect'])
    expect(human.exitCode).toBe(0)
    expect(human.stdout).toContain('Nothing new since the last collection; the state is unchanged.')
    expect(human.stdout).not.toMatch(ANSI)
  })

  it('adds only what grew since the last reading', async () => {
    setWireguard({[ALICE_LAPTOP]: [1500, 9000]})
    const {result} = await collect()
    expect(result.users.map((u) => [u.user, u.upload, u.download])).toEqual([['alice', 500, 4000]])
    expect(userTotals(await report())).toEqual({alice: [1600, 9400], bob: [2000, 3000]})
  })

  it('counts a counter that went down (restart, re-added peer) from its new value', async () => {
    setWireguard({[BOB_LAPTOP]: [50, 60]})
    setXray({'alice.phone@nexus': [30, 40]})
    const {result} = await collect()
    expect(result.nodes[0]).toMatchObject({resets: 2, upload: 80, download: 100})
    expect(result.users.map((u) => [u.user, u.upload, u.download])).toEqual([
      ['alice', 30, 40],
      ['bob', 50, 60],
    ])
    const totals = await report()
    expect(userTotals(totals)).toEqual({alice: [1630, 9440], bob: [2050, 3060]})
    expect(totals.unattributed).toMatchObject({upload: 10, download: 27})
    expect((await readState(repo)).snapshot.subscriptions.get('bob')?.trafficUsed).toBe(5110)

    const again = await collect()
    expect(again.result.state_serial).toBeNull()
  })

  it('reports per user and node, human and JSON', async () => {
    const alice = await report('--user', 'alice')
    expect(alice.users).toHaveLength(1)
    expect(alice.users[0]).toMatchObject({user: 'alice', nodes: [{node: 'gw-1', upload: 1630, download: 9440}]})
    expect(alice.users[0]?.daily).toHaveLength(1)
    expect(alice.unattributed).toBeNull()

    const human = await cli(repo, ['usage'])
    expect(human.exitCode).toBe(0)
    expect(human.stdout).not.toMatch(ANSI)
    expect(human.stdout).toMatch(/^USER\s+UPLOAD\s+DOWNLOAD\s+TOTAL\s+PER DAY$/m)
    expect(human.stdout).toMatch(/^alice\s+1\.6 KiB\s+9\.2 KiB\s+10\.8 KiB\s+·+█$/m)
    expect(human.stdout).toMatch(/^ {2}gw-1\s+2\.0 KiB\s+3\.0 KiB\s+5\.0 KiB$/m)
    expect(human.stdout).toMatch(/^\(unattributed\)\s+10 B\s+27 B\s+37 B$/m)
  })

  it('skips xray when its API does not answer, and still reads WireGuard', async () => {
    setXray(null)
    setWireguard({[ALICE_LAPTOP]: [1600, 9000]})
    const {exitCode, result} = await collect()
    expect(exitCode).toBe(0)
    expect(result.nodes[0]).toMatchObject({
      status: 'collected',
      wireguard: {state: 'read', counters: 4},
      xray: {state: 'unavailable', reason: expect.stringContaining('failed to dial')},
    })
    expect(result.users.map((u) => [u.user, u.upload, u.download])).toEqual([['alice', 100, 0]])

    const human = await cli(repo, ['usage', 'collect'])
    expect(human.stdout).toMatch(/^gw-1\s+collected\s+4 peers\s+unavailable\s/m)
    expect(human.stdout).toContain('! gw-1 xray: `xray api statsquery` failed (exit 1): failed to dial')
  })

  it('reports an unreachable node, skips it and exits 1', async () => {
    const nodeFile = join(repo, 'nodes/gw-1.yaml')
    const yaml = readFileSync(nodeFile, 'utf8')
    writeFileSync(nodeFile, yaml.replace(`port: ${sshd.port}`, `port: ${await closedPort()}`))
    try {
      const serialBefore = (await readState(repo)).snapshot.serial
      const {exitCode, result} = await collect()
      expect(exitCode).toBe(1)
      expect(result.nodes).toEqual([
        {
          node: 'gw-1',
          status: 'unreachable',
          error: {code: 'node_unreachable', message: expect.any(String)},
          wireguard: null,
          xray: null,
          upload: 0,
          download: 0,
          resets: 0,
          notes: [],
        },
      ])
      expect(result.state_serial).toBeNull()
      expect((await readState(repo)).snapshot.serial).toBe(serialBefore)

      const human = await cli(repo, ['usage', 'collect'])
      expect(human.exitCode).toBe(1)
      expect(human.stdout).toMatch(/^gw-1\s+unreachable\s/m)
      expect(human.stdout).toContain('! gw-1: node_unreachable: ')
      expect(human.stdout).toContain('1 node could not be read')
    } finally {
      writeFileSync(nodeFile, yaml)
    }
  })

  it('refuses a node that is not declared', async () => {
    const run = await cli(repo, ['usage', 'collect', '--node', 'gw-9'])
    expect(run.exitCode).toBe(1)
    expect(run.stderr).toContain('no node is declared as gw-9')
    expect(run.stderr).not.toMatch(STACK_FRAME)
  })
})

describe('limits flow into the next plan', () => {
  it('expires a user whose traffic limit is used up, and the plan removes their peer from wg0', async () => {
    // bob is on basic: 100 GiB a month.
    setWireguard({[BOB_LAPTOP]: [60 * GiB, 50 * GiB]})
    const {exitCode, result} = await collect()
    expect(exitCode).toBe(0)
    expect(result.users.find((u) => u.user === 'bob')?.subscription).toMatchObject({
      status: 'expired',
      reason: 'traffic_exhausted',
      let_in: false,
      traffic_limit: 100 * GiB,
    })

    const planned = await cli(repo, ['plan', '--json', '--diff'])
    expect(planned.exitCode).toBe(0)
    const plan = JSON.parse(planned.stdout) as {
      changes: {address: string; action: string; reason: string; after?: {status: string; reason: string}}[]
      nodes: {node: string; artifacts: {address: string; reason: string; diff?: string}[]}[]
    }
    expect(plan.changes.find((c) => c.address === 'subscription.bob')).toMatchObject({
      action: 'update',
      reason: 'expired',
      after: {status: 'expired', reason: 'traffic_exhausted'},
    })
    const wg0 = plan.nodes[0]?.artifacts.find((a) => a.address === 'node.gw-1/wireguard/wg0')
    expect(wg0?.reason).toBe('peers_changed')
    expect(wg0?.diff).toContain(`-PublicKey = ${BOB_LAPTOP}`)
    expect(wg0?.diff).not.toContain(`-PublicKey = ${ALICE_LAPTOP}`)
    expect(wg0?.diff).not.toContain(`-PublicKey = ${ALICE_PHONE}`)

    const text = await cli(repo, ['plan'])
    expect(text.stdout).toMatch(/subscription\.bob.*expired: traffic exhausted/)
  })
})

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
