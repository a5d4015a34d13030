/**
 * `nexus history`: the revision ledger, newest first. Each revision with how
 * it ended, when, from which commit, by whom, the files it changed compared
 * with the node's previous revision (by their recorded hashes), whether it
 * was a rollback, and whether its files are still kept for one.
 */
import {compareText} from '../model/compare.js'
import {openState, type StateLocation} from '../state/open.js'
import type {StoredRevision} from '../state/store.js'

export type FileChangeKind = 'added' | 'changed' | 'removed'

export interface HistoryEntry {
  node: string
  revision: number
  result: string
  at: string
  commit: string | null
  actor: string
  /** Deployed files that differ from the node's previous revision (all `added` for its first). */
  files: {path: string; change: FileChangeKind}[]
  /** Set when this revision re-pushed an earlier one (`nexus rollback`). */
  rollback_to: number | null
  /** Its files are still in state, so `nexus rollback --to` can re-push it. */
  files_kept: boolean
}

export interface HistoryResult {
  node: string | null
  /** Revisions in state (of that node), before --limit. */
  total: number
  entries: HistoryEntry[]
}

export interface HistoryOptions {
  readonly location: StateLocation
  readonly env: NodeJS.ProcessEnv
  readonly node?: string
  readonly limit: number
}

export interface RollbackAuditDetails {
  readonly node: string
  readonly revision: number
  readonly to: number
}

export async function revisionHistory(options: HistoryOptions): Promise<HistoryResult> {
  const store = await openState(options.location, {mode: 'read', env: options.env})
  if (!store) return {node: options.node ?? null, total: 0, entries: []}
  try {
    const revisions = await store.revisions(options.node)
    const rollbacks = new Map<string, number>()
    for (const entry of await store.auditEntries('rollback')) {
      const details = entry.details as Partial<RollbackAuditDetails> | null
      if (typeof details?.node === 'string' && typeof details.revision === 'number' && typeof details.to === 'number')
        rollbacks.set(`${details.node}/${details.revision}`, details.to)
    }
    const kept = new Map<string, Set<number>>()
    for (const node of new Set(revisions.map((r) => r.node))) kept.set(node, new Set(await store.keptRevisions(node)))
    const entries = historyEntries(revisions, rollbacks, kept).slice(0, Math.max(0, options.limit))
    return {node: options.node ?? null, total: revisions.length, entries}
  } finally {
    await store.close()
  }
}

/** Pure: the ledger from the revisions, rollback records and kept files. */
export function historyEntries(
  revisions: readonly StoredRevision[],
  rollbacks: ReadonlyMap<string, number>,
  kept: ReadonlyMap<string, ReadonlySet<number>>,
): HistoryEntry[] {
  const byNode = new Map<string, StoredRevision[]>()
  for (const revision of revisions) byNode.set(revision.node, [...(byNode.get(revision.node) ?? []), revision])
  const previous = new Map<StoredRevision, StoredRevision | undefined>()
  for (const list of byNode.values()) {
    const sorted = [...list].sort((a, b) => a.revision - b.revision)
    sorted.forEach((revision, i) => previous.set(revision, sorted[i - 1]))
  }
  return [...revisions]
    .sort(
      (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || compareText(a.node, b.node) || b.revision - a.revision,
    )
    .map((revision) => ({
      node: revision.node,
      revision: revision.revision,
      result: revision.result,
      at: revision.createdAt.toISOString(),
      commit: revision.gitCommit ?? null,
      actor: revision.actor,
      files: changedFiles(previous.get(revision)?.hashes ?? {}, revision.hashes),
      rollback_to: rollbacks.get(`${revision.node}/${revision.revision}`) ?? null,
      files_kept: kept.get(revision.node)?.has(revision.revision) ?? false,
    }))
}

/** Files (`file:` hashes) added, changed or removed between two revisions, by path. */
export function changedFiles(
  before: Readonly<Record<string, string>>,
  after: Readonly<Record<string, string>>,
): {path: string; change: FileChangeKind}[] {
  const files = (hashes: Readonly<Record<string, string>>) =>
    new Map(
      Object.entries(hashes)
        .filter(([key]) => key.startsWith('file:'))
        .map(([key, hash]) => [key.slice('file:'.length), hash]),
    )
  const old = files(before)
  const now = files(after)
  const paths = [...new Set([...old.keys(), ...now.keys()])].sort(compareText)
  return paths.flatMap((path): {path: string; change: FileChangeKind}[] => {
    const a = old.get(path)
    const b = now.get(path)
    if (a === b) return []
    return [{path, change: a === undefined ? 'added' : b === undefined ? 'removed' : 'changed'}]
  })
}
