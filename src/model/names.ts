/**
 * The character rules for everything that ends up inside a rendered config.
 * Names reach wg comments, nft identifiers and log prefixes, dnsmasq lines,
 * xray emails and tags, and subscription names; formats.md §1.5 explains why
 * each is restricted rather than escaped.
 */

export const NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/
export const INTERFACE_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,14}$/
export const TAG_PATTERN = /^[a-z][a-z0-9-]{0,31}$/
export const LABEL_KEY_PATTERN = /^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$/
export const LABEL_VALUE_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/
/** LDH labels, ASCII only (IDNs must be written as punycode `xn--`). */
export const HOSTNAME_PATTERN =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i
/** A service domain: a hostname, optionally behind one leading `*.` wildcard label. */
export const DOMAIN_PATTERN =
  /^(\*\.)?(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/i
export const UNIX_USER_PATTERN = /^[a-z_][a-z0-9_-]{0,31}$/
/** Standard base64 of exactly 32 bytes, as `wg genkey`/`wg pubkey` print. */
export const WIREGUARD_KEY_PATTERN = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/
export const SHORT_ID_PATTERN = /^([0-9a-f]{2}){0,8}$/

/** nft identifiers cannot be keywords (formats.md §1.5), so every generated name gets a prefix. */
export function nftIdentifier(prefix: string, name: string): string {
  return `${prefix}_${name.replaceAll('-', '_')}`
}

/** The xray `email` of a user's link: lower-case, unique per inbound, free of `>>>`. */
export function xrayEmail(user: string, link: string): string {
  return `${user}.${link}@nexus`
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({length: b.length + 1}, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] ?? 0
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] ?? 0
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      row[j] = Math.min(above + 1, (row[j - 1] ?? 0) + 1, diagonal + cost)
      diagonal = above
    }
  }
  return row[b.length] ?? 0
}

export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined
}
