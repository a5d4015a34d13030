/**
 * Secret masking for everything a user sees (design.md §8, house rule 8):
 * plan output, JSON and file diffs. Each secret becomes a fixed-width marker
 *
 *     (sensitive 1a2b3c4d)
 *
 * whose 8 hex digits start the sha256 of the secret. Every secret Nexus
 * writes is a random key or UUID, so the digest prefix reveals nothing
 * useful, yet a diff shows a rotated key as a changed line and an unchanged
 * one as context (kubectl's Masker does the same with before/after labels).
 *
 * Masking works on the text and replaces the secret values only: every other
 * byte, line break and the JSON layout stay as they are, so a diff of two
 * masked files lines up exactly like a diff of the originals. Pure.
 */
import {createHash} from 'node:crypto'

import type {ArtifactKind} from '../render/types.js'
import {unifiedDiff, type UnifiedDiffOptions} from './diff.js'

/** Matches a marker `secretMarker` makes. */
export const SECRET_MARKER_PATTERN = /\(sensitive [0-9a-f]{8}\)/

/** The marker that stands for a secret value. */
export function secretMarker(secret: string): string {
  return `(sensitive ${createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 8)})`
}

/** `content` with every secret of its format replaced by its marker. nftables and dnsmasq files hold none. */
export function maskSecrets(content: string, kind: ArtifactKind): string {
  switch (kind) {
    case 'wireguard':
    case 'client':
      return maskWireguard(content)
    case 'xray':
      return maskXray(content)
    case 'nftables':
    case 'dnsmasq':
      return content
  }
}

/** The unified diff of the masked `before` and `after` (null: the file does not exist on that side). */
export function maskedDiff(
  before: string | null,
  after: string | null,
  kind: ArtifactKind,
  labels: UnifiedDiffOptions,
): string {
  return unifiedDiff(
    before === null ? null : maskSecrets(before, kind),
    after === null ? null : maskSecrets(after, kind),
    labels,
  )
}

// ---------------------------------------------------------------- wg-quick

/**
 * `PrivateKey = …` and `PresharedKey = …` in any section, with the key in any
 * case and any spacing (wg-quick matches keys with `nocasematch`, wg with
 * `strcasecmp`). The value ends at a `#` comment or the end of the line, and
 * only the value is replaced. Empty values and the `<…>` placeholder of a
 * client file (a note, not a key) are left alone.
 */
const WG_SECRET_LINE = /^([ \t]*(?:privatekey|presharedkey)[ \t]*=[ \t]*)([^#\r\n]*?)([ \t]*(?:#.*)?)$/gim

function maskWireguard(content: string): string {
  return content.replace(WG_SECRET_LINE, (line, head: string, value: string, tail: string) =>
    value === '' || /^<[^>]*>$/.test(value) ? line : `${head}${secretMarker(value)}${tail}`,
  )
}

// ---------------------------------------------------------------- xray JSON

/**
 * Keys whose string value is a secret wherever they appear: REALITY's
 * `privateKey`, trojan and shadowsocks `password`s (the inbound's shared key
 * and each client's); and, for outbounds a repo declares, socks/http `pass`
 * and WireGuard `secretKey`/`preSharedKey`.
 */
const XRAY_SECRET_KEYS: ReadonlySet<string> = new Set(['privateKey', 'password', 'pass', 'secretKey', 'preSharedKey'])

/** Arrays whose objects' `id` is a credential (the UUID of a vless/vmess client or outbound user). */
const XRAY_ACCOUNT_LISTS: ReadonlySet<string> = new Set(['clients', 'users'])

/**
 * Masks the secret string values of an xray config in place. A document
 * that is not valid JSON (a hand-edited file on a node) is masked by key
 * name alone, `id` included anywhere: too much rather than too little.
 */
function maskXray(content: string): string {
  try {
    JSON.parse(content)
  } catch {
    return maskXrayLoosely(content)
  }
  return maskJsonStrings(content)
}

type Frame = {readonly type: 'object'; key: string | null; expectKey: boolean} | {readonly type: 'array'}

/** Walks valid JSON text, tracking where each string sits, and replaces the secret ones. */
function maskJsonStrings(text: string): string {
  const stack: Frame[] = []
  const out: string[] = []
  let copied = 0
  let i = 0
  while (i < text.length) {
    const char = text[i]
    if (char === '"') {
      const end = stringEnd(text, i)
      const top = stack.at(-1)
      if (top?.type === 'object' && top.expectKey) {
        top.key = JSON.parse(text.slice(i, end)) as string
      } else if (isSecretPosition(stack)) {
        out.push(text.slice(copied, i), JSON.stringify(secretMarker(JSON.parse(text.slice(i, end)) as string)))
        copied = end
      }
      i = end
      continue
    }
    if (char === '{') stack.push({type: 'object', key: null, expectKey: true})
    else if (char === '[') stack.push({type: 'array'})
    else if (char === '}' || char === ']') stack.pop()
    else if (char === ':' || char === ',') {
      const top = stack.at(-1)
      if (top?.type === 'object') top.expectKey = char === ','
    }
    i++
  }
  out.push(text.slice(copied))
  return out.join('')
}

/** The index just past the closing quote of the JSON string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  let i = start + 1
  while (i < text.length) {
    const char = text[i]
    if (char === '\\') i += 2
    else if (char === '"') return i + 1
    else i++
  }
  return text.length
}

/** Whether a string value at the top of `stack` is a secret. */
function isSecretPosition(stack: readonly Frame[]): boolean {
  const top = stack.at(-1)
  if (top?.type !== 'object' || top.key === null) return false
  if (XRAY_SECRET_KEYS.has(top.key)) return true
  if (top.key !== 'id') return false
  const list = stack.at(-2)
  const owner = stack.at(-3)
  return list?.type === 'array' && owner?.type === 'object' && owner.key !== null && XRAY_ACCOUNT_LISTS.has(owner.key)
}

const LOOSE_SECRET = /("(?:privateKey|password|pass|secretKey|preSharedKey|id)"\s*:\s*)("(?:[^"\\\n]|\\.)*")/g

function maskXrayLoosely(content: string): string {
  return content.replace(LOOSE_SECRET, (_match, head: string, quoted: string) => {
    let value: string
    try {
      value = JSON.parse(quoted) as string
    } catch {
      value = quoted.slice(1, -1)
    }
    return `${head}${JSON.stringify(secretMarker(value))}`
  })
}
