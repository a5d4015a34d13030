/**
 * Whether a user's subscription lets them connect at a moment. This covers
 * what the declarations say (status, start, expiry, cancellation); traffic
 * and tariff-duration accounting join it once state is tracked.
 */
import type {User} from './desired.js'

export function declaredActive(user: User, now: Date): boolean {
  if (user.status !== 'active' || user.subscription.cancelled) return false
  const {start, expires} = user.subscription
  if (start !== undefined && Date.parse(start) > now.getTime()) return false
  if (expires !== undefined && Date.parse(expires) <= now.getTime()) return false
  return true
}
