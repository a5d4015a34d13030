/**
 * The addresses the nftables renderer matches on, for one node: the tunnel
 * addresses of each user's peers there, of each group's members, of each
 * service's admitted users, and every network a peer may send from. Built
 * once per render over maps, so a 50k-peer node stays linear.
 *
 * Only WireGuard peers appear here. Xray users reach the network from the
 * xray process on the gateway itself, so nftables cannot tell them apart;
 * their ACLs are xray routing rules (design.md §4, formats.md §3.4).
 */

import {compareText} from '../model/compare.js'
import type {Node, RuleEndpoint, Service} from '../model/desired.js'
import type {Fleet} from '../model/fleet.js'
import type {Cidr, Family} from '../model/ip.js'
import {collapseCidrs, hostCidr, ofFamily} from '../model/ip-set.js'

export class NftAddressBook {
  /** The node's WireGuard interfaces, sorted: the only traffic the table touches. */
  readonly tunnels: readonly string[]
  /** Every source a peer may legitimately use: its tunnel addresses plus its allowedIPs. */
  readonly peerSources: readonly Cidr[]
  private readonly byUser = new Map<string, Cidr[]>()
  private readonly groups = new Map<string, readonly Cidr[]>()
  private readonly groupsByFamily = new Map<string, readonly Cidr[]>()

  constructor(
    private readonly fleet: Fleet,
    node: Node,
  ) {
    const interfaces = [...node.interfaces].sort((a, b) => compareText(a.name, b.name))
    this.tunnels = interfaces.map((iface) => iface.name)
    const sources: Cidr[] = []
    for (const iface of interfaces) {
      // peersOn already leaves out disabled peers and users not allowed WireGuard here.
      for (const {peer, addresses} of fleet.peersOn(node, iface)) {
        const hosts = addresses.map(hostCidr)
        sources.push(...hosts, ...peer.allowedIPs)
        if (peer.user === undefined) continue
        const list = this.byUser.get(peer.user)
        if (list) list.push(...hosts)
        else this.byUser.set(peer.user, hosts)
      }
    }
    this.peerSources = collapseCidrs(sources)
  }

  /** Tunnel addresses of a user's peers on this node (none for an unknown or inactive user). */
  user(name: string): readonly Cidr[] {
    return this.byUser.get(name) ?? []
  }

  /** Tunnel addresses of the members' peers on this node, collapsed. */
  group(name: string): readonly Cidr[] {
    let cidrs = this.groups.get(name)
    if (!cidrs) {
      cidrs = this.usersAddresses(this.fleet.groupMembers.get(name) ?? [])
      this.groups.set(name, cidrs)
    }
    return cidrs
  }

  /** The same, one family only; cached, since thousands of rules may name one large group. */
  groupFamily(name: string, family: Family): readonly Cidr[] {
    const key = `${family}/${name}`
    let cidrs = this.groupsByFamily.get(key)
    if (!cidrs) {
      cidrs = ofFamily(this.group(name), family)
      this.groupsByFamily.set(key, cidrs)
    }
    return cidrs
  }

  /** Tunnel addresses of the users a service admits, collapsed. */
  serviceMembers(service: Service): readonly Cidr[] {
    return this.usersAddresses(this.fleet.serviceUsers(service))
  }

  /** The service's target addresses (its ports are not part of an endpoint). */
  serviceTargets(service: Service): readonly Cidr[] {
    return collapseCidrs(service.target.addresses.map(hostCidr))
  }

  /** What one rule endpoint stands for on this node, possibly nothing. */
  endpoint(endpoint: RuleEndpoint): readonly Cidr[] {
    switch (endpoint.kind) {
      case 'cidr':
        return [endpoint.cidr]
      case 'group':
        return this.group(endpoint.name)
      case 'user':
        return this.user(endpoint.name)
      case 'service': {
        const service = this.fleet.services.get(endpoint.name)
        return service ? this.serviceTargets(service) : []
      }
    }
  }

  private usersAddresses(users: readonly string[]): readonly Cidr[] {
    const cidrs: Cidr[] = []
    for (const user of users) cidrs.push(...this.user(user))
    return collapseCidrs(cidrs)
  }
}
