/**
 * The Clash Meta / mihomo profile (formats.md §8): the §8.2 skeleton with one
 * proxy per Proxy mihomo can express, a select group of them plus DIRECT,
 * and rules that keep private ranges local and send the rest to the group.
 *
 * Serialized by the `yaml` package with every string double-quoted, so a
 * shortId like `0123`, an IPv6 literal or a `yes` stays a string for YAML 1.1
 * and 1.2 readers alike (formats.md §8.3).
 */
import {stringify} from 'yaml'

import type {
  Proxy,
  ProxySecurity,
  ProxyTransport,
  ShadowsocksProxy,
  TrojanProxy,
  VlessProxy,
  VmessProxy,
} from './proxies.js'

/** The select group every rule ends in; fixed, so a title with a comma cannot break `MATCH,<group>`. */
export const CLASH_GROUP = 'proxy'

/** LAN and loopback stay local; `no-resolve` keeps domain requests from being resolved just to test these. */
const PRIVATE_RULES = [
  'IP-CIDR,10.0.0.0/8,DIRECT,no-resolve',
  'IP-CIDR,100.64.0.0/10,DIRECT,no-resolve',
  'IP-CIDR,127.0.0.0/8,DIRECT,no-resolve',
  'IP-CIDR,169.254.0.0/16,DIRECT,no-resolve',
  'IP-CIDR,172.16.0.0/12,DIRECT,no-resolve',
  'IP-CIDR,192.168.0.0/16,DIRECT,no-resolve',
  'IP-CIDR6,::1/128,DIRECT,no-resolve',
  'IP-CIDR6,fc00::/7,DIRECT,no-resolve',
  'IP-CIDR6,fe80::/10,DIRECT,no-resolve',
] as const

export interface ClashConfig {
  readonly 'mixed-port': number
  readonly 'allow-lan': boolean
  readonly mode: 'rule'
  readonly 'log-level': 'warning'
  readonly ipv6: boolean
  readonly proxies: readonly ClashProxy[]
  readonly 'proxy-groups': readonly ClashGroup[]
  readonly rules: readonly string[]
}

export interface ClashGroup {
  readonly name: string
  readonly type: 'select'
  readonly proxies: readonly string[]
}

interface ClashCommon<T extends string> {
  readonly name: string
  readonly type: T
  readonly server: string
  readonly port: number
  readonly udp: true
}

/** TLS keys in the order they are written; `servername` is vless/vmess, `sni` trojan (formats.md §8.1). */
interface ClashTlsFields {
  readonly tls?: true
  readonly servername?: string
  readonly sni?: string
  readonly alpn?: readonly string[]
  readonly 'client-fingerprint'?: string
  readonly 'reality-opts'?: {readonly 'public-key': string; readonly 'short-id'?: string}
}

interface ClashTransportFields {
  readonly network: 'tcp' | 'ws' | 'grpc' | 'xhttp'
  readonly 'ws-opts'?: {
    readonly path?: string
    readonly headers?: {readonly Host: string}
    readonly 'v2ray-http-upgrade'?: true
  }
  readonly 'grpc-opts'?: {readonly 'grpc-service-name': string}
  readonly 'xhttp-opts'?: {readonly path?: string; readonly host?: string}
}

export type ClashVless = ClashCommon<'vless'> & {
  readonly uuid: string
  readonly flow?: 'xtls-rprx-vision'
  readonly 'packet-encoding': 'xudp'
} & ClashTlsFields &
  ClashTransportFields

export type ClashVmess = ClashCommon<'vmess'> & {
  readonly uuid: string
  readonly alterId: 0
  readonly cipher: 'auto'
} & ClashTlsFields &
  ClashTransportFields

export type ClashTrojan = ClashCommon<'trojan'> & {readonly password: string} & ClashTlsFields & ClashTransportFields

export type ClashShadowsocks = ClashCommon<'ss'> & {readonly cipher: string; readonly password: string}

export type ClashProxy = ClashVless | ClashVmess | ClashTrojan | ClashShadowsocks

