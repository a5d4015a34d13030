/**
 * Xray routing rules: the access rules of xray users. All xray users leave the
 * gateway from the xray process, so nftables cannot tell them apart; their
 * ACLs are routing rules keyed on the user's email (design.md §4). Rules are
 * first-match (formats.md §5.6), so the order built here is the semantics.
 */
import type {Desired, Node, PortRange, Rule, RuleEndpoint, Service, XrayRoutingRule} from '../model/desired.js'
import type {Fleet, XrayClient} from '../model/fleet.js'
import {formatAddress, formatNetwork} from '../model/ip.js'
import type {XrayRuleJson, XrayRuleMatch} from './xray-types.js'

export const API_INBOUND_TAG = 'api-in'
export const API_TAG = 'api'
export const DIRECT_TAG = 'direct'
export const BLOCK_TAG = 'block'

export function serviceOutboundTag(service: string): string {
  return `svc-${service}`
}

/** `22,443,8000-8080`: sorted and de-duplicated so reordering the YAML does not churn the file. */
export function formatPortList(ports: readonly PortRange[]): string {
  const sorted = [...ports].sort((a, b) => a.from - b.from || a.to - b.to)
  const parts = sorted.map((range) => (range.from === range.to ? String(range.from) : `${range.from}-${range.to}`))
  return [...new Set(parts)].join(',')
}

/** `10.10.0.10:0`, `[fd10::10]:0`: an IPv6 literal goes in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/**
 * A service domain as an Xray domain matcher. `domain:` would also match the
 * apex and every depth of subdomain, so a single-label wildcard needs a regexp.
 * Lower-cased because Xray lower-cases the domain before matching.
 */
