/**
 * `nexus rollback --node N --to REV`: re-push the files an earlier revision
 * deployed (kept, sealed, in state for the newest revisions) through the same
 * safe path as apply — upload, check with the node's tools, atomic swap,
 * activate (a firewall under the watchdog), read back — under the apply
 * lease, and record the result as a new revision, so history shows it.
 *
 * Only files that differ from what the node has now are pushed, with the
 * cheap activation (`wg syncconf`, xray's API) only where it is certain to be
 * enough, a restart otherwise. The repo is not touched: it still declares the
 * newer state, and the next plan shows the difference (GitOps stays the source
 * of truth).
 */
import {existsSync} from 'node:fs'
import {posix} from 'node:path'

import {loadRepo} from '../app/load-repo.js'
import {serverKeys} from '../app/server-keys.js'
import {NexusError} from '../errors.js'
import type {Node} from '../model/desired.js'
import {type ArtifactName, managedFiles} from '../model/node-files.js'
import {
  interfaceKey,
  OBSERVED_NFT_KEY,
  observedWireguardKey,
  sha256,
  wireguardInterfaceSection,
  XRAY_BASE_KEY,
  xrayBase,
} from '../plan/hashes.js'
import {observedHashes} from '../plan/node-plan.js'
import {type ArtifactChange, DISRUPTIVE, type Effect} from '../plan/types.js'
import type {ArtifactKind, RenderedFile} from '../render/types.js'
import {stateHostKeys} from '../state/host-key-store.js'
import {type HeldLease, startApplyRow, withLease} from '../state/lease.js'
import {openState, type StateLocation} from '../state/open.js'
import type {RevisionFile, StateStore, StoredRevision} from '../state/store.js'
import type {NodeObservation} from '../transport/observation.js'
import {observeNode} from '../transport/observe.js'
import type {NodeTransport} from '../transport/types.js'
import {applyNode, type NodeStep} from './node-apply.js'

export interface RollbackOptions {
  readonly root: string
  readonly location: StateLocation
  readonly env: NodeJS.ProcessEnv
  readonly transport: NodeTransport
  readonly node: string
  /** The revision whose files to re-push. */
  readonly to: number
  /** Shown what would change; false cancels. */
  readonly confirm: (preview: RollbackPreview) => Promise<boolean>
  readonly lockTimeoutMs: number
  readonly leaseTtlMs?: number
  readonly confirmTimeoutSec: number
  readonly progress?: (
    step: NodeStep | 'connect' | 'observe',
    status: 'started' | 'done' | 'skipped',
    detail?: string,
  ) => void
  readonly interrupted?: () => boolean
  readonly now: () => Date
  /** Revisions per node whose files stay in state (as apply). */
  readonly keepRevisions?: number
}

export interface RollbackChange {
  readonly address: string
  readonly path: string
  readonly action: ArtifactChange['action']
  readonly reason: string
  readonly effect: Effect
  readonly disruptive: boolean
}

export interface RollbackPreview {
  readonly node: string
  /** The node's latest revision, and the one whose files are re-pushed. */
  readonly from: number
  readonly to: number
  /** The revision the rollback records. */
  readonly revision: number
  readonly commit: string | null
  readonly changes: readonly RollbackChange[]
}

export interface RollbackResult extends RollbackPreview {
  readonly outcome: 'verified' | 'diverged' | 'cancelled'
  readonly apply_id: number | null
  readonly divergences: readonly string[]
  readonly notes: readonly string[]
  /** The repo still declares the newer state. */
  readonly repo_note: string
}

export const REPO_NOTE =
  'the repo still declares the newer state, so the next nexus plan shows the difference and nexus apply would push it again; to keep this revision, change the repo (e.g. git revert) and apply'

