/**
 * Declarations -> the Desired model: defaults applied, addresses parsed,
 * rules put in evaluation order. Values that cannot be parsed are reported
 * and left out, so the cross-reference checks can still run on the rest.
 */

import {compareText} from '../model/compare.js'
import type {
  NodeDecl,
  NodeSelectorDecl,
  PeerDecl,
  ProjectDecl,
  RuleDecl,
  ServiceDecl,
  TariffDecl,
  UserDecl,
} from '../model/declarations.js'
import type {
  Desired,
  Node,
  NodeSelector,
  Peer,
  PortRange,
  Project,
  Rule,
  RuleEndpoint,
  Service,
  Tariff,
  User,
  WireguardInterface,
  XrayConfig,
  XrayInbound,
} from '../model/desired.js'
import {type Cidr, formatNetwork, type IpAddress, parseCidr, parseIp} from '../model/ip.js'
import {parsePorts, parseSize} from '../model/units.js'
import type {DeclarationSet, Declared, Reporter} from './declared.js'
import type {PathSegment} from './parse-yaml.js'

export const DEFAULTS = {
  mtu: 1420,
  keepalive: 25,
  subscriptionUpdateHours: 12,
  quarantineDays: 30,
  xrayApiPort: 10085,
  dnsUpstreams: ['1.1.1.1', '9.9.9.9'],
  realityMinClientVer: '1.8.0',
  paths: {
    wireguard: '/etc/wireguard',
    nftables: '/etc/nexus/nexus.nft',
    xray: '/usr/local/etc/xray/config.json',
    dnsmasq: '/etc/dnsmasq.d/nexus.conf',
    state: '/var/lib/nexus',
  },
  reload: {
    wireguard: 'wg syncconf {iface} {stripped}',
    wireguardRestart: 'systemctl restart wg-quick@{iface}',
    wireguardDown: 'systemctl stop wg-quick@{iface}',
    nftables: 'nft -f {file}',
    xray: 'systemctl restart xray',
    dnsmasq: 'systemctl restart dnsmasq',
  },
} as const

export function normalize(set: DeclarationSet, reporter: Reporter): Desired {
  const project = normalizeProject(set.Project[0]?.spec)
  const nodes = set.Node.map((d) => normalizeNode(d, project, reporter))
  return {
    project,
    tariffs: byName(set.Tariff.map((d) => normalizeTariff(d, reporter))),
    users: byName(set.User.map((d) => normalizeUser(d.spec))),
    groups: byName(set.Group.map((d) => ({name: d.name}))),
    peers: byName(set.Peer.map((d) => normalizePeer(d, project, nodes, reporter))),
    nodes: byName(nodes),
    rules: set.Rule.map((d) => normalizeRule(d, reporter)).sort(
      (a, b) => b.priority - a.priority || compareText(a.name, b.name),
    ),
    services: byName(set.Service.map((d) => normalizeService(d, reporter))),
  }
}

function normalizeProject(spec: ProjectDecl | undefined): Project {
  const dns = (spec?.defaults?.dns ?? []).map(parseIp).filter((ip): ip is IpAddress => ip !== undefined)
  return {
    name: spec?.name ?? 'nexus',
    defaults: {
      mtu: spec?.defaults?.mtu ?? DEFAULTS.mtu,
      keepalive: spec?.defaults?.keepalive ?? DEFAULTS.keepalive,
      dns,
      tunnel: spec?.defaults?.tunnel ?? 'full',
      firewall: spec?.defaults?.firewall ?? 'allow',
    },
    subscription: {
      ...(spec?.subscription?.baseUrl ? {baseUrl: spec.subscription.baseUrl} : {}),
      title: spec?.subscription?.title ?? spec?.name ?? 'nexus',
      updateIntervalHours: spec?.subscription?.updateIntervalHours ?? DEFAULTS.subscriptionUpdateHours,
    },
    state: {quarantineDays: spec?.state?.quarantineDays ?? DEFAULTS.quarantineDays},
  }
}

export function normalizeSelector(selector: NodeSelectorDecl | undefined): NodeSelector {
  if (selector === undefined || selector === 'all') return {kind: 'all'}
  if (Array.isArray(selector)) return {kind: 'names', names: [...selector].sort()}
  return {kind: 'labels', labels: selector.labels}
}

