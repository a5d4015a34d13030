import {describe, expect, it} from 'vitest'

import {SecretBox} from '../../../src/state/secret-box.js'

describe('SecretBox', () => {
  const box = SecretBox.fromText(SecretBox.generateKeyText())

  it('round-trips a secret and never stores it in clear', () => {
    const sealed = box.seal('private key material', 'node/fra-1/wireguard/wg0')
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]+$/)
    expect(sealed).not.toContain('private')
    expect(box.open(sealed, 'node/fra-1/wireguard/wg0')).toBe('private key material')
  })

  it('seals the same value differently each time (random IV)', () => {
    expect(box.seal('x', 'c')).not.toBe(box.seal('x', 'c'))
  })

  it('refuses a ciphertext moved to another row (context is authenticated)', () => {
    const sealed = box.seal('secret', 'node/fra-1/wireguard/wg0')
    expect(() => box.open(sealed, 'node/ams-1/wireguard/wg0')).toThrow(/cannot be decrypted with this key/)
  })

  it('refuses a wrong key and a tampered ciphertext with wrong_secret_key, never garbage', () => {
    const sealed = box.seal('secret', 'c')
    const other = SecretBox.fromText(SecretBox.generateKeyText())
    expect(() => other.open(sealed, 'c')).toThrow(expect.objectContaining({code: 'wrong_secret_key'}))
    // Flip one bit of the ciphertext itself (not of the base64 text, whose last character may carry padding bits).
    const bytes = Buffer.from(sealed.slice(3), 'base64url')
    bytes[14] = bytes[14]! ^ 0x01
    const tampered = `v1.${bytes.toString('base64url')}`
    expect(tampered).not.toBe(sealed)
    expect(() => box.open(tampered, 'c')).toThrow(expect.objectContaining({code: 'wrong_secret_key'}))
    expect(() => box.open('v0.abc', 'c')).toThrow(expect.objectContaining({code: 'corrupt_secret'}))
    expect(() => box.open('v1.abc', 'c')).toThrow(expect.objectContaining({code: 'corrupt_secret'}))
  })

  it('accepts a base64 key or a passphrase, and gives the same key for the same text', () => {
    const passphrase = 'correct horse battery staple'
    const a = SecretBox.fromText(passphrase)
    const b = SecretBox.fromText(`${passphrase}\n`)
    expect(b.open(a.seal('v', 'c'), 'c')).toBe('v')
    expect(a.keyCheck()).toBe(b.keyCheck())
    expect(a.keyCheck()).not.toBe(box.keyCheck())
  })

  it('rejects an empty or short key', () => {
    expect(() => SecretBox.fromText('')).toThrow(expect.objectContaining({code: 'invalid_secret_key'}))
    expect(() => SecretBox.fromText('short')).toThrow(/too short/)
  })

  it('hashes lookup values with the key, so equal UUIDs match only under the same key', () => {
    const uuid = '0b5b50b9-f194-4fa8-ba9b-f7d2dee211f8'
    expect(box.lookupHash(uuid)).toBe(box.lookupHash(uuid))
    expect(box.lookupHash(uuid)).not.toBe(SecretBox.fromText(SecretBox.generateKeyText()).lookupHash(uuid))
    expect(box.lookupHash(uuid)).not.toContain(uuid)
  })
})
