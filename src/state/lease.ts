/**
 * The apply lock as a lease in the state (design.md §4): one row naming who
 * holds it (holder, host, CI run), since when and until when. The holder
 * renews it while it works; a lease that expired (a cancelled CI job, a
 * killed process) is taken over, so nothing can wedge the fleet for good.
 */
import {randomUUID} from 'node:crypto'
import {hostname, userInfo} from 'node:os'

import {NexusError} from '../errors.js'
import type {StateStore} from './store.js'

export interface Lease {
  readonly id: string
  readonly holder: string
  readonly host: string
  readonly ciRun: string | null
  readonly acquiredAt: Date
  readonly expiresAt: Date
}

/** How a held lease stopped being ours. */
export interface LeaseLoss {
  /**
   * `released`: its row was deleted (`nexus lock release`); `taken_over`:
   * another holder has it; `expired`: it could not be renewed before it ran
   * out, so another apply may take it at any moment.
   */
  readonly reason: 'released' | 'taken_over' | 'expired'
  readonly message: string
}

export interface HeldLease extends Lease {
  /** Set once the lease is no longer ours (it is never ours again). */
  readonly lost: LeaseLoss | undefined
  /** Renews the lease now; false once it is lost. */
  confirm(): Promise<boolean>
  /** Stops renewing and deletes the lease (only if still ours). */
  release(): Promise<void>
}

export interface LeaseOptions {
  readonly ttlMs: number
  /** How long to wait for another holder to finish. */
  readonly waitMs: number
  readonly env: NodeJS.ProcessEnv
  readonly now?: () => Date
  /** Called once, when a renewal finds the lease gone (released, taken over, or expired unrenewed). */
  readonly onLost?: (loss: LeaseLoss) => void
}

/** The CI run, from the variables common CI systems set. */
export function ciRunFrom(env: NodeJS.ProcessEnv): string | null {
  if (env.GITHUB_RUN_ID) return `github:${env.GITHUB_REPOSITORY ?? ''}/${env.GITHUB_RUN_ID}`
  if (env.CI_JOB_ID) return `gitlab:${env.CI_PROJECT_PATH ?? ''}/${env.CI_JOB_ID}`
  if (env.BUILDKITE_BUILD_ID) return `buildkite:${env.BUILDKITE_BUILD_ID}`
  if (env.BUILD_TAG) return `jenkins:${env.BUILD_TAG}`
  return null
}

export function actorFrom(env: NodeJS.ProcessEnv): string {
  return env.NEXUS_ACTOR ?? env.GITHUB_ACTOR ?? env.GITLAB_USER_LOGIN ?? safeUser()
}

function safeUser(): string {
  try {
    return userInfo().username
  } catch {
    return 'unknown'
  }
}

interface LeaseRow {
  holder_id?: string
  holder: string
  host: string
  ci_run: string | null
  acquired_at: Date | string
  expires_at: Date | string
}

function fromRow(row: LeaseRow & {holder_id: string}): Lease {
  return {
    id: row.holder_id,
    holder: row.holder,
    host: row.host,
    ciRun: row.ci_run,
    acquiredAt: new Date(row.acquired_at),
    expiresAt: new Date(row.expires_at),
  }
}

/** Opens the applies row of a run (apply, rollback), naming who ran it and where. */
export async function startApplyRow(
  store: StateStore,
  env: NodeJS.ProcessEnv,
  gitCommit: string | null,
): Promise<{readonly applyId: number; readonly actor: string}> {
  const actor = actorFrom(env)
  const applyId = await store.startApply({gitCommit, actor, host: hostname(), ciRun: ciRunFrom(env)})
  return {applyId, actor}
}

export async function currentLease(store: StateStore): Promise<Lease | undefined> {
  const [row] = await store.driver.query<LeaseRow & {holder_id: string}>(
    'select holder_id, holder, host, ci_run, acquired_at, expires_at from apply_lock where id = 1',
  )
  return row ? fromRow(row) : undefined
}

/** Runs `fn` holding the lease, and releases it afterwards whatever happened. */
export async function withLease<T>(
  store: StateStore,
  options: LeaseOptions,
  fn: (lease: HeldLease) => Promise<T>,
): Promise<T> {
  const lease = await acquireLease(store, options)
  try {
    return await fn(lease)
  } finally {
    await lease.release().catch(() => {})
  }
}

