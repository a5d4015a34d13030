/**
 * The Desired model: every declaration validated, defaults applied and
 * references resolved. Renderers and the planner read only this (plus the
 * state values in model/state-values.ts), never raw YAML.
 */

import type {Protocol} from './declarations.js'
import type {Cidr, IpAddress} from './ip.js'

export type NodeSelector =
  | {readonly kind: 'all'}
  | {readonly kind: 'names'; readonly names: readonly string[]}
  | {readonly kind: 'labels'; readonly labels: Readonly<Record<string, string>>}

export interface PortRange {
  readonly from: number
  readonly to: number
}

export interface Project {
  readonly name: string
  readonly defaults: {
    readonly mtu: number
    readonly keepalive: number
    readonly dns: readonly IpAddress[]
    readonly tunnel: 'full' | 'split'
    readonly firewall: 'allow' | 'deny'
  }
  readonly subscription: {
    readonly baseUrl?: string
    readonly title: string
    readonly updateIntervalHours: number
  }
  readonly state: {readonly quarantineDays: number}
}

export type TrafficReset = 'none' | 'daily' | 'weekly' | 'monthly' | 'monthly_rolling'

export interface Tariff {
  readonly name: string
  readonly price?: {readonly amount: number; readonly currency: string}
  readonly durationDays: number | null
  readonly durationMonths: number | null
  /** Bytes per period; null = unlimited. */
  readonly trafficLimit: number | null
  readonly trafficReset: TrafficReset
  readonly startOnFirstUse: boolean
  readonly nextTariff?: string
  readonly maxDevices: number | null
  readonly protocols: readonly Protocol[]
  readonly nodes: NodeSelector
}

export type UserStatus = 'active' | 'pending' | 'rejected' | 'disabled'

export interface User {
  readonly name: string
  readonly email?: string
  readonly status: UserStatus
  readonly tariff?: string
  readonly groups: readonly string[]
  readonly subscription: {readonly start?: string; readonly expires?: string; readonly cancelled: boolean}
  /** Link names, sorted; at least "default". */
  readonly links: readonly string[]
}

export interface Group {
  readonly name: string
}

export interface Peer {
  readonly name: string
  readonly user?: string
  readonly node: string
  readonly interface: string
  readonly publicKey: string
  /** Declared (pinned) tunnel addresses; empty means "allocate". */
  readonly addresses: readonly IpAddress[]
  readonly allowedIPs: readonly Cidr[]
  readonly keepalive: number
  readonly tunnel: 'full' | 'split'
  /** Resolver override for this client; otherwise the interface's. */
  readonly dns?: readonly IpAddress[]
  readonly enabled: boolean
}

export interface WireguardInterface {
  readonly name: string
  /** Gateway addresses with the tunnel prefix (one per family at most). */
  readonly addresses: readonly Cidr[]
  readonly listenPort: number
  /** Resolvers pushed to clients. */
  readonly dns: readonly IpAddress[]
  readonly mtu: number
  readonly endpoint: {readonly host: string; readonly port: number}
  readonly nat: boolean
}

export type XrayProtocol = 'vless' | 'vmess' | 'trojan' | 'shadowsocks'
export type ShadowsocksMethod =
  | '2022-blake3-aes-128-gcm'
  | '2022-blake3-aes-256-gcm'
  | '2022-blake3-chacha20-poly1305'
  | 'aes-128-gcm'
  | 'aes-256-gcm'
  | 'chacha20-poly1305'
  | 'xchacha20-poly1305'

export interface XrayInbound {
  readonly tag: string
  readonly protocol: XrayProtocol
  readonly port: number
  readonly listen: string
  readonly security: 'none' | 'tls' | 'reality'
  readonly tls?: {
    readonly serverName?: string
    readonly certificateFile: string
    readonly keyFile: string
    readonly alpn: readonly string[]
  }
  readonly reality?: {
    readonly target: string
    readonly serverNames: readonly string[]
    readonly shortIds: readonly string[]
    readonly fingerprint: string
    readonly spiderX: string
    /** Explicit so sing-box and mihomo clients are not refused (formats.md §5.4). */
    readonly minClientVer: string
  }
  readonly flow?: 'xtls-rprx-vision'
  readonly transport: {
    readonly type: 'tcp' | 'ws' | 'grpc' | 'httpupgrade' | 'xhttp'
    readonly path?: string
    readonly host?: string
    readonly serviceName?: string
  }
  readonly method?: ShadowsocksMethod
  readonly publicHost: string
  readonly publicPort: number
}

