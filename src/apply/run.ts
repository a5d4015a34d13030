/**
 * `nexus apply`: take the lease, make (or re-check) the plan, write the state
 * in one transaction, then carry the plan out on the nodes in parallel with a
 * bound, recording a revision for every node that confirmed. One failed node
 * never stops the others; a rerun converges.
 */
import {loadRepo} from '../app/load-repo.js'
import {openRenderCache, saveRenderCache} from '../git/render-cache.js'
import {serverKeys, snapshotPublicValues} from '../app/server-keys.js'
import {generateRequested} from '../crypto/keys.js'
import {NexusError} from '../errors.js'
import {repoInfo} from '../git/repo-info.js'
import type {Node} from '../model/desired.js'
import {Fleet} from '../model/fleet.js'
import {type GeneratedValues, makePlan, type PlanResult} from '../plan/index.js'
import type {NodeReading} from '../plan/node-plan.js'
import {missingValues} from '../plan/state-plan.js'
import type {NodePlan, Plan} from '../plan/types.js'
import {type HeldLease, startApplyRow, withLease} from '../state/lease.js'
import {openState, type StateLocation} from '../state/open.js'
import {readPlanFile} from '../state/plan-file.js'
import {loadSecretKey} from '../state/secret-key.js'
import type {StateSnapshot, StateStore, StateWrite} from '../state/store.js'
import {type NodeObservationResult, OBSERVE_DEFAULTS, observeNodes} from '../transport/observe.js'
import {type ConnectionReuse, withConnectionReuse} from '../transport/reuse.js'
import {mapLimit} from '../transport/semaphore.js'
import type {HostKeyStore, NodeConnection, NodeTransport} from '../transport/types.js'
import {APPLY_EVENTS_VERSION, type ApplyEventSink, type NodeResult} from './events.js'
import {applyNode} from './node-apply.js'

export interface ApplyOptions {
  readonly root: string
  readonly location: StateLocation
  readonly env: NodeJS.ProcessEnv
  readonly transport: NodeTransport
  /** Apply exactly this saved plan (refused when stale). */
  readonly planFile?: string
  /** Shown the fresh plan; false cancels (not asked for a saved plan). */
  readonly confirm: (plan: Plan) => Promise<boolean>
  readonly parallel: number
  /** Only these nodes (state is written in full regardless). */
  readonly nodes?: readonly string[]
  readonly allowDirty: boolean
  readonly lockTimeoutMs: number
  readonly leaseTtlMs?: number
  readonly confirmTimeoutSec: number
  /** Stop starting more nodes once this share of the finished ones failed. */
  readonly maxFailPercent?: number
  readonly emit: ApplyEventSink
  readonly interrupted: () => boolean
  readonly now: () => Date
  /** Revisions per node whose files stay in state for rollback. */
  readonly keepRevisions?: number
}

/**
 * `lease_lost`: the apply lease stopped being this apply's part way (released
 * with `nexus lock release`, taken over, or expired unrenewed): no node was
 * started after that, the nodes in flight finished or were rolled back.
 */
export type ApplyOutcome = 'success' | 'partial' | 'failed' | 'interrupted' | 'lease_lost' | 'cancelled' | 'no_changes'

export interface ApplyResult {
  readonly outcome: ApplyOutcome
  readonly plan: Plan
  readonly nodes: Readonly<Record<string, NodeResult>>
  readonly serial: number
  readonly applyId: number | null
  /** Why the apply stopped early (`lease_lost`). */
  readonly error?: {readonly code: string; readonly message: string}
}

export async function applyRepo(options: ApplyOptions): Promise<ApplyResult> {
  const store = await openState(options.location, {mode: 'write', env: options.env})
  if (!store) throw new NexusError('no_state', 'the state could not be opened')
  try {
    return await applyToStore(store, options)
  } finally {
    await store.close()
  }
}

