/**
 * An apply whose lease stops being its own part way (`nexus lock release`
 * run against it, or another holder taking it over): it starts no further
 * node, lets the node in flight finish (or roll back) and records it, and
 * ends with `lease_lost`, exit 1. Two nodes, each with an sshd and a fake node
 * of its own, pushed one at a time (--parallel 1): gw-1 is held in its
 * dnsmasq restart while the lease is released.
 *
 * PGlite serves one process at a time, so there the apply runs in this
 * process on a store the test holds open, and the test releases the lease
 * through the same store. With NEXUS_TEST_DATABASE_URL set, the CLI apply
 * runs in a child process and the lease is released from here, as another
 * operator would.
 */
import {randomBytes} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {currentLease, releaseLease} from '../../../src/state/lease.js'
import {openState, stateLocation} from '../../../src/state/open.js'
import {apply, applyOn, cli, fleetRepo, ndjson, placePeers, plan, readState, treeOf} from '../../helpers/apply-fleet.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {dropSchema, postgresUrl} from '../../helpers/state.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-apply-lease-lost-')
const fakes: FakeNode[] = []
const servers: TestSshd[] = []
let repo: string

const DNS = 'etc/dnsmasq.d/nexus.conf'

async function until(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A change for both nodes: another upstream for every node's dnsmasq. */
function addUpstream(server: string): void {
  const file = join(repo, 'nodes/gw-1.yaml')
  writeFileSync(file, readFileSync(file, 'utf8').replaceAll('upstreams: [', `upstreams: [${server}, `))
}

beforeAll(async () => {
  for (const name of ['gw-1', 'gw-2']) {
    const fake = installFakeNode(join(tmp.path, name))
    fakes.push(fake)
    servers.push(await startSshd({binDir: fake.binDir}))
  }
  const [gw1, gw2] = fakes as [FakeNode, FakeNode]
  repo = fleetRepo(join(tmp.path, 'repo'), [
    {name: 'gw-1', sshd: servers[0] as TestSshd, fake: gw1},
    {name: 'gw-2', sshd: servers[1] as TestSshd, fake: gw2},
  ])
  placePeers(repo, {'alice-laptop': 'gw-1', 'alice-phone': 'gw-1', 'bob-laptop': 'gw-2', 'carol-phone': 'gw-2'})
  expect((await apply(repo)).nodes).toEqual({'gw-1': 'verified', 'gw-2': 'verified'})
})

afterAll(async () => {
  for (const fake of fakes) fake.slow('dnsmasq-restart', false)
  for (const server of servers) await server.stop()
  const left = fakes.flatMap((fake) => fake.killProcesses())
  tmp.cleanup()
  expect(left).toEqual([])
})

describe('apply: the lease lost part way', () => {
  it('PGlite: released while gw-1 restarts dnsmasq; gw-1 finishes and is recorded, gw-2 is not started', async () => {
    const [gw1, gw2] = fakes as [FakeNode, FakeNode]
    addUpstream('9.9.9.9')
    const gw2Before = {files: treeOf(gw2.root), log: gw2.log()}
    const revisionsBefore = (await readState(repo)).revisions.length
    const logBefore = gw1.log().length
    gw1.slow('dnsmasq-restart', 60)
    const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
    if (!store) throw new Error('no state')
    let released = false
    try {
      const running = applyOn(store, repo, {parallel: 1})
      try {
        await until('the dnsmasq restart on gw-1', () => gw1.running('dnsmasq-restart'))
        const lease = await currentLease(store)
        // What `nexus lock release ID` does.
        released = await releaseLease(store, lease?.id as string)
      } finally {
        gw1.slow('dnsmasq-restart', false)
      }
      const run = await running

      expect(released).toBe(true)
      expect(run.outcome).toBe('lease_lost')
      expect(run.nodes).toEqual({'gw-1': 'verified', 'gw-2': 'skipped'})
      expect(run.error).toEqual({
        code: 'lease_lost',
        message:
          'the apply lease was released (nexus lock release) while this apply held it; no node was started after that',
      })
      expect(run.events.filter((e) => e.type === 'node_complete')).toEqual([
        expect.objectContaining({node: 'gw-1', result: 'verified'}),
        expect.objectContaining({node: 'gw-2', result: 'skipped', notes: ['not started: the apply lease was lost']}),
      ])
      expect(run.events.at(-1)).toMatchObject({
        type: 'apply_complete',
        result: 'lease_lost',
        nodes: {'gw-1': 'verified', 'gw-2': 'skipped'},
        error: {code: 'lease_lost'},
      })
      // gw-1, in flight, finished its restart on the new file; gw-2 was not touched.
      expect(gw1.log().slice(logBefore)).toEqual(['dnsmasq-restart'])
      expect(readFileSync(join(gw1.root, DNS), 'utf8')).toContain('server=9.9.9.9')
      expect({files: treeOf(gw2.root), log: gw2.log()}).toEqual(gw2Before)
      // Nobody holds the lease (the apply did not put it back), and only gw-1 got a revision.
      expect(await currentLease(store)).toBeUndefined()
    } finally {
      await store.close()
    }
    const state = await readState(repo)
    expect(state.revisions.length).toBe(revisionsBefore + 1)
    expect(state.revisions[0]).toMatchObject({node: 'gw-1', result: 'verified'})

    // The rerun converges: gw-1 has nothing left to do, gw-2 gets its change.
    const rerun = await apply(repo)
    expect(rerun.nodes).toEqual({'gw-1': 'unchanged', 'gw-2': 'verified'})
    expect(readFileSync(join(gw2.root, DNS), 'utf8')).toContain('server=9.9.9.9')
    expect((await plan(repo)).result?.plan.has_changes).toBe(false)
  })

  it.skipIf(!postgresUrl())(
    'Postgres, through the CLI: released by another process mid-apply; lease_lost, exit 1, gw-2 not started',
    async () => {
      const [gw1, gw2] = fakes as [FakeNode, FakeNode]
      const url = postgresUrl() as string
      const schema = `nexus_test_${randomBytes(6).toString('hex')}`
      const env = {NEXUS_SECRET_KEY: randomBytes(32).toString('base64'), NEXUS_DATABASE_SCHEMA: schema}
      const store = await openState(stateLocation(repo, {databaseUrl: url, schema}), {mode: 'write', env})
      if (!store) throw new Error('no state')
      try {
        // A state of its own: both nodes get new files (new keys), gw-1 first.
        const gw2Before = {files: treeOf(gw2.root), log: gw2.log()}
        gw1.slow('dnsmasq-restart', 60)
        const running = cli(repo, ['apply', '--yes', '--json', '--parallel', '1', '--database-url', url], env)
        try {
          await until('the dnsmasq restart on gw-1', () => gw1.running('dnsmasq-restart'), 60_000)
          const lease = await currentLease(store)
          expect(await releaseLease(store, lease?.id as string)).toBe(true)
        } finally {
          gw1.slow('dnsmasq-restart', false)
        }
        const run = await running

        expect(run.exitCode).toBe(1)
        const events = ndjson(run.stdout)
        expect(events.at(-1)).toMatchObject({
          type: 'apply_complete',
          result: 'lease_lost',
          nodes: {'gw-1': 'verified', 'gw-2': 'skipped'},
          error: {code: 'lease_lost'},
        })
        expect(String((events.at(-1)?.error as {message: string}).message)).toContain('nexus lock release')
        expect({files: treeOf(gw2.root), log: gw2.log()}).toEqual(gw2Before)
        expect((await store.revisions()).map((r) => [r.node, r.result])).toEqual([['gw-1', 'verified']])
        expect(await currentLease(store)).toBeUndefined()
      } finally {
        await store.close()
        await dropSchema(url, schema)
      }
    },
  )
})
