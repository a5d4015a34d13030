/**
 * An apply that dies or is interrupted part way, through the CLI in a child
 * process: SIGKILL while a node's new files are checked (before the swap),
 * SIGKILL while they are activated (after the swap; the reload it started is
 * cut off as well), and SIGINT while activating (the node in flight is
 * finished), also in a terminal where Ctrl-C reaches the listr2 progress
 * view. The next apply must converge: the node verified on the new
 * files, a revision recorded, nothing staged left behind, a plan without
 * changes afterwards.
 */
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {currentLease, releaseLease} from '../../../src/state/lease.js'
import {openState, stateLocation} from '../../../src/state/open.js'
import {shellQuote} from '../../../src/transport/shell.js'
import {apply, cli, fleetRepo, jsonError, ndjson, plan, readState, treeOf} from '../../helpers/apply-fleet.js'
import {BIN} from '../../helpers/cli.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-apply-crash-')
let sshd: TestSshd
let fake: FakeNode
let repo: string

const DNS = 'etc/dnsmasq.d/nexus.conf'
const NFT = 'etc/nexus/nexus.nft'

async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** `nexus apply --yes --json` in a child process, to be killed. */
function startApply() {
  return execa('node', [BIN, 'apply', '--yes', '--json', '--repo', repo], {
    cwd: repo,
    env: {...process.env, NEXUS_DATABASE_URL: undefined},
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
  })
}

/** SIGKILLs the apply once `step` runs slow on the node; cuts off what it left running there. */
async function killDuring(step: string): Promise<Record<string, unknown>[]> {
  const child = startApply()
  try {
    await until(`${step} to start on the node`, () => fake.running(step))
  } finally {
    child.kill('SIGKILL')
  }
  const killed = await child
  expect(killed.signal).toBe('SIGKILL')
  // The node-side command of the dead apply would run on (bounded by its timeout): end it, as if
  // the node had been cut off with its client.
  expect(fake.killProcesses().length).toBeGreaterThan(0)
  fake.slow(step, false)
  return ndjson(String(killed.stdout))
}

/** The dead apply's lease stays until it expires: a rerun is told who holds it, then it is released. */
async function releaseDeadLease(): Promise<void> {
  const blocked = await cli(repo, ['apply', '--yes', '--json', '--lock-timeout', '0'])
  expect(blocked.exitCode).toBe(1)
  const error = jsonError(blocked.stdout)
  expect(error.code).toBe('lock_held')
  // What `nexus lock release ID` does (the hint names the id), for a holder known to be dead.
  const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
  if (!store) throw new Error('no state')
  try {
    const lease = await currentLease(store)
    expect(error.hint).toContain(lease?.id)
    expect(await releaseLease(store, lease?.id as string)).toBe(true)
  } finally {
    await store.close()
  }
}

const staged = () => Object.keys(treeOf(fake.root)).filter((p) => p.includes('.nexus-new'))

beforeAll(async () => {
  fake = installFakeNode(join(tmp.path, 'node'))
  sshd = await startSshd({binDir: fake.binDir})
  repo = fleetRepo(join(tmp.path, 'repo'), [{name: 'gw-1', sshd, fake}])
  expect((await apply(repo)).nodes).toEqual({'gw-1': 'verified'})
})

afterAll(async () => {
  for (const step of ['nft-check', 'dnsmasq-restart']) fake?.slow(step, false)
  await sshd?.stop()
  const left = fake?.killProcesses() ?? []
  tmp.cleanup()
  expect(left).toEqual([])
})

