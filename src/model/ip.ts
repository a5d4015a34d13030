/**
 * IPv4/IPv6 addresses and prefixes as bigints, so containment, overlap and
 * allocation are exact integer arithmetic. Formatting is canonical (RFC 5952
 * for IPv6) so rendered configs are byte-stable whatever the YAML spelled.
 */

export type Family = 4 | 6

export interface IpAddress {
  readonly family: Family
  readonly value: bigint
}

export interface Cidr {
  readonly family: Family
  /** The address as written (host bits kept: `10.66.0.1/24` is the gateway address). */
  readonly address: bigint
  readonly prefix: number
  /** The network address (host bits cleared). */
  readonly network: bigint
}

const BITS: Record<Family, number> = {4: 32, 6: 128}

export function familyBits(family: Family): number {
  return BITS[family]
}

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  let value = 0n
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined
    const octet = Number(part)
    if (octet > 255) return undefined
    value = (value << 8n) | BigInt(octet)
  }
  return value
}

function parseIpv6(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const groupsOf = (part: string): string[] => (part === '' ? [] : part.split(':'))
  const head = groupsOf(halves[0] ?? '')
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? '') : []
  const words: number[] = []
  const pushGroups = (groups: string[], into: number[], last: boolean): boolean => {
    for (const [i, group] of groups.entries()) {
      if (group.includes('.')) {
        // An embedded IPv4 address may only be the last group of the whole address (not before `::`).
        if (!last || i !== groups.length - 1) return false
        const v4 = parseIpv4(group)
        if (v4 === undefined) return false
        into.push(Number(v4 >> 16n), Number(v4 & 0xffffn))
        continue
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return false
      into.push(Number.parseInt(group, 16))
    }
    return true
  }
  const tailWords: number[] = []
  if (!pushGroups(head, words, halves.length === 1) || !pushGroups(tail, tailWords, true)) return undefined
  if (halves.length === 2) {
    const missing = 8 - words.length - tailWords.length
    if (missing < 1) return undefined
    for (let i = 0; i < missing; i++) words.push(0)
  }
  words.push(...tailWords)
  if (words.length !== 8) return undefined
  return words.reduce((acc, word) => (acc << 16n) | BigInt(word), 0n)
}

export function parseIp(text: string): IpAddress | undefined {
  if (text.includes(':')) {
    const value = parseIpv6(text)
    return value === undefined ? undefined : {family: 6, value}
  }
  const value = parseIpv4(text)
  return value === undefined ? undefined : {family: 4, value}
}

function hostMask(family: Family, prefix: number): bigint {
  return (1n << BigInt(BITS[family] - prefix)) - 1n
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/')
  const ip = parseIp(slash === -1 ? text : text.slice(0, slash))
  if (!ip) return undefined
  const bits = BITS[ip.family]
  let prefix = bits
  if (slash !== -1) {
    const prefixText = text.slice(slash + 1)
    if (!/^(0|[1-9]\d{0,2})$/.test(prefixText)) return undefined
    prefix = Number(prefixText)
    if (prefix > bits) return undefined
  }
  return {family: ip.family, address: ip.value, prefix, network: ip.value & ~hostMask(ip.family, prefix)}
}

const V6_CHUNKS = [96n, 64n, 32n, 0n]

export function formatIp(family: Family, value: bigint): string {
  // Bigint arithmetic is slow, and this runs for every address of every plan: 32 bits at a time.
  if (family === 4) {
    const n = Number(value)
    return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`
  }
  const words: number[] = []
  for (const shift of V6_CHUNKS) {
    const chunk = Number((value >> shift) & 0xffffffffn)
    words.push(chunk >>> 16, chunk & 0xffff)
  }
  // RFC 5952: compress the longest run (length >= 2) of zero words, leftmost on ties.
  let bestStart = -1
  let bestLength = 0
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':')
  if (bestStart === -1) return hex(words)
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`
}

export function formatAddress(ip: IpAddress): string {
  return formatIp(ip.family, ip.value)
}

/** `10.66.0.0/24` */
export function formatNetwork(cidr: Cidr): string {
  return `${formatIp(cidr.family, cidr.network)}/${cidr.prefix}`
}

/** `10.66.0.1/24`: the address as declared, canonical. */
export function formatInterfaceAddress(cidr: Cidr): string {
  return `${formatIp(cidr.family, cidr.address)}/${cidr.prefix}`
}

/** A host route: `10.66.0.2/32` or `fd66::2/128`. */
export function formatHostRoute(ip: IpAddress): string {
  return `${formatAddress(ip)}/${BITS[ip.family]}`
}

export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  return cidr.family === ip.family && (ip.value & ~hostMask(cidr.family, cidr.prefix)) === cidr.network
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false
  const prefix = Math.min(a.prefix, b.prefix)
  const mask = ~hostMask(a.family, prefix)
  return (a.network & mask) === (b.network & mask)
}

export function cidrSize(cidr: Cidr): bigint {
  return 1n << BigInt(BITS[cidr.family] - cidr.prefix)
}

export function lastAddress(cidr: Cidr): bigint {
  return cidr.network | hostMask(cidr.family, cidr.prefix)
}

/**
 * Addresses a peer may not hold: the network address, the IPv4 broadcast
 * address, and the gateway's own address.
 */
export function isReservedHost(cidr: Cidr, value: bigint): boolean {
  if (value === cidr.address) return true
  if (cidr.family === 4 && cidr.prefix <= 30) {
    return value === cidr.network || value === lastAddress(cidr)
  }
  if (cidr.family === 6 && cidr.prefix <= 126) return value === cidr.network
  return false
}

export function ipKey(ip: IpAddress): string {
  return `${ip.family}:${ip.value.toString(16)}`
}

export function cidrKey(cidr: Cidr): string {
  return `${cidr.family}:${cidr.network.toString(16)}/${cidr.prefix}`
}

export function compareIp(a: IpAddress, b: IpAddress): number {
  if (a.family !== b.family) return a.family - b.family
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0
}
