/**
 * What one user link may connect to, as a client-side model the subscription
 * formats (formats.md §7-§9) all render from. Every value here mirrors what
 * the server side renders (xray-inbounds.ts), so an exported client is
 * exactly a client the node accepts: the link's UUID as VLESS/VMess id and
 * trojan password, the same Vision flow, the REALITY public key of the
 * node's pair, and the Shadowsocks key derived from the UUID.
 *
 * A proxy is listed for every xray inbound of every `active` node (never a
 * disabled or maintenance one) whose protocol the user's tariff allows there.
 * WireGuard is not part of these formats.
 */
import {deriveShadowsocksUserKey} from '../../crypto/keys.js'
import type {Node, ShadowsocksMethod, XrayInbound} from '../../model/desired.js'
import type {Fleet} from '../../model/fleet.js'
import {formatAddress, parseIp} from '../../model/ip.js'
import {linkKey, type NodeSecrets} from '../../model/state-values.js'

/** uTLS fingerprint for plain TLS; REALITY inbounds declare their own. */
export const DEFAULT_FINGERPRINT = 'chrome'

export type ProxySecurity =
  | {readonly type: 'none'}
  | {
      readonly type: 'tls'
      /** Absent when the server is an IP address and the inbound names no serverName. */
      readonly serverName?: string
      readonly alpn: readonly string[]
      readonly fingerprint: string
    }
  | {
      readonly type: 'reality'
      readonly serverName: string
      readonly fingerprint: string
      /** The node's x25519 public key for this inbound, base64url without padding. */
      readonly publicKey: string
      /** The inbound's first shortId; may be empty. */
      readonly shortId: string
      readonly spiderX: string
    }

export type TlsSecurity = Exclude<ProxySecurity, {readonly type: 'reality'}>

export type ProxyTransport =
  | {readonly type: 'tcp'}
  | {readonly type: 'ws' | 'httpupgrade' | 'xhttp'; readonly path?: string; readonly host?: string}
  | {readonly type: 'grpc'; readonly serviceName?: string}

/**
 * Shadowsocks method names as clients spell them: the SIP004 `-ietf-` names
 * for the ChaCha ciphers, which Xray takes as aliases (infra/conf/shadowsocks.go
 * `cipherFromString`) and mihomo and sing-box require.
 */
export type ShadowsocksClientMethod =
  | '2022-blake3-aes-128-gcm'
  | '2022-blake3-aes-256-gcm'
  | 'aes-128-gcm'
  | 'aes-256-gcm'
  | 'chacha20-ietf-poly1305'
  | 'xchacha20-ietf-poly1305'

interface ProxyCommon {
  /** Display name: unique within one subscription, stable across renders. */
  readonly name: string
  readonly node: string
  /** The inbound's tag on that node. */
  readonly tag: string
  /** Where the client connects: the inbound's publicHost (an IPv6 literal in canonical form, unbracketed). */
  readonly server: string
  readonly port: number
}

export interface VlessProxy extends ProxyCommon {
  readonly protocol: 'vless'
  readonly uuid: string
  /** Only with the tcp transport and tls or reality security (formats.md §5.2). */
  readonly flow?: 'xtls-rprx-vision'
  readonly security: ProxySecurity
  readonly transport: ProxyTransport
}

export interface VmessProxy extends ProxyCommon {
  readonly protocol: 'vmess'
  readonly uuid: string
  readonly security: TlsSecurity
  readonly transport: ProxyTransport
}

export interface TrojanProxy extends ProxyCommon {
  readonly protocol: 'trojan'
  /** The link's UUID: the server uses it as the trojan password. */
  readonly password: string
  readonly security: TlsSecurity
  readonly transport: ProxyTransport
}

export interface ShadowsocksProxy extends ProxyCommon {
  readonly protocol: 'shadowsocks'
  readonly method: ShadowsocksClientMethod
  /** `serverPSK:userPSK` for 2022 ciphers; the derived per-user key for legacy AEAD. */
  readonly password: string
}

export type Proxy = VlessProxy | VmessProxy | TrojanProxy | ShadowsocksProxy

export function isShadowsocks2022Client(method: ShadowsocksClientMethod): boolean {
  return method.startsWith('2022-')
}