/** applyRepo on a state store that is already open (and stays open). */
export async function applyToStore(store: StateStore, options: ApplyOptions): Promise<ApplyResult> {
  const git = await repoInfo(options.root)
  if (git.dirty && !options.allowDirty) {
    throw new NexusError(
      'dirty_tree',
      'the repo has uncommitted changes, so the commit an apply records would not describe what it applies',
      'commit them, or pass --allow-dirty',
    )
  }
  return await withLease(
    store,
    {
      ttlMs: options.leaseTtlMs ?? 30_000,
      waitMs: options.lockTimeoutMs,
      env: options.env,
      now: options.now,
    },
    // The connections the nodes are read over carry the push too: one SSH handshake per node, not two.
    (lease) =>
      withConnectionReuse(options.transport, (connections) => applyLocked(store, git, lease, connections, options)),
  )
}

/** What a lost lease means for this apply, in the words of whoever ends it. */
function leaseLost(lease: HeldLease, consequence = 'no node was started after that'): NexusError {
  return new NexusError(
    'lease_lost',
    `${lease.lost?.message ?? 'the apply lease was lost'}; ${consequence}`,
    'nexus lock status shows who holds the lease now; once no other apply runs, run nexus apply again to converge',
  )
}

async function applyLocked(
  store: StateStore,
  git: {commit: string | null; dirty: boolean},
  lease: HeldLease,
  connections: ConnectionReuse,
  options: ApplyOptions,
): Promise<ApplyResult> {
  const snapshot = await store.snapshot()
  const inventory = await loadRepo(options.root, {serverKeys: serverKeys(snapshotPublicValues(snapshot.secrets))})
  const desired = inventory.desired
  if (!desired) {
    const errors = inventory.diagnostics.filter((d) => d.severity === 'error').length
    throw new NexusError(
      'invalid_declarations',
      `the declarations have ${errors} error(s); nothing was applied`,
      'run nexus validate',
    )
  }
  const targets = targetNodes(desired.nodes, options.nodes)
  const newHostKeys = new Map<string, string>()
  const hostKeys: HostKeyStore = {
    get: async (node) => snapshot.hostKeys.get(node) ?? newHostKeys.get(node),
    record: async (node, key) => {
      newHostKeys.set(node, key)
    },
  }
  // Read every node of a batch at once: a push of N nodes should not wait on reads done in smaller waves.
  const concurrency = Math.max(options.parallel, OBSERVE_DEFAULTS.concurrency)
  const observations = await observeNodes(connections, targets, {connect: {hostKeys}, concurrency})
  const readings = readingsOf(observations)

  const saved = options.planFile ? await loadSavedPlan(options, git, snapshot, readings) : undefined
  const generated: GeneratedValues = saved
    ? generatedFrom(saved.write)
    : generateRequested(missingValues(desired, snapshot))
  const renderCache = await openRenderCache(options.root)
  const result = makePlan({
    desired,
    snapshot,
    stateKind: store.driver.kind,
    generated,
    readings,
    git,
    now: options.now(),
    offline: false,
    ...(renderCache ? {renderCache} : {}),
  })
  await saveRenderCache(options.root, renderCache, result.renderCache)
  if (saved) refuseChangedArtifacts(saved.plan, result.plan)
  const plan = result.plan
  const write: StateWrite = saved ? saved.write : result.state.write

  const work = targets.filter((node) => {
    const nodePlan = plan.nodes.find((n) => n.node === node.name)
    return nodePlan && (nodePlan.artifacts.length > 0 || nodePlan.status === 'unreachable')
  })
  if (!plan.has_changes && work.length === 0) {
    const nodes = Object.fromEntries(targets.map((n) => [n.name, 'unchanged' as const]))
    // --json consumers get a stream that starts with its version and ends with apply_complete here too.
    options.emit({type: 'version', format_version: APPLY_EVENTS_VERSION})
    options.emit({type: 'apply_complete', result: 'no_changes', state_serial: snapshot.serial, nodes})
    return {outcome: 'no_changes', plan, nodes, serial: snapshot.serial, applyId: null}
  }
  if (!saved && !(await options.confirm(plan))) {
    return {outcome: 'cancelled', plan, nodes: {}, serial: snapshot.serial, applyId: null}
  }

  // The confirmation may have taken a while: nothing is written unless the lease is still ours.
  if (!(await lease.confirm())) throw leaseLost(lease, 'nothing was applied')
  const {applyId, actor} = await startApplyRow(store, options.env, git.commit)
  options.emit({type: 'version', format_version: APPLY_EVENTS_VERSION})
  options.emit({
    type: 'apply_start',
    apply_id: applyId,
    git_commit: git.commit,
    state_serial: snapshot.serial,
    nodes: targets.map((n) => n.name),
  })

  // State first: secrets and addresses a node is about to get must be known even if the push fails.
  let serial = await store.write(
    {...write, audit: [...(write.audit ?? []), {action: 'apply', subject: `apply/${applyId}`}]},
    {actor, expectedSerial: snapshot.serial},
  )
  for (const [node, key] of newHostKeys) {
    await store.recordHostKey(node, key)
    serial++
  }

  // What the plan puts on each interface, from the model the files were rendered from.
  const fleet = new Fleet(result.desired, result.state.values)
  const results: Record<string, NodeResult> = {}
  for (const node of targets) if (!work.includes(node)) results[node.name] = 'unchanged'
  let failed = 0
  let finished = 0
  let stopped = false
  const skip = (node: Node, why: string) => {
    results[node.name] = 'skipped'
    options.emit({
      type: 'node_complete',
      node: node.name,
      result: 'skipped',
      revision: null,
      changes: 0,
      notes: [`not started: ${why}`],
      divergences: [],
    })
  }
  const whyNotStart = () =>
    lease.lost
      ? 'the apply lease was lost'
      : stopped
        ? '--max-fail-percent reached'
        : options.interrupted()
          ? 'interrupted'
          : undefined
  const batches = chunk(work, Math.max(1, options.parallel))
  // Only the first batch starts soon enough to use its read connection; the rest would sit idle.
  await connections.retain((batches[0] ?? []).map((node) => node.name))
  for (const batch of batches) {
    const why = whyNotStart()
    if (why) {
      for (const node of batch) skip(node, why)
      continue
    }
    await mapLimit(batch, options.parallel, async (node) => {
      // A node starts only while the lease is still this apply's (renewed now: a release is seen at once).
      await lease.confirm()
      const late = whyNotStart()
      if (late) {
        skip(node, late)
        return
      }
      const nodePlan = plan.nodes.find((n) => n.node === node.name) as NodePlan
      const outcome = await applyOne(store, node, nodePlan, result, {
        ...options,
        connections,
        applyId,
        commit: git.commit,
        actor,
        hostKeys,
        plannedPeers: new Map(node.interfaces.map((iface) => [iface.name, fleet.peersOn(node, iface).length])),
        leaseLost: () => lease.lost !== undefined,
        // Each revision or failure recorded bumps the state serial; apply_complete reports the final one.
        wrote: () => {
          serial++
        },
      })
      results[node.name] = outcome
      finished++
      if (outcome === 'failed' || outcome === 'unreachable') failed++
    })
    if (options.maxFailPercent !== undefined && finished > 0 && (failed / finished) * 100 > options.maxFailPercent)
      stopped = true
  }
  const values = Object.values(results)
  const ok = values.every((r) => r === 'verified' || r === 'unchanged')
  const error = lease.lost ? {code: 'lease_lost', message: leaseLost(lease).message} : undefined
  const outcome: ApplyOutcome = error
    ? 'lease_lost'
    : options.interrupted()
      ? 'interrupted'
      : ok
        ? 'success'
        : values.some((r) => r === 'verified' || r === 'unchanged')
          ? 'partial'
          : 'failed'
  // What happened on the nodes is recorded even without the lease: it is what they now run.
  await store.finishApply(applyId, outcome, {nodes: results, ...(error ? {error} : {})})
  options.emit({
    type: 'apply_complete',
    result: outcome,
    state_serial: serial,
    nodes: results,
    ...(error ? {error} : {}),
  })
  return {outcome, plan, nodes: results, serial, applyId, ...(error ? {error} : {})}
}

