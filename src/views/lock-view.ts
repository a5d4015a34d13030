/** The apply lease for people: who holds it, from where, since and until when. */
import type {ChalkInstance} from 'chalk'

import type {LeaseInfo, LockReleaseResult, LockStatusResult} from '../app/lock.js'

export function formatLockStatusHuman(result: LockStatusResult, s: ChalkInstance): string {
  if (!result.lease) return 'no apply holds the lock\n'
  const {lease} = result
  const headline = lease.expired
    ? `${s.yellow('expired lease')} ${lease.id}: it blocks nothing, the next apply takes it over`
    : `${s.bold('lock held')} by lease ${lease.id}`
  return `${[headline, ...leaseLines(lease, s)].join('\n')}\n`
}

export function formatLockReleaseHuman(result: LockReleaseResult, s: ChalkInstance): string {
  const {lease} = result
  return `${s.green('✔')} released lease ${lease.id} (${lease.holder} on ${lease.host}${lease.ci_run ? `, ${lease.ci_run}` : ''})\n`
}

function leaseLines(lease: LeaseInfo, s: ChalkInstance): string[] {
  const rows: [string, string][] = [
    ['holder', lease.holder],
    ['host', lease.host],
    ['CI run', lease.ci_run ?? '(none)'],
    ['acquired', lease.acquired_at],
    ['expires', `${lease.expires_at}${lease.expired ? ` ${s.yellow('(expired)')}` : ''}`],
  ]
  return rows.map(([label, value]) => `  ${s.dim(label.padEnd(9))} ${value}`)
}
