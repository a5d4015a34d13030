/**
 * Every file a render produces (design.md §6): per node its WireGuard
 * interfaces, nftables table, xray config and dnsmasq overrides, and a
 * wg-quick file for every peer a node carries. Disabled nodes get nothing.
 */
import type {Node} from '../model/desired.js'
import type {Fleet} from '../model/fleet.js'
import {type ArtifactName, managedFiles} from '../model/node-files.js'
import {renderClientConfig} from './client.js'
import {renderDnsmasq} from './dnsmasq.js'
import {renderNftables} from './nftables.js'
import type {ArtifactKind, RenderedFile} from './types.js'
import {renderWireguardInterface} from './wireguard.js'
import {renderXray} from './xray.js'

const PRIVATE = 0o600
const PUBLIC = 0o644

export interface RenderOptions {
  /** Only this node's files and the clients of its peers. */
  readonly node?: string
  /** The peers' client files too (default true); a plan only needs what goes to nodes. */
  readonly clients?: boolean
}

export function renderFleet(fleet: Fleet, options: RenderOptions = {}): RenderedFile[] {
  return [...renderEachNode(fleet, options)].sort(byPath)
}

/**
 * The files of renderFleet, a node at a time and not sorted across nodes, so
 * a caller can write them out without holding a large fleet's render (half a
 * GB at 100 nodes) in memory at once.
 */
export function* renderEachNode(fleet: Fleet, options: RenderOptions = {}): Generator<RenderedFile> {
  for (const node of fleet.desired.nodes) {
    if (options.node !== undefined && node.name !== options.node) continue
    yield* renderNode(fleet, node, {clients: options.clients ?? true})
  }
}

/** One node's files (none for a disabled node), and with `clients` those of its peers; sorted by path. */
export function renderNode(fleet: Fleet, node: Node, options: {readonly clients: boolean}): RenderedFile[] {
  if (node.status === 'disabled') return []
  const files: RenderedFile[] = []
  const targets = new Map(managedFiles(node).map((file) => [file.artifact, file]))
  const add = (artifact: ArtifactName, kind: ArtifactKind, file: string, content: string | undefined, mode: number) => {
    if (content === undefined) return
    const target = targets.get(artifact)
    files.push({
      path: `nodes/${node.name}/${file}`,
      kind,
      node: node.name,
      content,
      mode,
      ...(target ? {target: {artifact, path: target.path}} : {}),
    })
  }
  for (const iface of node.interfaces) {
    add(
      `wireguard/${iface.name}`,
      'wireguard',
      `wireguard/${iface.name}.conf`,
      renderWireguardInterface(fleet, node, iface),
      PRIVATE,
    )
  }
  add('nftables', 'nftables', 'nftables/nexus.nft', renderNftables(fleet, node), PUBLIC)
  add('xray', 'xray', 'xray/config.json', renderXray(fleet, node), PRIVATE)
  add('dns', 'dnsmasq', 'dnsmasq/nexus.conf', renderDnsmasq(fleet, node), PUBLIC)
  if (options.clients) {
    for (const iface of node.interfaces) {
      for (const {peer} of fleet.peersOn(node, iface)) {
        files.push({
          path: `clients/${peer.name}.conf`,
          kind: 'client',
          node: node.name,
          content: renderClientConfig(fleet, peer),
          mode: PRIVATE,
        })
      }
    }
  }
  return files.sort(byPath)
}

const byPath = (a: RenderedFile, b: RenderedFile) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
