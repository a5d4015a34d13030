import {describe, expect, it} from 'vitest'

import {formatNetwork} from '../../../src/model/ip.js'
import {collapseCidrs, compareCidr, hostCidr, ofFamily} from '../../../src/model/ip-set.js'
import {cidr, ip} from '../../helpers/fixture.js'

const texts = (list: ReturnType<typeof collapseCidrs>): string[] => list.map(formatNetwork)

describe('hostCidr', () => {
  it('makes a full-length prefix of either family', () => {
    expect(formatNetwork(hostCidr(ip('10.66.0.2')))).toBe('10.66.0.2/32')
    expect(formatNetwork(hostCidr(ip('fd66::2')))).toBe('fd66::2/128')
  })
})

describe('compareCidr', () => {
  it('orders IPv4 first, then by network, wider prefixes first', () => {
    const sorted = [cidr('fd66::/64'), cidr('10.1.0.0/16'), cidr('10.0.0.0/8'), cidr('10.0.0.0/16')].sort(compareCidr)
    expect(texts(sorted)).toEqual(['10.0.0.0/8', '10.0.0.0/16', '10.1.0.0/16', 'fd66::/64'])
  })
})

describe('collapseCidrs', () => {
  it('returns an empty list for no input', () => {
    expect(collapseCidrs([])).toEqual([])
  })

  it('drops duplicates', () => {
    expect(texts(collapseCidrs([cidr('10.66.0.2/32'), cidr('10.66.0.2/32')]))).toEqual(['10.66.0.2/32'])
  })

  it('drops prefixes inside a wider one, whatever the input order', () => {
    const inputs = [cidr('192.168.50.0/24'), cidr('10.66.0.250/32'), cidr('192.168.0.0/16'), cidr('192.168.50.7/32')]
    expect(texts(collapseCidrs(inputs))).toEqual(['10.66.0.250/32', '192.168.0.0/16'])
    expect(texts(collapseCidrs([...inputs].reverse()))).toEqual(['10.66.0.250/32', '192.168.0.0/16'])
  })

  it('keeps adjacent prefixes as separate elements (they do not conflict in nft)', () => {
    expect(texts(collapseCidrs([cidr('10.66.0.3/32'), cidr('10.66.0.2/32')]))).toEqual(['10.66.0.2/32', '10.66.0.3/32'])
  })

  it('keeps families apart even when the numeric ranges overlap', () => {
    // ::/96 covers the same integers as every IPv4 address; it must not swallow them.
    const result = collapseCidrs([cidr('::/96'), cidr('10.0.0.0/8'), cidr('::a00:1/128')])
    expect(texts(result)).toEqual(['10.0.0.0/8', '::/96'])
  })

  it('clears host bits so the element is the network', () => {
    const [only] = collapseCidrs([cidr('10.66.0.1/24')])
    expect(only?.address).toBe(only?.network)
    expect(formatNetwork(only ?? cidr('0.0.0.0/0'))).toBe('10.66.0.0/24')
  })

  it('a default route swallows everything of its family only', () => {
    const result = collapseCidrs([cidr('10.0.0.0/8'), cidr('0.0.0.0/0'), cidr('fd00::/8'), cidr('1.2.3.4/32')])
    expect(texts(result)).toEqual(['0.0.0.0/0', 'fd00::/8'])
  })

  it('collapses 100k hosts given in reverse order (its speed is measured by npm run bench)', () => {
    const hosts = Array.from({length: 100_000}, (_, i) => hostCidr({family: 4, value: 0x0a000000n + BigInt(i)}))
    const result = collapseCidrs([...hosts].reverse())
    expect(result).toHaveLength(100_000)
    expect(result[0]?.network).toBe(0x0a000000n)
    expect(result.at(-1)?.network).toBe(0x0a000000n + 99_999n)
  })
})

describe('ofFamily', () => {
  it('keeps one family, order unchanged', () => {
    const list = collapseCidrs([cidr('fd66::2/128'), cidr('10.66.0.3/32'), cidr('10.66.0.2/32')])
    expect(texts(ofFamily(list, 4))).toEqual(['10.66.0.2/32', '10.66.0.3/32'])
    expect(texts(ofFamily(list, 6))).toEqual(['fd66::2/128'])
  })
})