function normalizeTariff(declared: Declared<'Tariff'>, reporter: Reporter): Tariff {
  const spec: TariffDecl = declared.spec
  let trafficLimit: number | null = null
  if (spec.trafficLimit !== undefined && spec.trafficLimit !== null) {
    trafficLimit = parseSize(spec.trafficLimit) ?? null
    if (trafficLimit === null) {
      reporter.report(declared, {
        path: ['trafficLimit'],
        code: 'invalid_value',
        message: 'trafficLimit is not a size',
        hint: 'write a byte count or a size such as 500MiB, 200GiB or 1TiB, or null for unlimited',
      })
    }
  }
  return {
    name: spec.name,
    ...(spec.price ? {price: spec.price} : {}),
    durationDays: spec.durationDays ?? null,
    durationMonths: spec.durationMonths ?? null,
    trafficLimit,
    trafficReset: spec.trafficReset ?? 'none',
    startOnFirstUse: spec.startOnFirstUse ?? false,
    ...(spec.nextTariff ? {nextTariff: spec.nextTariff} : {}),
    maxDevices: spec.maxDevices ?? null,
    protocols: [...new Set(spec.protocols)].sort(),
    nodes: normalizeSelector(spec.nodes),
  }
}

function normalizeUser(spec: UserDecl): User {
  const links = (spec.links ?? ['default']).map((link) => (typeof link === 'string' ? link : link.name))
  return {
    name: spec.name,
    ...(spec.email ? {email: spec.email} : {}),
    status: spec.status ?? 'active',
    ...(spec.tariff ? {tariff: spec.tariff} : {}),
    groups: [...new Set(spec.groups ?? [])].sort(),
    subscription: {
      ...(spec.subscription?.start ? {start: spec.subscription.start} : {}),
      ...(spec.subscription?.expires ? {expires: spec.subscription.expires} : {}),
      cancelled: spec.subscription?.cancelled ?? false,
    },
    links: [...new Set(links)].sort(),
  }
}

function normalizePeer(declared: Declared<'Peer'>, project: Project, nodes: readonly Node[], reporter: Reporter): Peer {
  const spec: PeerDecl = declared.spec
  const addressList = spec.address === undefined ? [] : Array.isArray(spec.address) ? spec.address : [spec.address]
  const parsed = addressList
    .map(parseIp)
    .filter((ip): ip is IpAddress => ip !== undefined)
    .sort((a, b) => a.family - b.family)
  if (parsed.length === 2 && parsed[0]?.family === parsed[1]?.family) {
    reporter.report(declared, {
      path: ['address'],
      code: 'invalid_value',
      message: 'a peer has at most one address per family (one IPv4, one IPv6)',
      hint: 'keep one IPv4 and/or one IPv6 address; route further networks through allowedIPs',
    })
  }
  // Without `node`, the interface name must identify exactly one node; checks report it otherwise.
  const node =
    spec.node ??
    (() => {
      const candidates = nodes.filter((n) => n.interfaces.some((i) => i.name === spec.interface))
      return candidates.length === 1 ? (candidates[0]?.name ?? '') : ''
    })()
  return {
    name: spec.name,
    ...(spec.user ? {user: spec.user} : {}),
    node,
    interface: spec.interface,
    publicKey: spec.publicKey,
    addresses: parsed,
    allowedIPs: parseCidrList(spec.allowedIPs ?? [], declared, ['allowedIPs'], reporter),
    keepalive: spec.keepalive ?? project.defaults.keepalive,
    tunnel: spec.tunnel ?? project.defaults.tunnel,
    ...(spec.dns ? {dns: spec.dns.map(parseIp).filter((ip): ip is IpAddress => ip !== undefined)} : {}),
    enabled: spec.enabled ?? true,
  }
}

function parseCidrList(texts: readonly string[], declared: Declared, path: PathSegment[], reporter: Reporter): Cidr[] {
  const out: Cidr[] = []
  for (const [i, text] of texts.entries()) {
    const cidr = parseCidr(text)
    if (!cidr) continue // the schema already reported it
    if (cidr.address !== cidr.network) {
      reporter.report(declared, {
        path: [...path, i],
        code: 'host_bits_set',
        message: `${text} has host bits set`,
        hint: 'write the network address, e.g. 192.168.1.0/24',
      })
    }
    out.push(cidr)
  }
  return out
}

