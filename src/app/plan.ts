/**
 * `nexus plan`: read everything (repo, state, nodes), then plan in one pure
 * step. Plan never writes state: secrets and addresses it needs are generated
 * for the plan and become real when apply records them; a host key seen for
 * the first time is reported, and recorded by apply.
 */
import {generateRequested} from '../crypto/keys.js'
import {openRenderCache, saveRenderCache} from '../git/render-cache.js'
import {repoInfo} from '../git/repo-info.js'
import type {Inventory} from '../inventory/load.js'
import type {Node} from '../model/desired.js'
import {makePlan, type PlanResult} from '../plan/index.js'
import type {NodeReading} from '../plan/node-plan.js'
import {maskedDiff} from '../plan/mask.js'
import {missingValues} from '../plan/state-plan.js'
import {openState, type StateLocation} from '../state/open.js'
import type {StateSnapshot} from '../state/store.js'
import {observeNodes} from '../transport/observe.js'
import {readRemoteFiles} from '../transport/read-files.js'
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
  /** Attach to every artifact change the unified diff of its file, secrets masked. */
  readonly diff?: boolean
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
    const renderCache = await openRenderCache(options.root)
    const result = makePlan({
      desired,
      ...(snapshot ? {snapshot} : {}),
      stateKind: store ? store.driver.kind : 'none',
      generated,
      readings,
      git: await repoInfo(options.root),
      now: options.now,
      offline: options.offline,
      keepFiles: options.diff === true,
      ...(renderCache ? {renderCache} : {}),
    })
    await saveRenderCache(options.root, renderCache, result.renderCache)
    const withDiffs = options.diff ? await attachDiffs(result, options, snapshot) : result
    return {inventory, result: withDiffs, newHostKeys}
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

/**
 * Unified diffs of the changed files: the deployed content is read from each
 * reachable node in one round trip; offline, only new files can be shown.
 */
async function attachDiffs(
  result: PlanResult,
  options: PlanOptions,
  snapshot: StateSnapshot | undefined,
): Promise<PlanResult> {
  const deployed = new Map<string, Map<string, string | null>>()
  if (!options.offline) {
    const hostKeys: HostKeyStore = {get: async (node) => snapshot?.hostKeys.get(node), record: async () => {}}
    await Promise.all(
      result.plan.nodes
        .filter((node) => node.status === 'planned' && node.artifacts.length > 0)
        .map(async (nodePlan) => {
          const node = result.desired.nodes.find((n) => n.name === nodePlan.node)
          if (!node) return
          const connection = await options.transport.connect(node, {hostKeys}).catch(() => undefined)
          if (!connection) return
          try {
            deployed.set(
              node.name,
              await readRemoteFiles(
                connection,
                nodePlan.artifacts.map((a) => a.path),
              ),
            )
          } catch {
            // Left without a diff: the note below says why.
          } finally {
            await connection.close()
          }
        }),
    )
  }
  const nodes = result.plan.nodes.map((nodePlan) => ({
    ...nodePlan,
    artifacts: nodePlan.artifacts.map((artifact) => {
      const file = result.nodeFiles(artifact.node).find((f) => f.target?.path === artifact.path)
      const kind = file?.kind ?? 'nftables'
      const labels = {oldLabel: `${artifact.node}:${artifact.path}`, newLabel: `rendered:${artifact.path}`}
      const before = deployed.get(artifact.node)?.get(artifact.path)
      if (artifact.action === 'create' || before !== undefined) {
        return {...artifact, diff: maskedDiff(before ?? null, file?.content ?? null, kind, labels)}
      }
      return {
        ...artifact,
        diff: options.offline
          ? '(no diff offline: the deployed file is on the node)'
          : '(no diff: the deployed file could not be read)',
      }
    }),
  }))
  return {...result, plan: {...result.plan, nodes}}
}
