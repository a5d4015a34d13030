/**
 * From a state snapshot to what export and serve hand out: only UUIDs and
 * keys the state really holds; a link or inbound it lacks is refused by
 * export and left out by serve, never filled in with preview values.
 */
import {describe, expect, it} from 'vitest'

import {exportFrom, subscriptionsFrom} from '../../../src/app/subscription.js'
import {handleSubscriptionRequest} from '../../../src/app/subscription-routes.js'
import {NexusError} from '../../../src/errors.js'
import type {StateSnapshot, StoredSecret} from '../../../src/state/store.js'
import {desired, KEYS, UUIDS} from '../../helpers/fixture.js'

const NOW = new Date('2026-05-01T12:00:00Z')
const LINK_UUIDS: Readonly<Record<string, string>> = {...UUIDS, 'dave/default': '5f0c8a1e-2b3d-4c5e-9f60-718293a4b5c6'}

function snapshot(options: {secrets?: readonly string[]; links?: readonly string[]} = {}): StateSnapshot {
  const all: Record<string, StoredSecret> = {
    'node/fra-1/wireguard/wg0': {value: KEYS.gatewayWg0.privateKey, publicValue: KEYS.gatewayWg0.publicKey},
    'node/fra-1/reality/vless-reality': {value: KEYS.reality.privateKey, publicValue: KEYS.reality.publicKey},
    'node/fra-1/shadowsocks/ss2022': {value: KEYS.shadowsocks},
  }
  const secrets = options.secrets ?? Object.keys(all)
  const links = options.links ?? Object.keys(UUIDS)
  return {
    serial: 3,
    lineage: 'test',
    secrets: new Map(secrets.map((id) => [id, all[id] as StoredSecret])),
    links: new Map(links.map((key) => [key, LINK_UUIDS[key] ?? ''])),
    allocations: [],
    subscriptions: new Map(),
    revisions: new Map(),
    hostKeys: new Map(),
    objects: new Map(),
  }
}

function refusal(fn: () => unknown): {code: string; message: string; hint?: string} {
  try {
    fn()
  } catch (error) {
    if (error instanceof NexusError)
      return {code: error.code, message: error.message, ...(error.hint ? {hint: error.hint} : {})}
    throw error
  }
  throw new Error('expected a NexusError')
}

describe('subscriptionsFrom and exportFrom', () => {
  it('exports what the server serves for the same link', () => {
    const loaded = subscriptionsFrom(desired, snapshot(), NOW)
    expect(loaded.unready.size).toBe(0)
    const exported = exportFrom(loaded, {user: 'alice', link: 'phone', format: 'singbox', now: NOW})
    expect(exported.proxies).toHaveLength(4)
    const served = handleSubscriptionRequest(
      {method: 'GET', url: `/sub/${UUIDS['alice/phone']}?format=singbox`, headers: {}, client: 'x'},
      {catalog: loaded.catalog, now: NOW},
    )
    expect(served.body).toBe(exported.body)
    expect(served.headers['content-type']).toBe(exported.contentType)
  })

  it('refuses a link without a UUID in state, and serves no made-up one', () => {
    const loaded = subscriptionsFrom(desired, snapshot({links: ['alice/default', 'bob/default', 'carol/default']}), NOW)
    expect(refusal(() => exportFrom(loaded, {user: 'alice', link: 'phone', format: 'v2ray', now: NOW}))).toEqual({
      code: 'not_applied',
      message:
        'the state holds no UUID for alice/phone yet, so its subscription would be a preview that no node accepts',
      hint: 'run nexus apply first',
    })
    expect([...loaded.catalog.links.values()].map((l) => `${l.user}/${l.link}`)).not.toContain('alice/phone')
    expect(loaded.catalog.fleet.state.links.has('alice/phone')).toBe(false)
  })

  it('refuses a link using an inbound whose keys the state lacks; serve leaves that inbound out', () => {
    const loaded = subscriptionsFrom(desired, snapshot({secrets: ['node/fra-1/wireguard/wg0']}), NOW)
    expect([...loaded.unready].sort()).toEqual(['fra-1/ss2022', 'fra-1/vless-reality'])
    const refused = refusal(() => exportFrom(loaded, {user: 'alice', link: 'default', format: 'clash', now: NOW}))
    expect(refused).toMatchObject({code: 'not_applied', hint: 'run nexus apply first'})
    expect(refused.message).toContain('fra-1/ss2022, fra-1/vless-reality')
    // bob's tariff only has vmess here, whose inbound needs no key: fine.
    expect(exportFrom(loaded, {user: 'bob', link: 'default', format: 'v2ray', now: NOW}).proxies).toEqual([
      'Acme VPN · fra-1 vmess-ws',
    ])
    const info = handleSubscriptionRequest(
      {method: 'GET', url: `/sub/${UUIDS['alice/default']}/info`, headers: {}, client: 'x'},
      {catalog: loaded.catalog, now: NOW},
    )
    expect(JSON.parse(info.body).proxies).toEqual(['Acme VPN · fra-1 trojan-tls', 'Acme VPN · fra-1 vmess-ws'])
  })

  it('refuses inactive subscriptions, unknown users and links', () => {
    const loaded = subscriptionsFrom(desired, snapshot({links: [...Object.keys(UUIDS), 'dave/default']}), NOW)
    expect(refusal(() => exportFrom(loaded, {user: 'dave', link: 'default', format: 'v2ray', now: NOW}))).toMatchObject(
      {code: 'subscription_inactive', message: expect.stringContaining('disabled (user disabled)')},
    )
    expect(refusal(() => exportFrom(loaded, {user: 'alcie', link: 'default', format: 'v2ray', now: NOW}))).toEqual({
      code: 'unknown_user',
      message: 'no user named alcie',
      hint: 'did you mean alice?',
    })
    expect(refusal(() => exportFrom(loaded, {user: 'bob', link: 'tv', format: 'v2ray', now: NOW}))).toEqual({
      code: 'unknown_link',
      message: 'user bob has no link named tv',
      hint: 'links of bob: default',
    })
  })
})