export interface XrayOutbound {
  readonly tag: string
  readonly protocol: string
  readonly settings?: Readonly<Record<string, unknown>>
  readonly streamSettings?: Readonly<Record<string, unknown>>
}

export interface XrayRoutingRule {
  readonly domains: readonly string[]
  readonly ips: readonly string[]
  readonly ports: readonly PortRange[]
  readonly network?: 'tcp' | 'udp' | 'tcp,udp'
  readonly outbound: string
}

export interface XrayConfig {
  readonly inbounds: readonly XrayInbound[]
  readonly outbounds: readonly XrayOutbound[]
  readonly routing: {
    readonly domainStrategy: 'AsIs' | 'IPIfNonMatch' | 'IPOnDemand'
    readonly rules: readonly XrayRoutingRule[]
  }
  readonly apiPort: number
}

export interface NodePaths {
  readonly wireguard: string
  readonly nftables: string
  readonly xray: string
  readonly dnsmasq: string
  readonly state: string
}

export interface NodeReload {
  /** Peer changes, without dropping sessions (`wg syncconf`). */
  readonly wireguard: string
  /** Address, port or key changes, and first start. */
  readonly wireguardRestart: string
  /** An interface no longer declared. */
  readonly wireguardDown: string
  readonly nftables: string
  readonly xray: string
  readonly dnsmasq: string
}

export type NodeStatus = 'active' | 'disabled' | 'maintenance'

export interface Node {
  readonly name: string
  readonly status: NodeStatus
  readonly labels: Readonly<Record<string, string>>
  /** `local`: the machine nexus runs on, reached without SSH. */
  readonly transport: 'ssh' | 'local'
  readonly ssh: {
    readonly host: string
    readonly port: number
    readonly user: string
    readonly hostKey?: string
    readonly identityFile?: string
  }
  readonly endpoint: string
  readonly interfaces: readonly WireguardInterface[]
  readonly xray?: XrayConfig
  readonly dns: {
    readonly enabled: boolean
    readonly listen: readonly IpAddress[]
    readonly upstreams: readonly string[]
  }
  readonly paths: NodePaths
  readonly reload: NodeReload
}

export type RuleEndpoint =
  | {readonly kind: 'cidr'; readonly cidr: Cidr}
  | {readonly kind: 'group'; readonly name: string}
  | {readonly kind: 'user'; readonly name: string}
  | {readonly kind: 'service'; readonly name: string}

export type RuleAction = 'allow' | 'deny' | 'rate_limit' | 'log'
export type RuleProtocol = 'tcp' | 'udp' | 'icmp' | 'any'

export interface Rule {
  readonly name: string
  readonly action: RuleAction
  readonly direction: 'ingress' | 'egress' | 'both'
  readonly protocol: RuleProtocol
  /** Empty means "any". */
  readonly sources: readonly RuleEndpoint[]
  readonly destinations: readonly RuleEndpoint[]
  readonly sourcePorts: readonly PortRange[]
  readonly ports: readonly PortRange[]
  readonly rate?: {readonly pps: number; readonly burst: number}
  readonly priority: number
  readonly active: boolean
  readonly log: boolean
  readonly nodes: NodeSelector
}

export interface Service {
  readonly name: string
  readonly domains: readonly string[]
  readonly target: {
    readonly addresses: readonly IpAddress[]
    readonly ports: readonly PortRange[]
    readonly protocol: 'tcp' | 'udp'
  }
  readonly access: {readonly groups: readonly string[]; readonly users: readonly string[]}
  readonly nodes: NodeSelector
}

/** Every collection is sorted by name (rules by evaluation order). */
export interface Desired {
  readonly project: Project
  readonly tariffs: readonly Tariff[]
  readonly users: readonly User[]
  readonly groups: readonly Group[]
  readonly peers: readonly Peer[]
  readonly nodes: readonly Node[]
  /** Evaluation order: priority descending, then name. */
  readonly rules: readonly Rule[]
  readonly services: readonly Service[]
}
