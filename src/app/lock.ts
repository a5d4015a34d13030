/**
 * `nexus lock status` and `nexus lock release ID` (design.md §4): show the
 * apply lease, and clear one deliberately (a dead CI job, a killed process)
 * rather than wait for it to expire.
 */
import {NexusError} from '../errors.js'
import {currentLease, type Lease, releaseLease} from '../state/lease.js'
import {openState, type StateLocation} from '../state/open.js'

export interface LeaseInfo {
  id: string
  holder: string
  host: string
  ci_run: string | null
  acquired_at: string
  expires_at: string
  /** An expired lease no longer blocks anything: the next apply takes it over. */
  expired: boolean
}

export interface LockStatusResult {
  held: boolean
  lease: LeaseInfo | null
}

export interface LockReleaseResult {
  released: true
  lease: LeaseInfo
}

export function leaseInfo(lease: Lease, now: Date): LeaseInfo {
  return {
    id: lease.id,
    holder: lease.holder,
    host: lease.host,
    ci_run: lease.ciRun,
    acquired_at: lease.acquiredAt.toISOString(),
    expires_at: lease.expiresAt.toISOString(),
    expired: lease.expiresAt.getTime() <= now.getTime(),
  }
}

export async function lockStatus(
  location: StateLocation,
  options: {env: NodeJS.ProcessEnv; now: Date},
): Promise<LockStatusResult> {
  const store = await openState(location, {mode: 'read', env: options.env})
  if (!store) return {held: false, lease: null}
  try {
    const lease = await currentLease(store)
    if (!lease) return {held: false, lease: null}
    const info = leaseInfo(lease, options.now)
    return {held: !info.expired, lease: info}
  } finally {
    await store.close()
  }
}

export async function releaseLock(
  location: StateLocation,
  id: string,
  options: {env: NodeJS.ProcessEnv; now: Date},
): Promise<LockReleaseResult> {
  const store = await openState(location, {mode: 'read', env: options.env})
  const notHeld = (current: Lease | undefined) =>
    new NexusError(
      'lease_not_found',
      `no lease has the id ${id}`,
      current
        ? `the current lease is ${current.id} (${current.holder} on ${current.host}); check it with nexus lock status`
        : 'no apply holds the lock; nexus lock status shows it',
    )
  if (!store) throw notHeld(undefined)
  try {
    const lease = await currentLease(store)
    if (!lease || lease.id !== id || !(await releaseLease(store, id))) throw notHeld(lease)
    return {released: true, lease: leaseInfo(lease, options.now)}
  } finally {
    await store.close()
  }
}
