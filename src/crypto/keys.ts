/**
 * Key material for gateways and links, from node:crypto only. WireGuard and
 * REALITY keys are raw x25519 keys; Node exports them wrapped in DER, whose
 * last 32 bytes are the key (formats.md §2.4).
 */
import {createPrivateKey, createPublicKey, generateKeyPairSync, hkdfSync, randomBytes, randomUUID} from 'node:crypto'

import type {KeyPair} from '../model/state-values.js'

const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')

function rawKeyPair(): {privateKey: Buffer; publicKey: Buffer} {
  const {privateKey, publicKey} = generateKeyPairSync('x25519')
  return {
    privateKey: privateKey.export({format: 'der', type: 'pkcs8'}).subarray(-32),
    publicKey: publicKey.export({format: 'der', type: 'spki'}).subarray(-32),
  }
}

function rawPublicKey(privateKey: Buffer): Buffer {
  const key = createPrivateKey({key: Buffer.concat([PKCS8_X25519_PREFIX, privateKey]), format: 'der', type: 'pkcs8'})
  return createPublicKey(key).export({format: 'der', type: 'spki'}).subarray(-32)
}

/** A WireGuard key pair in standard base64, as `wg genkey | wg pubkey` gives. */
export function generateWireguardKeyPair(): KeyPair {
  const {privateKey, publicKey} = rawKeyPair()
  return {privateKey: privateKey.toString('base64'), publicKey: publicKey.toString('base64')}
}

export function wireguardPublicKey(privateKey: string): string {
  return rawPublicKey(Buffer.from(privateKey, 'base64')).toString('base64')
}

/** A REALITY key pair in base64url without padding, as `xray x25519` gives. */
export function generateRealityKeyPair(): KeyPair {
  const {privateKey, publicKey} = rawKeyPair()
  return {privateKey: privateKey.toString('base64url'), publicKey: publicKey.toString('base64url')}
}

export function generateUuid(): string {
  return randomUUID()
}

/** Key length in bytes a Shadowsocks method expects (2022 ciphers: the PSK size). */
export function shadowsocksKeyLength(method: string): number {
  return method === '2022-blake3-aes-128-gcm' ? 16 : 32
}

export function generateShadowsocksKey(method: string): string {
  return randomBytes(shadowsocksKeyLength(method)).toString('base64')
}

/**
 * A link's Shadowsocks key, derived from its UUID so that rotating the link
 * rotates every credential it carries and nothing extra needs storing.
 */
export function deriveShadowsocksUserKey(uuid: string, inboundTag: string, method: string): string {
  const key = hkdfSync(
    'sha256',
    Buffer.from(uuid),
    Buffer.from(inboundTag),
    'nexus shadowsocks user key',
    shadowsocksKeyLength(method),
  )
  return Buffer.from(key).toString('base64')
}

/** Fresh values for exactly what a plan found missing (plan/state-plan.ts `missingValues`). */
export function generateRequested(requests: {
  readonly secrets: readonly {
    readonly scope: string
    readonly name: string
    readonly kind: string
    readonly method?: string
  }[]
  readonly links: readonly string[]
}): {secrets: Map<string, {value: string; publicValue?: string}>; links: Map<string, string>} {
  const secrets = new Map<string, {value: string; publicValue?: string}>()
  for (const request of requests.secrets) {
    const id = `${request.scope}/${request.name}`
    if (request.kind === 'wireguard' || request.kind === 'reality') {
      const pair = request.kind === 'wireguard' ? generateWireguardKeyPair() : generateRealityKeyPair()
      secrets.set(id, {value: pair.privateKey, publicValue: pair.publicKey})
    } else {
      secrets.set(id, {value: generateShadowsocksKey(request.method ?? '')})
    }
  }
  return {secrets, links: new Map(requests.links.map((key) => [key, generateUuid()]))}
}
