/**
 * The declaration format (design.md §2) as zod schemas: the one source of
 * truth for what a YAML document may say. `schemas/*.schema.json` is
 * generated from these, and the inventory turns parsed documents into the
 * Desired model (model/desired.ts) with defaults applied and references
 * resolved.
 *
 * These schemas describe the *written* form and carry no transforms, so the
 * generated JSON Schema is exactly what an editor should accept.
 */
import {z} from 'zod'

import {parseCidr, parseIp} from './ip.js'
import {
  DOMAIN_PATTERN,
  HOSTNAME_PATTERN,
  INTERFACE_NAME_PATTERN,
  LABEL_KEY_PATTERN,
  LABEL_VALUE_PATTERN,
  NAME_PATTERN,
  SHORT_ID_PATTERN,
  TAG_PATTERN,
  UNIX_USER_PATTERN,
  WIREGUARD_KEY_PATTERN,
} from './names.js'

export const API_VERSION = 'nexus/v1'

export const KINDS = ['Project', 'Tariff', 'User', 'Peer', 'Node', 'Rule', 'Service', 'Group'] as const
export type Kind = (typeof KINDS)[number]

export const PROTOCOLS = ['wireguard', 'vless', 'vmess', 'trojan', 'shadowsocks'] as const
export type Protocol = (typeof PROTOCOLS)[number]

// ---------------------------------------------------------------- primitives

const Name = z
  .string()
  .regex(NAME_PATTERN, {
    error: 'must be a lower-case DNS label: a letter, then letters, digits or "-" (at most 63 characters)',
  })
  .meta({description: 'A DNS-label-like name: ^[a-z][a-z0-9-]{0,62}$'})

const InterfaceName = z
  .string()
  .regex(INTERFACE_NAME_PATTERN, {
    error: 'must be a Linux interface name: a lower-case letter, then letters, digits, "_" or "-" (at most 15)',
  })
  .meta({description: 'A network interface name: ^[a-z][a-z0-9_-]{0,14}$'})

const Tag = z
  .string()
  .regex(TAG_PATTERN, {error: 'must be a lower-case letter, then letters, digits or "-" (at most 32 characters)'})

const IpAddress = z
  .string()
  .refine((value) => parseIp(value) !== undefined, {error: 'must be an IPv4 or IPv6 address'})
  .meta({description: 'An IPv4 or IPv6 address (quote IPv6 literals)'})

const Cidr = z
  .string()
  .refine((value) => value.includes('/') && parseCidr(value) !== undefined, {
    error: 'must be an address with a prefix length, e.g. 10.66.0.0/24 or fd66::/64',
  })
  .meta({description: 'An IPv4 or IPv6 prefix in CIDR notation'})

const Hostname = z.string().refine((value) => HOSTNAME_PATTERN.test(value) || parseIp(value) !== undefined, {
  error: 'must be a hostname (ASCII letters, digits and "-"; write IDNs as punycode xn--) or an IP address',
})

const Port = z.int().min(1).max(65535)

/** A file path on a node: it reaches remote commands, so only characters that need no quoting anywhere. */
const AbsolutePath = z.string().regex(/^\/[A-Za-z0-9._@+/-]*$/, {
  error: 'must be an absolute path of letters, digits and . _ @ + - /',
})

/** A URL path such as a WebSocket path: printable ASCII without spaces or quotes. */
const UrlPath = z.string().regex(/^\/[A-Za-z0-9._~!$&()*+,;=:@%/?-]*$/, {
  error: 'must start with "/" and hold no spaces or quotes',
})

/** A port, a range "a-b", or a list of them. */
const PortSpec = z
  .union([
    Port,
    z.string().regex(/^\d{1,5}(-\d{1,5})?$/, {error: 'must be a port or a range like "8000-8080"'}),
    z
      .array(
        z.union([
          Port,
          z.string().regex(/^\d{1,5}(-\d{1,5})?$/, {error: 'must be a port or a range like "8000-8080"'}),
        ]),
      )
      .min(1),
  ])
  .meta({description: 'A port (443), a range ("8000-8080") or a list of them'})

