/**
 * `nexus status`: per node, the latest revision in state, the last apply that
 * named it, and what the node reports now compared with what that revision
 * recorded (file hashes, the live peer sets, the loaded nft table, xray's
 * users, the revision marker): verified, diverged (and how), unreachable, or
 * never applied. Reads only: nothing is written, not even a new host key.
 */
import {compareText} from '../model/compare.js'
import type {Node} from '../model/desired.js'
import {OBSERVED_NFT_KEY, observedWireguardKey, observedXrayKey} from '../plan/hashes.js'
import {observedHashes} from '../plan/node-plan.js'
import {openState, type StateLocation} from '../state/open.js'
import type {StoredRevision} from '../state/store.js'
import type {NodeObservation} from '../transport/observation.js'
import {observeNodes} from '../transport/observe.js'
import type {HostKeyStore, NodeTransport} from '../transport/types.js'
import {loadRepo} from './load-repo.js'
import {serverKeys} from './server-keys.js'

export type LiveState = 'verified' | 'diverged' | 'unreachable' | 'never_applied' | 'not_read'

export interface Difference {
  /** `revision_marker`, `file`, `wireguard_peers`, `nftables`, `xray_users` */
  kind: string
  subject: string
  detail: string
}

export interface NodeStatusEntry {
  node: string
  /** Declared in the repo (a node only in state is shown, but not read). */
  declared: boolean
  revision: {
    number: number
    result: string
    at: string
    commit: string | null
    actor: string
  } | null
  last_apply: {id: number; result: string; node_result: string; at: string; actor: string} | null
  live: {
    state: LiveState
    /** Why the node was not read (not_read), e.g. `--offline`. */
    reason?: string
    differences: Difference[]
    error?: {code: string; message: string}
    notes: string[]
  }
}

export interface StatusResult {
  offline: boolean
  nodes: NodeStatusEntry[]
  summary: Record<LiveState, number>
  warnings: string[]
}

export interface StatusOptions {
  readonly root: string
  readonly location: StateLocation
  readonly env: NodeJS.ProcessEnv
  readonly offline: boolean
  readonly transport: NodeTransport
  readonly onCommand?: (node: string, script: string) => void
}

export async function nodeStatus(options: StatusOptions): Promise<StatusResult> {
  const store = await openState(options.location, {mode: 'read', env: options.env})
  try {
    const revisions = latestRevisions((await store?.revisions()) ?? [])
    const applies = (await store?.lastApplyByNode()) ?? new Map()
    const known = (await store?.hostKeys()) ?? new Map<string, string>()
    const inventory = await loadRepo(options.root, {serverKeys: serverKeys(await store?.publicValues())})
    const warnings: string[] = []
    const declared = inventory.desired?.nodes ?? []
    if (!inventory.desired) {
      const errors = inventory.diagnostics.filter((d) => d.severity === 'error').length
      warnings.push(`the declarations have ${errors} error(s), so no node was read; run nexus validate`)
    }

    const toRead = options.offline
      ? []
      : declared.filter((node) => node.status !== 'disabled' && revisions.has(node.name))
    const firstSeen: string[] = []
    const hostKeys: HostKeyStore = {
      get: async (node) => known.get(node),
      record: async (node) => {
        firstSeen.push(node)
      },
    }
    const observations = new Map(
      (
        await observeNodes(options.transport, toRead, {
          connect: {hostKeys, ...(options.onCommand ? {onCommand: options.onCommand} : {})},
        })
      ).map((o) => [o.node, o]),
    )
    for (const node of firstSeen.sort(compareText)) {
      warnings.push(`${node}: host key seen for the first time; status does not record it (the next apply does)`)
    }

    const names = [
      ...declared.map((n) => n.name),
      ...[...revisions.keys()].filter((name) => !declared.some((n) => n.name === name)).sort(compareText),
    ]
    const nodes = names.map((name): NodeStatusEntry => {
      const node = declared.find((n) => n.name === name)
      const revision = revisions.get(name)
      const apply = applies.get(name)
      return {
        node: name,
        declared: node !== undefined,
        revision: revision
          ? {
              number: revision.revision,
              result: revision.result,
              at: revision.createdAt.toISOString(),
              commit: revision.gitCommit ?? null,
              actor: revision.actor,
            }
          : null,
        last_apply: apply
          ? {
              id: apply.id,
              result: apply.result,
              node_result: apply.nodeResult,
              at: (apply.finishedAt ?? apply.startedAt).toISOString(),
              actor: apply.actor,
            }
          : null,
        live: liveOf(node, revision, observations.get(name), {
          offline: options.offline,
          valid: inventory.desired !== undefined,
        }),
      }
    })
    const summary: Record<LiveState, number> = {verified: 0, diverged: 0, unreachable: 0, never_applied: 0, not_read: 0}
    for (const entry of nodes) summary[entry.live.state]++
    return {offline: options.offline, nodes, summary, warnings}
  } finally {
    await store?.close()
  }
}

