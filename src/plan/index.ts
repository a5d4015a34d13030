/**
 * The planner (design.md §4, house rule 2): pure and synchronous over plain
 * data. Everything it needs was read before (repo, state snapshot, node
 * observations, freshly generated secrets); everything it decides is data an
 * apply carries out, and views print.
 */
import type {Desired} from '../model/desired.js'
import {Fleet} from '../model/fleet.js'
import {renderFleet} from '../render/index.js'
import type {RenderedFile} from '../render/types.js'
import type {StateSnapshot} from '../state/store.js'
import {type ExpectedPeer, type NodeReading, planNode} from './node-plan.js'
import {type GeneratedValues, planState, type StatePlan} from './state-plan.js'

export type {GeneratedValues}
import {type Change, type NodePlan, PLAN_FORMAT_VERSION, type Plan, type PlanSummary} from './types.js'

export interface PlanInput {
  readonly desired: Desired
  readonly snapshot?: StateSnapshot
  readonly stateKind: 'pg' | 'pglite' | 'none'
  readonly generated: GeneratedValues
  /** Per node; a node without one was not read (offline). */
  readonly readings: ReadonlyMap<string, NodeReading>
  readonly git: {readonly commit: string | null; readonly dirty: boolean}
  readonly now: Date
  readonly offline: boolean
}

export interface PlanResult {
  readonly desired: Desired
  readonly plan: Plan
  /** What apply writes to state, and the values the files were rendered with. */
  readonly state: StatePlan
  /** Every file rendered for the nodes (client files are not part of a plan). */
  readonly files: readonly RenderedFile[]
}

export function makePlan(input: PlanInput): PlanResult {
  const state = planState({
    desired: input.desired,
    ...(input.snapshot ? {snapshot: input.snapshot} : {}),
    generated: input.generated,
    now: input.now,
  })
  const fleet = new Fleet(input.desired, state.values)
  const files = renderFleet(fleet, {clients: false})
  const byNode = new Map<string, RenderedFile[]>()
  for (const file of files) {
    if (!file.target) continue
    const list = byNode.get(file.node)
    if (list) list.push(file)
    else byNode.set(file.node, [file])
  }
  const nodes: NodePlan[] = input.desired.nodes.map((node) => {
    const expectedPeers = new Map<string, ExpectedPeer[]>(
      node.interfaces.map((iface) => [
        iface.name,
        fleet.peersOn(node, iface).map(({peer}) => ({name: peer.name, publicKey: peer.publicKey})),
      ]),
    )
    const revision = input.snapshot?.revisions.get(node.name)
    return planNode({
      node,
      files: byNode.get(node.name) ?? [],
      ...(revision ? {revision} : {}),
      reading: input.readings.get(node.name) ?? {kind: 'offline'},
      expectedPeers,
    })
  })
  const summary = summarize(state.changes, nodes)
  const plan: Plan = {
    format_version: PLAN_FORMAT_VERSION,
    created_at: input.now.toISOString(),
    git: input.git,
    state: {
      serial: input.snapshot?.serial ?? 0,
      lineage: input.snapshot?.lineage ?? null,
      kind: input.stateKind,
    },
    offline: input.offline,
    changes: state.changes,
    nodes,
    summary,
    has_changes: summary.create + summary.update + summary.delete + summary.replace > 0,
    warnings: state.warnings,
  }
  return {desired: input.desired, plan, state, files}
}

function summarize(changes: readonly Change[], nodes: readonly NodePlan[]): PlanSummary {
  const all = [...changes, ...nodes.flatMap((node) => node.artifacts)]
  const count = (action: Change['action']) => all.filter((change) => change.action === action).length
  return {
    create: count('create'),
    update: count('update'),
    delete: count('delete'),
    replace: count('replace'),
    drift: nodes.reduce((sum, node) => sum + node.drift.length, 0),
    unreachable: nodes.filter((node) => node.status === 'unreachable').length,
    disruptive: all.filter((change) => change.disruptive).length,
  }
}
