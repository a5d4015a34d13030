/**
 * Xray routing rules: the access rules of xray users. All xray users leave the
 * gateway from the xray process, so nftables cannot tell them apart; their
 * ACLs are routing rules keyed on the user's email (design.md §4). Rules are
 * first-match (formats.md §5.6), so the order built here is the semantics.
 */
import type {Desired, Node, PortRange, Rule, RuleEndpoint, Service, XrayRoutingRule} from '../model/desired.js'
import type {Fleet, XrayClient} from '../model/fleet.js'
import {type Cidr, cidrContains, familyBits, formatAddress, formatNetwork, type IpAddress} from '../model/ip.js'
import type {XrayNetwork, XrayRuleJson, XrayRuleMatch} from './xray-types.js'

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
  private everyone: readonly string[] | undefined

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

  /** Who has which emails here, as text: equal for two nodes exactly when their xray users are. */
  signature(): string {
    return [...this.byUser]
      .map(([user, emails]) => `${user}\t${emails.join(' ')}`)
      .sort()
      .join('\n')
  }

  /** Every email with a client on this node, sorted. */
  all(): readonly string[] {
    this.everyone ??= sortedUnique([...this.byUser.values()].flat())
    return this.everyone
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

/** A service on this node and the emails of its members here. */
interface Gate {
  readonly service: Service
  readonly members: readonly string[]
}

/**
 * The order mirrors nftables' nx_egress (nftables.ts): the service gates'
 * deny part, the fleet rules, the gates' allow part, then what is left.
 *
 *   1. the stats API;
 *   2. non-members of a service whom a later `allow` rule would admit to it,
 *      blocked from its domains and from its targets on its ports;
 *   3. the fleet rules in evaluation order;
 *   4. per service: members to its domains (→ svc-<name>) and its targets
 *      (→ direct) on its ports, then everyone else blocked from both;
 *   5. the node's declared rules; 6. the default deny.
 *
 * Xray cannot match "every user but these", so step 2 names the non-members
 * it needs: those a rule of step 3 would otherwise let through. Everyone else
 * who is not a member is blocked in step 4, after the rules had their say,
 * which is the same verdict (a `deny` rule blocks; no `allow` rule admits).
 */
export function routingRules(input: RoutingInput): XrayRuleJson[] {
  const {fleet, node, emails} = input
  let memo = routingMemo.get(fleet)
  if (!memo) routingMemo.set(fleet, (memo = new Map()))
  const key = [
    emails.signature(),
    fleet
      .rulesOn(node)
      .map((rule) => rule.name)
      .join(','),
    input.services.map((service) => service.name).join(','),
    JSON.stringify(input.declared),
  ].join('\0')
  let rules = memo.get(key)
  if (!rules) memo.set(key, (rules = buildRoutingRules(input)))
  return rules
}

/**
 * Routing rules already built in this render, by everything they depend on.
 * Nodes of one region usually have the same xray users, rules and services,
 * so they share one list (and formatXrayJson serialises it once): at 100
 * nodes of 3k xray users and 5k rules, this is most of a plan's time.
 */
const routingMemo = new WeakMap<Fleet, Map<string, XrayRuleJson[]>>()

function buildRoutingRules(input: RoutingInput): XrayRuleJson[] {
  const {fleet, node, emails} = input
  const gates: Gate[] = input.services.map((service) => ({
    service,
    members: emails.ofUsers(fleet.serviceUsers(service)),
  }))
  const rules = fleet.rulesOn(node).flatMap((rule) => {
    const translated = translateRule(rule, fleet, emails)
    return translated ? [translated] : []
  })
  return [
    fieldRule({inboundTag: [API_INBOUND_TAG]}, API_TAG),
    ...gates.flatMap((gate) => nonMemberBlock(gate, rules, emails)),
    ...rules.flatMap((rule) => fleetRuleJson(rule, input.services)),
    ...gates.flatMap((gate) => serviceGate(gate.service, gate.members)),
    ...input.declared.map(declaredRule),
    ...defaultDeny(fleet.desired),
  ]
}

/**
 * Members reach the service's domains (steered to its target by the
 * `svc-<name>` outbound) and its addresses, on the service ports only; then
 * everyone else is blocked from both. A member on another port falls through
 * to the domain block, which is why the domain rule carries the ports too.
 * These come after the fleet rules, so a `deny` rule still applies to members.
 */
export function serviceGate(service: Service, members: readonly string[]): XrayRuleJson[] {
  const domain = serviceDomains(service)
  const ip = serviceAddresses(service)
  const port = servicePorts(service)
  const rules: XrayRuleJson[] = []
  if (members.length > 0) {
    if (domain) rules.push(fieldRule({user: members, domain, port}, serviceOutboundTag(service.name)))
    rules.push(fieldRule({user: members, ip, port}, DIRECT_TAG))
  }
  rules.push(...gateBlock(service, undefined))
  return rules
}

/** Blocks `user` (everyone when undefined) from the service's domains on any port and its targets on its ports. */
function gateBlock(service: Service, user: readonly string[] | undefined): XrayRuleJson[] {
  const domain = serviceDomains(service)
  const rules: XrayRuleJson[] = []
  if (domain) rules.push(fieldRule({user, domain}, BLOCK_TAG))
  rules.push(fieldRule({user, ip: serviceAddresses(service), port: servicePorts(service)}, BLOCK_TAG))
  return rules
}

/**
 * The gate's deny part for the non-members that some `allow` rule reaching
 * the service (any of its targets, or anywhere) would admit. Ports are not
 * compared: blocking a non-member more than needed is the gate's verdict anyway.
 */
function nonMemberBlock(gate: Gate, rules: readonly TranslatedRule[], emails: NodeEmails): XrayRuleJson[] {
  const members = new Set(gate.members)
  const admitted = new Set<string>()
  for (const rule of rules) {
    if (rule.outboundTag !== DIRECT_TAG || !reachesAnyTarget(rule, gate.service)) continue
    for (const email of rule.user ?? emails.all()) if (!members.has(email)) admitted.add(email)
  }
  return admitted.size > 0 ? gateBlock(gate.service, [...admitted].sort()) : []
}

function serviceDomains(service: Service): string[] | undefined {
  return service.domains.length > 0 ? service.domains.map(xrayDomainPattern) : undefined
}

function servicePorts(service: Service): string | undefined {
  return service.target.ports.length > 0 ? formatPortList(service.target.ports) : undefined
}

export function serviceAddresses(service: Service): string[] {
  if (service.target.addresses.length === 0) throw new Error(`xray: service ${service.name} has no target address`)
  return service.target.addresses.map(formatAddress)
}

/** Where the `svc-<name>` outbound sends the service's domains (xray.ts serviceOutbound). */
function redirectAddress(service: Service): IpAddress {
  const [first] = service.target.addresses
  if (!first) throw new Error(`xray: service ${service.name} has no target address`)
  return first
}

const ACTION_OUTBOUND: Readonly<Record<Rule['action'], string | undefined>> = {
  allow: DIRECT_TAG,
  deny: BLOCK_TAG,
  // Xray routing can neither rate-limit nor log a match.
  rate_limit: undefined,
  log: undefined,
}

/** A fleet rule as xray users see it. */
interface TranslatedRule {
  readonly outboundTag: string
  /** undefined: every user. */
  readonly user: readonly string[] | undefined
  /** undefined: anywhere. */
  readonly ip: string[] | undefined
  /** The same destinations as prefixes, to tell which services they reach; undefined: anywhere. */
  readonly networks: Cidr[] | undefined
  readonly port: string | undefined
  readonly network: XrayNetwork | undefined
}

/**
 * One nexus rule as seen by xray users, or undefined when it cannot apply to
 * them. Whenever part of a rule cannot be expressed the whole rule is skipped:
 * dropping a condition would widen it, and a widened allow is a hole.
 */
function translateRule(rule: Rule, fleet: Fleet, emails: NodeEmails): TranslatedRule | undefined {
  const outboundTag = ACTION_OUTBOUND[rule.action]
  if (outboundTag === undefined || rule.direction === 'ingress') return undefined
  // Xray carries no ICMP, and the inner source port of an xray user's
  // connection is not visible to routing.
  if (rule.protocol === 'icmp' || rule.sourcePorts.length > 0) return undefined
  const user = ruleUsers(rule.sources, emails)
  const destinations = ruleDestinations(rule.destinations, fleet)
  if (user === null || destinations === null) return undefined
  return {
    outboundTag,
    user,
    ip: destinations?.ip,
    networks: destinations?.networks,
    port: rule.ports.length > 0 ? formatPortList(rule.ports) : undefined,
    network: rule.protocol === 'any' ? undefined : rule.protocol,
  }
}

/**
 * The routing rules of one fleet rule. Xray matches an `ip` rule only against
 * an address, never against a domain the client asked for, so traffic to a
 * service's domains is treated as traffic to the address its `svc-<name>`
 * outbound sends it to:
 *
 * - a `deny` rule whose destinations contain that address also blocks the
 *   service's domains (otherwise the member-allow rule further down would
 *   steer the user to the target the rule denies);
 * - an `allow` rule with no destination would match the domains itself and
 *   send them to `direct` (the public DNS answer, not the service), so it is
 *   preceded by one rule per service that steers its domains to `svc-<name>`.
 *   Non-members among its users are blocked before any of this.
 */
function fleetRuleJson(rule: TranslatedRule, services: readonly Service[]): XrayRuleJson[] {
  const {user, port, network} = rule
  const main = fieldRule({user, ip: rule.ip, port, network}, rule.outboundTag)
  const withDomains = services.filter((service) => service.domains.length > 0)
  if (rule.outboundTag === BLOCK_TAG) {
    if (!rule.networks) return [main]
    const networks = rule.networks
    const reached = withDomains.filter((service) =>
      networks.some((cidr) => cidrContains(cidr, redirectAddress(service))),
    )
    const domain = reached.flatMap((service) => serviceDomains(service) ?? [])
    return domain.length > 0
      ? [fieldRule({user, domain: [...new Set(domain)], port, network}, BLOCK_TAG), main]
      : [main]
  }
  if (rule.networks) return [main]
  return [
    ...withDomains.map((service) =>
      fieldRule({user, domain: serviceDomains(service), port, network}, serviceOutboundTag(service.name)),
    ),
    main,
  ]
}

function reachesAnyTarget(rule: TranslatedRule, service: Service): boolean {
  const networks = rule.networks
  if (!networks) return true
  return service.target.addresses.some((address) => networks.some((cidr) => cidrContains(cidr, address)))
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

/**
 * A rule's destinations as Xray's `ip` list and as prefixes: undefined for
 * "anywhere", null when none is expressible. User and group destinations are
 * WireGuard peers' tunnel addresses, which mean nothing to xray.
 */
function ruleDestinations(
  destinations: readonly RuleEndpoint[],
  fleet: Fleet,
): {ip: string[]; networks: Cidr[]} | undefined | null {
  if (destinations.length === 0) return undefined
  const ip: string[] = []
  const networks: Cidr[] = []
  for (const destination of destinations) {
    if (destination.kind === 'cidr') {
      ip.push(formatNetwork(destination.cidr))
      networks.push(destination.cidr)
    } else if (destination.kind === 'service') {
      const service = serviceNamed(fleet, destination.name)
      ip.push(...serviceAddresses(service))
      networks.push(...service.target.addresses.map(hostCidr))
    }
  }
  return ip.length > 0 ? {ip: [...new Set(ip)], networks} : null
}

function hostCidr(address: IpAddress): Cidr {
  return {family: address.family, address: address.value, network: address.value, prefix: familyBits(address.family)}
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