export async function rollbackNode(options: RollbackOptions): Promise<RollbackResult> {
  if (options.location.kind === 'pglite' && !existsSync(options.location.dataDir)) {
    throw new NexusError('no_state', 'there is no state, so no revision to roll back to', 'nexus apply records them')
  }
  const store = await openState(options.location, {mode: 'write', env: options.env})
  if (!store) throw new NexusError('no_state', 'the state could not be opened')
  try {
    const inventory = await loadRepo(options.root, {serverKeys: serverKeys(await store.publicValues())})
    const desired = inventory.desired
    if (!desired) {
      const errors = inventory.diagnostics.filter((d) => d.severity === 'error').length
      throw new NexusError(
        'invalid_declarations',
        `the declarations have ${errors} error(s); rollback needs the node's declaration to reach it`,
        'run nexus validate',
      )
    }
    const node = desired.nodes.find((n) => n.name === options.node)
    if (!node) {
      throw new NexusError(
        'unknown_node',
        `no node named ${options.node}`,
        `nodes: ${desired.nodes.map((n) => n.name).join(', ') || '(none)'}`,
      )
    }
    if (node.status === 'disabled') {
      throw new NexusError(
        'node_disabled',
        `node ${node.name} is disabled, so nexus leaves it alone`,
        'enable it first',
      )
    }
    const revisions = await store.revisions(node.name)
    const latest = revisions.reduce<StoredRevision | undefined>(
      (max, r) => (!max || r.revision > max.revision ? r : max),
      undefined,
    )
    if (!latest) {
      throw new NexusError(
        'no_revisions',
        `node ${node.name} has no revisions to roll back to`,
        'nexus apply records them',
      )
    }
    const target = revisions.find((r) => r.revision === options.to)
    const kept = await store.keptRevisions(node.name)
    const keptHint = kept.length > 0 ? `revisions of ${node.name} with their files kept: ${kept.join(', ')}` : ''
    if (!target) {
      throw new NexusError(
        'unknown_revision',
        `node ${node.name} has no revision ${options.to} (its revisions: 1 to ${latest.revision})`,
        keptHint || `nexus history --node ${node.name} lists them`,
      )
    }
    const files = await store.revisionFiles(node.name, target.revision)
    if (files.length === 0) {
      throw new NexusError(
        'revision_files_gone',
        `the files of revision ${target.revision} of ${node.name} are no longer kept (only the newest revisions keep theirs)`,
        keptHint || `nexus history --node ${node.name} shows which revisions can be re-pushed`,
      )
    }

    return await withLease(
      store,
      {
        ttlMs: options.leaseTtlMs ?? 60_000,
        waitMs: options.lockTimeoutMs,
        env: options.env,
        now: options.now,
      },
      (lease) => rollbackLocked(store, node, latest, target, files, lease, options),
    )
  } finally {
    await store.close()
  }
}

