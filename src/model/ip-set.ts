/**
 * Sets of addresses and prefixes normalised for interval sets: sorted, free
 * of duplicates and of prefixes that lie inside another one. nft rejects
 * overlapping elements in an interval set ("conflicting intervals",
 * formats.md §3.3), and a sorted list keeps rendered files byte-stable.
 */
import {type Cidr, type Family, familyBits, type IpAddress, lastAddress} from './ip.js'

/** The single-address prefix of an address: `10.66.0.2/32`, `fd66::2/128`. */
export function hostCidr(ip: IpAddress): Cidr {
  return {family: ip.family, address: ip.value, prefix: familyBits(ip.family), network: ip.value}
}

/** IPv4 before IPv6, then by network, then wider prefixes first. */
export function compareCidr(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family
  if (a.network !== b.network) return a.network < b.network ? -1 : 1
  if (a.prefix !== b.prefix) return a.prefix - b.prefix
  return a.address < b.address ? -1 : a.address > b.address ? 1 : 0
}

/**
 * Sorted (see compareCidr), without duplicates or prefixes covered by another
 * element. Two prefixes are either disjoint or nested, so after sorting a
 * covered prefix always follows the last one kept: one pass suffices.
 * Adjacent prefixes stay separate elements (nft accepts them, and a diff then
 * shows one line per peer).
 */
export function collapseCidrs(cidrs: Iterable<Cidr>): Cidr[] {
  const sorted = [...cidrs].sort(compareCidr)
  const kept: Cidr[] = []
  let last: Cidr | undefined
  let lastEnd = 0n
  for (const cidr of sorted) {
    if (last && last.family === cidr.family && cidr.network <= lastEnd) continue
    // Keep the prefix in its network form: the host bits of an interface address are not part of the set.
    const normalised: Cidr = cidr.address === cidr.network ? cidr : {...cidr, address: cidr.network}
    kept.push(normalised)
    last = normalised
    lastEnd = lastAddress(normalised)
  }
  return kept
}

/** The elements of one family, order kept. */
export function ofFamily(cidrs: readonly Cidr[], family: Family): Cidr[] {
  return cidrs.filter((cidr) => cidr.family === family)
}