export function xrayDomainPattern(domain: string): string {
  const lower = domain.toLowerCase()
  if (!lower.startsWith('*.')) return `full:${lower}`
  return `regexp:^[^.]+\\.${escapeRegExp(lower.slice(2))}$`
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/**
 * A routing rule with its keys in one fixed order. An empty list is refused
 * rather than dropped: dropping `user: []` would turn "nobody" into "everyone".
 * A rule with no condition at all is an error in Xray ("no effective fields"),
 * so a catch-all gets an explicit `network`.
 */
export function fieldRule(match: XrayRuleMatch, outboundTag: string): XrayRuleJson {
  for (const [key, value] of Object.entries(match)) {
    if (Array.isArray(value) && value.length === 0)
      throw new Error(`xray routing: empty "${key}" list for ${outboundTag}`)
  }
  const hasCondition = Object.values(match).some((value) => value !== undefined)
  return {
    type: 'field',
    ...(match.inboundTag ? {inboundTag: match.inboundTag} : {}),
    ...(match.user ? {user: match.user} : {}),
    ...(match.domain ? {domain: match.domain} : {}),
    ...(match.ip ? {ip: match.ip} : {}),
    ...(match.port !== undefined ? {port: match.port} : {}),
    ...(match.network !== undefined ? {network: match.network} : hasCondition ? {} : {network: 'tcp,udp'}),
    outboundTag,
  }
}

/**
 * Emails of every user's links that have a client on this node, computed once
 * per render so group and service lookups stay linear in fleet size.
 */
export class NodeEmails {
  private readonly byUser = new Map<string, string[]>()
  private readonly byGroup = new Map<string, readonly string[]>()

  constructor(
    private readonly fleet: Fleet,
    clientLists: readonly (readonly XrayClient[])[],
  ) {
    const sets = new Map<string, Set<string>>()
    for (const clients of clientLists) {
      for (const client of clients) {
        const set = sets.get(client.user)
        if (set) set.add(client.email)
        else sets.set(client.user, new Set([client.email]))
      }
    }
    for (const [user, set] of sets) this.byUser.set(user, [...set].sort())
  }

  ofUser(user: string): readonly string[] {
    return this.byUser.get(user) ?? []
  }

  ofGroup(group: string): readonly string[] {
    let emails = this.byGroup.get(group)
    if (!emails) {
      emails = this.ofUsers(this.fleet.groupMembers.get(group) ?? [])
      this.byGroup.set(group, emails)
    }
    return emails
  }

  /** Sorted and unique, whatever order the users came in. */
  ofUsers(users: Iterable<string>): string[] {
    const emails: string[] = []
    for (const user of users) emails.push(...this.ofUser(user))
    return sortedUnique(emails)
  }
}

function sortedUnique(values: readonly string[]): string[] {
  return [...new Set(values)].sort()
}

export interface RoutingInput {
  readonly fleet: Fleet
  readonly node: Node
  readonly emails: NodeEmails
  readonly services: readonly Service[]
  readonly declared: readonly XrayRoutingRule[]
}

export function routingRules(input: RoutingInput): XrayRuleJson[] {
  const {fleet, node, emails} = input
  return [
    fieldRule({inboundTag: [API_INBOUND_TAG]}, API_TAG),
    ...input.services.flatMap((service) => serviceGate(service, emails.ofUsers(fleet.serviceUsers(service)))),
    ...fleet.rulesOn(node).flatMap((rule) => {
      const translated = fleetRule(rule, fleet, emails)
      return translated ? [translated] : []
    }),
    ...input.declared.map(declaredRule),
    ...defaultDeny(fleet.desired),
  ]
}

/**
 * Members reach the service's domains (steered to its target by the
 * `svc-<name>` outbound) and its addresses, on the service ports only; then
 * everyone else is blocked from both. A member on another port falls through
 * to the domain block, which is why the domain rule carries the ports too.
 */
export function serviceGate(service: Service, members: readonly string[]): XrayRuleJson[] {
  const domain = service.domains.length > 0 ? service.domains.map(xrayDomainPattern) : undefined
  const ip = serviceAddresses(service)
  const port = service.target.ports.length > 0 ? formatPortList(service.target.ports) : undefined
  const rules: XrayRuleJson[] = []
  if (members.length > 0) {
    if (domain) rules.push(fieldRule({user: members, domain, port}, serviceOutboundTag(service.name)))
    rules.push(fieldRule({user: members, ip, port}, DIRECT_TAG))
  }
  if (domain) rules.push(fieldRule({domain}, BLOCK_TAG))
  rules.push(fieldRule({ip, port}, BLOCK_TAG))
  return rules
}

export function serviceAddresses(service: Service): string[] {
  if (service.target.addresses.length === 0) throw new Error(`xray: service ${service.name} has no target address`)
  return service.target.addresses.map(formatAddress)
}

const ACTION_OUTBOUND: Readonly<Record<Rule['action'], string | undefined>> = {
  allow: DIRECT_TAG,
  deny: BLOCK_TAG,
  // Xray routing can neither rate-limit nor log a match.
  rate_limit: undefined,
  log: undefined,
}

/**
 * One nexus rule as seen by xray users, or undefined when it cannot apply to
 * them. Whenever part of a rule cannot be expressed the whole rule is skipped:
 * dropping a condition would widen it, and a widened allow is a hole.
 */
export function fleetRule(rule: Rule, fleet: Fleet, emails: NodeEmails): XrayRuleJson | undefined {
  const outboundTag = ACTION_OUTBOUND[rule.action]
  if (outboundTag === undefined || rule.direction === 'ingress') return undefined
  // Xray carries no ICMP, and the inner source port of an xray user's
  // connection is not visible to routing.
  if (rule.protocol === 'icmp' || rule.sourcePorts.length > 0) return undefined
  const user = ruleUsers(rule.sources, emails)
  const ip = ruleAddresses(rule.destinations, fleet)
  if (user === null || ip === null) return undefined
  return fieldRule(
    {
      user,
      ip,
      port: rule.ports.length > 0 ? formatPortList(rule.ports) : undefined,
      network: rule.protocol === 'any' ? undefined : rule.protocol,
    },
    outboundTag,
  )
}

/**
 * The `user` list for a rule's sources: undefined for "everyone" (no sources),
 * null when the sources name no xray user on this node. CIDR and service
 * sources describe WireGuard-side addresses, never an xray user.
 */
function ruleUsers(sources: readonly RuleEndpoint[], emails: NodeEmails): string[] | undefined | null {
  if (sources.length === 0) return undefined
  // The common case, one user or group, reuses the cached sorted list as it is.
  const [only] = sources
  if (sources.length === 1 && only && (only.kind === 'user' || only.kind === 'group')) {
    const list = only.kind === 'user' ? emails.ofUser(only.name) : emails.ofGroup(only.name)
    return list.length > 0 ? [...list] : null
  }
  const found: string[] = []
  for (const source of sources) {
    if (source.kind === 'user') found.push(...emails.ofUser(source.name))
    else if (source.kind === 'group') found.push(...emails.ofGroup(source.name))
  }
  return found.length > 0 ? sortedUnique(found) : null
}

/** The `ip` list for a rule's destinations: undefined for "anywhere", null when none is expressible. */
function ruleAddresses(destinations: readonly RuleEndpoint[], fleet: Fleet): string[] | undefined | null {
  if (destinations.length === 0) return undefined
  const found: string[] = []
  for (const destination of destinations) {
    if (destination.kind === 'cidr') found.push(formatNetwork(destination.cidr))
    else if (destination.kind === 'service') found.push(...serviceAddresses(serviceNamed(fleet, destination.name)))
    // user and group destinations are WireGuard peers' tunnel addresses: no meaning for xray.
  }
  return found.length > 0 ? [...new Set(found)] : null
}

function serviceNamed(fleet: Fleet, name: string): Service {
  const service = fleet.services.get(name)
  if (!service) throw new Error(`xray: rule refers to unknown service ${name}`)
  return service
}

/** A rule written in the node's own xray block, in Xray's own matcher syntax. */
function declaredRule(rule: XrayRoutingRule): XrayRuleJson {
  return fieldRule(
    {
      domain: rule.domains.length > 0 ? rule.domains : undefined,
      ip: rule.ips.length > 0 ? rule.ips : undefined,
      port: rule.ports.length > 0 ? formatPortList(rule.ports) : undefined,
      network: rule.network,
    },
    rule.outbound,
  )
}

/** Unmatched traffic would go to the first outbound (`direct`); default-deny closes that. */
function defaultDeny(desired: Desired): XrayRuleJson[] {
  return desired.project.defaults.firewall === 'deny' ? [fieldRule({network: 'tcp,udp'}, BLOCK_TAG)] : []
}