async function applyOne(
  store: StateStore,
  node: Node,
  nodePlan: NodePlan,
  result: PlanResult,
  context: ApplyOptions & {
    applyId: number
    commit: string | null
    actor: string
    hostKeys: HostKeyStore
    /** The push's connection (the one the node was read over, where still open). */
    connections: NodeTransport
    plannedPeers: ReadonlyMap<string, number>
    leaseLost: () => boolean
    wrote: () => void
  },
): Promise<NodeResult> {
  const emit = context.emit
  if (nodePlan.status === 'unreachable') {
    emit({
      type: 'node_errored',
      node: node.name,
      step: 'connect',
      error: nodePlan.error ?? {code: 'node_unreachable', message: 'unreachable'},
      rolled_back: false,
      notes: [],
    })
    return 'unreachable'
  }
  emit({type: 'node_progress', node: node.name, step: 'connect', status: 'started'})
  let connection: NodeConnection
  try {
    connection = await context.connections.connect(node, {hostKeys: context.hostKeys})
  } catch (error) {
    const e =
      error instanceof NexusError
        ? {code: error.code, message: error.message}
        : {code: 'internal_error', message: String(error)}
    emit({type: 'node_errored', node: node.name, step: 'connect', error: e, rolled_back: false, notes: []})
    return 'unreachable'
  }
  emit({type: 'node_progress', node: node.name, step: 'connect', status: 'done'})
  const files = result.nodeFiles(node.name).filter((f) => f.target)
  const revision = nodePlan.revision.to ?? (nodePlan.revision.from ?? 0) + 1
  try {
    const outcome = await applyNode({
      node,
      connection,
      reconnect: () => context.transport.connect(node, {hostKeys: context.hostKeys}),
      artifacts: nodePlan.artifacts,
      files,
      plannedPeers: context.plannedPeers,
      revision,
      commit: context.commit,
      confirmTimeoutSec: context.confirmTimeoutSec,
      progress: (step, status, detail) =>
        emit({type: 'node_progress', node: node.name, step, status, ...(detail ? {detail} : {})}),
      interrupted: context.interrupted,
      leaseLost: context.leaseLost,
      now: context.now(),
    })
    if (outcome.status === 'failed') {
      await store
        .write(
          {
            audit: [
              {
                action: 'node_failed',
                subject: `node/${node.name}`,
                details: {
                  apply: context.applyId,
                  step: outcome.step,
                  error: outcome.error,
                  rolledBack: outcome.rolledBack,
                },
              },
            ],
          },
          {actor: context.actor},
        )
        .then(context.wrote, () => {})
      emit({
        type: 'node_errored',
        node: node.name,
        step: outcome.step,
        error: outcome.error,
        rolled_back: outcome.rolledBack,
        notes: outcome.notes,
      })
      return 'failed'
    }
    await store.recordRevision({
      node: node.name,
      revision,
      applyId: context.applyId,
      hashes: outcome.hashes,
      ...(context.commit ? {gitCommit: context.commit} : {}),
      actor: context.actor,
      result: outcome.status,
      files: files.map((f) => ({path: f.target?.path ?? f.path, kind: f.kind, mode: f.mode, content: f.content})),
      keep: context.keepRevisions ?? 10,
    })
    context.wrote()
    emit({
      type: 'node_complete',
      node: node.name,
      result: outcome.status,
      revision,
      changes: nodePlan.artifacts.length,
      notes: outcome.notes,
      divergences: outcome.divergences,
    })
    return outcome.status
  } finally {
    await connection.close()
  }
}

