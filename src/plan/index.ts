/**
 * The planner (design.md §4, house rule 2): pure and synchronous over plain
 * data. Everything it needs was read before (repo, state snapshot, node
 * observations, freshly generated secrets); everything it decides is data an
 * apply carries out, and views print.
 */
import type {Desired} from '../model/desired.js'
import {Fleet} from '../model/fleet.js'
import {renderNode} from '../render/index.js'
import {nodeInputDigests} from '../render/inputs.js'
import type {RenderedFile} from '../render/types.js'
import type {StateSnapshot} from '../state/store.js'
import {digestFile, type ExpectedPeer, type FileDigest, type NodeReading, planNode} from './node-plan.js'
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
  /**
   * Keep the rendered files of nodes with changes, for an apply or a diff
   * (default true). A plan that only reports needs their hashes alone; at
   * 100 nodes the files are hundreds of MB.
   */
  readonly keepFiles?: boolean
  /** Node file digests kept from an earlier plan: a node whose render inputs did not change is not rendered. */
  readonly renderCache?: RenderCache
}

/** One node's file digests, and the digest of the render inputs they came from (`nodeInputDigests`). */
export interface NodeRenderEntry {
  readonly inputs: string
  readonly files: readonly FileDigest[]
}

export interface RenderCache {
  /** A fingerprint of the rendering code: entries from another version never match. */
  readonly code: string
  readonly nodes: ReadonlyMap<string, NodeRenderEntry>
}

export interface PlanResult {
  readonly desired: Desired
  readonly plan: Plan
  /** What apply writes to state, and the values the files were rendered with. */
  readonly state: StatePlan
  /**
   * A node's files (client files are not part of a plan). Those of nodes with
   * changes are kept from the plan; any other node is rendered on first use.
   */
  readonly nodeFiles: (node: string) => readonly RenderedFile[]
  /** Every node's files, in path order. */
  readonly allFiles: () => readonly RenderedFile[]
  /** The entries for the next plan's render cache; only when one was given. */
  readonly renderCache?: ReadonlyMap<string, NodeRenderEntry>
  /** Nodes rendered by this plan, and nodes the render cache answered. */
  readonly rendered: {readonly nodes: number; readonly cached: number}
}

export function makePlan(input: PlanInput): PlanResult {
  const state = planState({
    desired: input.desired,
    ...(input.snapshot ? {snapshot: input.snapshot} : {}),
    generated: input.generated,
    now: input.now,
  })
  const fleet = new Fleet(input.desired, state.values)
  const inputs = input.renderCache ? nodeInputDigests(fleet, input.renderCache.code) : undefined
  const entries = new Map<string, NodeRenderEntry>()
  const kept = new Map<string, readonly RenderedFile[]>()
  const rendered = {nodes: 0, cached: 0}
  const nodes: NodePlan[] = input.desired.nodes.map((node) => {
    const key = inputs?.get(node.name)
    const hit = key === undefined ? undefined : input.renderCache?.nodes.get(node.name)
    let files: readonly RenderedFile[] | undefined
    let digests: readonly FileDigest[]
    if (hit && hit.inputs === key) {
      digests = hit.files
      rendered.cached++
    } else {
      files = renderNode(fleet, node, {clients: false})
      digests = files.map(digestFile)
      if (node.status !== 'disabled') rendered.nodes++
    }
    if (key !== undefined) entries.set(node.name, {inputs: key, files: digests})
    const expectedPeers = new Map<string, ExpectedPeer[]>(
      node.interfaces.map((iface) => [
        iface.name,
        fleet.peersOn(node, iface).map(({peer}) => ({name: peer.name, publicKey: peer.publicKey})),
      ]),
    )
    const revision = input.snapshot?.revisions.get(node.name)
    const nodePlan = planNode({
      node,
      files: digests,
      ...(revision ? {revision} : {}),
      reading: input.readings.get(node.name) ?? {kind: 'offline'},
      expectedPeers,
    })
    // Files an apply or a diff will want; the rest are dropped, and rendered again if asked for.
    if (files && nodePlan.artifacts.length > 0 && input.keepFiles !== false) kept.set(node.name, files)
    return nodePlan
  })
  const nodeFiles = (name: string): readonly RenderedFile[] => {
    let files = kept.get(name)
    if (!files) {
      const node = input.desired.nodes.find((n) => n.name === name)
      files = node ? renderNode(fleet, node, {clients: false}) : []
      kept.set(name, files)
    }
    return files
  }
  const allFiles = () =>
    input.desired.nodes.flatMap((node) => nodeFiles(node.name)).sort((a, b) => (a.path < b.path ? -1 : 1))
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
  return {
    desired: input.desired,
    plan,
    state,
    nodeFiles,
    allFiles,
    ...(input.renderCache ? {renderCache: entries} : {}),
    rendered,
  }
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
