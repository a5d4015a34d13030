import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import type {LockReleaseResult, LockStatusResult} from '../../../src/app/lock.js'
import {createStyle} from '../../../src/cli/style.js'
import {acquireLease} from '../../../src/state/lease.js'
import {openState, stateLocation} from '../../../src/state/open.js'
import {formatLockReleaseHuman, formatLockStatusHuman} from '../../../src/views/lock-view.js'
import {exampleCopy, nexus, STACK_FRAME} from '../../helpers/cli.js'
import {expectGolden} from '../../helpers/golden.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-lock-cli-')
afterAll(() => tmp.cleanup())

const CI = {NEXUS_ACTOR: 'ci-bot', GITHUB_RUN_ID: '4242', GITHUB_REPOSITORY: 'acme/vpn'}

/** Takes the lease as a CI apply would, then lets go of the store (the embedded state admits one process). */
async function holdLease(repo: string, options: {expiredAgoMs?: number} = {}): Promise<string> {
  const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
  if (!store) throw new Error('no state')
  try {
    const shift = options.expiredAgoMs === undefined ? 0 : options.expiredAgoMs + 3_600_000
    // An hour-long lease renews every 20 minutes: the timer never fires before the store is closed.
    const lease = await acquireLease(store, {
      ttlMs: 3_600_000,
      waitMs: 0,
      env: CI,
      now: () => new Date(Date.now() - shift),
    })
    return lease.id
  } finally {
    await store.close()
  }
}

describe('nexus lock status / release', () => {
  it('says nobody holds the lock when there is no state', async () => {
    const repo = exampleCopy('quickstart', join(tmp.path, 'none'))
    const run = await nexus(['lock', 'status', '--repo', repo])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toBe('no apply holds the lock')
    const json = await nexus(['lock', 'status', '--repo', repo, '--json'])
    expect(JSON.parse(json.stdout)).toEqual({held: false, lease: null})
  })

  it('shows a held lease, refuses to release another id, releases it by its id', async () => {
    const repo = exampleCopy('quickstart', join(tmp.path, 'held'))
    const id = await holdLease(repo)

    const status = await nexus(['lock', 'status', '--repo', repo])
    expect(status.exitCode).toBe(0)
    expect(status.stdout).toContain(`lock held by lease ${id}`)
    expect(status.stdout).toMatch(/holder\s+ci-bot/)
    expect(status.stdout).toMatch(/CI run\s+github:acme\/vpn\/4242/)

    const json = JSON.parse((await nexus(['lock', 'status', '--repo', repo, '--json'])).stdout) as LockStatusResult
    expect(json).toMatchObject({
      held: true,
      lease: {id, holder: 'ci-bot', ci_run: 'github:acme/vpn/4242', expired: false},
    })
    expect(Date.parse(json.lease?.expires_at ?? '')).toBeGreaterThan(Date.now())
    expect(json.lease?.host).toEqual(expect.any(String))

    const wrong = await nexus(['lock', 'release', 'not-the-id', '--repo', repo])
    expect(wrong.exitCode).toBe(1)
    expect(wrong.stdout).toBe('')
    expect(wrong.stderr).toContain('Error: no lease has the id not-the-id')
    expect(wrong.stderr).toContain(`hint: the current lease is ${id}`)
    expect(wrong.stderr).not.toMatch(STACK_FRAME)
    const wrongJson = await nexus(['lock', 'release', 'not-the-id', '--repo', repo, '--json'])
    expect(wrongJson.exitCode).toBe(1)
    expect(JSON.parse(wrongJson.stdout)).toMatchObject({error: {code: 'lease_not_found'}})

    const release = await nexus(['lock', 'release', id, '--repo', repo, '--json'])
    expect(release.exitCode).toBe(0)
    expect(JSON.parse(release.stdout)).toMatchObject({released: true, lease: {id, holder: 'ci-bot'}})

    const after = await nexus(['lock', 'status', '--repo', repo])
    expect(after.stdout).toBe('no apply holds the lock')
    const twice = await nexus(['lock', 'release', id, '--repo', repo])
    expect(twice.exitCode).toBe(1)
    expect(twice.stderr).toContain('hint: no apply holds the lock')
  })

  it('shows an expired lease as blocking nothing', async () => {
    const repo = exampleCopy('quickstart', join(tmp.path, 'expired'))
    const id = await holdLease(repo, {expiredAgoMs: 60_000})
    const run = await nexus(['lock', 'status', '--repo', repo, '--json'])
    expect(JSON.parse(run.stdout)).toMatchObject({held: false, lease: {id, expired: true}})
    const human = await nexus(['lock', 'status', '--repo', repo])
    expect(human.stdout).toContain(`expired lease ${id}: it blocks nothing`)
  })

  it('lock views (golden)', () => {
    const s = createStyle(false)
    const lease = {
      id: '6f1c2d3e-0a4b-4c5d-8e9f-0123456789ab',
      holder: 'ci-bot',
      host: 'runner-7',
      ci_run: 'github:acme/vpn/4242',
      acquired_at: '2025-03-01T10:00:00.000Z',
      expires_at: '2025-03-01T10:01:00.000Z',
      expired: false,
    }
    const held: LockStatusResult = {held: true, lease}
    const expired: LockStatusResult = {held: false, lease: {...lease, ci_run: null, expired: true}}
    const released: LockReleaseResult = {released: true, lease}
    expectGolden(
      'views/lock.txt',
      [
        formatLockStatusHuman(held, s),
        formatLockStatusHuman(expired, s),
        formatLockStatusHuman({held: false, lease: null}, s),
        formatLockReleaseHuman(released, s),
      ].join('---\n'),
    )
  })
})