function targetNodes(nodes: readonly Node[], only: readonly string[] | undefined): Node[] {
  const active = nodes.filter((n) => n.status !== 'disabled')
  if (!only || only.length === 0) return active
  for (const name of only) {
    if (!nodes.some((n) => n.name === name))
      throw new NexusError('unknown_node', `no node named ${name}`, `nodes: ${nodes.map((n) => n.name).join(', ')}`)
  }
  return active.filter((n) => only.includes(n.name))
}

function readingsOf(observations: readonly NodeObservationResult[]): Map<string, NodeReading> {
  return new Map(
    observations.map((o): [string, NodeReading] =>
      o.reachable
        ? [o.node, {kind: 'observed', observation: o}]
        : [o.node, {kind: 'unreachable', error: {code: o.error.code, message: o.error.message}}],
    ),
  )
}

/** A saved plan applies only to the world it was made from: same commit, state serial and node fingerprints. */
async function loadSavedPlan(
  options: ApplyOptions,
  git: {commit: string | null},
  snapshot: StateSnapshot,
  readings: ReadonlyMap<string, NodeReading>,
): Promise<{plan: Plan; write: StateWrite}> {
  const key = await loadSecretKey({env: options.env, keyFile: options.location.keyFile, create: false})
  if (!key)
    throw new NexusError(
      'missing_secret_key',
      'the saved plan is sealed with the state key, which is not available',
      'set NEXUS_SECRET_KEY',
    )
  const saved = await readPlanFile(options.planFile as string, key.box)
  const stale = (why: string) =>
    new NexusError(
      'stale_plan',
      `the saved plan is stale: ${why}; nothing was applied`,
      'run nexus plan --out again and apply the new plan',
    )
  if (saved.plan.git.commit !== git.commit)
    throw stale(`it was made at commit ${saved.plan.git.commit ?? '(none)'}, the repo is at ${git.commit ?? '(none)'}`)
  if (saved.plan.state.serial !== snapshot.serial)
    throw stale(`the state changed since (serial ${saved.plan.state.serial}, now ${snapshot.serial})`)
  if (saved.plan.state.lineage !== null && saved.plan.state.lineage !== snapshot.lineage)
    throw stale('it was made against another state')
  for (const nodePlan of saved.plan.nodes) {
    const reading = readings.get(nodePlan.node)
    if (nodePlan.fingerprint === null || !reading) continue
    const now = reading.kind === 'observed' ? reading.observation.fingerprint : null
    if (now !== nodePlan.fingerprint) throw stale(`node ${nodePlan.node} changed since it was read`)
  }
  return saved
}

/** The saved plan's fresh secrets and UUIDs, so the re-made plan renders byte-identical files. */
function generatedFrom(write: StateWrite): GeneratedValues {
  return {
    secrets: new Map(
      (write.secrets ?? []).map((s) => [
        `${s.scope}/${s.name}`,
        {value: s.value, ...(s.publicValue ? {publicValue: s.publicValue} : {})},
      ]),
    ),
    links: new Map((write.links ?? []).map((l) => [`${l.user}/${l.link}`, l.uuid])),
  }
}

function refuseChangedArtifacts(saved: Plan, now: Plan): void {
  const key = (n: NodePlan) =>
    n.artifacts
      .map((a) => `${a.address}:${a.sha256After}`)
      .sort()
      .join('|')
  for (const nodePlan of saved.nodes) {
    const current = now.nodes.find((n) => n.node === nodePlan.node)
    if (!current || key(current) !== key(nodePlan)) {
      throw new NexusError(
        'stale_plan',
        `the saved plan is stale: what node ${nodePlan.node} would get differs from the plan; nothing was applied`,
        'run nexus plan --out again and apply the new plan',
      )
    }
  }
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