function normalizeNode(declared: Declared<'Node'>, project: Project, reporter: Reporter): Node {
  const spec: NodeDecl = declared.spec
  const endpoint = spec.endpoint ?? spec.ssh.host
  const dnsEnabled = spec.dns?.enabled ?? spec.wireguard !== undefined
  const interfaces = (spec.wireguard?.interfaces ?? []).map((iface, index): WireguardInterface => {
    const list = Array.isArray(iface.address) ? iface.address : [iface.address]
    const addresses = list
      .map(parseCidr)
      .filter((c): c is Cidr => c !== undefined)
      .sort((a, b) => a.family - b.family)
    const gatewayIps = addresses.map((c): IpAddress => ({family: c.family, value: c.address}))
    const dns = iface.dns
      ? iface.dns.map(parseIp).filter((ip): ip is IpAddress => ip !== undefined)
      : dnsEnabled
        ? gatewayIps
        : project.defaults.dns
    return {
      name: iface.name,
      addresses,
      listenPort: iface.listenPort,
      dns,
      mtu: iface.mtu ?? project.defaults.mtu,
      endpoint: parseEndpoint(iface.endpoint, endpoint, iface.listenPort, declared, index, reporter),
      nat: iface.nat ?? true,
    }
  })
  const listen = spec.dns?.listen
    ? spec.dns.listen.map(parseIp).filter((ip): ip is IpAddress => ip !== undefined)
    : interfaces.flatMap((i) => i.addresses.map((c): IpAddress => ({family: c.family, value: c.address})))
  return {
    name: spec.name,
    status: spec.status ?? 'active',
    labels: spec.labels ?? {},
    transport: spec.transport ?? 'ssh',
    ssh: {
      host: spec.ssh.host,
      port: spec.ssh.port ?? 22,
      user: spec.ssh.user ?? 'root',
      ...(spec.ssh.hostKey ? {hostKey: spec.ssh.hostKey} : {}),
      ...(spec.ssh.identityFile ? {identityFile: spec.ssh.identityFile} : {}),
    },
    endpoint,
    interfaces,
    ...(spec.xray ? {xray: normalizeXray(declared, spec.xray, endpoint, reporter)} : {}),
    dns: {
      enabled: dnsEnabled,
      listen,
      upstreams: spec.dns?.upstreams ?? [...DEFAULTS.dnsUpstreams],
    },
    paths: {...DEFAULTS.paths, ...spec.paths},
    reload: {...DEFAULTS.reload, ...spec.reload},
  }
}

function parseEndpoint(
  text: string | undefined,
  host: string,
  port: number,
  declared: Declared<'Node'>,
  index: number,
  reporter: Reporter,
): {host: string; port: number} {
  if (text === undefined) return {host, port}
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text)
  const parsedHost = match?.[1] ?? match?.[2]
  const parsedPort = Number(match?.[3])
  if (!parsedHost || !(parsedPort >= 1 && parsedPort <= 65535)) {
    reporter.report(declared, {
      path: ['wireguard', 'interfaces', index, 'endpoint'],
      code: 'invalid_value',
      message: `endpoint "${text}" is not host:port`,
      hint: 'write it as vpn.example.com:51820, or [2001:db8::1]:51820 for IPv6',
    })
    return {host, port}
  }
  return {host: parsedHost, port: parsedPort}
}

function normalizeXray(
  declared: Declared<'Node'>,
  spec: NonNullable<NodeDecl['xray']>,
  endpoint: string,
  reporter: Reporter,
): XrayConfig {
  const inbounds = spec.inbounds.map((inbound): XrayInbound => ({
    tag: inbound.tag,
    protocol: inbound.protocol,
    port: inbound.port,
    listen: inbound.listen ?? '0.0.0.0',
    security: inbound.security ?? 'none',
    ...(inbound.tls
      ? {
          tls: {
            ...(inbound.tls.serverName ? {serverName: inbound.tls.serverName} : {}),
            certificateFile: inbound.tls.certificateFile,
            keyFile: inbound.tls.keyFile,
            alpn: inbound.tls.alpn ?? [],
          },
        }
      : {}),
    ...(inbound.reality
      ? {
          reality: {
            target: inbound.reality.target,
            serverNames: inbound.reality.serverNames,
            shortIds: inbound.reality.shortIds,
            fingerprint: inbound.reality.fingerprint ?? 'chrome',
            spiderX: inbound.reality.spiderX ?? '/',
            minClientVer: inbound.reality.minClientVer ?? DEFAULTS.realityMinClientVer,
          },
        }
      : {}),
    ...(inbound.flow ? {flow: inbound.flow} : {}),
    transport: {
      type: inbound.transport?.type ?? 'tcp',
      ...(inbound.transport?.path ? {path: inbound.transport.path} : {}),
      ...(inbound.transport?.host ? {host: inbound.transport.host} : {}),
      ...(inbound.transport?.serviceName ? {serviceName: inbound.transport.serviceName} : {}),
    },
    ...(inbound.method ? {method: inbound.method} : {}),
    publicHost: inbound.publicHost ?? endpoint,
    publicPort: inbound.publicPort ?? inbound.port,
  }))
  return {
    inbounds,
    outbounds: (spec.outbounds ?? []).map((o) => ({
      tag: o.tag,
      protocol: o.protocol,
      ...(o.settings ? {settings: o.settings} : {}),
      ...(o.streamSettings ? {streamSettings: o.streamSettings} : {}),
    })),
    routing: {
      domainStrategy: spec.routing?.domainStrategy ?? 'AsIs',
      rules: (spec.routing?.rules ?? []).map((r, i) => {
        return {
          domains: r.domains ?? [],
          ips: r.ips ?? [],
          ports: ports(r.ports, declared, ['xray', 'routing', 'rules', i, 'ports'], reporter),
          ...(r.network ? {network: r.network} : {}),
          outbound: r.outbound,
        }
      }),
    },
    apiPort: spec.apiPort ?? DEFAULTS.xrayApiPort,
  }
}

