/**
 * Small builders shared by the renderer tests: a rule with neutral defaults,
 * and a peer of a fleet looked up by name.
 */
import type {Desired, Peer, Rule} from '../../src/model/desired.js'
import {desired} from './fixture.js'

/**
 * A rule that applies on every node, to any protocol, from anyone to
 * anywhere, active and unlogged: a test sets only what it is about.
 */
export function makeRule(fields: Partial<Rule> & Pick<Rule, 'name' | 'action' | 'priority'>): Rule {
  return {
    direction: 'egress',
    protocol: 'any',
    sources: [],
    destinations: [],
    sourcePorts: [],
    ports: [],
    active: true,
    log: false,
    nodes: {kind: 'all'},
    ...fields,
  }
}

export function peerNamed(name: string, d: Desired = desired): Peer {
  const peer = d.peers.find((candidate) => candidate.name === name)
  if (!peer) throw new Error(`no peer ${name}`)
  return peer
}