/**
 * Every proxy the link may use, ordered by node name, then inbound tag. An
 * unknown user or link, a link without a UUID in state, or a user who is not
 * active (user status, subscription or tariff) gets none.
 */
export function subscriptionProxies(fleet: Fleet, userName: string, link: string): Proxy[] {
  const user = fleet.users.get(userName)
  if (!user?.links.includes(link)) return []
  const uuid = fleet.state.links.get(linkKey(userName, link))
  if (uuid === undefined) return []
  const title = displayTitle(fleet.desired.project.subscription.title, fleet.desired.project.name)
  const proxies: Proxy[] = []
  for (const node of [...fleet.desired.nodes].sort((a, b) => compare(a.name, b.name))) {
    if (node.status !== 'active' || !node.xray) continue
    const inbounds = [...node.xray.inbounds].sort((a, b) => compare(a.tag, b.tag))
    for (const inbound of inbounds) {
      if (!fleet.userAllowed(userName, inbound.protocol, node)) continue
      const context: ProxyContext = {
        node,
        inbound,
        uuid,
        name: `${title} · ${node.name} ${inbound.tag}`,
        secrets: () => secretsOf(fleet, node),
      }
      proxies.push(toProxy(context))
    }
  }
  return withUniqueNames(proxies)
}

/**
 * The project title as it starts every proxy name. Control characters would
 * break line-based readers of the names (formats.md §1.5); they become spaces.
 */
export function displayTitle(title: string, fallback: string): string {
  const clean = title
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
  return clean === '' ? fallback : clean
}

interface ProxyContext {
  readonly node: Node
  readonly inbound: XrayInbound
  readonly uuid: string
  readonly name: string
  readonly secrets: () => NodeSecrets
}

function toProxy(context: ProxyContext): Proxy {
  const {node, inbound, uuid, name} = context
  const common = {
    name,
    node: node.name,
    tag: inbound.tag,
    server: clientHost(inbound.publicHost),
    port: inbound.publicPort,
  }
  switch (inbound.protocol) {
    case 'vless': {
      const flow = visionFlow(inbound)
      return {
        ...common,
        protocol: 'vless',
        uuid,
        ...(flow ? {flow} : {}),
        security: clientSecurity(context),
        transport: clientTransport(inbound),
      }
    }
    case 'vmess':
      return {...common, protocol: 'vmess', uuid, security: tlsOnly(context), transport: clientTransport(inbound)}
    case 'trojan':
      return {
        ...common,
        protocol: 'trojan',
        password: uuid,
        security: tlsOnly(context),
        transport: clientTransport(inbound),
      }
    case 'shadowsocks':
      return {...common, protocol: 'shadowsocks', ...shadowsocksCredentials(context)}
  }
}

/** Vision needs raw TCP under TLS or REALITY; the server puts it on every client of such an inbound. */
function visionFlow(inbound: XrayInbound): 'xtls-rprx-vision' | undefined {
  const tcpUnderTls = inbound.transport.type === 'tcp' && inbound.security !== 'none'
  return inbound.flow === 'xtls-rprx-vision' && tcpUnderTls ? inbound.flow : undefined
}

/**
 * The security the client speaks. An inbound without TLS whose publicPort
 * differs from its listening port sits behind a TLS-terminating proxy (the
 * convention inventory/checks/xray.ts states), so its clients speak TLS to
 * the public host. Shadowsocks never does.
 */
function clientSecurity(context: ProxyContext): ProxySecurity {
  const {inbound} = context
  switch (inbound.security) {
    case 'reality': {
      const reality = inbound.reality
      const serverName = reality?.serverNames[0]
      if (!reality || serverName === undefined) throw invalid(context, 'security reality without reality settings')
      const keys = context.secrets().reality.get(inbound.tag)
      if (!keys) throw invalid(context, 'no REALITY key pair in state')
      return {
        type: 'reality',
        serverName,
        fingerprint: reality.fingerprint,
        publicKey: keys.publicKey,
        shortId: reality.shortIds[0] ?? '',
        spiderX: reality.spiderX,
      }
    }
    case 'tls': {
      const tls = inbound.tls
      if (!tls) throw invalid(context, 'security tls without tls settings')
      const serverName = tls.serverName ?? sniFor(inbound.publicHost)
      return {
        type: 'tls',
        ...(serverName !== undefined ? {serverName} : {}),
        alpn: tls.alpn,
        fingerprint: DEFAULT_FINGERPRINT,
      }
    }
    case 'none': {
      if (inbound.protocol === 'shadowsocks' || inbound.publicPort === inbound.port) return {type: 'none'}
      const serverName = sniFor(inbound.publicHost)
      return {
        type: 'tls',
        ...(serverName !== undefined ? {serverName} : {}),
        alpn: [],
        fingerprint: DEFAULT_FINGERPRINT,
      }
    }
  }
}

