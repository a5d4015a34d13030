/**
 * The hashes a node revision records, and a plan compares: each deployed
 * file, the parts of a file whose change costs more than the rest (a
 * WireGuard [Interface] section, the xray config without its users), and what
 * the node itself reported after the apply (the live peer set, the loaded
 * nft table, xray's users), so later hand edits show up as drift.
 */
import {createHash} from 'node:crypto'

import {compareText} from '../model/compare.js'

export type RevisionHashes = Readonly<Record<string, string>>

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

export const fileKey = (path: string) => `file:${path}`
export const interfaceKey = (iface: string) => `wg-interface:${iface}`
export const XRAY_BASE_KEY = 'xray-base'
export const observedWireguardKey = (iface: string) => `observed:wg:${iface}`
export const OBSERVED_NFT_KEY = 'observed:nft'
export const observedXrayKey = (tag: string) => `observed:xray:${tag}`

/** Everything of a wg-quick file before its first peer: a change here needs an interface restart. */
export function wireguardInterfaceSection(content: string): string {
  const lines = content.split('\n')
  const end = lines.findIndex((line) => line.trim().toLowerCase() === '[peer]')
  const head = end === -1 ? lines : lines.slice(0, end)
  while (head.length > 0 && (head.at(-1)?.trim() === '' || head.at(-1)?.trim().startsWith('#'))) head.pop()
  return head.join('\n')
}

/**
 * The xray config without its inbounds' clients, which xray's API can add and
 * remove live. Anything else that differs, the routing rules' user lists
 * included, needs an xray restart.
 *
 * It works on the text as Nexus renders it (`formatXrayJson`: a client per line):
 * every `"clients": [` block is cut down to `"clients": []`. Parsing the JSON
 * instead costs more than the rest of a plan on a large node. A file in
 * another layout (edited by hand) keeps its clients in the result, so it
 * compares unequal and the change takes the safe path, a restart.
 */
export function xrayBase(content: string): string {
  return xrayBaseParts(content).join('')
}

/** sha256 of `xrayBase(content)`, hashed piece by piece rather than copied into one string first. */
export function xrayBaseSha256(content: string): string {
  const hash = createHash('sha256')
  for (const part of xrayBaseParts(content)) hash.update(part)
  return hash.digest('hex')
}

/**
 * The pieces of the base, in order. Found with indexOf rather than by
 * splitting into lines: a large node's file is megabytes and a hundred
 * thousand lines, and this runs on every node of every plan.
 */
function xrayBaseParts(content: string): string[] {
  const opener = '"clients": ['
  const parts: string[] = []
  let copied = 0
  let at = content.indexOf(`${opener}\n`)
  while (at !== -1) {
    const lineStart = content.lastIndexOf('\n', at - 1) + 1
    const indent = content.slice(lineStart, at)
    if (/^\s*$/.test(indent)) {
      const close = closingLine(content, at + opener.length, indent)
      if (close === undefined) return [content]
      parts.push(content.slice(copied, at + opener.length), close.comma ? '],' : ']')
      copied = close.end
      at = content.indexOf(`${opener}\n`, close.end)
    } else {
      at = content.indexOf(`${opener}\n`, at + opener.length)
    }
  }
  parts.push(copied === 0 ? content : content.slice(copied))
  return parts
}

/** The line `${indent}]` or `${indent}],` after `from` (which is at a line end): where it ends, and its comma. */
function closingLine(content: string, from: number, indent: string): {end: number; comma: boolean} | undefined {
  const needle = `\n${indent}]`
  for (let at = content.indexOf(needle, from); at !== -1; at = content.indexOf(needle, at + 1)) {
    let end = at + needle.length
    const comma = content[end] === ','
    if (comma) end += 1
    if (end === content.length || content[end] === '\n') return {end, comma}
  }
  return undefined
}

/** A peer set as the node reports it (`wg show dump`): key and allowed IPs, order-free. */
export function peerSetHash(peers: readonly {publicKey: string; allowedIPs: readonly string[]}[]): string {
  const lines = peers.map((p) => `${p.publicKey} ${[...p.allowedIPs].sort(compareText).join(',')}`).sort(compareText)
  return sha256(lines.join('\n'))
}

export function emailSetHash(emails: readonly string[]): string {
  return sha256([...emails].sort(compareText).join('\n'))
}
