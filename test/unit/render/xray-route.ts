/**
 * A small model of Xray's router, enough to ask a rendered config where a
 * connection goes: rules are tried top to bottom, the first whose every
 * condition matches decides, and unmatched traffic takes the first outbound
 * (formats.md §5.6). Destinations are either a domain (as the client asked
 * for it) or an address; with `domainStrategy: AsIs` an `ip` condition never
 * matches a domain, which is the case the renderer must cover.
 */
import {cidrContains, parseCidr, parseIp} from '../../../src/model/ip.js'
import type {XrayServerConfig} from '../../../src/render/xray.js'
import type {XrayRuleJson} from '../../../src/render/xray-types.js'

export interface Connection {
  readonly user: string
  /** A domain (`git.corp.example`) or an address (`10.10.0.10`). */
  readonly to: string
  readonly port: number
  readonly network?: 'tcp' | 'udp'
}

export function route(config: XrayServerConfig, connection: Connection): string {
  for (const rule of config.routing.rules) {
    if (matches(rule, connection)) return rule.outboundTag
  }
  const [first] = config.outbounds
  if (!first) throw new Error('no outbounds')
  return first.tag
}

function matches(rule: XrayRuleJson, c: Connection): boolean {
  const address = parseIp(c.to)
  if (rule.inboundTag !== undefined) return false
  if (rule.user !== undefined && !rule.user.includes(c.user)) return false
  if (rule.domain !== undefined && (address !== undefined || !rule.domain.some((d) => domainMatches(d, c.to))))
    return false
  if (rule.ip !== undefined && (address === undefined || !rule.ip.some((ip) => ipMatches(ip, c.to)))) return false
  if (rule.port !== undefined && !portMatches(String(rule.port), c.port)) return false
  if (rule.network !== undefined && !rule.network.split(',').includes(c.network ?? 'tcp')) return false
  return true
}

function domainMatches(pattern: string, domain: string): boolean {
  if (pattern.startsWith('full:')) return domain === pattern.slice(5)
  if (pattern.startsWith('regexp:')) return new RegExp(pattern.slice(7)).test(domain)
  if (pattern.startsWith('domain:')) {
    const suffix = pattern.slice(7)
    return domain === suffix || domain.endsWith(`.${suffix}`)
  }
  return domain.includes(pattern)
}

function ipMatches(pattern: string, text: string): boolean {
  const address = parseIp(text)
  if (!address) return false
  if (!pattern.includes('/')) {
    const single = parseIp(pattern)
    if (!single) throw new Error(`bad ip pattern ${pattern}`)
    return single.family === address.family && single.value === address.value
  }
  const cidr = parseCidr(pattern)
  if (!cidr) throw new Error(`bad ip pattern ${pattern}`)
  return cidrContains(cidr, address)
}

function portMatches(list: string, port: number): boolean {
  return list.split(',').some((part) => {
    const [from = Number.NaN, to = from] = part.split('-').map(Number)
    return port >= from && port <= to
  })
}
