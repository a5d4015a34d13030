import type {ArtifactName} from '../model/node-files.js'

export type ArtifactKind = 'wireguard' | 'nftables' | 'xray' | 'dnsmasq' | 'client'

/** One file a render produces, addressed by its path in the render tree (design.md §6). */
export interface RenderedFile {
  /** e.g. `nodes/fra-1/wireguard/wg0.conf`, `clients/alice-laptop.conf` */
  readonly path: string
  readonly kind: ArtifactKind
  /** The node it belongs to (clients: the node the peer connects to). */
  readonly node: string
  readonly content: string
  readonly mode: number
  /** For node files: the artifact it is (`wireguard/wg0`, `nftables`, `xray`, `dns`) and its path on the node. */
  readonly target?: {readonly artifact: ArtifactName; readonly path: string}
}
