/**
 * Where Nexus keeps things on a node: the files it manages (one per
 * artifact of design.md §4) and its revision marker.
 */
import {posix} from 'node:path'

import type {Node} from './desired.js'

export type ArtifactName = `wireguard/${string}` | 'nftables' | 'xray' | 'dns'

export interface ManagedFile {
  /** `wireguard/IFACE`, `nftables`, `xray` or `dns`. */
  readonly artifact: ArtifactName
  /** Absolute path on the node. */
  readonly path: string
}

/** The deployed files Nexus manages on a node, in a stable order. */
export function managedFiles(node: Node): ManagedFile[] {
  return [
    ...node.interfaces.map((i) => ({
      artifact: `wireguard/${i.name}` as const,
      path: posix.join(node.paths.wireguard, `${i.name}.conf`),
    })),
    {artifact: 'nftables', path: node.paths.nftables},
    ...(node.xray ? [{artifact: 'xray' as const, path: node.paths.xray}] : []),
    ...(node.dns.enabled ? [{artifact: 'dns' as const, path: node.paths.dnsmasq}] : []),
  ]
}

export function markerPath(node: Node): string {
  return posix.join(node.paths.state, 'revision.json')
}
