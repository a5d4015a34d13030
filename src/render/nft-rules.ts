/**
 * Rules and service gates as nft rule lines. A Rule becomes one line per
 * address family it can match (or one family-free line when it names no
 * address), so the table grows with the number of Rules, never with users:
 * a group is a named set shared by every rule naming it, users, services and
 * CIDRs go inline, and only a side needing several matches (a group plus
 * something else) adds a small chain of the rule.
 */

import {compareText} from '../model/compare.js'
import type {Rule, RuleEndpoint, Service} from '../model/desired.js'
import type {Cidr, Family} from '../model/ip.js'
import {collapseCidrs, ofFamily} from '../model/ip-set.js'
import {nftIdentifier} from '../model/names.js'
import type {NftAddressBook} from './nft-addresses.js'
import {
  FAMILIES,
  familySetName,
  ipKeyword,
  type NftSet,
  nfproto,
  nftComment,
  nftElement,
  nftLog,
  nftPorts,
  nftValues,
} from './nft-syntax.js'

/** The named sets the rendered lines refer to; each is declared once, sorted by name. */
export class NftSetRegistry {
  private readonly sets = new Map<string, NftSet>()

  /** Registers the set (the first registration of a name wins) and returns its reference `@name`. */
  use(set: NftSet): string {
    if (!this.sets.has(set.name)) this.sets.set(set.name, set)
    return `@${set.name}`
  }

  declarations(): NftSet[] {
    return [...this.sets.values()].sort((a, b) => compareText(a.name, b.name))
  }
}

/** A regular chain a rule line jumps to, with its body lines. */
export interface NftRuleChain {
  readonly name: string
  readonly body: readonly string[]
}

export interface NftRuleContext {
  readonly book: NftAddressBook
  readonly sets: NftSetRegistry
  /** Chains of rules whose endpoints need several matches, by name (a `both` rule uses its chain twice). */
  readonly chains: Map<string, NftRuleChain>
  /** While a rule is rendered for the memo: what it registered besides its lines. */
  readonly record?: RuleEffects
}

/** What rendering one rule did to its node's table besides returning lines, so a memo hit can do it again. */
interface RuleEffects {
  /** Group sets, by group: their elements are the node's own. */
  readonly groupSets: {readonly group: string; readonly family: Family; readonly name: string}[]
  /** Sets whose content is the rule's own (rate-limit meters). */
  readonly sets: NftSet[]
  readonly chains: NftRuleChain[]
}

export function newRuleContext(book: NftAddressBook): NftRuleContext {
  return {book, sets: new NftSetRegistry(), chains: new Map()}
}

/**
 * How one side (sources or destinations) of a rule matches in one family:
 * any address, none at all, or a packet address in any of `parts` (a group's
 * named set, or an inline value holding every other endpoint).
 * `none` is a non-empty endpoint list that resolves to no address here: the
 * rule must then not be rendered for that family, because dropping the match
 * would widen it to "any".
 */
type Match =
  {readonly kind: 'any'} | {readonly kind: 'none'} | {readonly kind: 'parts'; readonly parts: readonly string[]}

const ANY: Match = {kind: 'any'}
const NONE: Match = {kind: 'none'}

/**
 * Rendered rules, by rule and by which of its groups have members on the node.
 * A rule naming only groups and CIDRs renders the same lines on every node
 * where the same of its groups are empty: at 100 nodes and 5k rules that is
 * most of the nftables render, done once per distinct case instead.
 */
const ruleMemo = new WeakMap<Rule, Map<string, RuleEffects & {readonly lines: readonly string[]}>>()

/** The nft lines of one Rule (a note when it matches nothing on this node). */
export function renderRule(rule: Rule, ctx: NftRuleContext): readonly string[] {
  const key = memoKey(rule, ctx.book)
  if (key === undefined) return renderRuleLines(rule, ctx)
  let byKey = ruleMemo.get(rule)
  if (!byKey) ruleMemo.set(rule, (byKey = new Map()))
  const hit = byKey.get(key)
  if (!hit) {
    const record: RuleEffects = {groupSets: [], sets: [], chains: []}
    const lines = renderRuleLines(rule, {...ctx, record})
    byKey.set(key, {...record, lines})
    return lines
  }
  for (const {group, family, name} of hit.groupSets) {
    ctx.sets.use({kind: 'interval', name, family, elements: ctx.book.groupFamily(group, family)})
  }
  for (const set of hit.sets) ctx.sets.use(set)
  for (const chain of hit.chains) ctx.chains.set(chain.name, chain)
  return hit.lines
}