function ports(spec: RuleDecl['ports'], declared: Declared, path: PathSegment[], reporter: Reporter): PortRange[] {
  if (spec === undefined) return []
  const parsed = parsePorts(spec)
  if (parsed.ok) return parsed.ranges
  reporter.report(declared, {
    path: Array.isArray(spec) ? [...path, parsed.index] : path,
    code: 'invalid_port',
    message: parsed.problem,
    // A reversed range's message already gives the range to write.
    hint: /reversed/.test(parsed.problem) ? null : 'use ports from 1 to 65535, e.g. 443 or "8000-8080"',
  })
  return []
}

export function parseRuleEndpoint(text: string): RuleEndpoint | undefined {
  const match = /^(group|user|service):(.*)$/.exec(text)
  if (match) {
    const [, kind, name] = match
    if (!name) return undefined
    return {kind: kind as 'group' | 'user' | 'service', name}
  }
  const cidr = parseCidr(text)
  if (!cidr) return undefined
  return {kind: 'cidr', cidr}
}

function endpoints(
  spec: string | readonly string[] | undefined,
  declared: Declared<'Rule'>,
  field: 'source' | 'destination',
  reporter: Reporter,
): RuleEndpoint[] {
  if (spec === undefined) return []
  const list = typeof spec === 'string' ? [spec] : spec
  const out: RuleEndpoint[] = []
  for (const [i, text] of list.entries()) {
    const endpoint = parseRuleEndpoint(text)
    if (!endpoint) {
      reporter.report(declared, {
        path: typeof spec === 'string' ? [field] : [field, i],
        code: 'invalid_endpoint',
        message: `${field} "${text}" is not a CIDR, an address, group:NAME, user:NAME or service:NAME`,
        hint: `write e.g. 10.20.0.0/16, 10.20.0.5, "fd20::/48", group:staff, user:alice or service:git`,
      })
      continue
    }
    if (endpoint.kind === 'cidr' && endpoint.cidr.address !== endpoint.cidr.network) {
      // 10.20.0.50/16 would silently match all of 10.20.0.0/16.
      reporter.report(declared, {
        path: typeof spec === 'string' ? [field] : [field, i],
        code: 'host_bits_set',
        message: `${field} ${text} has host bits set`,
        hint: `write the network (${formatNetwork(endpoint.cidr)}) or a single address`,
      })
    }
    out.push(endpoint)
  }
  return out
}

function normalizeRule(declared: Declared<'Rule'>, reporter: Reporter): Rule {
  const spec: RuleDecl = declared.spec
  return {
    name: spec.name,
    action: spec.action,
    direction: spec.direction ?? 'egress',
    protocol: spec.protocol ?? 'any',
    sources: endpoints(spec.source, declared, 'source', reporter),
    destinations: endpoints(spec.destination, declared, 'destination', reporter),
    sourcePorts: ports(spec.sourcePorts, declared, ['sourcePorts'], reporter),
    ports: ports(spec.ports, declared, ['ports'], reporter),
    ...(spec.rate ? {rate: {pps: spec.rate.pps, burst: spec.rate.burst ?? spec.rate.pps}} : {}),
    priority: spec.priority ?? 100,
    active: spec.active ?? true,
    log: spec.log ?? false,
    nodes: normalizeSelector(spec.nodes),
  }
}

function normalizeService(declared: Declared<'Service'>, reporter: Reporter): Service {
  const spec: ServiceDecl = declared.spec
  const addressList = Array.isArray(spec.target.address) ? spec.target.address : [spec.target.address]
  return {
    name: spec.name,
    domains: [...new Set(spec.domains.map((d) => d.toLowerCase()))].sort(),
    target: {
      addresses: addressList
        .map(parseIp)
        .filter((ip): ip is IpAddress => ip !== undefined)
        .sort((a, b) => a.family - b.family),
      ports: ports(spec.target.ports, declared, ['target', 'ports'], reporter),
      protocol: spec.target.protocol ?? 'tcp',
    },
    access: {
      groups: [...new Set(spec.access?.groups ?? [])].sort(),
      users: [...new Set(spec.access?.users ?? [])].sort(),
    },
    nodes: normalizeSelector(spec.nodes),
  }
}

function byName<T extends {name: string}>(items: T[]): T[] {
  return items.sort((a, b) => compareText(a.name, b.name))
}
