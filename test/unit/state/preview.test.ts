import {describe, expect, it} from 'vitest'

import {wireguardPublicKey} from '../../../src/crypto/keys.js'
import {formatAddress} from '../../../src/model/ip.js'
import {WIREGUARD_KEY_PATTERN} from '../../../src/model/names.js'
import {previewStateValues} from '../../../src/state/preview.js'
import {desired} from '../../helpers/fixture.js'

describe('previewStateValues', () => {
  const now = new Date('2026-06-01T00:00:00Z')
  const preview = previewStateValues(desired, now)

  it('is marked as a preview', () => {
    expect(preview.preview).toBe(true)
  })

  it('generates a valid gateway key pair per interface, fresh each time', () => {
    const keys = preview.nodes.get('fra-1')?.wireguard.get('wg0')
    expect(keys?.privateKey).toMatch(WIREGUARD_KEY_PATTERN)
    expect(wireguardPublicKey(keys?.privateKey ?? '')).toBe(keys?.publicKey)
    const again = previewStateValues(desired, now).nodes.get('fra-1')?.wireguard.get('wg0')
    expect(again?.privateKey).not.toBe(keys?.privateKey)
  })

  it('generates REALITY keys (base64url, 43 characters) and Shadowsocks keys of the cipher size', () => {
    const secrets = preview.nodes.get('fra-1')
    expect(secrets?.reality.get('vless-reality')?.privateKey).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(Buffer.from(secrets?.shadowsocks.get('ss2022') ?? '', 'base64')).toHaveLength(16)
  })

  it('gives every user link a UUID', () => {
    expect([...preview.links.keys()].sort()).toEqual([
      'alice/default',
      'alice/phone',
      'bob/default',
      'carol/default',
      'dave/default',
    ])
    for (const uuid of preview.links.values()) expect(uuid).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('keeps pinned addresses and allocates the rest from the interface prefixes', () => {
    const addresses = (peer: string) => (preview.addresses.get(peer) ?? []).map(formatAddress)
    expect(addresses('alice-laptop')).toEqual(['10.66.0.2', 'fd66::2'])
    expect(addresses('bob-phone')).toEqual(['10.66.0.3', 'fd66::3'])
    expect(addresses('carol-laptop')).toEqual(['10.66.0.4', 'fd66::4'])
    expect(addresses('office-router')).toEqual(['10.66.0.250', 'fd66::5'])
  })

  it('counts only active users whose subscription is running now', () => {
    expect([...preview.activeUsers].sort()).toEqual(['alice', 'bob', 'carol'])
    const users = desired.users.map((u) =>
      u.name === 'bob' ? {...u, subscription: {cancelled: false, expires: '2026-05-31T23:59:59Z'}} : u,
    )
    const later = previewStateValues({...desired, users}, now)
    expect(later.activeUsers.has('bob')).toBe(false)
  })
})
