/**
 * Declarations as plan objects: each one normalized to plain JSON (addresses
 * as text, allocated peer addresses included) and compared with the version
 * recorded by the last apply, so a plan says `+ user.alice` or
 * `~ user.alice  tariff: basic → pro` like Terraform does.
 */
import {compareText} from '../model/compare.js'
import type {Desired} from '../model/desired.js'
import {formatInterfaceAddress, formatIp, type IpAddress} from '../model/ip.js'
import type {Change} from './types.js'

export type ObjectKind = 'tariff' | 'group' | 'user' | 'node' | 'peer' | 'rule' | 'service'

/** Apply order: what others refer to first. */
export const OBJECT_KINDS: readonly ObjectKind[] = ['tariff', 'group', 'user', 'node', 'peer', 'rule', 'service']

export interface PlanObject {
  readonly kind: ObjectKind
  readonly name: string
  readonly spec: unknown
}

export const objectAddress = (kind: string, name: string): string => `${kind}.${name}`

export function declaredObjects(desired: Desired, addresses: ReadonlyMap<string, readonly IpAddress[]>): PlanObject[] {
  const objects: PlanObject[] = []
  const add = (kind: ObjectKind, items: readonly {name: string}[], spec: (item: never) => unknown = (item) => item) => {
    for (const item of items) objects.push({kind, name: item.name, spec: toPlain(spec(item as never))})
  }
  add('tariff', desired.tariffs)
  add('group', desired.groups)
  add('user', desired.users)
  add('node', desired.nodes)
  add('peer', desired.peers, (peer: Desired['peers'][number]) => ({
    ...peer,
    addresses: addresses.get(peer.name) ?? peer.addresses,
  }))
  add('rule', desired.rules)
  add('service', desired.services)
  return objects
}

/** Creates, updates and deletes, in apply order (deletes last, in reverse kind order). */
export function diffObjects(declared: readonly PlanObject[], applied: ReadonlyMap<string, unknown>): Change[] {
  const changes: Change[] = []
  const seen = new Set<string>()
  for (const object of declared) {
    const address = objectAddress(object.kind, object.name)
    seen.add(address)
    const before = applied.get(address)
    if (before === undefined) {
      changes.push({
        address,
        action: 'create',
        reason: 'declared',
        after: object.spec,
        effect: 'state_only',
        disruptive: false,
      })
      continue
    }
    if (sameJson(before, object.spec)) continue
    const fields = changedFields(before, object.spec)
    if (fields.length === 0) continue
    changes.push({
      address,
      action: 'update',
      reason: 'fields_changed',
      before,
      after: object.spec,
      effect: 'state_only',
      disruptive: false,
      summary: describeFields(fields, before, object.spec),
    })
  }
  const removed = [...applied.keys()].filter((address) => !seen.has(address))
  const kindOrder = (address: string) => OBJECT_KINDS.indexOf(address.split('.')[0] as ObjectKind)
  removed.sort((a, b) => kindOrder(b) - kindOrder(a) || compareText(a, b))
  for (const address of removed) {
    changes.push({
      address,
      action: 'delete',
      reason: 'removed_from_repo',
      before: applied.get(address),
      effect: 'state_only',
      disruptive: false,
    })
  }
  return changes
}

/** Top-level fields whose values differ. */
export function changedFields(before: unknown, after: unknown): string[] {
  const a = (before ?? {}) as Record<string, unknown>
  const b = (after ?? {}) as Record<string, unknown>
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort(compareText)
  return keys.filter((key) => canonical(a[key]) !== canonical(b[key]))
}

function describeFields(fields: readonly string[], before: unknown, after: unknown): string {
  const a = before as Record<string, unknown>
  const b = after as Record<string, unknown>
  const parts = fields.map((field) => `${field}: ${short(a[field])} → ${short(b[field])}`)
  const text = parts.join('; ')
  return text.length > 160 ? `${fields.join(', ')} changed` : text
}

function short(value: unknown): string {
  if (value === undefined) return '(none)'
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.length > 40 ? `${text.slice(0, 37)}...` : text
}

/**
 * Equal as JSON, whatever the key order: what `canonical` would say of the
 * two, without building a string for each of 65k declarations per plan. Plain
 * objects, arrays and primitives only; anything else (or an `undefined` in an
 * array) is reported unequal, and `changedFields` decides exactly.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return a !== undefined
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false
    return true
  }
  if (!isPlainObject(a) || !isPlainObject(b)) return false
  let count = 0
  for (const key in a) {
    const value = a[key]
    if (value === undefined) continue
    count++
    if (!Object.hasOwn(b, key) || !sameJson(value, b[key])) return false
  }
  for (const key in b) if (b[key] !== undefined) count--
  return count === 0
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype = Object.getPrototypeOf(value) as unknown
  return prototype === Object.prototype || prototype === null
}

/** JSON with sorted keys, so equal values compare equal whatever their key order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => compareText(x, y)))
      : v,
  )
}

/** Desired values as JSON: IP addresses and prefixes become their canonical text. */
export function toPlain(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map(toPlain)
  const record = value as Record<string, unknown>
  if (typeof record.value === 'bigint' && (record.family === 4 || record.family === 6)) {
    return formatIp(record.family, record.value)
  }
  if (
    typeof record.address === 'bigint' &&
    typeof record.prefix === 'number' &&
    (record.family === 4 || record.family === 6)
  ) {
    return formatInterfaceAddress(record as never)
  }
  return Object.fromEntries(Object.entries(record).map(([key, v]) => [key, toPlain(v)]))
}
