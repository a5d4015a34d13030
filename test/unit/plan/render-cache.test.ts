import {describe, expect, it} from 'vitest'

import {generateRequested} from '../../../src/crypto/keys.js'
import {loadInventory} from '../../../src/inventory/load.js'
import type {Desired} from '../../../src/model/desired.js'
import {type GeneratedValues, makePlan, type PlanInput, type RenderCache} from '../../../src/plan/index.js'
import {missingValues} from '../../../src/plan/state-plan.js'
import {exampleFiles, repo} from '../../helpers/repo.js'

const NOW = new Date('2026-12-08T12:00:00Z')

function exampleFleet(): Desired {
  const desired = loadInventory(repo(exampleFiles('fleet'))).desired
  if (!desired) throw new Error('examples/fleet is invalid')
  return desired
}

const desired = exampleFleet()
// Generated once: the same keys and UUIDs for every plan below, as a stored state would give.
const generated: GeneratedValues = generateRequested(missingValues(desired))

function plan(d: Desired, renderCache?: RenderCache, extra: Partial<PlanInput> = {}) {
  const input: PlanInput = {
    ...extra,
    desired: d,
    stateKind: 'pglite',
    generated,
    readings: new Map(),
    git: {commit: null, dirty: false},
    now: NOW,
    offline: true,
    ...(renderCache ? {renderCache} : {}),
  }
  return makePlan(input)
}

const activeNodes = desired.nodes.filter((n) => n.status !== 'disabled').length

describe('the render cache in a plan', () => {
  const cold = plan(desired, {code: 'c', nodes: new Map()})
  const entries = cold.renderCache ?? new Map()

  it('renders every node on a cold cache and keeps an entry for each', () => {
    expect(activeNodes).toBeGreaterThan(1)
    expect(cold.rendered).toEqual({nodes: activeNodes, cached: 0})
    expect([...entries.keys()].sort()).toEqual(desired.nodes.map((n) => n.name).sort())
  })

  it('renders nothing on a warm cache, and plans the same', () => {
    const warm = plan(desired, {code: 'c', nodes: entries})
    expect(warm.rendered).toEqual({nodes: 0, cached: desired.nodes.length})
    expect(warm.plan).toEqual(plan(desired).plan)
    expect(warm.plan.summary.create).toBeGreaterThan(0)
    // The files themselves are rendered on demand, and are those an uncached plan renders.
    expect(warm.allFiles()).toEqual(plan(desired).allFiles())
  })

  it('renders only the node whose peer changed, and plans what an uncached plan does', () => {
    const peer = desired.peers.find((p) => p.enabled)
    if (!peer) throw new Error('no enabled peer in examples/fleet')
    const changed: Desired = {
      ...desired,
      peers: desired.peers.map((p) => (p === peer ? {...p, enabled: false} : p)),
    }
    const next = plan(changed, {code: 'c', nodes: entries})
    expect(next.rendered).toEqual({nodes: 1, cached: desired.nodes.length - 1})
    expect(next.renderCache?.get(peer.node)?.inputs).not.toBe(entries.get(peer.node)?.inputs)
    expect(next.plan).toEqual(plan(changed).plan)
    expect(next.nodeFiles(peer.node)).toEqual(plan(changed).nodeFiles(peer.node))
  })

  it('gives the same files when it kept none of them', () => {
    expect(plan(desired, undefined, {keepFiles: false}).allFiles()).toEqual(plan(desired).allFiles())
  })

  it('renders everything again for other rendering code', () => {
    expect(plan(desired, {code: 'other', nodes: entries}).rendered).toEqual({nodes: activeNodes, cached: 0})
  })
})