function liveOf(
  node: Node | undefined,
  revision: StoredRevision | undefined,
  observation: Awaited<ReturnType<typeof observeNodes>>[number] | undefined,
  context: {offline: boolean; valid: boolean},
): NodeStatusEntry['live'] {
  const notRead = (reason: string): NodeStatusEntry['live'] => ({
    state: 'not_read',
    reason,
    differences: [],
    notes: [],
  })
  if (!revision) return {state: 'never_applied', differences: [], notes: []}
  if (!context.valid) return notRead('the declarations have errors')
  if (!node) return notRead('no longer declared in the repo')
  if (node.status === 'disabled') return notRead('disabled: left alone')
  if (context.offline) return notRead('--offline')
  if (!observation) return notRead('not observed')
  if (!observation.reachable) {
    return {
      state: 'unreachable',
      differences: [],
      error: {code: observation.error.code, message: observation.error.message},
      notes: [],
    }
  }
  const {differences, notes} = compareWithRevision(revision, observation)
  return {state: differences.length === 0 ? 'verified' : 'diverged', differences, notes}
}

/** The latest revision of each node (the highest number, whatever the clock said). */
export function latestRevisions(revisions: readonly StoredRevision[]): Map<string, StoredRevision> {
  const latest = new Map<string, StoredRevision>()
  for (const revision of revisions) {
    const seen = latest.get(revision.node)
    if (!seen || revision.revision > seen.revision) latest.set(revision.node, revision)
  }
  return latest
}

/**
 * What the node reports against what its revision recorded: the marker, each
 * deployed file's hash, and the live state the apply read back afterwards.
 * Recorded items the observation does not cover (a file or interface no longer
 * declared, xray's API not answering) are noted, not counted as differences.
 */
export function compareWithRevision(
  revision: StoredRevision,
  observation: NodeObservation,
): {differences: Difference[]; notes: string[]} {
  const differences: Difference[] = []
  const notes: string[] = []
  const marker = observation.marker
  const markerRevision =
    marker.state === 'present' && typeof (marker.value as {revision?: unknown} | null)?.revision === 'number'
      ? (marker.value as {revision: number}).revision
      : null
  if (markerRevision !== revision.revision) {
    differences.push({
      kind: 'revision_marker',
      subject: 'revision.json',
      detail:
        markerRevision === null
          ? `the revision marker is ${marker.state === 'present' ? 'unreadable' : marker.state}`
          : `the node reports revision ${markerRevision}, state has ${revision.revision}`,
    })
  }
  const now = observedHashes(observation)
  for (const key of Object.keys(revision.hashes).sort(compareText)) {
    const expected = revision.hashes[key]
    if (key.startsWith('file:')) {
      const path = key.slice('file:'.length)
      const file = observation.files[path]
      if (!file) {
        notes.push(`${path}: not checked (no longer a managed path of the node)`)
        continue
      }
      if (file.state === 'present' && file.sha256 === expected) continue
      differences.push({
        kind: 'file',
        subject: path,
        detail:
          file.state === 'absent'
            ? 'missing on the node'
            : file.state === 'error'
              ? `could not be read: ${file.message}`
              : `changed on the node since revision ${revision.revision}`,
      })
    } else if (key.startsWith('observed:wg:')) {
      const iface = key.slice('observed:wg:'.length)
      const wg = observation.wireguard[iface]
      if (!wg) {
        notes.push(`${iface}: not checked (no longer a declared interface)`)
        continue
      }
      if (now[observedWireguardKey(iface)] === expected) continue
      differences.push({
        kind: 'wireguard_peers',
        subject: iface,
        detail:
          wg.state === 'present'
            ? `the live peers differ from revision ${revision.revision}`
            : wg.state === 'absent'
              ? 'the interface is down or gone'
              : `could not be read: ${wg.message}`,
      })
    } else if (key === OBSERVED_NFT_KEY) {
      if (now[OBSERVED_NFT_KEY] === expected) continue
      const nft = observation.nftables
      differences.push({
        kind: 'nftables',
        subject: 'table inet nexus',
        detail:
          nft.state === 'absent'
            ? 'the table is gone'
            : nft.state === 'error'
              ? `could not be read: ${nft.message}`
              : 'the loaded ruleset differs from what was loaded',
      })
    } else if (key.startsWith('observed:xray:')) {
      const tag = key.slice('observed:xray:'.length)
      const users = observation.xray[tag]
      if (users?.state !== 'available') {
        notes.push(`xray ${tag}: users not checked (${users ? users.reason : 'no longer a declared inbound'})`)
        continue
      }
      if (now[observedXrayKey(tag)] === expected) continue
      differences.push({kind: 'xray_users', subject: tag, detail: 'xray reports other users than were deployed'})
    }
  }
  return {differences, notes}
}