const Size = z
  .union([
    z.int().nonnegative(),
    z.string().regex(/^\d+(\.\d+)?\s*(B|KiB|MiB|GiB|TiB|PiB|KB|MB|GB|TB|PB)$/, {
      error: 'must be a size like 500MiB, 200GiB, 1TiB or a byte count',
    }),
  ])
  .meta({description: 'A byte count or a size like 500MiB, 200GiB, 1TiB'})

const IsoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/, {
    error: 'must be an ISO 8601 date (2026-01-31) or date-time with a zone (2026-01-31T12:00:00Z)',
  })
  .refine((value) => !Number.isNaN(Date.parse(value)) && isCalendarDate(value), {error: 'is not a real calendar date'})

/** Date.parse rolls 2026-02-30 over to March 2; the day must exist in its month. */
function isCalendarDate(value: string): boolean {
  const [year, month, day] = [value.slice(0, 4), value.slice(5, 7), value.slice(8, 10)].map(Number)
  const date = new Date(Date.UTC(2000, (month ?? 0) - 1, day))
  date.setUTCFullYear(year ?? 0)
  return date.getUTCMonth() === (month ?? 0) - 1 && date.getUTCDate() === day
}

const Labels = z.record(
  z.string().regex(LABEL_KEY_PATTERN, {error: 'label keys are lower-case letters, digits, ".", "_", "-" and "/"'}),
  z.string().regex(LABEL_VALUE_PATTERN, {error: 'label values are letters, digits, ".", "_" and "-" (at most 63)'}),
)

/** Which nodes something applies to: `all`, a list of node names, or a label selector. */
const NodeSelector = z
  .union([z.literal('all'), z.array(Name).min(1), z.strictObject({labels: Labels})])
  .meta({description: '"all", a list of node names, or {labels: {key: value}} (every label must match)'})

const Description = z.string().max(1024).optional()

const header = <K extends Kind>(kind: K) => ({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(kind),
  name: Name,
  description: Description,
})

// ---------------------------------------------------------------- kinds

export const ProjectSchema = z
  .strictObject({
    ...header('Project'),
    defaults: z
      .strictObject({
        mtu: z.int().min(1280).max(9000).optional().meta({description: 'Default MTU of WireGuard interfaces'}),
        keepalive: z.int().min(0).max(65535).optional().meta({description: 'Default PersistentKeepalive of clients'}),
        dns: z
          .array(IpAddress)
          .optional()
          .meta({description: 'Resolvers for clients of nodes that run no DNS override'}),
        tunnel: z
          .enum(['full', 'split'])
          .optional()
          .meta({description: 'Client routing: everything (full) or only what the peer may reach (split)'}),
        firewall: z
          .enum(['allow', 'deny'])
          .optional()
          .meta({description: 'What happens to VPN traffic that no rule matched (default allow)'}),
      })
      .optional(),
    subscription: z
      .strictObject({
        baseUrl: z.url().optional(),
        title: z
          .string()
          .max(64)
          .regex(/^[^\u0000-\u001f\u007f]*$/, {error: 'must be one line of text without control characters'})
          .optional(),
        updateIntervalHours: z.int().min(1).max(168).optional(),
      })
      .optional(),
    state: z
      .strictObject({
        quarantineDays: z
          .int()
          .min(0)
          .optional()
          .meta({description: 'Days a deleted peer address or revoked link UUID stays unusable'}),
      })
      .optional(),
  })
  .meta({title: 'Project', description: 'One per repository, in nexus.yaml at the root'})

export const TariffSchema = z
  .strictObject({
    ...header('Tariff'),
    price: z.strictObject({amount: z.number().nonnegative(), currency: z.string().regex(/^[A-Z]{3}$/)}).optional(),
    durationDays: z.int().positive().nullable().optional(),
    durationMonths: z.int().positive().nullable().optional(),
    trafficLimit: Size.nullable().optional().meta({description: 'Traffic allowance per period; null = unlimited'}),
    trafficReset: z.enum(['none', 'daily', 'weekly', 'monthly', 'monthly_rolling']).optional(),
    startOnFirstUse: z.boolean().optional(),
    nextTariff: Name.optional(),
    maxDevices: z.int().positive().nullable().optional(),
    protocols: z.array(z.enum(PROTOCOLS)).min(1),
    nodes: NodeSelector.optional(),
  })
  .meta({title: 'Tariff', description: 'A plan users subscribe to'})

const LinkName = z.union([Name, z.strictObject({name: Name, description: Description})])

