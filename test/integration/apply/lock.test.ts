/**
 * The apply lock is a lease in the state. A lease another apply holds makes
 * a second apply wait up to --lock-timeout and then fail with `lock_held`,
 * naming the holder, with nothing written or pushed; an expired lease (a
 * killed CI job) is taken over.
 *
 * The embedded PGlite state serves one process at a time, so the competing
 * lease is taken here and left in the state (as a holder that died or runs
 * elsewhere would), and the second apply runs through the CLI in a child
 * process. With NEXUS_TEST_DATABASE_URL set, a Postgres variant holds the
 * lease live (renewed) while the CLI apply waits.
 */
import {randomBytes} from 'node:crypto'
import {hostname} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {acquireLease, currentLease} from '../../../src/state/lease.js'
import {openState, stateLocation} from '../../../src/state/open.js'
import {addPeer, apply, cli, fleetRepo, jsonError, ndjson, plan, readState, treeOf} from '../../helpers/apply-fleet.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {dropSchema, postgresUrl} from '../../helpers/state.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-apply-lock-')
let sshd: TestSshd
let fake: FakeNode
let repo: string

const OTHER = {NEXUS_ACTOR: 'carol-ci', GITHUB_RUN_ID: '4242', GITHUB_REPOSITORY: 'acme/vpn'}

/** Takes the lease as another apply would, and leaves it in the state with `ttlMs` to run. */
async function leaveLease(ttlMs: number): Promise<string> {
  const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
  if (!store) throw new Error('no state')
  const lease = await acquireLease(store, {ttlMs, waitMs: 0, env: OTHER})
  await store.close()
  // Stops its renewal timer; deleting the row fails on the closed store, so the lease stays.
  await lease.release().catch(() => {})
  return lease.id
}

async function world() {
  const state = await readState(repo)
  return {files: treeOf(fake.root), log: fake.log(), serial: state.snapshot.serial, revisions: state.revisions.length}
}

async function leaseNow() {
  const store = await openState(stateLocation(repo, {}), {mode: 'read', env: {}})
  try {
    return store ? await currentLease(store) : undefined
  } finally {
    await store?.close()
  }
}

beforeAll(async () => {
  fake = installFakeNode(join(tmp.path, 'node'))
  sshd = await startSshd({binDir: fake.binDir})
  repo = fleetRepo(join(tmp.path, 'repo'), [{name: 'gw-1', sshd, fake}])
  expect((await apply(repo)).nodes).toEqual({'gw-1': 'verified'})
})

afterAll(async () => {
  await sshd?.stop()
  const left = fake?.killProcesses() ?? []
  tmp.cleanup()
  expect(left).toEqual([])
})

describe('apply: the lease', () => {
  it('a lease held by another apply: the second waits --lock-timeout, then fails with lock_held; nothing changes', async () => {
    const id = await leaveLease(10 * 60_000)
    addPeer(repo, 'alice-tablet', 'alice', 'p9miLJg5zPJQDrZ0ovlJE4tG4zUvPoDodgXmT2WnDg0=')
    const before = await world()

    const started = Date.now()
    const run = await cli(repo, ['apply', '--yes', '--lock-timeout', '2', '--json'])
    const waited = Date.now() - started

    expect(run.exitCode).toBe(1)
    const error = jsonError(run.stdout)
    expect(error.code).toBe('lock_held')
    expect(error.message).toContain(`another apply holds the lock: carol-ci on ${hostname()} (github:acme/vpn/4242)`)
    expect(error.hint).toContain(id)
    expect(waited).toBeGreaterThanOrEqual(2_000)
    expect(await world()).toEqual(before)
    // Without --json: the same, said to a person on stderr.
    const human = await cli(repo, ['apply', '--yes', '--lock-timeout', '0'])
    expect(human.exitCode).toBe(1)
    expect(human.stderr).toMatch(/^Error: another apply holds the lock: carol-ci/m)
    expect(await world()).toEqual(before)
    expect((await leaseNow())?.id).toBe(id)
  })

  it('an expired lease is taken over: the waiting apply goes on once it runs out', async () => {
    // The lease left by the previous test is still valid for minutes; replace it with one about to expire.
    const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
    await store?.driver.query('delete from apply_lock')
    await store?.close()
    const id = await leaveLease(2_500)
    const expiresAt = (await leaseNow())?.expiresAt.getTime() ?? 0
    expect(expiresAt).toBeGreaterThan(Date.now())

    const run = await cli(repo, ['apply', '--yes', '--lock-timeout', '30', '--json'])

    expect(run.stderr).toBe('')
    expect(run.exitCode).toBe(0)
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt)
    const events = ndjson(run.stdout)
    expect(events.at(-1)).toMatchObject({type: 'apply_complete', result: 'success', nodes: {'gw-1': 'verified'}})
    expect(fake.log().slice(-2)).toEqual(['sync wg0', 'nft-load'])
    // Released when done: neither the dead holder's lease nor the new one is left.
    const after = await leaseNow()
    expect(after?.id === id ? 'the old lease' : after).toBeUndefined()
    expect((await plan(repo)).result?.plan.has_changes).toBe(false)
  })

  it('an expired lease with --lock-timeout 0: taken over at once', async () => {
    await leaveLease(1)
    await new Promise((resolve) => setTimeout(resolve, 20))
    addPeer(repo, 'bob-tablet', 'bob', 'IXxiXrv+f0FJqobHeYtOQ5PtqzqE9yThZOik5JT2gjQ=')
    const run = await apply(repo, {lockTimeoutMs: 0})
    expect(run.nodes).toEqual({'gw-1': 'verified'})
    expect(await leaseNow()).toBeUndefined()
  })

  it.skipIf(!postgresUrl())(
    'Postgres: a live lease (renewed meanwhile) outlasts its TTL and blocks the CLI apply',
    async () => {
      const url = postgresUrl() as string
      const schema = `nexus_test_${randomBytes(6).toString('hex')}`
      const env = {NEXUS_SECRET_KEY: randomBytes(32).toString('base64'), NEXUS_DATABASE_SCHEMA: schema}
      const location = stateLocation(repo, {databaseUrl: url, schema})
      const store = await openState(location, {mode: 'write', env})
      if (!store) throw new Error('no state')
      try {
        // A TTL shorter than the wait: only renewal keeps it.
        const lease = await acquireLease(store, {ttlMs: 900, waitMs: 0, env: OTHER})
        try {
          const before = {files: treeOf(fake.root), log: fake.log()}
          const run = await cli(repo, ['apply', '--yes', '--lock-timeout', '3', '--json', '--database-url', url], env)
          expect(run.exitCode).toBe(1)
          expect(jsonError(run.stdout).code).toBe('lock_held')
          expect({files: treeOf(fake.root), log: fake.log()}).toEqual(before)
          expect((await currentLease(store))?.id).toBe(lease.id)
        } finally {
          await lease.release()
        }
        expect(await currentLease(store)).toBeUndefined()
      } finally {
        await store.close()
        await dropSchema(url, schema)
      }
    },
  )
})
