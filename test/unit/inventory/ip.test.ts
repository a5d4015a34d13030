import {describe, expect, it} from 'vitest'

import {
  cidrContains,
  cidrSize,
  cidrsOverlap,
  compareIp,
  formatAddress,
  formatHostRoute,
  formatInterfaceAddress,
  formatNetwork,
  isReservedHost,
  parseCidr,
  parseIp,
} from '../../../src/model/ip.js'
import {cidr, ip} from '../../helpers/fixture.js'

const canonical = (text: string): string | undefined => {
  const parsed = parseIp(text)
  return parsed ? formatAddress(parsed) : undefined
}

describe('parseIp / formatAddress', () => {
  it.each([
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['10.66.0.2', '10.66.0.2'],
  ])('IPv4 %s', (text, expected) => {
    expect(parseIp(text)?.family).toBe(4)
    expect(canonical(text)).toBe(expected)
  })

  it.each([
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:DB8::A', '2001:db8::a'],
    // RFC 5952 4.2.3: the longest run of zeros is compressed, the first one on a tie
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    // RFC 5952 4.2.2: a single zero group is not compressed
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['fd66:0000::0a', 'fd66::a'],
  ])('IPv6 %s -> %s', (text, expected) => {
    expect(parseIp(text)?.family).toBe(6)
    expect(canonical(text)).toBe(expected)
  })

  it('reads an embedded IPv4 address as the last 32 bits', () => {
    expect(parseIp('::ffff:192.0.2.1')).toEqual(parseIp('::ffff:c000:201'))
    expect(parseIp('64:ff9b::192.0.2.33')).toEqual(parseIp('64:ff9b::c000:221'))
    expect(parseIp('1:2:3:4:5:6:1.2.3.4')).toEqual(parseIp('1:2:3:4:5:6:102:304'))
    expect(parseIp('::1.2.3.4')?.value).toBe(0x01020304n)
  })

  it.each([
    [''],
    ['1.2.3'],
    ['1.2.3.4.5'],
    ['256.0.0.1'],
    ['01.2.3.4'],
    ['1.2.3.-1'],
    ['+1.2.3.4'],
    [' 1.2.3.4'],
    ['1.2.3.4 '],
    ['1:2:3:4:5:6:7:8:9'],
    ['1:2:3:4:5:6:7'],
    ['1::2::3'],
    [':::'],
    [':1::'],
    ['1:'],
    ['12345::'],
    ['g::1'],
    ['fe80::1%eth0'],
    ['[::1]'],
    ['::1.2.3'],
    ['::256.1.1.1'],
    ['1.2.3.4:5::'],
    ['1:2:3:4:5:6:7:1.2.3.4'],
    // an embedded IPv4 address must be the last 32 bits, not before "::"
    ['1.2.3.4::'],
    ['1:2:1.2.3.4::5'],
  ])('refuses %j', (text) => {
    expect(parseIp(text)).toBeUndefined()
  })

  it('orders IPv4 before IPv6, then by value', () => {
    const sorted = ['fd66::2', '10.0.0.10', '10.0.0.9', '::1'].map(ip).sort(compareIp).map(formatAddress)
    expect(sorted).toEqual(['10.0.0.9', '10.0.0.10', '::1', 'fd66::2'])
  })

  it('formats host routes', () => {
    expect(formatHostRoute(ip('10.66.0.2'))).toBe('10.66.0.2/32')
    expect(formatHostRoute(ip('fd66::2'))).toBe('fd66::2/128')
  })
})

