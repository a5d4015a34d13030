import {describe, expect, it} from 'vitest'

import type {Desired} from '../../../src/model/desired.js'
import {Fleet} from '../../../src/model/fleet.js'
import type {StateValues} from '../../../src/model/state-values.js'
import {renderNode} from '../../../src/render/index.js'
import {nodeInputDigests} from '../../../src/render/inputs.js'
import {desired as fixture, node, nodeSecrets, state as fixtureState} from '../../helpers/fixture.js'

// Two nodes, with carol's laptop on the second, so a change can stay on one node.
const desired: Desired = {
  ...fixture,
  nodes: [node, {...node, name: 'ams-1', labels: {region: 'eu', city: 'ams'}}],
  peers: fixture.peers.map((p) => (p.name === 'carol-laptop' ? {...p, node: 'ams-1'} : p)),
}
const state: StateValues = {...fixtureState, nodes: new Map([...fixtureState.nodes, ['ams-1', nodeSecrets]])}

type Rendered = Map<string, string | undefined>

function renderAll(d: Desired, s: StateValues): Rendered {
  const fleet = new Fleet(d, s)
  return new Map(
    d.nodes.map((n) => {
      try {
        return [n.name, JSON.stringify(renderNode(fleet, n, {clients: false}))]
      } catch {
        return [n.name, undefined]
      }
    }),
  )
}

/** Every leaf of a value, each changed once: strings, numbers, booleans, bigints, and array ends. */
function* mutations(value: unknown, path: string[] = []): Generator<{path: string; apply: (root: unknown) => unknown}> {
  const at = (root: unknown, change: (leaf: unknown) => unknown): unknown => replaceAt(root, path, change)
  if (typeof value === 'string') yield {path: path.join('.'), apply: (root) => at(root, (v) => `${v as string}x`)}
  else if (typeof value === 'number') yield {path: path.join('.'), apply: (root) => at(root, (v) => (v as number) + 1)}
  else if (typeof value === 'boolean') yield {path: path.join('.'), apply: (root) => at(root, (v) => !v)}
  else if (typeof value === 'bigint') yield {path: path.join('.'), apply: (root) => at(root, (v) => (v as bigint) + 1n)}
  else if (Array.isArray(value)) {
    if (value.length > 0)
      yield {path: `${path.join('.')}[-1]`, apply: (root) => at(root, (v) => (v as unknown[]).slice(0, -1))}
    for (const [i, item] of value.entries()) yield* mutations(item, [...path, String(i)])
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) yield* mutations(item, [...path, key])
  }
}

function replaceAt(root: unknown, path: readonly string[], change: (leaf: unknown) => unknown): unknown {
  if (path.length === 0) return change(root)
  const [head, ...rest] = path as [string, ...string[]]
  if (Array.isArray(root)) return root.map((item, i) => (String(i) === head ? replaceAt(item, rest, change) : item))
  const object = root as Record<string, unknown>
  return {...object, [head]: replaceAt(object[head], rest, change)}
}

describe('nodeInputDigests', () => {
  const before = renderAll(desired, state)
  const digests = nodeInputDigests(new Fleet(desired, state), 'code-1')

  it('changes for a node whenever any change to the declarations changes its files', () => {
    let changedRenders = 0
    for (const mutation of mutations(desired)) {
      const changed = mutation.apply(desired) as Desired
      const after = renderAll(changed, state)
      const next = nodeInputDigests(new Fleet(changed, state), 'code-1')
      for (const n of desired.nodes) {
        if (after.get(n.name) === before.get(n.name)) continue
        changedRenders++
        expect(next.get(n.name), `${mutation.path} changes ${n.name}'s files`).not.toBe(digests.get(n.name))
      }
    }
    expect(changedRenders).toBeGreaterThan(100)
  })

  it('changes for a node whenever a change to the state values changes its files', () => {
    const variants: [string, StateValues][] = [
      ['preview', {...state, preview: true}],
      ['a link uuid', {...state, links: new Map([...state.links].map(([k, v]) => [k, v.replace(/^./, '0')]))}],
      ['an inactive user', {...state, activeUsers: new Set(['alice', 'bob'])}],
      ['an allocated address', {...state, addresses: new Map([...state.addresses, ['carol-laptop', []]])}],
      ['another address', {...state, addresses: new Map([...state.addresses, ['bob-phone', []]])}],
      ['a server key', {...state, nodes: new Map([...state.nodes, ['ams-1', {...nodeSecrets, wireguard: new Map()}]])}],
      ['a reality key', {...state, nodes: new Map([...state.nodes, ['fra-1', {...nodeSecrets, reality: new Map()}]])}],
      ['an ss key', {...state, nodes: new Map([...state.nodes, ['fra-1', {...nodeSecrets, shadowsocks: new Map()}]])}],
    ]
    for (const [what, values] of variants) {
      const after = renderAll(desired, values)
      const next = nodeInputDigests(new Fleet(desired, values), 'code-1')
      expect([...after.values()], what).not.toEqual([...before.values()])
      for (const n of desired.nodes) {
        if (after.get(n.name) !== before.get(n.name))
          expect(next.get(n.name), `${what}: ${n.name}`).not.toBe(digests.get(n.name))
      }
    }
  })

  it('leaves the other nodes alone when a peer changes on one', () => {
    const peers = desired.peers.map((p) => (p.name === 'carol-laptop' ? {...p, enabled: false} : p))
    const next = nodeInputDigests(new Fleet({...desired, peers}, state), 'code-1')
    expect(next.get('ams-1')).not.toBe(digests.get('ams-1'))
    expect(next.get('fra-1')).toBe(digests.get('fra-1'))
  })

  it('is the same for the same inputs, whatever order the state maps were filled in', () => {
    const reordered: StateValues = {
      ...state,
      links: new Map([...state.links].reverse()),
      activeUsers: new Set([...state.activeUsers].reverse()),
      nodes: new Map([...state.nodes].reverse()),
    }
    expect(nodeInputDigests(new Fleet(desired, reordered), 'code-1')).toEqual(digests)
  })

  it('changes for every node with the rendering code', () => {
    const other = nodeInputDigests(new Fleet(desired, state), 'code-2')
    for (const n of desired.nodes) expect(other.get(n.name)).not.toBe(digests.get(n.name))
  })
})
