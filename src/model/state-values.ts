/**
 * The values a render needs that git does not hold: secrets, allocated
 * addresses and which users are active right now. They come from the state
 * store, or, before any state exists, are generated for a preview only.
 */
import type {IpAddress} from './ip.js'

export interface KeyPair {
  readonly privateKey: string
  readonly publicKey: string
}

export interface NodeSecrets {
  /** WireGuard key pair per interface name (standard base64). */
  readonly wireguard: ReadonlyMap<string, KeyPair>
  /** REALITY x25519 key pair per inbound tag (base64url, no padding). */
  readonly reality: ReadonlyMap<string, KeyPair>
  /** Shadowsocks server key per inbound tag (standard base64 of 16 or 32 bytes). */
  readonly shadowsocks: ReadonlyMap<string, string>
}

export interface StateValues {
  /** True when the secrets were generated for this render only and must never be deployed. */
  readonly preview: boolean
  readonly nodes: ReadonlyMap<string, NodeSecrets>
  /** Link UUID per `user/link`. */
  readonly links: ReadonlyMap<string, string>
  /** Every peer's tunnel addresses (declared or allocated), one per family at most. */
  readonly addresses: ReadonlyMap<string, readonly IpAddress[]>
  /** Users whose subscription is active now; only they reach node configs. */
  readonly activeUsers: ReadonlySet<string>
}

export function linkKey(user: string, link: string): string {
  return `${user}/${link}`
}
