/**
 * Secrets at rest: AES-256-GCM with the state key. Each sealed value is bound
 * to what it is (its context, e.g. `node/fra-1/wireguard/wg0`) as additional
 * data, so ciphertexts cannot be swapped between rows. A wrong key fails the
 * authentication tag and is reported as such, never returned as garbage.
 */
import {createCipheriv, createDecipheriv, createHmac, randomBytes, scryptSync} from 'node:crypto'

import {NexusError} from '../errors.js'

const VERSION = 'v1'
const IV_BYTES = 12
const TAG_BYTES = 16

export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static generateKeyText(): string {
    return randomBytes(32).toString('base64')
  }

  /**
   * A key given as text: base64 of 32 bytes (as `generateKeyText` or
   * `openssl rand -base64 32` print), or else a passphrase stretched with scrypt.
   */
  static fromText(text: string): SecretBox {
    const trimmed = text.trim()
    if (trimmed === '') throw new NexusError('invalid_secret_key', 'NEXUS_SECRET_KEY is empty')
    const raw = /^[A-Za-z0-9+/]{43}=$/.test(trimmed) ? Buffer.from(trimmed, 'base64') : undefined
    if (raw?.length === 32) return new SecretBox(raw)
    if (trimmed.length < 16) {
      throw new NexusError(
        'invalid_secret_key',
        'NEXUS_SECRET_KEY is too short',
        'use 32 random bytes in base64 (openssl rand -base64 32) or a passphrase of at least 16 characters',
      )
    }
    return new SecretBox(
      scryptSync(trimmed, 'nexus state key v1', 32, {N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024}),
    )
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv)
    cipher.setAAD(Buffer.from(context))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return `${VERSION}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`
  }

  open(sealed: string, context: string): string {
    const [version, payload] = sealed.split('.')
    if (version !== VERSION || payload === undefined) {
      throw new NexusError('corrupt_secret', `the stored secret ${context} is not in a format this nexus reads`)
    }
    const bytes = Buffer.from(payload, 'base64url')
    if (bytes.length < IV_BYTES + TAG_BYTES) {
      throw new NexusError('corrupt_secret', `the stored secret ${context} is truncated`)
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, IV_BYTES))
      decipher.setAAD(Buffer.from(context))
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
      return Buffer.concat([
        decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8')
    } catch {
      throw new NexusError(
        'wrong_secret_key',
        `the stored secret ${context} cannot be decrypted with this key`,
        'use the NEXUS_SECRET_KEY (or .nexus/secret.key) the state was written with',
      )
    }
  }

  /** A value stored next to the data that tells whether a key is the right one, revealing nothing of it. */
  keyCheck(): string {
    return createHmac('sha256', this.key).update('nexus key check v1').digest('hex').slice(0, 32)
  }

  /** A keyed hash to look a secret up by value (a link UUID in a subscription URL) without storing it in clear. */
  lookupHash(value: string): string {
    return createHmac('sha256', this.key).update(`lookup:${value}`).digest('hex')
  }
}
