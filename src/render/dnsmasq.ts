/**
 * The node's DNS override (formats.md §4.1): service domains answer with the
 * service's target addresses, everything else goes to the upstreams.
 *
 * Domain matching in dnsmasq 2.90 (dnsmasq(8), --server and --address):
 * - `address=/git.corp.example/IP` answers git.corp.example AND every name
 *   below it (www.git.corp.example, a.b.git.corp.example), whole labels only
 *   (not xgit.corp.example).
 * - `address=/*.wiki.corp.example/IP` answers every name below
 *   wiki.corp.example, at any depth, but NOT wiki.corp.example itself, which
 *   is forwarded as usual. So a declared single-label wildcard is rendered
 *   as is; dnsmasq is a little wider (deeper names match too).
 * Both are checked with real queries in test/integration/tools/dnsmasq.test.ts.
 */

import {compareText} from '../model/compare.js'
import type {Node, Service} from '../model/desired.js'
import type {Fleet} from '../model/fleet.js'
import {compareIp, formatAddress} from '../model/ip.js'
import {headerLines} from './header.js'
import {renderTemplate} from './templates.js'

interface DomainLines {
  readonly pattern: string
  readonly addresses: readonly string[]
  readonly local: boolean
}

interface ServiceLines {
  readonly name: string
  readonly domains: readonly DomainLines[]
}

/** Undefined when the node runs no resolver: DNS disabled, or no address to listen on. */
export function renderDnsmasq(fleet: Fleet, node: Node): string | undefined {
  if (!node.dns.enabled || node.dns.listen.length === 0) return undefined
  const services = fleet
    .servicesOn(node)
    .sort((a, b) => compareText(a.name, b.name))
    .map(serviceLines)
  return renderTemplate('dnsmasq/nexus', {
    header: headerLines(fleet.state),
    listen: [...node.dns.listen].sort(compareIp).map(formatAddress),
    // Upstreams keep the declared order: it is the operator's preference, and `#port` is already dnsmasq's syntax.
    servers: node.dns.upstreams,
    services,
  })
}

function serviceLines(service: Service): ServiceLines {
  const targets = [...service.target.addresses].sort(compareIp)
  const addresses = targets.map(formatAddress)
  // Since 2.86 a query type without an address literal is forwarded upstream
  // (dnsmasq(8), --address). A v4-only service would then leak the real AAAA
  // and let clients bypass the proxy over IPv6 (and the other way round);
  // local=/d/ answers the missing family locally with no data instead.
  const local = !targets.some((ip) => ip.family === 4) || !targets.some((ip) => ip.family === 6)
  const domains = [...new Set(service.domains.map((domain) => domain.toLowerCase()))]
    .sort(compareText)
    .map((pattern) => ({pattern, addresses, local}))
  return {name: service.name, domains}
}
