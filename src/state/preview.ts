/**
 * State values for a render before any state exists: fresh keys and UUIDs,
 * addresses allocated as apply would, all marked `preview` and kept nowhere.
 */
import {generateRealityKeyPair, generateShadowsocksKey, generateUuid, generateWireguardKeyPair} from '../crypto/keys.js'
import {allocateFleet} from '../model/allocate.js'
import type {Desired} from '../model/desired.js'
import {linkKey, type NodeSecrets, type StateValues} from '../model/state-values.js'
import {declaredActive, tariffsByName} from '../model/subscription.js'

export function previewStateValues(desired: Desired, now: Date): StateValues {
  const tariffs = tariffsByName(desired.tariffs)
  const nodes = new Map<string, NodeSecrets>()
  for (const node of desired.nodes) {
    const inbounds = node.xray?.inbounds ?? []
    nodes.set(node.name, {
      wireguard: new Map(node.interfaces.map((iface) => [iface.name, generateWireguardKeyPair()])),
      reality: new Map(inbounds.filter((i) => i.security === 'reality').map((i) => [i.tag, generateRealityKeyPair()])),
      shadowsocks: new Map(
        inbounds
          .filter((i) => i.protocol === 'shadowsocks')
          .map((i) => [i.tag, generateShadowsocksKey(i.method ?? '')]),
      ),
    })
  }
  const links = new Map<string, string>()
  for (const user of desired.users) {
    for (const link of user.links) links.set(linkKey(user.name, link), generateUuid())
  }
  return {
    preview: true,
    nodes,
    links,
    addresses: allocateFleet(desired).addresses,
    activeUsers: new Set(desired.users.filter((user) => declaredActive(user, now, tariffs)).map((user) => user.name)),
  }
}
