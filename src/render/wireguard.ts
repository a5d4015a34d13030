/**
 * The gateway side of a WireGuard interface: the wg-quick file of
 * formats.md §2.2. Routing and filtering are not in it: nftables is loaded
 * separately, so there are no Table/PostUp/PreDown lines, and wg-quick's
 * default routes for the peers' AllowedIPs are exactly what a gateway needs.
 */

import {compareText} from '../model/compare.js'
import type {Node, WireguardInterface} from '../model/desired.js'
import type {Fleet, PeerOnInterface} from '../model/fleet.js'
import {compareIp, formatHostRoute, formatInterfaceAddress, formatNetwork, type IpAddress} from '../model/ip.js'
import {compareCidr} from '../model/ip-set.js'
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
    address: [...iface.addresses].sort(compareCidr).map(formatInterfaceAddress).join(', '),
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
  const allowedIPs = [...hostRoutes(entry.addresses), ...[...peer.allowedIPs].sort(compareCidr).map(formatNetwork)]
  return {comment, publicKey: peer.publicKey, allowedIPs: allowedIPs.join(', ')}
}

function byPeerName(a: PeerOnInterface, b: PeerOnInterface): number {
  return compareText(a.peer.name, b.peer.name)
}

/** `10.66.0.2/32, fd66::2/128`-style entries, IPv4 first. */
export function hostRoutes(addresses: readonly IpAddress[]): string[] {
  return [...addresses].sort(compareIp).map(formatHostRoute)
}