export const UserSchema = z
  .strictObject({
    ...header('User'),
    email: z.email().optional(),
    status: z.enum(['active', 'pending', 'rejected', 'disabled']).optional(),
    tariff: Name.optional(),
    groups: z.array(Name).optional(),
    subscription: z
      .strictObject({start: IsoDate.optional(), expires: IsoDate.optional(), cancelled: z.boolean().optional()})
      .optional(),
    links: z
      .array(LinkName)
      .optional()
      .meta({description: 'Named subscription links; their UUIDs live in state. Default: one link named "default"'}),
  })
  .meta({title: 'User', description: 'A person'})

export const PeerSchema = z
  .strictObject({
    ...header('Peer'),
    user: Name.optional(),
    node: Name.optional(),
    interface: InterfaceName,
    publicKey: z.string().regex(WIREGUARD_KEY_PATTERN, {
      error: 'must be a WireGuard public key: 44 characters of base64 (32 bytes), as `wg pubkey` prints',
    }),
    address: z
      .union([IpAddress, z.array(IpAddress).min(1).max(2)])
      .optional()
      .meta({description: 'Tunnel address(es); allocated from the interface when omitted'}),
    allowedIPs: z.array(Cidr).optional().meta({description: 'Extra networks routed to this peer (site-to-site)'}),
    keepalive: z.int().min(0).max(65535).optional(),
    tunnel: z.enum(['full', 'split']).optional(),
    dns: z.array(IpAddress).optional(),
    enabled: z.boolean().optional(),
  })
  .meta({title: 'Peer', description: 'A WireGuard device'})

const WireguardInterface = z.strictObject({
  name: InterfaceName,
  address: z
    .union([Cidr, z.array(Cidr).min(1).max(2)])
    .meta({description: "The gateway's address with the tunnel prefix, e.g. 10.66.0.1/24 (and an IPv6 one)"}),
  listenPort: Port,
  dns: z.array(IpAddress).optional().meta({description: 'Resolvers pushed to clients (default: the gateway)'}),
  mtu: z.int().min(1280).max(9000).optional(),
  endpoint: z
    .string()
    .optional()
    .meta({description: 'host:port clients connect to, when it differs from the node endpoint and listenPort'}),
  nat: z.boolean().optional().meta({description: 'Masquerade tunnel traffic leaving the node (default true)'}),
})

const REALITY_FINGERPRINTS = ['chrome', 'firefox', 'safari', 'ios', 'android', 'edge', '360', 'qq', 'random'] as const
export const SHADOWSOCKS_METHODS = [
  '2022-blake3-aes-128-gcm',
  '2022-blake3-aes-256-gcm',
  '2022-blake3-chacha20-poly1305',
  'aes-128-gcm',
  'aes-256-gcm',
  'chacha20-poly1305',
  'xchacha20-poly1305',
] as const

const XrayInbound = z.strictObject({
  tag: Tag,
  protocol: z.enum(['vless', 'vmess', 'trojan', 'shadowsocks']),
  port: Port,
  listen: IpAddress.optional(),
  security: z.enum(['none', 'tls', 'reality']).optional(),
  tls: z
    .strictObject({
      serverName: Hostname.optional(),
      certificateFile: AbsolutePath,
      keyFile: AbsolutePath,
      alpn: z.array(z.enum(['h2', 'http/1.1', 'h3'])).optional(),
    })
    .optional(),
  reality: z
    .strictObject({
      target: z
        .string()
        .regex(/^[a-z0-9.-]+:\d{1,5}$/i, {error: 'must be host:port of a real TLS site, e.g. www.example.com:443'}),
      serverNames: z.array(z.string().regex(HOSTNAME_PATTERN, {error: 'must be a hostname without wildcards'})).min(1),
      shortIds: z
        .array(
          z.string().regex(SHORT_ID_PATTERN, {
            error: 'must be hex with an even number of digits, at most 16 (quote it so YAML keeps it a string)',
          }),
        )
        .min(1),
      fingerprint: z.enum(REALITY_FINGERPRINTS).optional(),
      spiderX: UrlPath.optional(),
      minClientVer: z
        .string()
        .regex(/^\d+\.\d+\.\d+$/)
        .optional(),
    })
    .optional(),
  flow: z.enum(['xtls-rprx-vision']).optional(),
  transport: z
    .strictObject({
      type: z.enum(['tcp', 'ws', 'grpc', 'httpupgrade', 'xhttp']),
      path: UrlPath.optional(),
      host: Hostname.optional(),
      serviceName: z
        .string()
        .regex(/^[A-Za-z0-9._-]+$/)
        .optional(),
    })
    .optional(),
  method: z.enum(SHADOWSOCKS_METHODS).optional(),
  publicHost: Hostname.optional().meta({description: 'Host clients connect to (default: the node endpoint)'}),
  publicPort: Port.optional().meta({description: 'Port clients connect to, e.g. behind a TLS proxy'}),
})

