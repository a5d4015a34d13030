/**
 * Small pieces of nft syntax (nft 1.0.6, formats.md §3) shared by the
 * nftables renderer: element and port lists, strings, set declarations.
 */
import type {PortRange} from '../model/desired.js'
import {type Cidr, type Family, familyBits, formatIp} from '../model/ip.js'

export const FAMILIES: readonly Family[] = [4, 6]

/** `ip` / `ip6`: the payload keyword of a family inside an `inet` table. */
export function ipKeyword(family: Family): 'ip' | 'ip6' {
  return family === 4 ? 'ip' : 'ip6'
}

export function nfproto(family: Family): 'ipv4' | 'ipv6' {
  return family === 4 ? 'ipv4' : 'ipv6'
}

/** One set per family (a set cannot mix them, formats.md §1.3): `g_admins_v4`. */
export function familySetName(base: string, family: Family): string {
  return `${base}_v${family}`
}

// A peer's address lands in several sets (peers, groups, services); format it once.
const elementText = new WeakMap<Cidr, string>()

/** A host as a bare address, anything wider as `network/prefix`. */
export function nftElement(cidr: Cidr): string {
  let text = elementText.get(cidr)
  if (text === undefined) {
    const address = formatIp(cidr.family, cidr.network)
    text = cidr.prefix === familyBits(cidr.family) ? address : `${address}/${cidr.prefix}`
    elementText.set(cidr, text)
  }
  return text
}

/** A single value bare, several as an anonymous set `{ a, b }`. */
export function nftValues(values: readonly string[]): string {
  if (values.length === 0) throw new Error('bug: an empty anonymous set is a syntax error in nft')
  return values.length === 1 ? (values[0] as string) : `{ ${values.join(', ')} }`
}

/** Sorted, with overlapping ranges merged (overlapping elements conflict in an nft set). */
export function mergePorts(ports: readonly PortRange[]): PortRange[] {
  const sorted = [...ports].sort((a, b) => a.from - b.from || a.to - b.to)
  const merged: {from: number; to: number}[] = []
  for (const range of sorted) {
    const last = merged[merged.length - 1]
    if (last && range.from <= last.to) last.to = Math.max(last.to, range.to)
    else merged.push({from: range.from, to: range.to})
  }
  return merged
}

/** `22`, `8000-8080` or `{ 22, 443, 8000-8080 }`. */
export function nftPorts(ports: readonly PortRange[]): string {
  return nftValues(mergePorts(ports).map((p) => (p.from === p.to ? `${p.from}` : `${p.from}-${p.to}`)))
}

/** Interface names as a match value: `"wg0"` or `{ "wg0", "wg1" }`. */
export function nftInterfaces(names: readonly string[]): string {
  return nftValues(names.map((name) => `"${name}"`))
}

// nft strings have no escapes at all (formats.md §1.5): refuse rather than escape.
const SAFE_STRING = /^[A-Za-z0-9 _.:=@-]*$/

/** A quoted nft string; throws on characters nft cannot carry or on excess length (a bug: names are validated). */
export function nftString(text: string, maxBytes: number): string {
  if (!SAFE_STRING.test(text)) throw new Error(`bug: ${JSON.stringify(text)} cannot be an nft string`)
  if (Buffer.byteLength(text) > maxBytes) throw new Error(`bug: nft string longer than ${maxBytes}: ${text}`)
  return `"${text}"`
}

/** `comment "…"`: at most 128 characters (formats.md §3.3). */
export function nftComment(text: string): string {
  return `comment ${nftString(text, 128)}`
}

/** `log prefix "…" level info`: the kernel refuses prefixes over 127 bytes. */
export function nftLog(prefix: string): string {
  return `log prefix ${nftString(prefix, 127)} level info`
}

/** A named set of addresses or prefixes (`flags interval`), or a per-source rate-limit meter. */
export type NftSet =
  | {readonly kind: 'interval'; readonly name: string; readonly family: Family; readonly elements: readonly Cidr[]}
  | {readonly kind: 'meter'; readonly name: string; readonly family: Family}

/**
 * A set declaration, one element a line (a trailing comma is accepted) so a
 * diff shows one line per peer. An empty set has no `elements` line at all:
 * `elements = { }` is a syntax error.
 */
export function renderSet(set: NftSet): string[] {
  const lines = [`set ${set.name} {`, `\ttype ${set.family === 4 ? 'ipv4_addr' : 'ipv6_addr'}`]
  if (set.kind === 'meter') {
    // Entries expire a minute after a source's last packet, so the meter never fills with stale sources.
    // The kernel sizes the hash table from `size` up front: about 2 MB per meter set (measured, kernel 6.18).
    lines.push('\tsize 65535', '\tflags dynamic,timeout', '\ttimeout 1m')
  } else {
    lines.push('\tflags interval')
    if (set.elements.length > 0) {
      lines.push('\telements = {')
      for (const element of set.elements) lines.push(`\t\t${nftElement(element)},`)
      lines.push('\t}')
    }
  }
  lines.push('}')
  return lines
}
