/**
 * A digest of everything one node's render reads, so a plan can tell that a
 * node's files cannot have changed without rendering them: at 100 nodes the
 * render is most of a plan, and most plans change a node or two.
 *
 * A node's files depend on the fleet-wide declarations (project, tariffs,
 * users, groups, rules, services), the link UUIDs and active users, the node
 * itself and its secrets, and the peers declared on it with their addresses:
 * `Fleet.peersOn` is the only way a renderer reaches a peer. A peer on another
 * node is therefore not an input, which is what makes a one-peer change cost
 * one node's render. Anything more is folded in as a whole, on purpose: a
 * digest that misses an input would show a stale plan, one that has too many
 * only renders more. test/unit/render/inputs.test.ts checks that every change
 * to a node's files changes its digest.
 */
import {createHash, type Hash} from 'node:crypto'

import {compareText} from '../model/compare.js'
import type {Desired, Node, Peer} from '../model/desired.js'
import type {Fleet} from '../model/fleet.js'

/**
 * Per node name, the digest of its render inputs. `code` names the renderer
 * (a fingerprint of the code that renders), so files rendered by another
 * version of nexus never count as the same.
 */
export function nodeInputDigests(fleet: Fleet, code: string): Map<string, string> {
  const shared = createHash('sha256').update(code).update('\0')
  feed(shared, fleetWide(fleet.desired))
  feed(shared, {
    preview: fleet.state.preview,
    links: [...fleet.state.links].sort(byKey),
    active: [...fleet.state.activeUsers].sort(compareText),
  })
  const peersByNode = new Map<string, Peer[]>()
  for (const peer of fleet.desired.peers) {
    const list = peersByNode.get(peer.node)
    if (list) list.push(peer)
    else peersByNode.set(peer.node, [peer])
  }
  const digests = new Map<string, string>()
  for (const node of fleet.desired.nodes) {
    const hash = shared.copy()
    feed(hash, node)
    feed(hash, secretsOf(fleet, node))
    for (const peer of peersByNode.get(node.name) ?? []) {
      feed(hash, peer)
      feed(hash, fleet.state.addresses.get(peer.name) ?? null)
    }
    digests.set(node.name, hash.digest('hex'))
  }
  return digests
}

function fleetWide(desired: Desired): unknown {
  const {project, tariffs, users, groups, rules, services} = desired
  return {project, tariffs, users, groups, rules, services}
}

function secretsOf(fleet: Fleet, node: Node): unknown {
  const secrets = fleet.state.nodes.get(node.name)
  if (!secrets) return null
  return {
    wireguard: [...secrets.wireguard].sort(byKey),
    reality: [...secrets.reality].sort(byKey),
    shadowsocks: [...secrets.shadowsocks].sort(byKey),
  }
}

const byKey = (a: readonly [string, unknown], b: readonly [string, unknown]) => compareText(a[0], b[0])

/** JSON with bigints (addresses) spelled out; Maps and Sets would vanish from JSON, so they are refused. */
function feed(hash: Hash, value: unknown): void {
  hash.update(JSON.stringify(value, replacer) ?? 'undefined').update('\0')
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return `${value}n`
  if (value instanceof Map || value instanceof Set) {
    throw new Error('nodeInputDigests: a Map or Set among the render inputs; convert it before hashing')
  }
  return value
}
