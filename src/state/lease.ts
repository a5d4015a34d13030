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

export interface HeldLease extends Lease {
  /** Stops renewing and deletes the lease (only if still ours). */
  release(): Promise<void>
}

export interface LeaseOptions {
  readonly ttlMs: number
  /** How long to wait for another holder to finish. */
  readonly waitMs: number
  readonly env: NodeJS.ProcessEnv
  readonly now?: () => Date
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

export async function currentLease(store: StateStore): Promise<Lease | undefined> {
  const [row] = await store.driver.query<LeaseRow & {holder_id: string}>(
    'select holder_id, holder, host, ci_run, acquired_at, expires_at from apply_lock where id = 1',
  )
  return row ? fromRow(row) : undefined
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
  // Renew well before expiry; a renewal that finds the lease gone stops quietly (release or takeover).
  const timer = setInterval(
    () => {
      const until = new Date(now().getTime() + options.ttlMs)
      store.driver
        .query('update apply_lock set expires_at = $1 where id = 1 and holder_id = $2', [until.toISOString(), id])
        .then(() => {
          expiresAt = until
        })
        .catch(() => {})
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
    async release() {
      clearInterval(timer)
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