/** Which of the rule's groups have addresses here, per family; undefined when the rule names users or services. */
function memoKey(rule: Rule, book: NftAddressBook): string | undefined {
  const groups = groupsOf(rule)
  if (groups === undefined) return undefined
  let presence = presenceByBook.get(book)
  if (!presence) presenceByBook.set(book, (presence = new Map()))
  let key = ''
  for (const group of groups) {
    let bits = presence.get(group)
    if (bits === undefined) {
      bits = FAMILIES.map((family) => (book.groupFamily(group, family).length > 0 ? '1' : '0')).join('')
      presence.set(group, bits)
    }
    key += bits
  }
  return key
}

// Both looked up 500k times in an L render (5k rules on 100 nodes), so computed once each.
const ruleGroups = new WeakMap<Rule, readonly string[] | null>()
const presenceByBook = new WeakMap<NftAddressBook, Map<string, string>>()

/** The groups a rule's endpoints name, in order; undefined when it also names users or services. */
function groupsOf(rule: Rule): readonly string[] | undefined {
  let groups = ruleGroups.get(rule)
  if (groups === undefined) {
    const endpoints = [...rule.sources, ...rule.destinations].filter((endpoint) => endpoint.kind !== 'cidr')
    groups = endpoints.every((endpoint) => endpoint.kind === 'group')
      ? endpoints.map((endpoint) => endpoint.name)
      : null
    ruleGroups.set(rule, groups)
  }
  return groups ?? undefined
}

function renderRuleLines(rule: Rule, ctx: NftRuleContext): string[] {
  if (!needsFamily(rule)) return [ruleLine(rule, undefined, ANY, ANY, ctx)]
  const lines: string[] = []
  for (const family of FAMILIES) {
    const src = sideMatch(rule.sources, family, ctx)
    const dst = sideMatch(rule.destinations, family, ctx)
    if (src.kind === 'none' || dst.kind === 'none') continue
    lines.push(ruleLine(rule, family, src, dst, ctx))
  }
  return lines.length > 0 ? lines : [`# ${rule.name}: skipped, its endpoints have no address on this node`]
}

/** A rule naming no address and no family-specific protocol or meter is one line for both families. */
function needsFamily(rule: Rule): boolean {
  return (
    rule.sources.length > 0 || rule.destinations.length > 0 || rule.protocol === 'icmp' || rule.action === 'rate_limit'
  )
}

/**
 * Groups stay references to their shared named set (never copied per rule, so
 * a 10k-member group named by 5k rules costs 10k elements, not 50M); users,
 * services and CIDRs are few and go inline as one anonymous set.
 */
function sideMatch(endpoints: readonly RuleEndpoint[], family: Family, ctx: NftRuleContext): Match {
  if (endpoints.length === 0) return ANY
  const groups = new Set<string>()
  const literal: Cidr[] = []
  for (const endpoint of endpoints) {
    if (endpoint.kind === 'group') groups.add(endpoint.name)
    else for (const cidr of ctx.book.endpoint(endpoint)) if (cidr.family === family) literal.push(cidr)
  }
  const parts: string[] = []
  for (const group of [...groups].sort(compareText)) {
    const elements = ctx.book.groupFamily(group, family)
    if (elements.length === 0) continue
    const name = familySetName(nftIdentifier('g', group), family)
    parts.push(ctx.sets.use({kind: 'interval', name, family, elements}))
    ctx.record?.groupSets.push({group, family, name})
  }
  if (literal.length > 0) parts.push(nftValues(collapseCidrs(literal).map(nftElement)))
  return parts.length === 0 ? NONE : {kind: 'parts', parts}
}

/**
 * One rule, one family. A side with a single part is matched inline. A side
 * with several (e.g. two groups, or a group and a user) cannot be one match:
 * nft has no union of sets. Repeating the line per part would run a log or a
 * rate limit twice for a packet in two parts, so the rule jumps to a chain of
 * its own that returns unless the address is in some part, then acts once.
 */
function ruleLine(rule: Rule, family: Family | undefined, src: Match, dst: Match, ctx: NftRuleContext): string {
  const matches: string[] = []
  const checks: string[] = []
  if (family !== undefined) {
    const ip = ipKeyword(family)
    for (const [field, match] of [
      ['saddr', src],
      ['daddr', dst],
    ] as const) {
      if (match.kind !== 'parts') continue
      if (match.parts.length === 1) matches.push(`${ip} ${field} ${match.parts[0]}`)
      else checks.push(`${match.parts.map((part) => `${ip} ${field} != ${part}`).join(' ')} return`)
    }
    // Without an address match the family must be explicit: `meta l4proto icmp` alone does not imply IPv4.
    if (matches.length === 0) matches.push(`meta nfproto ${nfproto(family)}`)
  }
  matches.push(...l4Match(rule, family))
  const action = [...statements(rule, family, ctx), nftComment(rule.name)].join(' ')
  if (checks.length === 0) return `${matches.join(' ')} ${action}`
  const chain = `${nftIdentifier('r', rule.name)}_v${family}`
  const body = {name: chain, body: [...checks, action]}
  ctx.chains.set(chain, body)
  ctx.record?.chains.push(body)
  return `${matches.join(' ')} jump ${chain} ${nftComment(rule.name)}`
}

