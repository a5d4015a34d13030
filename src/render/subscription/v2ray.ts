/**
 * The v2ray subscription: one share link per proxy, `\n`-joined, in standard
 * padded base64 (formats.md §7). Every query value, the fragment and the
 * trojan password go through encodeURIComponent, never URLSearchParams: it
 * writes a space as `+`, which v2rayN keeps as a literal `+`, and v2rayN drops
 * any parameter whose value holds a raw `=` (formats.md §1.2).
 */
import type {
  Proxy,
  ProxySecurity,
  ProxyTransport,
  ShadowsocksProxy,
  TrojanProxy,
  VlessProxy,
  VmessProxy,
} from './proxies.js'
import {isShadowsocks2022Client} from './proxies.js'

/** The base64 body served to v2ray-style clients. */
export function renderV2ray(proxies: readonly Proxy[]): string {
  return Buffer.from(shareLinks(proxies).join('\n'), 'utf8').toString('base64')
}

export function shareLinks(proxies: readonly Proxy[]): string[] {
  return proxies.map(shareLink)
}

export function shareLink(proxy: Proxy): string {
  switch (proxy.protocol) {
    case 'vless':
      return vlessLink(proxy)
    case 'vmess':
      return vmessLink(proxy)
    case 'trojan':
      return trojanLink(proxy)
    case 'shadowsocks':
      return shadowsocksLink(proxy)
  }
}

type Param = readonly [key: string, value: string | undefined]

/** `vless://uuid@host:port?encryption=none&flow=…&security=…&type=…#name` (formats.md §7.1). */
function vlessLink(proxy: VlessProxy): string {
  const params: Param[] = [
    ['encryption', 'none'],
    ['flow', proxy.flow],
    ...securityParams(proxy.security),
    ...transportParams(proxy.transport),
  ]
  return `vless://${encodeURIComponent(proxy.uuid)}@${linkAuthority(proxy)}?${query(params)}#${fragment(proxy)}`
}

/** `security` is always present: v2rayN reads a missing one as no TLS (formats.md §7.3). */
function trojanLink(proxy: TrojanProxy): string {
  const params: Param[] = [...securityParams(proxy.security), ...transportParams(proxy.transport)]
  return `trojan://${encodeURIComponent(proxy.password)}@${linkAuthority(proxy)}?${query(params)}#${fragment(proxy)}`
}

/**
 * v2rayN's "ver 2" JSON with every value a string; the name travels inside
 * the JSON, so there is no fragment (formats.md §7.2).
 */
export interface VmessShare {
  readonly v: '2'
  readonly ps: string
  readonly add: string
  readonly port: string
  readonly id: string
  readonly aid: '0'
  readonly scy: 'auto'
  readonly net: string
  readonly type: string
  readonly host: string
  readonly path: string
  readonly tls: '' | 'tls'
  readonly sni: string
  readonly alpn: string
  readonly fp: string
}

export function vmessShare(proxy: VmessProxy): VmessShare {
  const {transport, security} = proxy
  const tls = security.type === 'tls' ? security : undefined
  return {
    v: '2',
    ps: proxy.name,
    add: proxy.server,
    port: String(proxy.port),
    id: proxy.uuid,
    aid: '0',
    scy: 'auto',
    net: transport.type,
    type: vmessHeaderType(transport),
    host: 'host' in transport ? (transport.host ?? '') : '',
    // gRPC's service name rides in `path`, as v2rayN writes it.
    path: transport.type === 'grpc' ? (transport.serviceName ?? '') : 'path' in transport ? (transport.path ?? '') : '',
    tls: tls ? 'tls' : '',
    sni: tls?.serverName ?? '',
    alpn: tls ? tls.alpn.join(',') : '',
    fp: tls?.fingerprint ?? '',
  }
}

function vmessLink(proxy: VmessProxy): string {
  return `vmess://${Buffer.from(JSON.stringify(vmessShare(proxy)), 'utf8').toString('base64')}`
}

/** v2rayN keeps the raw header type, the gRPC mode or the XHTTP mode in the same field. */
function vmessHeaderType(transport: ProxyTransport): string {
  switch (transport.type) {
    case 'grpc':
      return 'gun'
    case 'xhttp':
      return 'auto'
    default:
      return 'none'
  }
}

/**
 * SIP002: legacy AEAD userinfo is base64url of `method:password` without
 * padding; a 2022 cipher's must not be base64 and is `pct(method):pct(password)`,
 * the inner `:` of `serverPSK:userPSK` included (formats.md §7.4).
 */
function shadowsocksLink(proxy: ShadowsocksProxy): string {
  const userinfo = isShadowsocks2022Client(proxy.method)
    ? `${encodeURIComponent(proxy.method)}:${encodeURIComponent(proxy.password)}`
    : Buffer.from(`${proxy.method}:${proxy.password}`, 'utf8').toString('base64url')
  return `ss://${userinfo}@${linkAuthority(proxy)}#${fragment(proxy)}`
}

function securityParams(security: ProxySecurity): Param[] {
  switch (security.type) {
    case 'none':
      return [['security', 'none']]
    case 'tls':
      return [
        ['security', 'tls'],
        ['sni', security.serverName],
        ['fp', security.fingerprint],
        ['alpn', security.alpn.length > 0 ? security.alpn.join(',') : undefined],
      ]
    case 'reality':
      return [
        ['security', 'reality'],
        ['sni', security.serverName],
        ['fp', security.fingerprint],
        ['pbk', security.publicKey],
        ['sid', security.shortId === '' ? undefined : security.shortId],
        ['spx', security.spiderX === '' ? undefined : security.spiderX],
      ]
  }
}

function transportParams(transport: ProxyTransport): Param[] {
  switch (transport.type) {
    case 'tcp':
      return [
        ['type', 'tcp'],
        ['headerType', 'none'],
      ]
    case 'ws':
    case 'httpupgrade':
      return [
        ['type', transport.type],
        ['host', transport.host],
        ['path', transport.path],
      ]
    case 'xhttp':
      return [
        ['type', 'xhttp'],
        ['host', transport.host],
        ['path', transport.path],
        ['mode', 'auto'],
      ]
    case 'grpc':
      return [
        ['type', 'grpc'],
        ['serviceName', transport.serviceName],
        ['mode', 'gun'],
      ]
  }
}

/** Keys are fixed ASCII; every value is encodeURIComponent'd; absent values are left out. */
function query(params: readonly Param[]): string {
  return params
    .filter((param): param is readonly [string, string] => param[1] !== undefined)
    .map(([key, value]) => `${key}=${encodeURIComponent(value)}`)
    .join('&')
}

function fragment(proxy: Proxy): string {
  return encodeURIComponent(proxy.name)
}

/** `host:port`, an IPv6 literal in brackets (formats.md §1.3). */
export function linkAuthority(proxy: Pick<Proxy, 'server' | 'port'>): string {
  return proxy.server.includes(':') ? `[${proxy.server}]:${proxy.port}` : `${proxy.server}:${proxy.port}`
}
