/**
 * Fleets for the subscription tests: the shared fixture, and variants with its
 * node's inbounds changed or more nodes added.
 */
import type {Desired, Node, XrayConfig, XrayInbound} from '../../../../src/model/desired.js'
import {Fleet} from '../../../../src/model/fleet.js'
import type {StateValues} from '../../../../src/model/state-values.js'
import {desired, node, nodeSecrets, state} from '../../../helpers/fixture.js'

export const fixtureXray = node.xray as XrayConfig

export function fixtureFleet(): Fleet {
  return new Fleet(desired, state)
}

export function inboundOf(tag: string, n: Node = node): XrayInbound {
  const found = n.xray?.inbounds.find((inbound) => inbound.tag === tag)
  if (!found) throw new Error(`no inbound ${tag}`)
  return found
}

/** The fixture node with some inbounds changed (matched by tag) and others left as they are. */
export function nodeWithInbounds(changes: Readonly<Record<string, Partial<XrayInbound>>>, base: Node = node): Node {
  const xray = base.xray ?? fixtureXray
  return {
    ...base,
    xray: {...xray, inbounds: xray.inbounds.map((inbound) => ({...inbound, ...changes[inbound.tag]}) as XrayInbound)},
  }
}

/** The fixture node with only these inbounds. */
export function nodeWithOnly(inbounds: readonly XrayInbound[], base: Node = node): Node {
  return {...base, xray: {...(base.xray ?? fixtureXray), inbounds}}
}

/** A fleet whose nodes are these; every node gets the fixture node's secrets. */
export function fleetWithNodes(nodes: readonly Node[], patch: Partial<Desired> = {}, s: StateValues = state): Fleet {
  const secrets = new Map(s.nodes)
  for (const n of nodes) if (!secrets.has(n.name)) secrets.set(n.name, nodeSecrets)
  return new Fleet({...desired, nodes: [...nodes], ...patch}, {...s, nodes: secrets})
}

export function fleetWithNode(n: Node, patch: Partial<Desired> = {}): Fleet {
  return fleetWithNodes([n], patch)
}

export function fleetWithState(patch: Partial<StateValues>, d: Desired = desired): Fleet {
  return new Fleet(d, {...state, ...patch})
}

export function projectTitled(title: string): Desired['project'] {
  return {...desired.project, subscription: {...desired.project.subscription, title}}
}

export function fleetWithTitle(title: string): Fleet {
  return new Fleet({...desired, project: projectTitled(title)}, state)
}

export const VLESS_REALITY = inboundOf('vless-reality')
export const VMESS_WS = inboundOf('vmess-ws')
export const TROJAN_TLS = inboundOf('trojan-tls')
export const SS_2022 = inboundOf('ss2022')
