/**
 * Tunnel address allocation: pure and deterministic. Pinned addresses (from
 * YAML) and previous allocations are kept; every family of the interface a
 * peer has no address in gets the lowest free host address, in peer-name
 * order, skipping reserved and quarantined addresses.
 */
import type {Desired, Peer} from './desired.js'
import {type Cidr, cidrContains, type IpAddress, ipKey, isReservedHost, lastAddress} from './ip.js'

export interface AllocationRequest {
  readonly peer: string
  /** Addresses pinned in YAML: never moved. */
  readonly pinned: readonly IpAddress[]
  /** Addresses held from an earlier apply. */
  readonly previous: readonly IpAddress[]
}

export interface AllocationResult {
  readonly addresses: ReadonlyMap<string, readonly IpAddress[]>
  /** Peers that could not get an address of a family because the prefix is full. */
  readonly exhausted: readonly {readonly peer: string; readonly cidr: Cidr}[]
}

/**
 * @param cidrs the interface's prefixes (one per family at most)
 * @param requests every peer of the interface, in a stable order
 * @param blocked addresses that must not be handed out (tombstones in quarantine)
 */
export function allocateAddresses(
  cidrs: readonly Cidr[],
  requests: readonly AllocationRequest[],
  blocked: readonly IpAddress[] = [],
): AllocationResult {
  const taken = new Set<string>(blocked.map(ipKey))
  const chosen = new Map<string, IpAddress[]>()
  const pending: {peer: string; cidr: Cidr}[] = []

  for (const request of requests) {
    for (const address of request.pinned) taken.add(ipKey(address))
  }
  for (const request of requests) {
    const addresses: IpAddress[] = []
    for (const cidr of cidrs) {
      const pinned = request.pinned.find((a) => a.family === cidr.family)
      if (pinned) {
        addresses.push(pinned)
        continue
      }
      // An earlier allocation that is now reserved (e.g. the gateway address changed) is given up.
      const previous = request.previous.find(
        (a) => cidrContains(cidr, a) && !isReservedHost(cidr, a.value) && !taken.has(ipKey(a)),
      )
      if (previous) {
        taken.add(ipKey(previous))
        addresses.push(previous)
        continue
      }
      pending.push({peer: request.peer, cidr})
    }
    chosen.set(request.peer, addresses)
  }

  const exhausted: {peer: string; cidr: Cidr}[] = []
  const cursors = new Map<Cidr, bigint>()
  for (const {peer, cidr} of pending) {
    let candidate = cursors.get(cidr) ?? cidr.network + 1n
    const last = lastAddress(cidr)
    while (
      candidate <= last &&
      (isReservedHost(cidr, candidate) || taken.has(ipKey({family: cidr.family, value: candidate})))
    ) {
      candidate++
    }
    if (candidate > last) {
      exhausted.push({peer, cidr})
      cursors.set(cidr, candidate)
      continue
    }
    const address = {family: cidr.family, value: candidate}
    taken.add(ipKey(address))
    chosen.get(peer)?.push(address)
    cursors.set(cidr, candidate + 1n)
  }
  for (const addresses of chosen.values()) addresses.sort((a, b) => a.family - b.family)
  return {addresses: chosen, exhausted}
}

/**
 * Addresses for every peer of the fleet, interface by interface, in peer-name
 * order. Peers of unknown interfaces keep only their pinned addresses.
 */
export function allocateFleet(
  desired: Desired,
  previous: ReadonlyMap<string, readonly IpAddress[]> = new Map(),
  blocked: ReadonlyMap<string, readonly IpAddress[]> = new Map(),
): AllocationResult {
  const byInterface = new Map<string, Peer[]>()
  for (const peer of desired.peers) {
    const key = `${peer.node}/${peer.interface}`
    const list = byInterface.get(key)
    if (list) list.push(peer)
    else byInterface.set(key, [peer])
  }
  const addresses = new Map<string, readonly IpAddress[]>()
  const exhausted: {peer: string; cidr: Cidr}[] = []
  for (const peer of desired.peers) addresses.set(peer.name, peer.addresses)
  for (const node of desired.nodes) {
    for (const iface of node.interfaces) {
      const key = `${node.name}/${iface.name}`
      const peers = byInterface.get(key) ?? []
      const result = allocateAddresses(
        iface.addresses,
        peers.map((peer) => ({peer: peer.name, pinned: peer.addresses, previous: previous.get(peer.name) ?? []})),
        blocked.get(key) ?? [],
      )
      for (const [peer, list] of result.addresses) addresses.set(peer, list)
      exhausted.push(...result.exhausted)
    }
  }
  return {addresses, exhausted}
}