export async function acquireLease(store: StateStore, options: LeaseOptions): Promise<HeldLease> {
  const now = options.now ?? (() => new Date())
  const id = randomUUID()
  const holder = actorFrom(options.env)
  const host = hostname()
  const ciRun = ciRunFrom(options.env)
  const deadline = now().getTime() + options.waitMs
  for (;;) {
    const taken = await store.driver.transaction(async (tx) => {
      const [row] = await tx.query<LeaseRow & {holder_id: string}>(
        'select holder_id, holder, host, ci_run, acquired_at, expires_at from apply_lock where id = 1 for update',
      )
      const at = now()
      if (row && new Date(row.expires_at).getTime() > at.getTime()) return fromRow(row)
      await tx.query(
        `insert into apply_lock (id, holder_id, holder, host, ci_run, acquired_at, expires_at)
         values (1, $1, $2, $3, $4, $5, $6)
         on conflict (id) do update set holder_id = excluded.holder_id, holder = excluded.holder, host = excluded.host,
           ci_run = excluded.ci_run, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at`,
        [id, holder, host, ciRun, at.toISOString(), new Date(at.getTime() + options.ttlMs).toISOString()],
      )
      return undefined
    })
    if (!taken) break
    if (now().getTime() >= deadline) {
      throw new NexusError(
        'lock_held',
        `another apply holds the lock: ${taken.holder} on ${taken.host}${taken.ciRun ? ` (${taken.ciRun})` : ''}, since ${taken.acquiredAt.toISOString()}, until ${taken.expiresAt.toISOString()} unless renewed`,
        `wait for it (--lock-timeout), or if it is dead: nexus lock release ${taken.id}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000, Math.max(50, deadline - now().getTime()))))
  }
  const acquiredAt = now()
  let expiresAt = new Date(acquiredAt.getTime() + options.ttlMs)
  let lost: LeaseLoss | undefined
  let renewing: Promise<boolean> | undefined
  const lose = (loss: LeaseLoss) => {
    if (lost) return
    lost = loss
    clearInterval(timer)
    options.onLost?.(loss)
  }
  // One renewal at a time; callers that ask meanwhile share its answer.
  const renew = (): Promise<boolean> => {
    if (lost) return Promise.resolve(false)
    renewing ??= renewOnce().finally(() => {
      renewing = undefined
    })
    return renewing
  }
  const renewOnce = async (): Promise<boolean> => {
    const until = new Date(now().getTime() + options.ttlMs)
    try {
      const rows = await store.driver.query(
        'update apply_lock set expires_at = $1 where id = 1 and holder_id = $2 returning holder_id',
        [until.toISOString(), id],
      )
      if (rows.length > 0) {
        expiresAt = until
        return true
      }
      const holder = await currentLease(store).catch(() => undefined)
      lose(
        holder
          ? {
              reason: 'taken_over',
              message: `the apply lease was taken over by ${holder.holder} on ${holder.host}${holder.ciRun ? ` (${holder.ciRun})` : ''}`,
            }
          : {reason: 'released', message: 'the apply lease was released (nexus lock release) while this apply held it'},
      )
      return false
    } catch (error) {
      // A failed renewal is retried until the lease runs out: from then on another apply may take it.
      if (now().getTime() >= expiresAt.getTime()) {
        lose({
          reason: 'expired',
          message: `the apply lease expired at ${expiresAt.toISOString()}: it could not be renewed (${error instanceof Error ? error.message : String(error)})`,
        })
        return false
      }
      return true
    }
  }
  // Renew well before expiry.
  const timer = setInterval(
    () => {
      void renew()
    },
    Math.max(50, Math.floor(options.ttlMs / 3)),
  )
  timer.unref()
  return {
    id,
    holder,
    host,
    ciRun,
    acquiredAt,
    get expiresAt() {
      return expiresAt
    },
    get lost() {
      return lost
    },
    confirm: renew,
    async release() {
      clearInterval(timer)
      await renewing?.catch(() => {})
      if (lost) return
      lost = {reason: 'released', message: 'the apply lease was released by its holder'}
      await store.driver.query('delete from apply_lock where id = 1 and holder_id = $1', [id])
    },
  }
}

/** `nexus lock release ID`: removes the lease with that id, whoever holds it. */
export async function releaseLease(store: StateStore, id: string): Promise<boolean> {
  const rows = await store.driver.query('delete from apply_lock where id = 1 and holder_id = $1 returning holder_id', [
    id,
  ])
  return rows.length > 0
}
