/**
 * Xray inbounds: one per declared inbound, its clients being the links of the
 * users allowed that protocol on the node (formats.md §5.2-§5.4).
 */
import {deriveShadowsocksUserKey} from '../crypto/keys.js'
import type {Node, ShadowsocksMethod, XrayInbound} from '../model/desired.js'
import type {XrayClient} from '../model/fleet.js'
import type {NodeSecrets} from '../model/state-values.js'
import {API_INBOUND_TAG} from './xray-routing.js'
import type {
  Shadowsocks2022Settings,
  ShadowsocksLegacySettings,
  TrojanSettings,
  VlessSettings,
  VmessSettings,
  XrayInboundJson,
  XrayInboundSettings,
  XrayRealitySettings,
  XraySniffing,
  XrayStreamSettings,
  XrayTlsSettings,
} from './xray-types.js'

const SHADOWSOCKS_2022 = new Set<ShadowsocksMethod>([
  '2022-blake3-aes-128-gcm',
  '2022-blake3-aes-256-gcm',
  '2022-blake3-chacha20-poly1305',
])

export function isShadowsocks2022(method: ShadowsocksMethod): boolean {
  return SHADOWSOCKS_2022.has(method)
}

/** No `quic`: v2ray 4.34 rejects it, and routeOnly keeps the sniffed domain out of the actual dial. */
const SNIFFING: XraySniffing = {enabled: true, destOverride: ['http', 'tls'], routeOnly: true}

/** The stats/handler API in the classic mode both Xray and v2ray 4.34 understand (formats.md §5.5). */
export function apiInbound(port: number): XrayInboundJson {
  return {
    tag: API_INBOUND_TAG,
    listen: '127.0.0.1',
    port,
    protocol: 'dokodemo-door',
    settings: {address: '127.0.0.1'},
  }
}

/** What an inbound needs besides its declaration. Secrets are looked up lazily so only used ones must exist. */
export interface InboundContext {
  readonly node: Node
  readonly secrets: () => NodeSecrets
}

export function renderInbound(
  inbound: XrayInbound,
  clients: readonly XrayClient[],
  context: InboundContext,
): XrayInboundJson {
  return {
    tag: inbound.tag,
    listen: inbound.listen,
    port: inbound.port,
    protocol: inbound.protocol,
    settings: inboundSettings(inbound, clients, context),
    streamSettings: streamSettings(inbound, context),
    sniffing: SNIFFING,
  }
}

function inboundSettings(
  inbound: XrayInbound,
  clients: readonly XrayClient[],
  context: InboundContext,
): XrayInboundSettings {
  switch (inbound.protocol) {
    case 'vless':
      return vlessSettings(inbound, clients)
    case 'vmess':
      return vmessSettings(clients)
    case 'trojan':
      return trojanSettings(clients)
    case 'shadowsocks':
      return shadowsocksSettings(inbound, clients, context)
  }
}

/**
 * Vision goes on every client, not as the inbound default: the server rejects
 * a TCP client that sends no flow when its user has one (formats.md §5.2), so
 * each client entry states exactly what its exported link carries.
 */
function vlessSettings(inbound: XrayInbound, clients: readonly XrayClient[]): VlessSettings {
  const flow = inbound.flow
  return {
    clients: clients.map((c) => ({id: c.uuid, ...(flow ? {flow} : {}), email: c.email, level: 0})),
    decryption: 'none',
  }
}

function vmessSettings(clients: readonly XrayClient[]): VmessSettings {
  return {clients: clients.map((c) => ({id: c.uuid, email: c.email, level: 0}))}
}

/** The link's UUID doubles as its trojan password, so rotating a link rotates both. */
function trojanSettings(clients: readonly XrayClient[]): TrojanSettings {
  return {clients: clients.map((c) => ({password: c.uuid, email: c.email, level: 0}))}
}

