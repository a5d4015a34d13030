import {describe, expect, it} from 'vitest'

import {
  type AllocationRequest,
  type AllocationResult,
  allocateAddresses,
  allocateFleet,
} from '../../../src/model/allocate.js'
import {formatAddress, formatNetwork, type IpAddress} from '../../../src/model/ip.js'
import {cidr, ip} from '../../helpers/fixture.js'
import {loadWith, WG_KEYS} from '../../helpers/repo.js'

const request = (peer: string, pinned: string[] = [], previous: string[] = []): AllocationRequest => ({
  peer,
  pinned: pinned.map(ip),
  previous: previous.map(ip),
})

function texts(result: AllocationResult): Record<string, string[]> {
  return Object.fromEntries([...result.addresses].map(([peer, list]) => [peer, list.map(formatAddress)]))
}

const V4 = [cidr('10.66.0.1/24')]
const DUAL = [cidr('10.66.0.1/24'), cidr('fd66::1/64')]

describe('allocateAddresses', () => {
  it('hands out the lowest free address of each family, skipping the network and gateway', () => {
    const result = allocateAddresses(DUAL, [request('a'), request('b')])
    expect(texts(result)).toEqual({a: ['10.66.0.2', 'fd66::2'], b: ['10.66.0.3', 'fd66::3']})
    expect(result.exhausted).toEqual([])
  })

  it('allocates from IPv6-only interfaces', () => {
    const result = allocateAddresses([cidr('fd00:1::1/120')], [request('a'), request('b')])
    expect(texts(result)).toEqual({a: ['fd00:1::2'], b: ['fd00:1::3']})
  })

  it('keeps pinned addresses and skips them for everyone else, whatever the order', () => {
    const result = allocateAddresses(V4, [request('a'), request('b'), request('z', ['10.66.0.2'])])
    expect(texts(result)).toEqual({a: ['10.66.0.3'], b: ['10.66.0.4'], z: ['10.66.0.2']})
  })

  it('allocates the missing family of a peer pinned in the other', () => {
    const result = allocateAddresses(DUAL, [request('a', ['10.66.0.9'])])
    expect(texts(result)).toEqual({a: ['10.66.0.9', 'fd66::2']})
  })

  it('keeps previous allocations and skips them for new peers', () => {
    const result = allocateAddresses(V4, [
      request('a'),
      request('b', [], ['10.66.0.2']),
      request('c', [], ['10.66.0.7']),
    ])
    expect(texts(result)).toEqual({a: ['10.66.0.3'], b: ['10.66.0.2'], c: ['10.66.0.7']})
  })

  it('gives up a previous allocation that a pinned address now takes', () => {
    const result = allocateAddresses(V4, [request('a', [], ['10.66.0.5']), request('b', ['10.66.0.5'])])
    expect(texts(result)).toEqual({a: ['10.66.0.2'], b: ['10.66.0.5']})
  })

  it('gives up a previous allocation outside the current prefix', () => {
    const result = allocateAddresses(V4, [request('a', [], ['10.99.0.5'])])
    expect(texts(result)).toEqual({a: ['10.66.0.2']})
  })

  it('gives up a previous allocation that became the gateway address', () => {
    const result = allocateAddresses([cidr('10.66.0.2/24')], [request('a', [], ['10.66.0.2']), request('b')])
    expect(texts(result)).toEqual({a: ['10.66.0.1'], b: ['10.66.0.3']})
  })

  it('gives up a previous allocation on the broadcast address', () => {
    const result = allocateAddresses(V4, [request('a', [], ['10.66.0.255'])])
    expect(texts(result)).toEqual({a: ['10.66.0.2']})
  })

  it('skips blocked (quarantined) addresses', () => {
    const result = allocateAddresses(V4, [request('a'), request('b')], [ip('10.66.0.2'), ip('10.66.0.4')])
    expect(texts(result)).toEqual({a: ['10.66.0.3'], b: ['10.66.0.5']})
  })

  it('skips the broadcast address and reports exhaustion', () => {
    const net = [cidr('10.66.0.1/29')] // .0 network, .1 gateway, .7 broadcast: .2-.6 usable
    const result = allocateAddresses(
      net,
      ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((p) => request(p)),
    )
    expect(texts(result)).toEqual({
      a: ['10.66.0.2'],
      b: ['10.66.0.3'],
      c: ['10.66.0.4'],
      d: ['10.66.0.5'],
      e: ['10.66.0.6'],
      f: [],
      g: [],
    })
    expect(result.exhausted.map((e) => [e.peer, formatNetwork(e.cidr)])).toEqual([
      ['f', '10.66.0.0/29'],
      ['g', '10.66.0.0/29'],
    ])
  })

  it('uses the gateway-less addresses of a prefix whose gateway is not the first host', () => {
    const result = allocateAddresses(
      [cidr('10.66.0.6/29')],
      ['a', 'b'].map((p) => request(p)),
    )
    expect(texts(result)).toEqual({a: ['10.66.0.1'], b: ['10.66.0.2']})
  })

  it('is deterministic: the same input gives the same output', () => {
    const requests = [request('a'), request('b', ['10.66.0.3']), request('c', [], ['10.66.0.9']), request('d')]
    const first = texts(allocateAddresses(DUAL, requests, [ip('10.66.0.2')]))
    const second = texts(allocateAddresses(DUAL, requests, [ip('10.66.0.2')]))
    expect(second).toEqual(first)
    expect(first).toEqual({
      a: ['10.66.0.4', 'fd66::2'],
      b: ['10.66.0.3', 'fd66::3'],
      c: ['10.66.0.9', 'fd66::4'],
      d: ['10.66.0.5', 'fd66::5'],
    })
  })

  it('returns addresses IPv4 first', () => {
    const result = allocateAddresses([cidr('fd66::1/64'), cidr('10.66.0.1/24')], [request('a')])
    expect(result.addresses.get('a')?.map((a: IpAddress) => a.family)).toEqual([4, 6])
  })
})

