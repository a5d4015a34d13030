/**
 * The device side of a WireGuard peer: the wg-quick file a user imports
 * (formats.md §2.3). nexus never stores a device's private key, so unless the
 * caller just generated one the file carries a placeholder that wg-quick
 * refuses until a human replaces it.
 */
import type {Node, Peer, Rule, RuleEndpoint, WireguardInterface} from '../model/desired.js'
import type {Fleet} from '../model/fleet.js'
import {type Cidr, cidrContains, formatAddress, formatNetwork, type IpAddress, parseIp} from '../model/ip.js'
import {collapseCidrs, hostCidr} from '../model/ip-set.js'
import {WIREGUARD_KEY_PATTERN} from '../model/names.js'
import {headerLines} from './header.js'
import {renderTemplate} from './templates.js'
import {hostRoutes, interfaceKeys} from './wireguard.js'

const FULL_TUNNEL = '0.0.0.0/0, ::/0'

export function renderClientConfig(fleet: Fleet, peer: Peer, privateKey?: string): string {
  const {node, iface} = peerInterface(fleet, peer)
  const addresses = fleet.addressesOf(peer)
  return renderTemplate('client/wireguard', {
    header: headerLines(fleet.state),
    privateKey: privateKey === undefined ? privateKeyPlaceholder(peer) : checkedKey(peer, privateKey),
    address: hostRoutes(addresses).join(', '),
    dns: (peer.dns ?? iface.dns).map(formatAddress).join(', '),
    mtu: iface.mtu,
    serverPublicKey: interfaceKeys(fleet, node, iface).publicKey,
    endpoint: formatEndpoint(iface.endpoint.host, iface.endpoint.port),
    allowedIPs:
      peer.tunnel === 'full' ? FULL_TUNNEL : splitTunnelRoutes(fleet, node, iface, peer, addresses).join(', '),
    keepalive: peer.keepalive > 0 ? peer.keepalive : null,
  })
}

/**
 * Deliberately not a key: a human sees at once what to paste, and wg(8)
 * rejects the file ("Key is not the correct length or format") until then.
 */
export function privateKeyPlaceholder(peer: Peer): string {
  return `<replace with the private key of ${peer.name}; nexus does not store it>`
}

/** `host:port`, with an IPv6 literal in brackets: wg splits at the last `:` otherwise (formats.md §1.3). */
export function formatEndpoint(host: string, port: number): string {
  const ip = parseIp(host)
  if (ip?.family === 6) return `[${formatAddress(ip)}]:${port}`
  return `${host}:${port}`
}

function peerInterface(fleet: Fleet, peer: Peer): {node: Node; iface: WireguardInterface} {
  const node = fleet.nodes.get(peer.node)
  const iface = node?.interfaces.find((candidate) => candidate.name === peer.interface)
  if (!node || !iface) throw new Error(`peer ${peer.name} refers to unknown interface ${peer.node}/${peer.interface}`)
  return {node, iface}
}

function checkedKey(peer: Peer, key: string): string {
  // Guards the file against a stray newline or a REALITY-style key from a caller bug.
  if (!WIREGUARD_KEY_PATTERN.test(key)) throw new Error(`private key for peer ${peer.name} is not a WireGuard key`)
  return key
}

/**
 * What a split-tunnel device routes through the gateway: the tunnel networks,
 * the services its user may reach, and the destinations of allow rules that
 * apply to it. Rules without a destination mean "anywhere" and are left out,
 * as routing them would turn the split tunnel into a full one.
 */
function splitTunnelRoutes(
  fleet: Fleet,
  node: Node,
  iface: WireguardInterface,
  peer: Peer,
  addresses: readonly IpAddress[],
): string[] {
  const routes: Cidr[] = [...iface.addresses]
  for (const service of fleet.servicesOn(node)) {
    if (peer.user !== undefined && fleet.serviceUsers(service).includes(peer.user)) {
      routes.push(...service.target.addresses.map(hostCidr))
    }
  }
  for (const rule of fleet.rulesOn(node)) {
    if (!routesRule(fleet, rule, peer, addresses)) continue
    for (const destination of rule.destinations) routes.push(...destinationCidrs(fleet, destination))
  }
  return collapseCidrs(routes).map(formatNetwork)
}

/** Allow rules in the client-to-world direction whose sources take in this peer. */
function routesRule(fleet: Fleet, rule: Rule, peer: Peer, addresses: readonly IpAddress[]): boolean {
  if (rule.action !== 'allow' || rule.direction === 'ingress') return false
  return rule.sources.length === 0 || rule.sources.some((source) => sourceMatches(fleet, source, peer, addresses))
}

function sourceMatches(fleet: Fleet, source: RuleEndpoint, peer: Peer, addresses: readonly IpAddress[]): boolean {
  switch (source.kind) {
    case 'user':
      return peer.user === source.name
    case 'group':
      return peer.user !== undefined && (fleet.groupMembers.get(source.name) ?? []).includes(peer.user)
    case 'cidr':
      // The firewall matches the tunnel address, so a source prefix holding it takes in the peer too.
      return addresses.some((address) => cidrContains(source.cidr, address))
    case 'service':
      return false
  }
}

function destinationCidrs(fleet: Fleet, destination: RuleEndpoint): readonly Cidr[] {
  switch (destination.kind) {
    case 'cidr':
      return [destination.cidr]
    case 'service':
      return (fleet.services.get(destination.name)?.target.addresses ?? []).map(hostCidr)
    case 'user':
    case 'group':
      return []
  }
}
