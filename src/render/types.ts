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
}
