/**
 * The shapes of the Xray server config nexus renders (formats.md §5). Only the
 * fields nexus writes are modelled, each under the name both Xray v26 and
 * v2ray 4.34 read (`clients`, not `users`; `tcp`, not `raw`).
 */
import type {ShadowsocksMethod} from '../model/desired.js'

export type XrayNetwork = 'tcp' | 'udp' | 'tcp,udp'

export interface XrayServerConfig {
  readonly log: {readonly loglevel: 'warning'}
  readonly api: {readonly tag: string; readonly services: readonly string[]}
  readonly stats: Record<string, never>
  readonly policy: XrayPolicy
  readonly inbounds: readonly XrayInboundJson[]
  readonly outbounds: readonly XrayOutboundJson[]
  readonly routing: XrayRoutingJson
}

export interface XrayPolicy {
  readonly levels: Readonly<Record<string, {readonly statsUserUplink: boolean; readonly statsUserDownlink: boolean}>>
  readonly system: {readonly statsInboundUplink: boolean; readonly statsInboundDownlink: boolean}
}

export interface XrayInboundJson {
  readonly tag: string
  readonly listen: string
  readonly port: number
  readonly protocol: 'dokodemo-door' | 'vless' | 'vmess' | 'trojan' | 'shadowsocks'
  readonly settings: XrayInboundSettings
  readonly streamSettings?: XrayStreamSettings
  readonly sniffing?: XraySniffing
}

export type XrayInboundSettings =
  | DokodemoSettings
  | VlessSettings
  | VmessSettings
  | TrojanSettings
  | Shadowsocks2022Settings
  | ShadowsocksLegacySettings

export interface DokodemoSettings {
  readonly address: string
}

export interface VlessClientJson {
  readonly id: string
  readonly flow?: 'xtls-rprx-vision'
  readonly email: string
  readonly level: 0
}

export interface VlessSettings {
  readonly clients: readonly VlessClientJson[]
  readonly decryption: 'none'
}

export interface VmessClientJson {
  readonly id: string
  readonly email: string
  readonly level: 0
}

export interface VmessSettings {
  readonly clients: readonly VmessClientJson[]
}

export interface TrojanClientJson {
  readonly password: string
  readonly email: string
  readonly level: 0
}

export interface TrojanSettings {
  readonly clients: readonly TrojanClientJson[]
}

/** SS-2022 multi-user: the server PSK on top, clients with their own key and no method. */
export interface Shadowsocks2022Settings {
  readonly method: ShadowsocksMethod
  readonly password: string
  readonly clients: readonly Shadowsocks2022ClientJson[]
  readonly network: 'tcp,udp'
}

export interface Shadowsocks2022ClientJson {
  readonly password: string
  readonly email: string
  readonly level: 0
}

/** Legacy AEAD multi-user: no top-level key; every client names its own method. */
export interface ShadowsocksLegacySettings {
  readonly clients: readonly ShadowsocksLegacyClientJson[]
  readonly network: 'tcp,udp'
}

export interface ShadowsocksLegacyClientJson {
  readonly method: ShadowsocksMethod
  readonly password: string
  readonly email: string
  readonly level: 0
}

export interface XrayStreamSettings {
  readonly network: 'tcp' | 'ws' | 'grpc' | 'httpupgrade' | 'xhttp'
  readonly security: 'none' | 'tls' | 'reality'
  readonly tlsSettings?: XrayTlsSettings
  readonly realitySettings?: XrayRealitySettings
  readonly wsSettings?: XrayPathSettings
  readonly grpcSettings?: {readonly serviceName?: string}
  readonly httpupgradeSettings?: XrayPathSettings
  readonly xhttpSettings?: XrayPathSettings
}

export interface XrayTlsSettings {
  readonly serverName?: string
  readonly alpn?: readonly string[]
  readonly certificates: readonly {readonly certificateFile: string; readonly keyFile: string}[]
}

export interface XrayRealitySettings {
  readonly target: string
  readonly serverNames: readonly string[]
  readonly privateKey: string
  readonly shortIds: readonly string[]
  readonly minClientVer: string
}

export interface XrayPathSettings {
  readonly path?: string
  readonly host?: string
}

export interface XraySniffing {
  readonly enabled: true
  readonly destOverride: readonly ('http' | 'tls')[]
  readonly routeOnly: true
}

export interface XrayOutboundJson {
  readonly tag: string
  readonly protocol: string
  readonly settings?: Readonly<Record<string, unknown>>
  readonly streamSettings?: Readonly<Record<string, unknown>>
}

export interface XrayRoutingJson {
  readonly domainStrategy: 'AsIs' | 'IPIfNonMatch' | 'IPOnDemand'
  readonly rules: readonly XrayRuleJson[]
}

/** A routing rule; the key order here is the order they are written in. */
export interface XrayRuleJson {
  readonly type: 'field'
  readonly inboundTag?: readonly string[]
  readonly user?: readonly string[]
  readonly domain?: readonly string[]
  readonly ip?: readonly string[]
  readonly port?: string
  readonly network?: XrayNetwork
  readonly outboundTag: string
}

export type XrayRuleMatch = Omit<XrayRuleJson, 'type' | 'outboundTag'>
