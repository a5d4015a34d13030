/**
 * The sing-box profile, for sing-box ≥ 1.12 (formats.md §9). sing-box rejects
 * unknown fields, so everything is built from the closed types below, in a
 * fixed key order: typed DNS servers, rule actions (`sniff`, `hijack-dns`)
 * instead of the `block`/`dns` outbounds and inbound sniffing removed in
 * 1.13, `default_domain_resolver` for domain-name servers (needed from 1.14),
 * and `utls` on every REALITY client, which requires it.
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

/** The selector every connection goes through unless a rule says otherwise. */
export const SINGBOX_SELECTOR = 'proxy'
export const SINGBOX_DIRECT = 'direct'

export interface SingboxConfig {
  readonly log: {readonly level: 'warn'}
  readonly dns: {readonly servers: readonly SingboxDnsServer[]; readonly final: string}
  readonly inbounds: readonly SingboxInbound[]
  readonly outbounds: readonly SingboxOutbound[]
  readonly route: SingboxRoute
}

export type SingboxDnsServer =
  | {readonly type: 'https'; readonly tag: string; readonly server: string; readonly detour: string}
  | {readonly type: 'local'; readonly tag: string}

export type SingboxInbound =
  | {
      readonly type: 'tun'
      readonly tag: string
      readonly address: readonly string[]
      readonly auto_route: true
      readonly strict_route: true
    }
  | {readonly type: 'mixed'; readonly tag: string; readonly listen: string; readonly listen_port: number}

export interface SingboxTls {
  readonly enabled: true
  readonly server_name?: string
  readonly alpn?: readonly string[]
  readonly utls?: {readonly enabled: true; readonly fingerprint: string}
  readonly reality?: {readonly enabled: true; readonly public_key: string; readonly short_id?: string}
}

export type SingboxTransport =
  | {readonly type: 'ws'; readonly path?: string; readonly headers?: {readonly Host: string}}
  | {readonly type: 'httpupgrade'; readonly host?: string; readonly path?: string}
  | {readonly type: 'grpc'; readonly service_name?: string}

interface SingboxServer {
  readonly tag: string
  readonly server: string
  readonly server_port: number
}

export type SingboxVless = {readonly type: 'vless'} & SingboxServer & {
    readonly uuid: string
    readonly flow?: 'xtls-rprx-vision'
    readonly packet_encoding: 'xudp'
    readonly tls?: SingboxTls
    readonly transport?: SingboxTransport
  }

export type SingboxVmess = {readonly type: 'vmess'} & SingboxServer & {
    readonly uuid: string
    readonly security: 'auto'
    readonly alter_id: 0
    readonly tls?: SingboxTls
    readonly transport?: SingboxTransport
  }

export type SingboxTrojan = {readonly type: 'trojan'} & SingboxServer & {
    readonly password: string
    readonly tls?: SingboxTls
    readonly transport?: SingboxTransport
  }

export type SingboxShadowsocks = {readonly type: 'shadowsocks'} & SingboxServer & {
    readonly method: string
    readonly password: string
  }

export type SingboxProxyOutbound = SingboxVless | SingboxVmess | SingboxTrojan | SingboxShadowsocks

export type SingboxOutbound =
  | {readonly type: 'selector'; readonly tag: string; readonly outbounds: readonly string[]; readonly default: string}
  | SingboxProxyOutbound
  | {readonly type: 'direct'; readonly tag: string}

export type SingboxRule =
  | {readonly action: 'sniff'}
  | {readonly protocol: 'dns'; readonly action: 'hijack-dns'}
  | {readonly ip_is_private: true; readonly outbound: string}

export interface SingboxRoute {
  readonly rules: readonly SingboxRule[]
  readonly final: string
  readonly default_domain_resolver: string
  readonly auto_detect_interface: true
}

export function renderSingbox(proxies: readonly Proxy[]): string {
  return `${JSON.stringify(singboxConfig(proxies), null, 2)}\n`
}