function shadowsocksSettings(
  inbound: XrayInbound,
  clients: readonly XrayClient[],
  context: InboundContext,
): Shadowsocks2022Settings | ShadowsocksLegacySettings {
  const method = inbound.method
  if (method === undefined)
    throw new Error(`xray: node ${context.node.name} inbound ${inbound.tag}: shadowsocks without a method`)
  const userKey = (c: XrayClient) => deriveShadowsocksUserKey(c.uuid, inbound.tag, method)
  if (!isShadowsocks2022(method)) {
    // Legacy multi-user has no shared key: each client names its own cipher.
    return {
      clients: clients.map((c) => ({method, password: userKey(c), email: c.email, level: 0})),
      network: 'tcp,udp',
    }
  }
  if (method === '2022-blake3-chacha20-poly1305') {
    throw new Error(`xray: node ${context.node.name} inbound ${inbound.tag}: ${method} has no multi-user mode in Xray`)
  }
  return {
    method,
    password: shadowsocksServerKey(inbound, context),
    // Clients of a 2022 inbound must not name a method ("users must have empty method").
    clients: clients.map((c) => ({password: userKey(c), email: c.email, level: 0})),
    network: 'tcp,udp',
  }
}

function shadowsocksServerKey(inbound: XrayInbound, context: InboundContext): string {
  const key = context.secrets().shadowsocks.get(inbound.tag)
  if (key === undefined) throw missingSecret('shadowsocks server key', inbound, context)
  return key
}

function streamSettings(inbound: XrayInbound, context: InboundContext): XrayStreamSettings {
  const {transport} = inbound
  return {
    // `tcp`, never `raw`: v2ray 4.34 (the CI check) knows only the old name.
    network: transport.type,
    security: inbound.security,
    ...(inbound.security === 'tls' ? {tlsSettings: tlsSettings(inbound, context)} : {}),
    ...(inbound.security === 'reality' ? {realitySettings: realitySettings(inbound, context)} : {}),
    ...transportSettings(inbound),
  }
}

function transportSettings(inbound: XrayInbound): Partial<XrayStreamSettings> {
  const {type, path, host, serviceName} = inbound.transport
  const pathSettings = {...(path !== undefined ? {path} : {}), ...(host !== undefined ? {host} : {})}
  switch (type) {
    case 'tcp':
      return {}
    case 'ws':
      return {wsSettings: pathSettings}
    case 'grpc':
      return {grpcSettings: serviceName !== undefined ? {serviceName} : {}}
    case 'httpupgrade':
      return {httpupgradeSettings: pathSettings}
    case 'xhttp':
      return {xhttpSettings: pathSettings}
  }
}

function tlsSettings(inbound: XrayInbound, context: InboundContext): XrayTlsSettings {
  const tls = inbound.tls
  if (!tls) throw new Error(`xray: node ${context.node.name} inbound ${inbound.tag}: security tls without tls settings`)
  return {
    ...(tls.serverName !== undefined ? {serverName: tls.serverName} : {}),
    ...(tls.alpn.length > 0 ? {alpn: tls.alpn} : {}),
    certificates: [{certificateFile: tls.certificateFile, keyFile: tls.keyFile}],
  }
}

/** Server side only: no `show` (it logs handshakes), and the client-side keys belong in links. */
function realitySettings(inbound: XrayInbound, context: InboundContext): XrayRealitySettings {
  const reality = inbound.reality
  if (!reality)
    throw new Error(`xray: node ${context.node.name} inbound ${inbound.tag}: security reality without reality settings`)
  const keys = context.secrets().reality.get(inbound.tag)
  if (!keys) throw missingSecret('REALITY key pair', inbound, context)
  return {
    target: reality.target,
    serverNames: reality.serverNames,
    privateKey: keys.privateKey,
    shortIds: reality.shortIds,
    minClientVer: reality.minClientVer,
  }
}

/** The caller always supplies state (real or preview), so a missing secret is a bug, not a user error. */
function missingSecret(what: string, inbound: XrayInbound, context: InboundContext): Error {
  return new Error(`xray: no ${what} in state for node ${context.node.name} inbound ${inbound.tag}`)
}
