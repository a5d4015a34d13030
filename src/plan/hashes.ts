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
  const out: string[] = []
  let closing: string | undefined
  for (const line of content.split('\n')) {
    if (closing !== undefined) {
      if (line === closing || line === `${closing},`) {
        out.push(`${out.pop() ?? ''}]${line.endsWith(',') ? ',' : ''}`)
        closing = undefined
      }
      continue
    }
    const open = /^(\s*)"clients": \[$/.exec(line)
    if (open) closing = `${open[1] ?? ''}]`
    out.push(line)
  }
  if (closing !== undefined) return content
  return out.join('\n')
}

/** A peer set as the node reports it (`wg show dump`): key and allowed IPs, order-free. */
export function peerSetHash(peers: readonly {publicKey: string; allowedIPs: readonly string[]}[]): string {
  const lines = peers.map((p) => `${p.publicKey} ${[...p.allowedIPs].sort(compareText).join(',')}`).sort(compareText)
  return sha256(lines.join('\n'))
}

export function emailSetHash(emails: readonly string[]): string {
  return sha256([...emails].sort(compareText).join('\n'))
}