export function singboxConfig(proxies: readonly Proxy[]): SingboxConfig {
  const outbounds = proxies.flatMap((proxy) => {
    const outbound = singboxOutbound(proxy)
    return outbound ? [outbound] : []
  })
  const tags = outbounds.map((outbound) => outbound.tag)
  return {
    log: {level: 'warn'},
    dns: {
      servers: [
        {type: 'https', tag: 'dns-remote', server: '1.1.1.1', detour: SINGBOX_SELECTOR},
        {type: 'local', tag: 'dns-local'},
      ],
      final: 'dns-remote',
    },
    // tun for the VPN apps the User-Agent picks this format for; mixed for a local proxy.
    inbounds: [
      {
        type: 'tun',
        tag: 'tun-in',
        address: ['172.19.0.1/30', 'fdfe:dcba:9876::1/126'],
        auto_route: true,
        strict_route: true,
      },
      {type: 'mixed', tag: 'mixed-in', listen: '127.0.0.1', listen_port: 2080},
    ],
    outbounds: [
      // `direct` keeps the selector valid for a link with no proxies.
      {
        type: 'selector',
        tag: SINGBOX_SELECTOR,
        outbounds: [...tags, SINGBOX_DIRECT],
        default: tags[0] ?? SINGBOX_DIRECT,
      },
      ...outbounds,
      {type: 'direct', tag: SINGBOX_DIRECT},
    ],
    route: {
      rules: [
        {action: 'sniff'},
        {protocol: 'dns', action: 'hijack-dns'},
        {ip_is_private: true, outbound: SINGBOX_DIRECT},
      ],
      final: SINGBOX_SELECTOR,
      default_domain_resolver: 'dns-local',
      auto_detect_interface: true,
    },
  }
}

/** The sing-box outbound for a Proxy, or undefined for XHTTP, which sing-box does not implement (formats.md §9.1). */
export function singboxOutbound(proxy: Proxy): SingboxProxyOutbound | undefined {
  switch (proxy.protocol) {
    case 'vless':
      return singboxVless(proxy)
    case 'vmess':
      return singboxVmess(proxy)
    case 'trojan':
      return singboxTrojan(proxy)
    case 'shadowsocks':
      return singboxShadowsocks(proxy)
  }
}

function server(proxy: Proxy): SingboxServer {
  return {tag: proxy.name, server: proxy.server, server_port: proxy.port}
}

function singboxVless(proxy: VlessProxy): SingboxVless | undefined {
  if (proxy.transport.type === 'xhttp') return undefined
  const tls = singboxTls(proxy.security)
  const transport = singboxTransport(proxy.transport)
  return {
    type: 'vless',
    ...server(proxy),
    uuid: proxy.uuid,
    ...(proxy.flow ? {flow: proxy.flow} : {}),
    packet_encoding: 'xudp',
    ...(tls ? {tls} : {}),
    ...(transport ? {transport} : {}),
  }
}

function singboxVmess(proxy: VmessProxy): SingboxVmess | undefined {
  if (proxy.transport.type === 'xhttp') return undefined
  const tls = singboxTls(proxy.security)
  const transport = singboxTransport(proxy.transport)
  return {
    type: 'vmess',
    ...server(proxy),
    uuid: proxy.uuid,
    security: 'auto',
    alter_id: 0,
    ...(tls ? {tls} : {}),
    ...(transport ? {transport} : {}),
  }
}

function singboxTrojan(proxy: TrojanProxy): SingboxTrojan | undefined {
  if (proxy.transport.type === 'xhttp') return undefined
  const tls = singboxTls(proxy.security)
  const transport = singboxTransport(proxy.transport)
  return {
    type: 'trojan',
    ...server(proxy),
    password: proxy.password,
    ...(tls ? {tls} : {}),
    ...(transport ? {transport} : {}),
  }
}

function singboxShadowsocks(proxy: ShadowsocksProxy): SingboxShadowsocks {
  return {type: 'shadowsocks', ...server(proxy), method: proxy.method, password: proxy.password}
}

function singboxTls(security: ProxySecurity): SingboxTls | undefined {
  switch (security.type) {
    case 'none':
      return undefined
    case 'tls':
      return {
        enabled: true,
        ...(security.serverName !== undefined ? {server_name: security.serverName} : {}),
        ...(security.alpn.length > 0 ? {alpn: security.alpn} : {}),
        utls: {enabled: true, fingerprint: security.fingerprint},
      }
    case 'reality':
      return {
        enabled: true,
        server_name: security.serverName,
        utls: {enabled: true, fingerprint: security.fingerprint},
        reality: {
          enabled: true,
          public_key: security.publicKey,
          ...(security.shortId !== '' ? {short_id: security.shortId} : {}),
        },
      }
  }
}

/** Raw TCP is sing-box's default (no transport); XHTTP never gets here. */
function singboxTransport(transport: ProxyTransport): SingboxTransport | undefined {
  switch (transport.type) {
    case 'tcp':
    case 'xhttp':
      return undefined
    case 'ws':
      return {
        type: 'ws',
        ...(transport.path !== undefined ? {path: transport.path} : {}),
        ...(transport.host !== undefined ? {headers: {Host: transport.host}} : {}),
      }
    case 'httpupgrade':
      return {
        type: 'httpupgrade',
        ...(transport.host !== undefined ? {host: transport.host} : {}),
        ...(transport.path !== undefined ? {path: transport.path} : {}),
      }
    case 'grpc':
      return {type: 'grpc', ...(transport.serviceName !== undefined ? {service_name: transport.serviceName} : {})}
  }
}
