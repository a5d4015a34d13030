import {describe, expect, it} from 'vitest'

import {
  algorithmsFor,
  decideHostKey,
  fingerprintOf,
  hostKeyFromBlob,
  MemoryHostKeyStore,
  parseHostKey,
} from '../../../src/transport/host-keys.js'

// Throw-away keys; fingerprints as `ssh-keygen -lf` printed them.
const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMdDGkRzdMQNHQHSKVB8CZiRnftRAKk7ScoSYbhC+jPa'
const ED25519_FP = 'SHA256:vQWog0Zd4yR4vJM6xPH211SJswGyhZ+LweOvIFPB2kY'
const ECDSA =
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAv8JO2ZKVIguZW2b2EuymKEjfNUIb1D5GLc/LXjuZpuChMpRrn3A6104BCn5nCSv45S6OdtpdMPjidKxa84Ids='
const ECDSA_FP = 'SHA256:f3yQMcp0zyrygB6mQpt3S6FSyDxKUI5laK97Polraww'
const RSA =
  'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDmOVbMYMKjOrykTWlAsuB5qghKgJOtXQlYGO04wtOXP5+rjEjKnW+dwkw643pJeTo1kMkWcD9KNRFXn7r+1bB4YlEGqmUIEG94fjjlZc5zAE+9nHKjIRnpTDzYVP016Wz+k7ong61iyM1D1CdcnrXR42CK+AcEBxMLEYHn08BnQw=='
const RSA_FP = 'SHA256:24C/E+ep/VVWYWzM1cJ9R3wscAYLuRUTUiIbtmPgEWQ'

function key(line: string) {
  const parsed = parseHostKey(line)
  if (!parsed) throw new Error(`not a key: ${line}`)
  return parsed
}

describe('host keys', () => {
  it('parses known_hosts-style keys and fingerprints them like ssh-keygen', () => {
    expect(key(ED25519)).toMatchObject({type: 'ssh-ed25519', line: ED25519, fingerprint: ED25519_FP})
    expect(key(ECDSA)).toMatchObject({type: 'ecdsa-sha2-nistp256', fingerprint: ECDSA_FP})
    expect(key(RSA)).toMatchObject({type: 'ssh-rsa', fingerprint: RSA_FP})
  })

  it('accepts a trailing comment and surrounding spaces', () => {
    expect(key(`  ${ED25519} root@gw-1 \n`).line).toBe(ED25519)
  })

  it('rejects text that is not a key, or whose type lies about the blob', () => {
    expect(parseHostKey('')).toBeUndefined()
    expect(parseHostKey('ssh-ed25519')).toBeUndefined()
    expect(parseHostKey('ssh-ed25519 not*base64')).toBeUndefined()
    expect(parseHostKey('ssh-ed25519 AAAA')).toBeUndefined()
    expect(parseHostKey(ECDSA.replace('ecdsa-sha2-nistp256', 'ssh-ed25519'))).toBeUndefined()
  })

  it('builds the same key from the wire blob ssh2 hands to the verifier', () => {
    const parsed = key(ED25519)
    const fromBlob = hostKeyFromBlob(Buffer.from(parsed.blob))
    expect(fromBlob).toEqual(parsed)
    expect(fingerprintOf(parsed.blob)).toBe(ED25519_FP)
  })

  it('asks only for the pinned key type (RSA keys sign with three algorithms)', () => {
    expect(algorithmsFor('ssh-ed25519')).toEqual(['ssh-ed25519'])
    expect(algorithmsFor('ecdsa-sha2-nistp256')).toEqual(['ecdsa-sha2-nistp256'])
    expect(algorithmsFor('ssh-rsa')).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'])
  })

  describe('decideHostKey', () => {
    const a = key(ED25519)
    const b = key(ECDSA)

    it('records on first use', () => {
      expect(decideHostKey(a)).toEqual({action: 'record'})
    })

    it('accepts the recorded or pinned key', () => {
      expect(decideHostKey(a, undefined, a)).toEqual({action: 'accept'})
      expect(decideHostKey(a, a)).toEqual({action: 'accept'})
    })

    it('rejects any other key, saying which expectation it broke', () => {
      expect(decideHostKey(b, undefined, a)).toEqual({action: 'reject', expected: a, source: 'recorded'})
      expect(decideHostKey(b, a)).toEqual({action: 'reject', expected: a, source: 'pinned'})
    })

    it('lets a pinned key win over a different recorded one', () => {
      expect(decideHostKey(a, a, b)).toEqual({action: 'accept'})
      expect(decideHostKey(b, a, b)).toMatchObject({action: 'reject', source: 'pinned'})
    })
  })

  it('MemoryHostKeyStore records, replaces and forgets keys', async () => {
    const store = new MemoryHostKeyStore({'gw-1': ED25519})
    expect(await store.get('gw-1')).toBe(ED25519)
    expect(await store.get('gw-2')).toBeUndefined()
    await store.record('gw-2', ECDSA)
    await store.record('gw-1', RSA)
    expect(store.entries()).toEqual({'gw-1': RSA, 'gw-2': ECDSA})
    expect(store.forget('gw-1')).toBe(true)
    expect(await store.get('gw-1')).toBeUndefined()
  })
})
