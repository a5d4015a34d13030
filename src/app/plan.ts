/**
 * `nexus plan`: read everything (repo, state, nodes), then plan in one pure
 * step. Plan never writes state: secrets and addresses it needs are generated
 * for the plan and become real when apply records them; a host key seen for
 * the first time is reported, and recorded by apply.
 */
import {generateRequested} from '../crypto/keys.js'
import {repoInfo} from '../git/repo-info.js'
import type {Inventory} from '../inventory/load.js'
import type {Node} from '../model/desired.js'
import {makePlan, type PlanResult} from '../plan/index.js'
import type {NodeReading} from '../plan/node-plan.js'
import {missingValues} from '../plan/state-plan.js'
import {openState, type StateLocation} from '../state/open.js'
import type {StateSnapshot} from '../state/store.js'
import {observeNodes} from '../transport/observe.js'
import type {HostKeyStore, NodeTransport} from '../transport/types.js'
import {loadRepo} from './load-repo.js'
import {serverKeys, snapshotPublicValues} from './server-keys.js'

export interface PlanOptions {
  readonly root: string
  readonly location: StateLocation
  readonly env: NodeJS.ProcessEnv
  /** Plan against state only, without reading the nodes. */
  readonly offline: boolean
  readonly transport: NodeTransport
  readonly now: Date
  readonly onCommand?: (node: string, script: string) => void
}

export interface PlanRun {
  readonly inventory: Inventory
  /** Absent when the declarations have errors. */
  readonly result?: PlanResult
  /** Host keys seen for the first time (trusted for this plan; apply records them). */
  readonly newHostKeys: readonly {node: string; key: string}[]
}

export async function planRepo(options: PlanOptions): Promise<PlanRun> {
  const store = await openState(options.location, {mode: 'read', env: options.env})
  try {
    const snapshot = await store?.snapshot()
    const inventory = await loadRepo(options.root, {serverKeys: serverKeys(snapshotPublicValues(snapshot?.secrets))})
    const desired = inventory.desired
    if (!desired) return {inventory, newHostKeys: []}

    const newHostKeys: {node: string; key: string}[] = []
    const readings = options.offline
      ? new Map<string, NodeReading>()
      : await readNodes(desired.nodes, options, snapshot, newHostKeys)
    const generated = generateRequested(missingValues(desired, snapshot))
    const result = makePlan({
      desired,
      ...(snapshot ? {snapshot} : {}),
      stateKind: store ? store.driver.kind : 'none',
      generated,
      readings,
      git: await repoInfo(options.root),
      now: options.now,
      offline: options.offline,
    })
    return {inventory, result, newHostKeys}
  } finally {
    await store?.close()
  }
}

async function readNodes(
  nodes: readonly Node[],
  options: PlanOptions,
  snapshot: StateSnapshot | undefined,
  newHostKeys: {node: string; key: string}[],
): Promise<Map<string, NodeReading>> {
  const hostKeys: HostKeyStore = {
    get: async (node) => snapshot?.hostKeys.get(node),
    record: async (node, key) => {
      newHostKeys.push({node, key})
    },
  }
  const targets = nodes.filter((node) => node.status !== 'disabled')
  const results = await observeNodes(options.transport, targets, {
    connect: {hostKeys, ...(options.onCommand ? {onCommand: options.onCommand} : {})},
  })
  return new Map(
    results.map((result): [string, NodeReading] =>
      result.reachable
        ? [result.node, {kind: 'observed', observation: result}]
        : [result.node, {kind: 'unreachable', error: {code: result.error.code, message: result.error.message}}],
    ),
  )
}