const XrayOutbound = z.strictObject({
  tag: Tag,
  protocol: z.enum(['freedom', 'blackhole', 'socks', 'http', 'vless', 'vmess', 'trojan', 'shadowsocks']),
  settings: z.record(z.string(), z.unknown()).optional(),
  streamSettings: z.record(z.string(), z.unknown()).optional(),
})

const XrayRoutingRule = z.strictObject({
  domains: z.array(z.string().min(1)).optional(),
  ips: z.array(z.string().min(1)).optional(),
  ports: PortSpec.optional(),
  network: z.enum(['tcp', 'udp', 'tcp,udp']).optional(),
  outbound: Tag,
})

const DnsUpstream = z.string().refine(
  (value) => {
    // dnsmasq's own syntax: the port follows '#', and IPv6 addresses take no brackets.
    const match = /^([^#[\]]+)(?:#(\d{1,5}))?$/.exec(value)
    const port = Number(match?.[2] ?? 53)
    return match?.[1] !== undefined && parseIp(match[1]) !== undefined && port >= 1 && port <= 65535
  },
  {
    error:
      'must be an IP address, optionally with #port and no brackets (dnsmasq syntax), e.g. 9.9.9.9#9953 or fd20::53#5353',
  },
)

export const NodeSchema = z
  .strictObject({
    ...header('Node'),
    status: z.enum(['active', 'disabled', 'maintenance']).optional(),
    labels: Labels.optional(),
    transport: z
      .enum(['ssh', 'local'])
      .optional()
      .meta({description: 'How nexus reaches the node: over SSH (default), or local for the machine nexus runs on'}),
    ssh: z.strictObject({
      host: Hostname,
      port: Port.optional(),
      user: z.string().regex(UNIX_USER_PATTERN).optional(),
      hostKey: z
        .string()
        .regex(/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$/, {
          error: 'must be "TYPE BASE64" as in known_hosts, e.g. "ssh-ed25519 AAAAC3..."',
        })
        .optional(),
      identityFile: z.string().optional(),
    }),
    endpoint: Hostname.optional().meta({description: 'Public host clients connect to (default: ssh.host)'}),
    wireguard: z.strictObject({interfaces: z.array(WireguardInterface).min(1)}).optional(),
    xray: z
      .strictObject({
        inbounds: z.array(XrayInbound).min(1),
        outbounds: z.array(XrayOutbound).optional(),
        routing: z
          .strictObject({
            domainStrategy: z.enum(['AsIs', 'IPIfNonMatch', 'IPOnDemand']).optional(),
            rules: z.array(XrayRoutingRule).optional(),
          })
          .optional(),
        apiPort: Port.optional().meta({description: 'Loopback port of the stats/handler API (default 10085)'}),
      })
      .optional(),
    dns: z
      .strictObject({
        enabled: z.boolean().optional(),
        listen: z.array(IpAddress).optional(),
        upstreams: z.array(DnsUpstream).min(1).optional(),
      })
      .optional(),
    paths: z
      .strictObject({
        wireguard: AbsolutePath.optional(),
        nftables: AbsolutePath.optional(),
        xray: AbsolutePath.optional(),
        dnsmasq: AbsolutePath.optional(),
        state: AbsolutePath.optional(),
      })
      .optional()
      .meta({description: 'Where files go on the node (defaults suit a systemd host)'}),
    reload: z
      .strictObject({
        wireguard: z.string().optional().meta({description: 'Applies peer changes without dropping sessions'}),
        wireguardRestart: z.string().optional().meta({description: 'Restarts (or first brings up) an interface'}),
        wireguardDown: z.string().optional().meta({description: 'Takes down an interface that is no longer declared'}),
        nftables: z.string().optional(),
        xray: z.string().optional(),
        dnsmasq: z.string().optional(),
      })
      .optional()
      .meta({
        description: 'Commands that activate new files ({iface}, {file} and {stripped} are substituted, shell-quoted)',
      }),
  })
  .meta({title: 'Node', description: 'A gateway host'})

const Endpoint = z.string().min(1).meta({description: 'A CIDR or address, group:NAME, user:NAME or service:NAME'})

export const RuleSchema = z
  .strictObject({
    ...header('Rule'),
    action: z.enum(['allow', 'deny', 'rate_limit', 'log']),
    direction: z.enum(['ingress', 'egress', 'both']).optional(),
    protocol: z.enum(['tcp', 'udp', 'icmp', 'any']).optional(),
    source: z.union([Endpoint, z.array(Endpoint).min(1)]).optional(),
    destination: z.union([Endpoint, z.array(Endpoint).min(1)]).optional(),
    sourcePorts: PortSpec.optional(),
    ports: PortSpec.optional(),
    rate: z.strictObject({pps: z.int().positive(), burst: z.int().positive().optional()}).optional(),
    priority: z.int().min(0).max(100000).optional(),
    active: z.boolean().optional(),
    log: z.boolean().optional().meta({description: 'Also log packets this rule decides'}),
    nodes: NodeSelector.optional(),
  })
  .meta({title: 'Rule', description: 'A firewall rule; higher priority is evaluated first, first match decides'})

const ServiceDomain = z
  .string()
  .superRefine((value, context) => {
    if (value.includes('*') && !/^\*\.[^*]+$/.test(value)) {
      context.addIssue({
        code: 'custom',
        message:
          'only one leading "*." label is allowed (e.g. *.corp.example): multi-label wildcards cannot be expressed in dnsmasq or xray',
      })
    } else if (!DOMAIN_PATTERN.test(value)) {
      context.addIssue({
        code: 'custom',
        message: 'must be a domain name with at least two labels (ASCII; write IDNs as punycode xn--)',
      })
    }
  })
  .meta({description: 'An exact domain, or a single-label wildcard like *.corp.example'})

export const ServiceSchema = z
  .strictObject({
    ...header('Service'),
    domains: z.array(ServiceDomain).min(1),
    target: z.strictObject({
      address: z.union([IpAddress, z.array(IpAddress).min(1).max(2)]),
      ports: PortSpec,
      protocol: z.enum(['tcp', 'udp']).optional(),
    }),
    access: z.strictObject({groups: z.array(Name).optional(), users: z.array(Name).optional()}).optional(),
    nodes: NodeSelector.optional(),
  })
  .meta({title: 'Service', description: 'An internal service reached through the VPN'})

export const GroupSchema = z
  .strictObject({...header('Group')})
  .meta({title: 'Group', description: 'A named set of users (membership is declared on users)'})

export const SCHEMAS = {
  Project: ProjectSchema,
  Tariff: TariffSchema,
  User: UserSchema,
  Peer: PeerSchema,
  Node: NodeSchema,
  Rule: RuleSchema,
  Service: ServiceSchema,
  Group: GroupSchema,
} as const satisfies Record<Kind, z.ZodType>

export type ProjectDecl = z.infer<typeof ProjectSchema>
export type TariffDecl = z.infer<typeof TariffSchema>
export type UserDecl = z.infer<typeof UserSchema>
export type PeerDecl = z.infer<typeof PeerSchema>
export type NodeDecl = z.infer<typeof NodeSchema>
export type RuleDecl = z.infer<typeof RuleSchema>
export type ServiceDecl = z.infer<typeof ServiceSchema>
export type GroupDecl = z.infer<typeof GroupSchema>
export type NodeSelectorDecl = z.infer<typeof NodeSelector>
export type PortSpecDecl = z.infer<typeof PortSpec>
export type SizeDecl = z.infer<typeof Size>

export interface DeclarationByKind {
  Project: ProjectDecl
  Tariff: TariffDecl
  User: UserDecl
  Peer: PeerDecl
  Node: NodeDecl
  Rule: RuleDecl
  Service: ServiceDecl
  Group: GroupDecl
}
