/**
 * The gateway side of a WireGuard interface: the wg-quick file of
 * formats.md §2.2. Routing and filtering are not in it: nftables is loaded
 * separately, so there are no Table/PostUp/PreDown lines, and wg-quick's
 * default routes for the peers' AllowedIPs are exactly what a gateway needs.
 */

import type {Node, WireguardInterface} from '../model/desired.js'
import type {Fleet, PeerOnInterface} from '../model/fleet.js'
import {
  type Cidr,
  compareIp,
  familyBits,
  formatHostRoute,
  formatInterfaceAddress,
  formatNetwork,
  type IpAddress,
} from '../model/ip.js'
import type {KeyPair} from '../model/state-values.js'
import {headerLines} from './header.js'
import {renderTemplate} from './templates.js'

interface PeerSection {
  readonly comment: string
  readonly publicKey: string
  readonly allowedIPs: string
}

export function renderWireguardInterface(fleet: Fleet, node: Node, iface: WireguardInterface): string {
  const keys = interfaceKeys(fleet, node, iface)
  const peers = fleet.peersOn(node, iface).sort(byPeerName).map(peerSection)
  return renderTemplate('wireguard/interface', {
    header: headerLines(fleet.state),
    address: sortCidrs(iface.addresses).map(formatInterfaceAddress).join(', '),
    listenPort: iface.listenPort,
    privateKey: keys.privateKey,
    mtu: iface.mtu,
    peers,
  })
}

/**
 * The interface's key pair from state. Callers always load or generate state
 * before rendering, so a missing pair is a bug, not a user mistake.
 */
export function interfaceKeys(fleet: Fleet, node: Node, iface: WireguardInterface): KeyPair {
  const keys = fleet.state.nodes.get(node.name)?.wireguard.get(iface.name)
  if (!keys) throw new Error(`no WireGuard key pair in state for node ${node.name} interface ${iface.name}`)
  return keys
}

function peerSection(entry: PeerOnInterface): PeerSection {
  const {peer} = entry
  // Only validated names go into the comment: a newline there would inject a section (formats.md §1.5).
  const comment = peer.user === undefined ? `peer=${peer.name}` : `peer=${peer.name} user=${peer.user}`
  const allowedIPs = [...hostRoutes(entry.addresses), ...sortCidrs(peer.allowedIPs).map(formatNetwork)]
  return {comment, publicKey: peer.publicKey, allowedIPs: allowedIPs.join(', ')}
}

function byPeerName(a: PeerOnInterface, b: PeerOnInterface): number {
  return compareStrings(a.peer.name, b.peer.name)
}

/** Code-unit order, never locale order, so output does not depend on the machine's locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** `10.66.0.2/32, fd66::2/128`-style entries, IPv4 first. */
export function hostRoutes(addresses: readonly IpAddress[]): string[] {
  return [...addresses].sort(compareIp).map(formatHostRoute)
}

export function hostCidr(ip: IpAddress): Cidr {
  return {family: ip.family, address: ip.value, prefix: familyBits(ip.family), network: ip.value}
}

/** IPv4 first, then by network, then the wider prefix first. */
export function compareCidr(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family
  if (a.network !== b.network) return a.network < b.network ? -1 : 1
  if (a.prefix !== b.prefix) return a.prefix - b.prefix
  return a.address < b.address ? -1 : a.address > b.address ? 1 : 0
}

export function sortCidrs(cidrs: readonly Cidr[]): Cidr[] {
  return [...cidrs].sort(compareCidr)
}