describe('apply: a crash or an interrupt mid-apply', () => {
  it('SIGKILL while checking (before the swap): the old files stay; the rerun converges and cleans up', async () => {
    const rule = readFileSync(join(repo, 'rules/no-smtp.yaml'), 'utf8')
    writeFileSync(
      join(repo, 'rules/no-smtp.yaml'),
      rule.replace('ports: [25, 465, 587]', 'ports: [25, 465, 587, 2525]'),
    )
    const oldNft = readFileSync(join(fake.root, NFT), 'utf8')
    const logBefore = fake.log().length
    fake.slow('nft-check', 60)

    const events = await killDuring('nft-check')

    expect(events.at(-1)).toMatchObject({type: 'node_progress', node: 'gw-1', step: 'check', status: 'started'})
    // Uploaded to staging only (a deny rule is in nftables and in xray's routing): the deployed
    // files and the loaded ruleset are the old ones.
    expect(staged().sort()).toEqual([`${NFT}.nexus-new`, 'etc/xray/config.json.nexus-new'])
    expect(readFileSync(join(fake.root, NFT), 'utf8')).toBe(oldNft)
    expect(fake.loadedRuleset()).toBe(oldNft)
    expect(fake.log()).toHaveLength(logBefore)
    await releaseDeadLease()

    const rerun = await cli(repo, ['apply', '--yes', '--json'])

    expect(rerun.exitCode).toBe(0)
    expect(ndjson(rerun.stdout).at(-1)).toMatchObject({
      type: 'apply_complete',
      result: 'success',
      nodes: {'gw-1': 'verified'},
    })
    expect(fake.log().slice(logBefore)).toEqual(['nft-load', 'xray-restart'])
    expect(fake.loadedRuleset()).toContain('2525')
    expect(staged()).toEqual([])
    expect((await readState(repo)).revisions[0]).toMatchObject({revision: 2, result: 'verified'})
    expect((await plan(repo)).result?.plan.has_changes).toBe(false)
  })

  it('SIGKILL while activating (after the swap): the new file is in place, the previous one kept beside it', async () => {
    const node = join(repo, 'nodes/gw-1.yaml')
    writeFileSync(node, readFileSync(node, 'utf8').replace('upstreams: [1.1.1.1,', 'upstreams: [9.9.9.9, 1.1.1.1,'))
    expect((await plan(repo)).result?.plan.nodes[0]?.artifacts.map((a) => a.address)).toEqual(['node.gw-1/dns'])
    const oldDns = readFileSync(join(fake.root, DNS), 'utf8')
    const logBefore = fake.log().length
    fake.slow('dnsmasq-restart', 60)

    const events = await killDuring('dnsmasq-restart')

    expect(events.at(-1)).toMatchObject({type: 'node_progress', node: 'gw-1', step: 'activate', status: 'started'})
    expect(readFileSync(join(fake.root, DNS), 'utf8')).toContain('server=9.9.9.9')
    expect(readFileSync(join(fake.root, `${DNS}.nexus-prev`), 'utf8')).toBe(oldDns)
    expect(staged()).toEqual([])
    // The restart was cut off: dnsmasq never ran the new file, and no revision was recorded.
    expect(fake.log()).toHaveLength(logBefore)
    expect((await readState(repo)).revisions[0]?.revision).toBe(2)
    await releaseDeadLease()
  })

  // The plan sees the new file in place but never activated (reason not_activated), and the rerun
  // activates and records it.
  it('... and the rerun converges: activates the file, records revision 3, leaves no drift', async () => {
    const logBefore = fake.log().length

    const rerun = await cli(repo, ['apply', '--yes', '--json'])

    expect(rerun.exitCode).toBe(0)
    const after = ndjson(rerun.stdout)
    expect(after[0]).toEqual({type: 'version', format_version: '1'})
    expect(after.at(-1)).toMatchObject({type: 'apply_complete', result: 'success', nodes: {'gw-1': 'verified'}})
    expect(fake.log().slice(logBefore)).toEqual(['dnsmasq-restart'])
    expect(staged()).toEqual([])
    expect((await readState(repo)).revisions[0]).toMatchObject({node: 'gw-1', revision: 3, result: 'verified'})
    const replanned = (await plan(repo)).result?.plan
    expect(replanned?.has_changes).toBe(false)
    expect(replanned?.nodes[0]?.drift).toEqual([])
  })

  it('SIGINT while activating: the node in flight is finished and verified; outcome interrupted, exit 130', async () => {
    const wiki = readFileSync(join(repo, 'services/wiki.yaml'), 'utf8')
    writeFileSync(
      join(repo, 'services/wiki.yaml'),
      wiki.replace('[wiki.corp.example]', '[wiki.corp.example, docs.corp.example]'),
    )
    const logBefore = fake.log().length
    fake.slow('xray-restart', 60)
    const child = startApply()
    try {
      await until('the xray restart to start on the node', () => fake.running('xray-restart'))
      child.kill('SIGINT')
      await new Promise((resolve) => setTimeout(resolve, 300))
    } finally {
      fake.slow('xray-restart', false)
    }
    const run = await child

    expect(run.exitCode).toBe(130)
    const events = ndjson(String(run.stdout))
    expect(events.find((e) => e.type === 'node_complete')).toMatchObject({node: 'gw-1', result: 'verified'})
    expect(events.at(-1)).toMatchObject({type: 'apply_complete', result: 'interrupted', nodes: {'gw-1': 'verified'}})
    expect(fake.log().slice(logBefore)).toEqual(['xray-restart', 'dnsmasq-restart'])
    expect(readFileSync(join(fake.root, DNS), 'utf8')).toContain('docs.corp.example')
    expect(staged()).toEqual([])
    expect((await plan(repo)).result?.plan.has_changes).toBe(false)
  })

  // In a terminal the progress is listr2's, whose own SIGINT handler would exit 127 at once.
  it('Ctrl-C in a terminal (listr2 progress): the node in flight is finished and recorded; exit 130', async () => {
    const node = join(repo, 'nodes/gw-1.yaml')
    writeFileSync(node, readFileSync(node, 'utf8').replace('upstreams: [', 'upstreams: [8.8.4.4, '))
    const logBefore = fake.log().length
    const revisionBefore = (await readState(repo)).revisions[0]?.revision ?? 0
    fake.slow('dnsmasq-restart', 60)
    // `script` runs the CLI on a pseudo-terminal: stdin, stdout and stderr are a TTY, and a ^C
    // written to it is turned into SIGINT by the terminal, as a keyboard's would be.
    const child = execa(
      'script',
      ['-qfec', `exec node ${shellQuote(BIN)} apply --yes --repo ${shellQuote(repo)}`, '/dev/null'],
      {
        cwd: repo,
        env: {...process.env, NEXUS_DATABASE_URL: undefined, TERM: 'xterm', NO_COLOR: '1'},
        extendEnv: false,
        reject: false,
        stdin: 'pipe',
      },
    )
    try {
      await until('the dnsmasq restart to start on the node', () => fake.running('dnsmasq-restart'))
      child.stdin?.write('\x03')
      await new Promise((resolve) => setTimeout(resolve, 300))
    } finally {
      fake.slow('dnsmasq-restart', false)
    }
    const run = await child
    child.stdin?.end()
    const output = String(run.stdout)

    expect(run.exitCode).toBe(130)
    expect(output).toContain('interrupt: finishing the nodes in flight')
    expect(output).toMatch(/Apply interrupted\. 1 verified\./)
    // The node in flight finished its restart, was read back and recorded; the lease was released.
    expect(fake.log().slice(logBefore)).toEqual(['dnsmasq-restart'])
    expect(readFileSync(join(fake.root, DNS), 'utf8')).toContain('server=8.8.4.4')
    expect((await readState(repo)).revisions[0]).toMatchObject({
      node: 'gw-1',
      revision: revisionBefore + 1,
      result: 'verified',
    })
    const store = await openState(stateLocation(repo, {}), {mode: 'read', env: {}})
    try {
      expect(store ? await currentLease(store) : undefined).toBeUndefined()
    } finally {
      await store?.close()
    }
    expect(staged()).toEqual([])
    expect((await plan(repo)).result?.plan.has_changes).toBe(false)
  })
})
