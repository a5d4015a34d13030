/**
 * UTC calendar arithmetic for subscription terms and traffic periods. Every
 * function reads and returns instants in UTC and never looks at the local
 * zone or the clock.
 */

export const DAY_MS = 86_400_000

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
}

/** Days in a month; `month` counts from 0 (January) like Date does. */
export function daysInMonth(year: number, month: number): number {
  const lengths = [31, isLeapYear(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
  return lengths[month] ?? Number.NaN
}

/** `days` × 24 h later (or earlier); UTC has no daylight-saving gaps. */
export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * DAY_MS)
}

/**
 * The same day of the month `months` calendar months later (or earlier),
 * clamped to the month's last day, at the same time of day: Jan 31 + 1 month =
 * Feb 28 (Feb 29 in a leap year), Feb 29 + 12 months = Feb 28 of a common
 * year. Clamping does not move the anchor: Jan 31 + 2 months = Mar 31.
 */
export function addMonths(date: Date, months: number): Date {
  const total = date.getUTCMonth() + months
  const year = date.getUTCFullYear() + Math.floor(total / 12)
  const month = ((total % 12) + 12) % 12
  const day = Math.min(date.getUTCDate(), daysInMonth(year, month))
  const result = new Date(date.getTime())
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  result.setUTCFullYear(year, month, day)
  return result
}

/**
 * The number of whole calendar months from `from` to `to`: the largest n with
 * addMonths(from, n) <= to (negative when `to` is earlier).
 */
export function monthsBetween(from: Date, to: Date): number {
  const guess = (to.getUTCFullYear() - from.getUTCFullYear()) * 12 + (to.getUTCMonth() - from.getUTCMonth())
  // addMonths(from, guess) lies in the month of `to`: either it is not later
  // than `to`, or the month before certainly is.
  return addMonths(from, guess).getTime() > to.getTime() ? guess - 1 : guess
}

/** 00:00 UTC of the day. */
export function startOfDay(date: Date): Date {
  const time = date.getTime()
  return new Date(time - (((time % DAY_MS) + DAY_MS) % DAY_MS))
}

/** Monday 00:00 UTC of the ISO week. */
export function startOfWeek(date: Date): Date {
  const sinceMonday = (date.getUTCDay() + 6) % 7
  return addDays(startOfDay(date), -sinceMonday)
}

/** The 1st of the month, 00:00 UTC. */
export function startOfMonth(date: Date): Date {
  return addDays(startOfDay(date), 1 - date.getUTCDate())
}