function tlsOnly(context: ProxyContext): TlsSecurity {
  const security = clientSecurity(context)
  if (security.type === 'reality') throw invalid(context, `REALITY carries VLESS only, not ${context.inbound.protocol}`)
  return security
}

function clientTransport(inbound: XrayInbound): ProxyTransport {
  const {type, path, host, serviceName} = inbound.transport
  switch (type) {
    case 'tcp':
      return {type}
    case 'grpc':
      return {type, ...(serviceName !== undefined ? {serviceName} : {})}
    case 'ws':
    case 'httpupgrade':
    case 'xhttp':
      return {type, ...(path !== undefined ? {path} : {}), ...(host !== undefined ? {host} : {})}
  }
}

const CLIENT_METHODS: Readonly<Record<ShadowsocksMethod, ShadowsocksClientMethod | undefined>> = {
  '2022-blake3-aes-128-gcm': '2022-blake3-aes-128-gcm',
  '2022-blake3-aes-256-gcm': '2022-blake3-aes-256-gcm',
  // No multi-user mode in Xray, so the server never renders it (xray-inbounds.ts).
  '2022-blake3-chacha20-poly1305': undefined,
  'aes-128-gcm': 'aes-128-gcm',
  'aes-256-gcm': 'aes-256-gcm',
  'chacha20-poly1305': 'chacha20-ietf-poly1305',
  'xchacha20-poly1305': 'xchacha20-ietf-poly1305',
}

/**
 * The server gives each client the key derived from its UUID: alone for
 * legacy AEAD (with the client's own method), or under the inbound's server
 * PSK for SS-2022, whose clients send `serverPSK:userPSK` (formats.md §5.3).
 */
function shadowsocksCredentials(context: ProxyContext): {method: ShadowsocksClientMethod; password: string} {
  const {inbound, uuid} = context
  const serverMethod = inbound.method
  if (serverMethod === undefined) throw invalid(context, 'shadowsocks without a method')
  const method = CLIENT_METHODS[serverMethod]
  if (method === undefined) throw invalid(context, `${serverMethod} has no multi-user mode in Xray`)
  const userKey = deriveShadowsocksUserKey(uuid, inbound.tag, serverMethod)
  if (!isShadowsocks2022Client(method)) return {method, password: userKey}
  const serverKey = context.secrets().shadowsocks.get(inbound.tag)
  if (serverKey === undefined) throw invalid(context, 'no shadowsocks server key in state')
  return {method, password: `${serverKey}:${userKey}`}
}

/** An IPv6 literal in canonical form (brackets are each format's business); anything else as declared. */
function clientHost(host: string): string {
  const ip = parseIp(host)
  return ip ? formatAddress(ip) : host
}

/** SNI carries host names only (RFC 6066 §3), never an IP literal. */
function sniFor(host: string): string | undefined {
  return parseIp(host) ? undefined : host
}

/** Names repeated within one subscription get ` (2)`, ` (3)`, … in order (formats.md §8.3). */
export function withUniqueNames(proxies: readonly Proxy[]): Proxy[] {
  const taken = new Set<string>()
  return proxies.map((proxy) => {
    let name = proxy.name
    for (let n = 2; taken.has(name); n++) name = `${proxy.name} (${n})`
    taken.add(name)
    return name === proxy.name ? proxy : {...proxy, name}
  })
}

function secretsOf(fleet: Fleet, node: Node): NodeSecrets {
  const secrets = fleet.state.nodes.get(node.name)
  if (!secrets) throw new Error(`subscription: no secrets in state for node ${node.name}`)
  return secrets
}

/** Inventory rejects all of these, and the caller always supplies state: reaching one is a bug. */
function invalid(context: ProxyContext, what: string): Error {
  return new Error(`subscription: node ${context.node.name} inbound ${context.inbound.tag}: ${what}`)
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
