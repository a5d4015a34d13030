/**
 * SSH host keys: parsing known_hosts-style lines, fingerprints as ssh-keygen
 * prints them, and the pin / trust-on-first-use decision. Pure apart from the
 * in-memory store.
 */
import {createHash} from 'node:crypto'

import type {HostKeyStore} from './types.js'

export interface HostKey {
  /** The key type inside the blob, e.g. `ssh-ed25519`. */
  readonly type: string
  /** The SSH wire encoding of the public key (what known_hosts base64-encodes). */
  readonly blob: Buffer
  /** `TYPE BASE64`, the form pinned in ssh.hostKey and recorded in state. */
  readonly line: string
  /** `SHA256:…` as `ssh-keygen -l` prints it. */
  readonly fingerprint: string
}

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

/** The type string at the start of a key blob (uint32 length + bytes), if well formed. */
function blobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined
  const length = blob.readUInt32BE(0)
  if (length === 0 || length > 64 || 4 + length > blob.length) return undefined
  const type = blob.subarray(4, 4 + length).toString('latin1')
  return /^[a-z0-9@.-]+$/.test(type) ? type : undefined
}

export function hostKeyFromBlob(blob: Buffer): HostKey {
  const type = blobType(blob) ?? 'unknown'
  return {type, blob, line: `${type} ${blob.toString('base64')}`, fingerprint: fingerprintOf(blob)}
}

/**
 * Parses `TYPE BASE64 [comment]`. Undefined when it is not a key or the
 * declared type differs from the one inside the blob.
 */
export function parseHostKey(text: string): HostKey | undefined {
  const [type, base64] = text.trim().split(/\s+/)
  if (!type || !base64 || !/^[A-Za-z0-9+/]+={0,3}$/.test(base64)) return undefined
  const blob = Buffer.from(base64, 'base64')
  if (blobType(blob) !== type) return undefined
  return hostKeyFromBlob(blob)
}

/** Host key algorithms that can present a key of this type (RSA keys sign with several). */
export function algorithmsFor(type: string): string[] {
  return type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type]
}

export type HostKeyDecision =
  | {readonly action: 'accept'}
  /** First use: record the key, then accept. */
  | {readonly action: 'record'}
  | {readonly action: 'reject'; readonly expected: HostKey; readonly source: 'pinned' | 'recorded'}

/** A pinned key (ssh.hostKey) wins over a recorded one; with neither, the key is recorded. */
export function decideHostKey(presented: HostKey, pinned?: HostKey, recorded?: HostKey): HostKeyDecision {
  const expected = pinned ?? recorded
  if (!expected) return {action: 'record'}
  if (expected.blob.equals(presented.blob)) return {action: 'accept'}
  return {action: 'reject', expected, source: pinned ? 'pinned' : 'recorded'}
}

/** A HostKeyStore in memory, for tests and one-off runs. */
export class MemoryHostKeyStore implements HostKeyStore {
  readonly #keys: Map<string, string>

  constructor(initial: Readonly<Record<string, string>> = {}) {
    this.#keys = new Map(Object.entries(initial))
  }

  async get(node: string): Promise<string | undefined> {
    return this.#keys.get(node)
  }

  async record(node: string, key: string): Promise<void> {
    this.#keys.set(node, key)
  }

  forget(node: string): boolean {
    return this.#keys.delete(node)
  }

  entries(): Record<string, string> {
    return Object.fromEntries(this.#keys)
  }
}
