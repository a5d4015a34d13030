/**
 * Who gets what, where: the access decisions every renderer shares, computed
 * once over lookup maps so a 50k-peer fleet stays linear.
 */
import type {Protocol} from './declarations.js'
import type {Desired, Node, Peer, Rule, Service, Tariff, User, WireguardInterface, XrayInbound} from './desired.js'
import type {IpAddress} from './ip.js'
import {xrayEmail} from './names.js'
import {nodeMatches} from './selectors.js'
import {linkKey, type StateValues} from './state-values.js'

export interface PeerOnInterface {
  readonly peer: Peer
  readonly user?: User
  readonly addresses: readonly IpAddress[]
}

export interface XrayClient {
  readonly user: string
  readonly link: string
  /** Lower-case, unique per inbound, the same for a link on every inbound. */
  readonly email: string
  readonly uuid: string
}

export class Fleet {
  readonly tariffs: ReadonlyMap<string, Tariff>
  readonly users: ReadonlyMap<string, User>
  readonly nodes: ReadonlyMap<string, Node>
  readonly services: ReadonlyMap<string, Service>
  readonly peersByName: ReadonlyMap<string, Peer>
  /** Members of each group, sorted. */
  readonly groupMembers: ReadonlyMap<string, readonly string[]>
  private readonly peersByInterface = new Map<string, Peer[]>()
  private readonly peersByUser = new Map<string, Peer[]>()
  private readonly serviceUserLists = new Map<Service, readonly string[]>()

  constructor(
    readonly desired: Desired,
    readonly state: StateValues,
  ) {
    this.tariffs = new Map(desired.tariffs.map((t) => [t.name, t]))
    this.users = new Map(desired.users.map((u) => [u.name, u]))
    this.nodes = new Map(desired.nodes.map((n) => [n.name, n]))
    this.services = new Map(desired.services.map((s) => [s.name, s]))
    this.peersByName = new Map(desired.peers.map((p) => [p.name, p]))
    const members = new Map<string, string[]>(desired.groups.map((g) => [g.name, []]))
    for (const user of desired.users) {
      for (const group of user.groups) members.get(group)?.push(user.name)
    }
    this.groupMembers = members
    for (const peer of desired.peers) {
      push(this.peersByInterface, `${peer.node}/${peer.interface}`, peer)
      if (peer.user !== undefined) push(this.peersByUser, peer.user, peer)
    }
  }

  /** Active user, active subscription, and a tariff that allows the protocol on the node. */
  userAllowed(userName: string, protocol: Protocol, node: Node): boolean {
    const user = this.users.get(userName)
    if (user?.status !== 'active' || !this.state.activeUsers.has(userName)) return false
    const tariff = user.tariff === undefined ? undefined : this.tariffs.get(user.tariff)
    if (!tariff) return false
    return tariff.protocols.includes(protocol) && nodeMatches(tariff.nodes, node)
  }

  /** Peers a node's interface carries: enabled, and (when owned) by a user allowed WireGuard there. */
  peersOn(node: Node, iface: WireguardInterface): PeerOnInterface[] {
    const peers = this.peersByInterface.get(`${node.name}/${iface.name}`) ?? []
    const result: PeerOnInterface[] = []
    for (const peer of peers) {
      if (!peer.enabled) continue
      if (peer.user !== undefined && !this.userAllowed(peer.user, 'wireguard', node)) continue
      const user = peer.user === undefined ? undefined : this.users.get(peer.user)
      result.push({peer, ...(user ? {user} : {}), addresses: this.addressesOf(peer)})
    }
    return result
  }

  addressesOf(peer: Peer): readonly IpAddress[] {
    return this.state.addresses.get(peer.name) ?? peer.addresses
  }

  peersOfUser(user: string): readonly Peer[] {
    return this.peersByUser.get(user) ?? []
  }

  /** One client per link of every user allowed this inbound's protocol on the node, sorted by email. */
  clientsOf(node: Node, inbound: XrayInbound): XrayClient[] {
    const clients: XrayClient[] = []
    for (const user of this.desired.users) {
      if (!this.userAllowed(user.name, inbound.protocol, node)) continue
      for (const link of user.links) {
        const uuid = this.state.links.get(linkKey(user.name, link))
        if (uuid === undefined) continue
        clients.push({user: user.name, link, email: xrayEmail(user.name, link), uuid})
      }
    }
    return clients.sort((a, b) => (a.email < b.email ? -1 : a.email > b.email ? 1 : 0))
  }

  rulesOn(node: Node): Rule[] {
    return this.desired.rules.filter((rule) => rule.active && nodeMatches(rule.nodes, node))
  }

  servicesOn(node: Node): Service[] {
    return this.desired.services.filter((service) => nodeMatches(service.nodes, node))
  }

  /** Users a service admits: its users plus the members of its groups, sorted. Computed once per service. */
  serviceUsers(service: Service): readonly string[] {
    let users = this.serviceUserLists.get(service)
    if (!users) {
      const names = new Set(service.access.users)
      for (const group of service.access.groups) {
        for (const member of this.groupMembers.get(group) ?? []) names.add(member)
      }
      users = [...names].sort()
      this.serviceUserLists.set(service, users)
    }
    return users
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}