function l4Match(rule: Rule, family: Family | undefined): string[] {
  switch (rule.protocol) {
    case 'any':
    case 'icmp':
      // Validation rejects ports here; ignoring them would silently widen the rule.
      if (rule.ports.length > 0 || rule.sourcePorts.length > 0) {
        throw new Error(`bug: rule ${rule.name} has ports with protocol ${rule.protocol}`)
      }
      if (rule.protocol === 'any') return []
      return [family === 6 ? 'meta l4proto ipv6-icmp' : 'meta l4proto icmp']
    case 'tcp':
    case 'udp': {
      const parts: string[] = []
      if (rule.sourcePorts.length > 0) parts.push(`${rule.protocol} sport ${nftPorts(rule.sourcePorts)}`)
      if (rule.ports.length > 0) parts.push(`${rule.protocol} dport ${nftPorts(rule.ports)}`)
      return parts.length > 0 ? parts : [`meta l4proto ${rule.protocol}`]
    }
  }
}

function statements(rule: Rule, family: Family | undefined, ctx: NftRuleContext): string[] {
  const log = rule.log ? [ruleLog(rule)] : []
  switch (rule.action) {
    case 'allow':
      return ['counter', ...log, 'accept']
    case 'deny':
      return ['counter', ...log, 'drop']
    case 'log':
      // No verdict: the packet goes on to the next rule.
      return ['counter', ruleLog(rule)]
    case 'rate_limit':
      return [rateLimit(rule, family, ctx), 'counter', ...log, 'drop']
  }
}

function ruleLog(rule: Rule): string {
  return nftLog(`nexus r=${rule.name}: `)
}

/**
 * A bucket per source address (a plain `limit` would be one bucket shared by
 * everyone, formats.md §3.3). Only packets over the rate match and are
 * dropped; the rest are not decided here and go on to the next rule.
 */
function rateLimit(rule: Rule, family: Family | undefined, ctx: NftRuleContext): string {
  if (!rule.rate) throw new Error(`bug: rate_limit rule ${rule.name} has no rate`)
  if (family === undefined) throw new Error(`bug: rate_limit rule ${rule.name} rendered without a family`)
  const name = familySetName(nftIdentifier('rl', rule.name), family)
  const set: NftSet = {kind: 'meter', name, family}
  const meter = ctx.sets.use(set)
  ctx.record?.sets.push(set)
  const {pps, burst} = rule.rate
  return `update ${meter} { ${ipKeyword(family)} saddr limit rate over ${pps}/second burst ${burst} packets }`
}

export interface ServiceGate {
  /** Before the rules: non-admitted sources never reach the service, whatever a rule allows. */
  readonly deny: string[]
  /** After the rules: admitted sources reach it even when the default verdict is deny. */
  readonly allow: string[]
}

export function renderServiceGate(service: Service, ctx: NftRuleContext): ServiceGate {
  const gate: ServiceGate = {deny: [], allow: []}
  const targets = ctx.book.serviceTargets(service)
  const members = ctx.book.serviceMembers(service)
  const {protocol, ports} = service.target
  const l4 = ports.length > 0 ? `${protocol} dport ${nftPorts(ports)}` : `meta l4proto ${protocol}`
  for (const family of FAMILIES) {
    const familyTargets = ofFamily(targets, family)
    if (familyTargets.length === 0) continue
    const ip = ipKeyword(family)
    const name = familySetName(nftIdentifier('s', service.name), family)
    // Declared even when empty: then nobody is admitted and the deny line drops everyone.
    const admitted = ctx.sets.use({kind: 'interval', name, family, elements: ofFamily(members, family)})
    const match = `${ip} daddr ${nftValues(familyTargets.map(nftElement))} ${l4}`
    gate.deny.push(
      `${match} ${ip} saddr != ${admitted} counter drop ${nftComment(`service ${service.name} not admitted`)}`,
    )
    gate.allow.push(`${match} ${ip} saddr ${admitted} counter accept ${nftComment(`service ${service.name}`)}`)
  }
  return gate
}