describe('parseCidr', () => {
  it('keeps the written address and clears host bits in the network', () => {
    const parsed = cidr('10.66.0.1/24')
    expect(formatNetwork(parsed)).toBe('10.66.0.0/24')
    expect(formatInterfaceAddress(parsed)).toBe('10.66.0.1/24')
    expect(formatNetwork(cidr('fd66::1/64'))).toBe('fd66::/64')
    expect(formatInterfaceAddress(cidr('FD66:0::1/64'))).toBe('fd66::1/64')
  })

  it('reads an address without a prefix as a host prefix', () => {
    expect(formatNetwork(cidr('10.0.0.1'))).toBe('10.0.0.1/32')
    expect(formatNetwork(cidr('::1'))).toBe('::1/128')
  })

  it.each([['0.0.0.0/0'], ['::/0'], ['10.0.0.0/32'], ['fd66::/128']])('accepts %s', (text) => {
    expect(parseCidr(text)).toBeDefined()
  })

  it.each([['10.0.0.0/33'], ['10.0.0.0/-1'], ['10.0.0.0/08'], ['10.0.0.0/'], ['fd66::/129'], ['10.0.0/8'], ['/8']])(
    'refuses %s',
    (text) => {
      expect(parseCidr(text)).toBeUndefined()
    },
  )

  it('computes sizes', () => {
    expect(cidrSize(cidr('10.0.0.0/24'))).toBe(256n)
    expect(cidrSize(cidr('fd66::/64'))).toBe(2n ** 64n)
    expect(cidrSize(cidr('10.0.0.1/32'))).toBe(1n)
  })
})

describe('containment and overlap', () => {
  it('contains addresses of its own family only', () => {
    const net = cidr('10.66.0.1/24')
    expect(cidrContains(net, ip('10.66.0.0'))).toBe(true)
    expect(cidrContains(net, ip('10.66.0.255'))).toBe(true)
    expect(cidrContains(net, ip('10.66.1.0'))).toBe(false)
    expect(cidrContains(net, ip('::a42:2'))).toBe(false)
    expect(cidrContains(cidr('::/0'), ip('10.66.0.2'))).toBe(false)
    expect(cidrContains(cidr('0.0.0.0/0'), ip('10.66.0.2'))).toBe(true)
  })

  it('overlaps when one prefix contains the other, in either order', () => {
    expect(cidrsOverlap(cidr('10.0.0.0/8'), cidr('10.66.0.0/24'))).toBe(true)
    expect(cidrsOverlap(cidr('10.66.0.0/24'), cidr('10.0.0.0/8'))).toBe(true)
    expect(cidrsOverlap(cidr('10.66.0.1/24'), cidr('10.66.0.200/25'))).toBe(true)
    expect(cidrsOverlap(cidr('10.66.0.0/25'), cidr('10.66.0.128/25'))).toBe(false)
    expect(cidrsOverlap(cidr('fd66::/64'), cidr('fd66:0:0:1::/64'))).toBe(false)
    expect(cidrsOverlap(cidr('fd66::/48'), cidr('fd66:0:0:1::/64'))).toBe(true)
    expect(cidrsOverlap(cidr('0.0.0.0/0'), cidr('::/0'))).toBe(false)
  })

  it('reserves the network, the gateway and the IPv4 broadcast address', () => {
    const v4 = cidr('10.66.0.1/24')
    expect([0n, 1n, 2n, 254n, 255n].map((host) => isReservedHost(v4, v4.network + host))).toEqual([
      true,
      true,
      false,
      false,
      true,
    ])
    const v6 = cidr('fd66::1/64')
    expect(isReservedHost(v6, v6.network)).toBe(true)
    expect(isReservedHost(v6, v6.network + 1n)).toBe(true)
    expect(isReservedHost(v6, v6.network + 2n)).toBe(false)
    expect(isReservedHost(v6, v6.network + 2n ** 64n - 1n)).toBe(false)
  })

  it('reserves only the gateway in a /31', () => {
    const p2p = cidr('10.0.0.0/31')
    expect(isReservedHost(p2p, p2p.network)).toBe(true)
    expect(isReservedHost(p2p, p2p.network + 1n)).toBe(false)
  })
})

describe('formatAddress at the edges of each 32-bit chunk', () => {
  it('round-trips addresses across every 16-bit word and both families', () => {
    const texts = [
      '0.0.0.0',
      '255.255.255.255',
      '10.66.0.1',
      '128.0.0.1',
      '::',
      '::1',
      '1::',
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      '2001:db8::ff00:42:8329',
      '1:0:2::3:0:4',
      'fd66::8000:0:1',
      '8000::ffff',
    ]
    for (const text of texts) {
      const ip = parseIp(text)
      expect(ip && formatAddress(ip), text).toBe(text)
    }
  })
})