export function renderClash(proxies: readonly Proxy[]): string {
  return stringify(clashConfig(proxies), {defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN', lineWidth: 0})
}

export function clashConfig(proxies: readonly Proxy[]): ClashConfig {
  const entries = proxies.flatMap((proxy) => {
    const entry = clashProxy(proxy)
    return entry ? [entry] : []
  })
  return {
    'mixed-port': 7890,
    'allow-lan': false,
    mode: 'rule',
    'log-level': 'warning',
    ipv6: true,
    proxies: entries,
    'proxy-groups': [{name: CLASH_GROUP, type: 'select', proxies: [...entries.map((entry) => entry.name), 'DIRECT']}],
    rules: [...PRIVATE_RULES, `MATCH,${CLASH_GROUP}`],
  }
}

/**
 * The mihomo proxy for a Proxy, or undefined when mihomo cannot speak it:
 * XHTTP other than on VLESS, and trojan without TLS (mihomo's trojan always
 * dials TLS).
 */
export function clashProxy(proxy: Proxy): ClashProxy | undefined {
  switch (proxy.protocol) {
    case 'vless':
      return clashVless(proxy)
    case 'vmess':
      return clashVmess(proxy)
    case 'trojan':
      return clashTrojan(proxy)
    case 'shadowsocks':
      return clashShadowsocks(proxy)
  }
}

function common<T extends string>(proxy: Proxy, type: T): ClashCommon<T> {
  return {name: proxy.name, type, server: proxy.server, port: proxy.port, udp: true}
}

function clashVless(proxy: VlessProxy): ClashVless {
  return {
    ...common(proxy, 'vless'),
    uuid: proxy.uuid,
    ...(proxy.flow ? {flow: proxy.flow} : {}),
    'packet-encoding': 'xudp',
    ...tlsFields(proxy.security, 'servername'),
    ...transportFields(proxy.transport),
  }
}

function clashVmess(proxy: VmessProxy): ClashVmess | undefined {
  if (proxy.transport.type === 'xhttp') return undefined
  return {
    ...common(proxy, 'vmess'),
    uuid: proxy.uuid,
    alterId: 0,
    cipher: 'auto',
    ...tlsFields(proxy.security, 'servername'),
    ...transportFields(proxy.transport),
  }
}

function clashTrojan(proxy: TrojanProxy): ClashTrojan | undefined {
  if (proxy.transport.type === 'xhttp' || proxy.security.type === 'none') return undefined
  const {tls: _, ...fields} = tlsFields(proxy.security, 'sni')
  return {...common(proxy, 'trojan'), password: proxy.password, ...fields, ...transportFields(proxy.transport)}
}

function clashShadowsocks(proxy: ShadowsocksProxy): ClashShadowsocks {
  return {...common(proxy, 'ss'), cipher: proxy.method, password: proxy.password}
}

function tlsFields(security: ProxySecurity, sniKey: 'servername' | 'sni'): ClashTlsFields {
  switch (security.type) {
    case 'none':
      return {}
    case 'tls':
      return {
        tls: true,
        ...(security.serverName !== undefined ? {[sniKey]: security.serverName} : {}),
        ...(security.alpn.length > 0 ? {alpn: security.alpn} : {}),
        'client-fingerprint': security.fingerprint,
      }
    case 'reality':
      return {
        tls: true,
        [sniKey]: security.serverName,
        'client-fingerprint': security.fingerprint,
        'reality-opts': {
          'public-key': security.publicKey,
          ...(security.shortId !== '' ? {'short-id': security.shortId} : {}),
        },
      }
  }
}

/** HTTPUpgrade is mihomo's ws with `v2ray-http-upgrade` (meta-json-schema `ws-option`). */
function transportFields(transport: ProxyTransport): ClashTransportFields {
  switch (transport.type) {
    case 'tcp':
      return {network: 'tcp'}
    case 'ws':
    case 'httpupgrade':
      return {
        network: 'ws',
        'ws-opts': {
          ...(transport.path !== undefined ? {path: transport.path} : {}),
          ...(transport.host !== undefined ? {headers: {Host: transport.host}} : {}),
          ...(transport.type === 'httpupgrade' ? {'v2ray-http-upgrade': true} : {}),
        },
      }
    case 'grpc':
      return {network: 'grpc', 'grpc-opts': {'grpc-service-name': transport.serviceName ?? ''}}
    case 'xhttp':
      return {
        network: 'xhttp',
        'xhttp-opts': {
          ...(transport.path !== undefined ? {path: transport.path} : {}),
          ...(transport.host !== undefined ? {host: transport.host} : {}),
        },
      }
  }
}