describe('allocateFleet', () => {
  const peer = (name: string, key: string, extra = '') =>
    `apiVersion: nexus/v1\nkind: Peer\nname: ${name}\nnode: gw-1\ninterface: wg0\npublicKey: ${key}\n${extra}`

  it('allocates in peer-name order per interface, keeping pinned and previous addresses', () => {
    const inventory = loadWith({
      'peers/zed.yaml': peer('zed', WG_KEYS.b),
      'peers/bob.yaml': peer('bob', WG_KEYS.c),
      'peers/carl.yaml': peer('carl', WG_KEYS.d),
    })
    if (!inventory.desired) throw new Error(JSON.stringify(inventory.diagnostics))
    const previous = new Map([['carl', [ip('10.66.0.3'), ip('fd66::9')]]])
    const result = allocateFleet(inventory.desired, previous)
    expect(texts(result)).toEqual({
      'alice-laptop': ['10.66.0.2', 'fd66::2'],
      bob: ['10.66.0.4', 'fd66::3'],
      carl: ['10.66.0.3', 'fd66::9'],
      zed: ['10.66.0.5', 'fd66::4'],
    })
    expect(result.exhausted).toEqual([])
  })

  it('applies the blocked addresses of each interface', () => {
    const inventory = loadWith({'peers/bob.yaml': peer('bob', WG_KEYS.c)})
    if (!inventory.desired) throw new Error(JSON.stringify(inventory.diagnostics))
    const result = allocateFleet(
      inventory.desired,
      new Map(),
      new Map([['gw-1/wg0', [ip('10.66.0.3'), ip('fd66::2')]]]),
    )
    expect(texts(result)).toEqual({'alice-laptop': ['10.66.0.2', 'fd66::3'], bob: ['10.66.0.4', 'fd66::4']})
  })

  it('leaves peers of an unknown interface with their pinned addresses', () => {
    const inventory = loadWith()
    if (!inventory.desired) throw new Error('invalid')
    const desired = {...inventory.desired, nodes: []}
    expect(texts(allocateFleet(desired))).toEqual({'alice-laptop': ['10.66.0.2']})
  })
})