async function rollbackLocked(
  store: StateStore,
  node: Node,
  latest: StoredRevision,
  target: StoredRevision,
  stored: readonly RevisionFile[],
  lease: HeldLease,
  options: RollbackOptions,
): Promise<RollbackResult> {
  const progress = options.progress ?? (() => {})
  const hostKeys = stateHostKeys(store, await store.hostKeys())
  progress('connect', 'started')
  const connection = await options.transport.connect(node, {hostKeys})
  progress('connect', 'done')
  try {
    progress('observe', 'started')
    const observation = await observeNode(connection, node)
    progress('observe', 'done')
    const files = stored.map((file) => renderedFile(node, file))
    const artifacts = rollbackChanges(node, files, latest, target, observation)
    const preview: RollbackPreview = {
      node: node.name,
      from: latest.revision,
      to: target.revision,
      revision: latest.revision + 1,
      commit: target.gitCommit ?? null,
      changes: artifacts.map((a) => ({
        address: a.address,
        path: a.path,
        action: a.action,
        reason: a.reason,
        effect: a.effect,
        disruptive: a.disruptive,
      })),
    }
    const unobserved = observationGaps(files, observation)
    if (!(await options.confirm(preview))) {
      return {
        ...preview,
        outcome: 'cancelled',
        apply_id: null,
        divergences: [],
        notes: unobserved,
        repo_note: REPO_NOTE,
      }
    }

    // The confirmation may have taken a while: nothing is pushed unless the lease is still ours.
    if (!(await lease.confirm())) {
      throw new NexusError(
        'lease_lost',
        `${lease.lost?.message ?? 'the apply lease was lost'}; nothing was rolled back`,
        'nexus lock status shows who holds the lease now',
      )
    }
    const {applyId, actor} = await startApplyRow(store, options.env, preview.commit)
    const summary = (result: string) => ({
      rollback: {node: node.name, from: preview.from, to: preview.to, revision: preview.revision},
      nodes: {[node.name]: result},
    })
    const outcome = await applyNode({
      node,
      connection,
      reconnect: () => options.transport.connect(node, {hostKeys}),
      artifacts,
      files,
      revision: preview.revision,
      commit: preview.commit,
      confirmTimeoutSec: options.confirmTimeoutSec,
      progress,
      interrupted: options.interrupted ?? (() => false),
      leaseLost: () => lease.lost !== undefined,
      now: options.now(),
    })
    if (outcome.status === 'failed') {
      await store
        .write(
          {
            audit: [
              {
                action: 'rollback_failed',
                subject: `node/${node.name}`,
                details: {node: node.name, to: preview.to, apply: applyId, step: outcome.step, error: outcome.error},
              },
            ],
          },
          {actor},
        )
        .catch(() => {})
      await store.finishApply(applyId, 'failed', summary('failed')).catch(() => {})
      throw new NexusError(
        'rollback_failed',
        `rolling ${node.name} back to revision ${preview.to} failed at ${outcome.step}: ${outcome.error.message}${outcome.notes.length > 0 ? ` (${outcome.notes.join('; ')})` : ''}`,
        outcome.rolledBack
          ? `the files the node had before were put back and reloaded; it stays at revision ${preview.from}`
          : `nothing was swapped on the node; it stays at revision ${preview.from}`,
      )
    }
    await store.recordRevision({
      node: node.name,
      revision: preview.revision,
      applyId,
      hashes: outcome.hashes,
      ...(preview.commit ? {gitCommit: preview.commit} : {}),
      actor,
      result: outcome.status,
      files: stored,
      keep: options.keepRevisions ?? 10,
    })
    await store.write(
      {
        audit: [
          {
            action: 'rollback',
            subject: `node/${node.name}`,
            details: {node: node.name, revision: preview.revision, to: preview.to, from: preview.from, apply: applyId},
          },
        ],
      },
      {actor},
    )
    await store.finishApply(applyId, outcome.status === 'verified' ? 'success' : 'failed', summary(outcome.status))
    return {
      ...preview,
      outcome: outcome.status,
      apply_id: applyId,
      divergences: outcome.divergences,
      notes: [...unobserved, ...outcome.notes],
      repo_note: REPO_NOTE,
    }
  } finally {
    await connection.close()
  }
}

/** A kept file as apply's rendered file, addressed by its artifact on the node. */
function renderedFile(node: Node, file: RevisionFile): RenderedFile {
  const managed = managedFiles(node).find((m) => m.path === file.path)
  const artifact: ArtifactName = managed?.artifact ?? artifactOfKind(file)
  return {
    path: `nodes/${node.name}/${artifact}`,
    kind: file.kind as ArtifactKind,
    node: node.name,
    content: file.content,
    mode: file.mode,
    target: {artifact, path: file.path},
  }
}

function artifactOfKind(file: RevisionFile): ArtifactName {
  switch (file.kind) {
    case 'wireguard':
      return `wireguard/${posix.basename(file.path).replace(/\.conf$/, '')}`
    case 'nftables':
      return 'nftables'
    case 'xray':
      return 'xray'
    default:
      return 'dns'
  }
}

/**
 * What the rollback must do on the node: every kept file whose content
 * differs from what the node has now (created or updated), every file the
 * latest revision deployed that the target did not (removed), and a reload
 * where a file already matches but the live state left what the target
 * revision recorded. Cheap activations only where certain.
 */
