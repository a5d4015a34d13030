import {describe, expect, it} from 'vitest'

import {
  addDays,
  addMonths,
  daysInMonth,
  isLeapYear,
  monthsBetween,
  startOfDay,
  startOfMonth,
  startOfWeek,
} from '../../../src/model/calendar.js'

const at = (text: string): Date => new Date(text)
const text = (date: Date): string => date.toISOString()

describe('isLeapYear', () => {
  it.each([
    [2024, true],
    [2026, false],
    [2028, true],
    [2000, true],
    [1900, false],
    [2100, false],
  ])('%i -> %s', (year, leap) => {
    expect(isLeapYear(year)).toBe(leap)
  })
})

describe('daysInMonth', () => {
  it.each([
    [2026, 0, 31],
    [2026, 1, 28],
    [2028, 1, 29],
    [2100, 1, 28],
    [2000, 1, 29],
    [2026, 3, 30],
    [2026, 11, 31],
  ])('%i-%i has %i days', (year, month, days) => {
    expect(daysInMonth(year, month)).toBe(days)
  })
})

describe('addDays', () => {
  it.each([
    ['2026-02-28T00:00:00.000Z', 1, '2026-03-01T00:00:00.000Z'],
    ['2028-02-28T00:00:00.000Z', 1, '2028-02-29T00:00:00.000Z'],
    ['2026-12-31T18:00:00.000Z', 1, '2027-01-01T18:00:00.000Z'],
    ['2026-03-29T00:30:00.000Z', 1, '2026-03-30T00:30:00.000Z'],
    ['2026-01-01T00:00:00.000Z', -1, '2025-12-31T00:00:00.000Z'],
    ['2026-01-01T00:00:00.000Z', 30, '2026-01-31T00:00:00.000Z'],
  ])('%s + %i days = %s', (from, days, expected) => {
    expect(text(addDays(at(from), days))).toBe(expected)
  })
})

describe('addMonths', () => {
  it.each([
    ['2026-01-15T00:00:00.000Z', 1, '2026-02-15T00:00:00.000Z', 'a plain month'],
    ['2026-01-31T00:00:00.000Z', 1, '2026-02-28T00:00:00.000Z', 'clamps to Feb 28'],
    ['2028-01-31T00:00:00.000Z', 1, '2028-02-29T00:00:00.000Z', 'clamps to Feb 29 in a leap year'],
    ['2100-01-31T00:00:00.000Z', 1, '2100-02-28T00:00:00.000Z', '2100 is not a leap year'],
    ['2000-01-31T00:00:00.000Z', 1, '2000-02-29T00:00:00.000Z', '2000 is a leap year'],
    ['2026-01-31T00:00:00.000Z', 2, '2026-03-31T00:00:00.000Z', 'keeps the day-of-month anchor'],
    ['2026-01-31T00:00:00.000Z', 3, '2026-04-30T00:00:00.000Z', 'clamps to a 30-day month'],
    ['2028-02-29T00:00:00.000Z', 12, '2029-02-28T00:00:00.000Z', 'Feb 29 + a year'],
    ['2028-02-29T00:00:00.000Z', 48, '2032-02-29T00:00:00.000Z', 'Feb 29 + four years'],
    ['2026-12-15T10:30:00.000Z', 1, '2027-01-15T10:30:00.000Z', 'December into January'],
    ['2026-11-30T00:00:00.000Z', 3, '2027-02-28T00:00:00.000Z', 'across the year into February'],
    ['2026-01-31T23:59:59.999Z', 1, '2026-02-28T23:59:59.999Z', 'keeps the time of day'],
    ['2026-03-31T00:00:00.000Z', -1, '2026-02-28T00:00:00.000Z', 'backwards with clamping'],
    ['2026-01-15T00:00:00.000Z', -1, '2025-12-15T00:00:00.000Z', 'backwards across the year'],
    ['2026-05-20T00:00:00.000Z', 0, '2026-05-20T00:00:00.000Z', 'zero months'],
  ])('%s + %i months = %s (%s)', (from, months, expected) => {
    expect(text(addMonths(at(from), months))).toBe(expected)
  })

  it('does not move its argument', () => {
    const date = at('2026-01-31T00:00:00.000Z')
    addMonths(date, 1)
    expect(text(date)).toBe('2026-01-31T00:00:00.000Z')
  })
})

describe('monthsBetween', () => {
  it.each([
    ['2026-01-31T00:00:00.000Z', '2026-01-31T00:00:00.000Z', 0],
    ['2026-01-31T00:00:00.000Z', '2026-02-27T23:59:59.999Z', 0],
    ['2026-01-31T00:00:00.000Z', '2026-02-28T00:00:00.000Z', 1],
    ['2026-01-31T00:00:00.000Z', '2026-03-30T00:00:00.000Z', 1],
    ['2026-01-31T00:00:00.000Z', '2026-03-31T00:00:00.000Z', 2],
    ['2026-01-15T12:00:00.000Z', '2026-02-15T11:59:59.999Z', 0],
    ['2026-01-15T12:00:00.000Z', '2026-02-15T12:00:00.000Z', 1],
    ['2026-12-10T00:00:00.000Z', '2027-01-10T00:00:00.000Z', 1],
    ['2028-02-29T00:00:00.000Z', '2029-02-28T00:00:00.000Z', 12],
    ['2026-03-31T00:00:00.000Z', '2026-02-28T00:00:00.000Z', -1],
    ['2026-03-31T00:00:00.000Z', '2026-02-27T00:00:00.000Z', -2],
  ])('%s -> %s is %i months', (from, to, months) => {
    expect(monthsBetween(at(from), at(to))).toBe(months)
  })
})

describe('startOfDay, startOfWeek, startOfMonth', () => {
  it.each([
    ['2026-06-03T17:45:12.345Z', '2026-06-03T00:00:00.000Z'],
    ['2026-06-03T00:00:00.000Z', '2026-06-03T00:00:00.000Z'],
    ['1969-12-31T12:00:00.000Z', '1969-12-31T00:00:00.000Z'],
  ])('day of %s starts %s', (date, expected) => {
    expect(text(startOfDay(at(date)))).toBe(expected)
  })

  it.each([
    ['2026-06-03T17:00:00.000Z', '2026-06-01T00:00:00.000Z', 'a Wednesday'],
    ['2026-06-01T00:00:00.000Z', '2026-06-01T00:00:00.000Z', 'a Monday at midnight'],
    ['2026-06-07T23:59:59.999Z', '2026-06-01T00:00:00.000Z', 'a Sunday belongs to the week before'],
    ['2026-04-01T09:00:00.000Z', '2026-03-30T00:00:00.000Z', 'across a month boundary'],
    ['2027-01-01T09:00:00.000Z', '2026-12-28T00:00:00.000Z', 'across a year boundary'],
  ])('week of %s starts %s (%s)', (date, expected) => {
    expect(text(startOfWeek(at(date)))).toBe(expected)
  })

  it.each([
    ['2026-02-28T23:00:00.000Z', '2026-02-01T00:00:00.000Z'],
    ['2026-03-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z'],
    ['2026-12-31T23:59:59.999Z', '2026-12-01T00:00:00.000Z'],
  ])('month of %s starts %s', (date, expected) => {
    expect(text(startOfMonth(at(date)))).toBe(expected)
  })
})
