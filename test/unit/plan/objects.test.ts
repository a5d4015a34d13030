import {describe, expect, it} from 'vitest'

import {diffObjects, type PlanObject} from '../../../src/plan/objects.js'

const user = (spec: unknown): PlanObject => ({kind: 'user', name: 'alice', spec})
const diff = (before: unknown, after: unknown) =>
  diffObjects([user(after)], new Map([['user.alice', before]])).map((c) => [c.action, c.summary])

describe('diffObjects', () => {
  it('sees no change when only the key order or undefined-valued keys differ', () => {
    const before = {tariff: 'pro', groups: ['a', 'b'], subscription: {cancelled: false, days: 30}}
    expect(diff(before, {subscription: {days: 30, cancelled: false}, groups: ['a', 'b'], tariff: 'pro'})).toEqual([])
    expect(diff(before, {...before, note: undefined})).toEqual([])
  })

  it('names each top-level field that changed, however deep the difference', () => {
    const before = {tariff: 'pro', groups: ['a', 'b'], subscription: {cancelled: false, days: 30}}
    expect(diff(before, {...before, subscription: {cancelled: false, days: 31}})).toEqual([
      ['update', 'subscription: {"cancelled":false,"days":30} → {"cancelled":false,"days":31}'],
    ])
    expect(diff(before, {...before, groups: ['a']})).toEqual([['update', 'groups: ["a","b"] → ["a"]']])
    expect(diff(before, {...before, tariff: 1})).toEqual([['update', 'tariff: pro → 1']])
    expect(diff(before, {tariff: 'pro', groups: ['a', 'b']})).toEqual([
      ['update', 'subscription: {"cancelled":false,"days":30} → (none)'],
    ])
    expect(diff({...before, extra: null}, before)).toEqual([['update', 'extra: null → (none)']])
  })

  it('creates what state lacks and deletes what the repo dropped', () => {
    expect(diffObjects([user({})], new Map()).map((c) => c.action)).toEqual(['create'])
    expect(diffObjects([], new Map([['user.bob', {}]])).map((c) => `${c.action} ${c.address}`)).toEqual([
      'delete user.bob',
    ])
  })
})