export function rollbackChanges(
  node: Node,
  files: readonly RenderedFile[],
  latest: StoredRevision,
  target: StoredRevision,
  observation: NodeObservation,
): ArtifactChange[] {
  const changes: ArtifactChange[] = []
  const current = latest.hashes
  const live = observedHashes(observation)
  const change = (
    artifact: ArtifactName,
    path: string,
    action: ArtifactChange['action'],
    reason: string,
    effect: Effect,
    before: string | null,
    after: string | null,
    disruptive = DISRUPTIVE[effect],
  ): ArtifactChange => ({
    address: `node.${node.name}/${artifact}`,
    node: node.name,
    path,
    action,
    reason,
    effect,
    disruptive,
    sha256Before: before,
    sha256After: after,
  })
  const paths = new Set<string>()
  for (const file of files) {
    if (!file.target) continue
    const {artifact, path} = file.target
    paths.add(path)
    const seen = observation.files[path]
    const before = seen?.state === 'present' ? seen.sha256 : null
    const after = sha256(file.content)
    if (before === after) {
      const drifted = liveDrift(artifact, target, live)
      if (drifted) changes.push(change(artifact, path, 'update', 'live_state_drifted', drifted, before, after))
      continue
    }
    if (before === null) {
      // Absent (or unreadable): bring it up from scratch.
      changes.push(change(artifact, path, 'create', 'restored', createEffect(artifact), before, after, false))
      continue
    }
    // The node holds exactly what the latest revision recorded: only then can a cheap activation be judged safe.
    const known = current[`file:${path}`] === before
    const effect = known ? updateEffect(artifact, file.content, current) : createEffect(artifact)
    changes.push(change(artifact, path, 'update', known ? 'rolled_back' : 'drifted', effect, before, after))
  }
  for (const key of Object.keys(current).sort()) {
    if (!key.startsWith('file:')) continue
    const path = key.slice('file:'.length)
    if (paths.has(path)) continue
    const seen = observation.files[path]
    if (seen?.state !== 'present') continue
    const artifact = (seen.artifact as ArtifactName | undefined) ?? 'dns'
    const effect = createEffect(artifact)
    changes.push(
      change(
        artifact,
        path,
        'delete',
        'not_in_revision',
        effect,
        seen.sha256,
        null,
        DISRUPTIVE[effect] || artifact.startsWith('wireguard/'),
      ),
    )
  }
  // In apply's order: interfaces, the firewall, xray, DNS.
  const order = (change: ArtifactChange) => {
    const artifact = change.address.slice(`node.${node.name}/`.length)
    return artifact.startsWith('wireguard/') ? 0 : artifact === 'nftables' ? 1 : artifact === 'xray' ? 2 : 3
  }
  return changes.sort((a, b) => order(a) - order(b) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}

/** A reload for a file that already matches, when the live state left what the target revision recorded. */
function liveDrift(
  artifact: ArtifactName,
  target: StoredRevision,
  live: Readonly<Record<string, string>>,
): Effect | undefined {
  if (artifact.startsWith('wireguard/')) {
    const key = observedWireguardKey(artifact.slice('wireguard/'.length))
    if (target.hashes[key] === undefined || target.hashes[key] === live[key]) return undefined
    // A gone interface needs bringing up, which syncconf cannot do.
    return live[key] === undefined ? 'interface_restart' : 'wg_syncconf'
  }
  if (artifact === 'nftables') {
    const expected = target.hashes[OBSERVED_NFT_KEY]
    return expected !== undefined && expected !== live[OBSERVED_NFT_KEY] ? 'nft_reload' : undefined
  }
  return undefined
}

function createEffect(artifact: ArtifactName): Effect {
  if (artifact.startsWith('wireguard/')) return 'interface_restart'
  if (artifact === 'xray') return 'xray_restart'
  if (artifact === 'dns') return 'dnsmasq_restart'
  return 'nft_reload'
}

function updateEffect(artifact: ArtifactName, content: string, current: Readonly<Record<string, string>>): Effect {
  if (artifact.startsWith('wireguard/')) {
    const key = interfaceKey(artifact.slice('wireguard/'.length))
    return current[key] !== undefined && current[key] === sha256(wireguardInterfaceSection(content))
      ? 'wg_syncconf'
      : 'interface_restart'
  }
  if (artifact === 'xray') {
    let base: string | undefined
    try {
      base = sha256(xrayBase(content))
    } catch {
      base = undefined
    }
    return base !== undefined && current[XRAY_BASE_KEY] === base ? 'xray_api' : 'xray_restart'
  }
  return createEffect(artifact)
}

/** Kept files at paths the node's declaration no longer manages: pushed, but not verified by the read-back. */
function observationGaps(files: readonly RenderedFile[], observation: NodeObservation): string[] {
  return files.flatMap((file) =>
    file.target && !observation.files[file.target.path]
      ? [`${file.target.path}: no longer a managed path of the node; pushed but not read back`]
      : [],
  )
}
