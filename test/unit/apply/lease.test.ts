/**
 * The apply lease once held (src/state/lease.ts): its renewal notices when
 * the row is no longer its own (released with `nexus lock release`, taken
 * over by another holder) and says so once, through `lost`, `confirm()` and
 * `onLost`; a lease whose renewals fail is lost once it runs out. On PGlite,
 * and on Postgres too when NEXUS_TEST_DATABASE_URL is set.
 */
import {afterAll, afterEach, describe, expect, it} from 'vitest'

import {acquireLease, currentLease, type LeaseLoss, releaseLease} from '../../../src/state/lease.js'
import type {StateStore} from '../../../src/state/store.js'
import {cleanupStateWork, stateDriverCases, type TestState} from '../../helpers/state.js'

afterAll(() => cleanupStateWork())

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe.each(stateDriverCases())('the held lease on $name', (driverCase) => {
  const open: TestState[] = []
  afterEach(async () => {
    for (const state of open.splice(0)) await state.cleanup()
  })
  async function store(): Promise<StateStore> {
    const state = await driverCase.open()
    open.push(state)
    return state.store
  }

  it('renews itself and stays ours while nobody touches it', async () => {
    const s = await store()
    const lease = await acquireLease(s, {ttlMs: 300, waitMs: 0, env: {NEXUS_ACTOR: 'ann'}})
    try {
      const first = lease.expiresAt.getTime()
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(lease.lost).toBeUndefined()
      expect(await lease.confirm()).toBe(true)
      expect(lease.expiresAt.getTime()).toBeGreaterThan(first)
      expect((await currentLease(s))?.id).toBe(lease.id)
    } finally {
      await lease.release()
    }
    expect(await currentLease(s)).toBeUndefined()
  })

  it('released by someone else (nexus lock release): confirm() says so at once, onLost is called once', async () => {
    const s = await store()
    const losses: LeaseLoss[] = []
    const lease = await acquireLease(s, {ttlMs: 60_000, waitMs: 0, env: {}, onLost: (loss) => losses.push(loss)})
    try {
      expect(await releaseLease(s, lease.id)).toBe(true)

      expect(await lease.confirm()).toBe(false)
      expect(lease.lost).toMatchObject({reason: 'released'})
      expect(lease.lost?.message).toMatch(/released \(nexus lock release\)/)
      expect(await lease.confirm()).toBe(false)
      expect(losses).toEqual([lease.lost])
    } finally {
      await lease.release()
    }
  })

  it('taken over by another holder: the renewal timer notices by itself, naming the new holder', async () => {
    const s = await store()
    const losses: LeaseLoss[] = []
    const lease = await acquireLease(s, {ttlMs: 240, waitMs: 0, env: {}, onLost: (loss) => losses.push(loss)})
    try {
      // What a takeover leaves: the row, another holder's.
      await s.driver.query(
        `update apply_lock set holder_id = 'someone-else', holder = 'carol-ci', host = 'ci-7', ci_run = 'github:acme/vpn/99'`,
      )

      await until('the renewal to notice', () => losses.length > 0)

      expect(lease.lost).toEqual({
        reason: 'taken_over',
        message: 'the apply lease was taken over by carol-ci on ci-7 (github:acme/vpn/99)',
      })
      expect(losses).toHaveLength(1)
      expect(await lease.confirm()).toBe(false)
    } finally {
      await lease.release()
    }
    // Releasing a lost lease leaves the new holder's row alone.
    expect((await currentLease(s))?.id).toBe('someone-else')
  })

  it('renewals that keep failing: lost once the lease has run out (another apply may take it)', async () => {
    const s = await store()
    let clock = Date.now()
    const lease = await acquireLease(s, {ttlMs: 60_000, waitMs: 0, env: {}, now: () => new Date(clock)})
    const query = s.driver.query.bind(s.driver)
    try {
      s.driver.query = (async (sql: string, params?: readonly unknown[]) => {
        if (sql.startsWith('update apply_lock')) throw new Error('connection reset (test)')
        return query(sql, params)
      }) as typeof s.driver.query
      // Still within its term: a failed renewal is retried, not a loss.
      expect(await lease.confirm()).toBe(true)
      expect(lease.lost).toBeUndefined()
      clock += 61_000
      expect(await lease.confirm()).toBe(false)
      expect(lease.lost).toMatchObject({reason: 'expired'})
      expect(lease.lost?.message).toContain('could not be renewed (connection reset (test))')
    } finally {
      s.driver.query = query
      await lease.release()
    }
  })
})
