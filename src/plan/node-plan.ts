/**
 * The node half of a plan: for one node, the artifacts whose rendered
 * content differs from what its last revision deployed, what each change
 * costs (a peer change goes through `wg syncconf`, an [Interface] change
 * needs a restart, ...), and drift: what the node reports that differs from
 * what that revision left there.
 */
import {compareText} from '../model/compare.js'
import type {Node} from '../model/desired.js'
import type {ArtifactName} from '../model/node-files.js'
import type {ArtifactKind, RenderedFile} from '../render/types.js'
import type {StoredRevision} from '../state/store.js'
import type {NodeObservation} from '../transport/observation.js'
import {
  emailSetHash,
  fileKey,
  interfaceKey,
  OBSERVED_NFT_KEY,
  observedWireguardKey,
  observedXrayKey,
  peerSetHash,
  type RevisionHashes,
  sha256,
  wireguardInterfaceSection,
  XRAY_BASE_KEY,
  xrayBaseSha256,
} from './hashes.js'
import {type ArtifactChange, DISRUPTIVE, type DriftItem, type Effect, type NodePlan} from './types.js'

export type NodeReading =
  | {readonly kind: 'observed'; readonly observation: NodeObservation}
  | {readonly kind: 'unreachable'; readonly error: {readonly code: string; readonly message: string}}
  | {readonly kind: 'offline'}

export interface ExpectedPeer {
  readonly name: string
  readonly publicKey: string
}

/**
 * What a plan needs of a rendered node file: where it goes and the hashes a
 * revision records for it, not its content. Small enough to keep between
 * runs, so a node whose render inputs did not change is not rendered again.
 */
export interface FileDigest {
  readonly path: string
  readonly kind: ArtifactKind
  readonly mode: number
  readonly target?: RenderedFile['target']
  /** The revision hashes of this file: its own, and those of its costly parts. */
  readonly hashes: Readonly<Record<string, string>>
}

export function digestFile(file: RenderedFile): FileDigest {
  const hashes: Record<string, string> = {}
  if (file.target) {
    hashes[fileKey(file.target.path)] = sha256(file.content)
    if (file.kind === 'wireguard') {
      hashes[interfaceKey(file.target.artifact.slice('wireguard/'.length))] = sha256(
        wireguardInterfaceSection(file.content),
      )
    }
    if (file.kind === 'xray') hashes[XRAY_BASE_KEY] = xrayBaseSha256(file.content)
  }
  const {path, kind, mode, target} = file
  return {path, kind, mode, ...(target ? {target} : {}), hashes}
}

export interface NodePlanInput {
  readonly node: Node
  /** The node's rendered files (clients excluded), as digests. */
  readonly files: readonly FileDigest[]
  readonly revision?: StoredRevision
  readonly reading: NodeReading
  /** The peers each interface should carry, to name the ones a drifted peer set adds or lacks. */
  readonly expectedPeers: ReadonlyMap<string, readonly ExpectedPeer[]>
}

/** The hashes a revision records for these files (the apply adds what it observes afterwards). */
export function artifactHashes(files: readonly FileDigest[]): Record<string, string> {
  const hashes: Record<string, string> = {}
  for (const file of files) Object.assign(hashes, file.hashes)
  return hashes
}

/** What a node reports, reduced to the hashes a revision records. */
export function observedHashes(observation: NodeObservation): Record<string, string> {
  const hashes: Record<string, string> = {}
  for (const [iface, wg] of Object.entries(observation.wireguard)) {
    if (wg.state === 'present') hashes[observedWireguardKey(iface)] = peerSetHash(wg.dump.peers)
  }
  if (observation.nftables.state === 'present') hashes[OBSERVED_NFT_KEY] = observation.nftables.sha256
  for (const [tag, users] of Object.entries(observation.xray)) {
    if (users.state === 'available') hashes[observedXrayKey(tag)] = emailSetHash(users.emails)
  }
  return hashes
}

export function planNode(input: NodePlanInput): NodePlan {
  const {node, revision, reading} = input
  const from = revision?.revision ?? null
  const fingerprint = reading.kind === 'observed' ? reading.observation.fingerprint : null
  if (node.status === 'disabled') {
    return {node: node.name, status: 'disabled', revision: {from, to: from}, fingerprint, artifacts: [], drift: []}
  }
  const recorded: RevisionHashes = revision?.hashes ?? {}
  const desired = artifactHashes(input.files)
  const observation = reading.kind === 'observed' ? reading.observation : undefined
  const drift = observation ? driftOf(input, observation, recorded) : []
  const artifacts = artifactChanges(node.name, input.files, recorded, desired, observation, liveDrift(drift))
  const to = artifacts.length > 0 ? (from ?? 0) + 1 : from
  const base = {node: node.name, revision: {from, to}, fingerprint, artifacts, drift}
  if (reading.kind === 'unreachable') return {...base, status: 'unreachable', error: reading.error}
  return {...base, status: reading.kind === 'offline' ? 'offline' : 'planned'}
}

/** Artifacts whose live state (peer set, loaded ruleset, xray users) left what their files say. */
function liveDrift(drift: readonly DriftItem[]): Map<ArtifactName, Effect> {
  const live = new Map<ArtifactName, Effect>()
  for (const item of drift) {
    if (item.kind === 'wireguard_peers') live.set(`wireguard/${item.subject}`, 'wg_syncconf')
    if (item.kind === 'nftables') live.set('nftables', 'nft_reload')
    if (item.kind === 'xray_users') live.set('xray', 'xray_api')
  }
  return live
}

/**
 * What an apply must do to each artifact. The comparison is with what is on
 * the node when it was observed, else with what the last revision deployed,
 * so a hand edit is undone by the next apply.
 */
function artifactChanges(
  node: string,
  files: readonly FileDigest[],
  recorded: RevisionHashes,
  desired: Record<string, string>,
  observation: NodeObservation | undefined,
  live: ReadonlyMap<ArtifactName, Effect>,
): ArtifactChange[] {
  const changes: ArtifactChange[] = []
  const rendered = new Set<string>()
  for (const file of files) {
    if (!file.target) continue
    const {artifact, path} = file.target
    rendered.add(path)
    const deployed = recorded[fileKey(path)] ?? null
    const observed = observation?.files[path]
    const before = observed ? (observed.state === 'present' ? observed.sha256 : null) : deployed
    const after = desired[fileKey(path)] ?? null
    if (before === after) {
      // On the node already, but never confirmed: an apply died after the swap. Activate it and record it.
      if (observation && deployed !== after) {
        const {effect} = deployed === null ? createEffect(artifact) : updateEffect(artifact, recorded, desired)
        changes.push({
          address: `node.${node}/${artifact}`,
          node,
          path,
          action: 'update',
          reason: 'not_activated',
          effect,
          disruptive: deployed !== null && DISRUPTIVE[effect],
          sha256Before: deployed,
          sha256After: after,
          summary: `in place but never activated (an earlier apply stopped); ${describe(effect)}`,
        })
        continue
      }
      const effect = live.get(artifact)
      if (effect) {
        changes.push({
          address: `node.${node}/${artifact}`,
          node,
          path,
          action: 'update',
          reason: 'live_state_drifted',
          effect,
          disruptive: DISRUPTIVE[effect],
          sha256Before: before,
          sha256After: after,
          summary: `reload to undo a change made on the node; ${describe(effect)}`,
        })
      }
      continue
    }
    const handEdited = before !== deployed
    const {effect, reason} =
      before === null
        ? createEffect(artifact)
        : handEdited
          ? {effect: createEffect(artifact).effect, reason: deployed === null ? 'replaces_unmanaged_file' : 'drifted'}
          : updateEffect(artifact, recorded, desired)
    changes.push({
      address: `node.${node}/${artifact}`,
      node,
      path,
      action: before === null ? 'create' : 'update',
      reason,
      effect,
      // Bringing something up for the first time drops nothing.
      disruptive: before !== null && DISRUPTIVE[effect],
      sha256Before: before,
      sha256After: after,
      summary: describe(effect),
    })
  }
  for (const key of Object.keys(recorded).sort(compareText)) {
    if (!key.startsWith('file:')) continue
    const path = key.slice('file:'.length)
    if (rendered.has(path)) continue
    const artifact = artifactOfRemovedPath(path, recorded)
    const effect = deleteEffect(artifact)
    changes.push({
      address: `node.${node}/${artifact}`,
      node,
      path,
      action: 'delete',
      reason: 'no_longer_rendered',
      effect,
      disruptive: DISRUPTIVE[effect] || artifact.startsWith('wireguard/'),
      sha256Before: recorded[key] ?? null,
      sha256After: null,
      summary: `removed; ${describe(effect)}`,
    })
  }
  return changes
}

function createEffect(artifact: ArtifactName): {effect: Effect; reason: string} {
  if (artifact.startsWith('wireguard/')) return {effect: 'interface_restart', reason: 'new_artifact'}
  if (artifact === 'xray') return {effect: 'xray_restart', reason: 'new_artifact'}
  if (artifact === 'dns') return {effect: 'dnsmasq_restart', reason: 'new_artifact'}
  return {effect: 'nft_reload', reason: 'new_artifact'}
}

function updateEffect(
  artifact: ArtifactName,
  recorded: RevisionHashes,
  desired: Record<string, string>,
): {effect: Effect; reason: string} {
  if (artifact.startsWith('wireguard/')) {
    const key = interfaceKey(artifact.slice('wireguard/'.length))
    return recorded[key] !== undefined && recorded[key] === desired[key]
      ? {effect: 'wg_syncconf', reason: 'peers_changed'}
      : {effect: 'interface_restart', reason: 'interface_changed'}
  }
  if (artifact === 'xray') {
    return recorded[XRAY_BASE_KEY] !== undefined && recorded[XRAY_BASE_KEY] === desired[XRAY_BASE_KEY]
      ? {effect: 'xray_api', reason: 'users_changed'}
      : {effect: 'xray_restart', reason: 'config_changed'}
  }
  if (artifact === 'dns') return {effect: 'dnsmasq_restart', reason: 'overrides_changed'}
  return {effect: 'nft_reload', reason: 'ruleset_changed'}
}

function deleteEffect(artifact: ArtifactName): Effect {
  if (artifact.startsWith('wireguard/')) return 'interface_restart'
  if (artifact === 'xray') return 'xray_restart'
  if (artifact === 'dns') return 'dnsmasq_restart'
  return 'nft_reload'
}

/** A file the revision deployed but nothing renders now: name it from its interface hash, or its kind. */
function artifactOfRemovedPath(path: string, recorded: RevisionHashes): ArtifactName {
  const base = path.split('/').at(-1) ?? path
  const iface = base.replace(/\.conf$/, '')
  if (base.endsWith('.conf') && recorded[interfaceKey(iface)] !== undefined) return `wireguard/${iface}`
  if (path.endsWith('.json')) return 'xray'
  if (path.endsWith('.nft')) return 'nftables'
  return 'dns'
}

function describe(effect: Effect): string {
  switch (effect) {
    case 'wg_syncconf':
      return 'wg syncconf: no session dropped'
    case 'interface_restart':
      return 'interface restart: drops its sessions'
    case 'nft_reload':
      return 'nft -f: one atomic transaction'
    case 'xray_api':
      return 'xray API: users added/removed live'
    case 'xray_restart':
      return 'xray restart: drops its connections'
    case 'dnsmasq_restart':
      return 'dnsmasq restart'
    case 'state_only':
      return 'state only'
  }
}

function driftOf(input: NodePlanInput, observation: NodeObservation, recorded: RevisionHashes): DriftItem[] {
  const drift: DriftItem[] = []
  const {revision} = input
  const observedFile = (path: string): string | null => {
    const file = observation.files[path]
    return file?.state === 'present' ? file.sha256 : null
  }
  if (!revision) {
    // Nothing deployed yet as far as state knows: files already there are someone else's, and get replaced.
    for (const file of input.files) {
      if (!file.target) continue
      const observed = observedFile(file.target.path)
      if (observed !== null && observed !== file.hashes[fileKey(file.target.path)]) {
        drift.push({
          kind: 'unmanaged_file',
          subject: file.target.path,
          expected: null,
          observed,
          detail: 'present on the node but never deployed by nexus; apply replaces it',
        })
      }
    }
    return drift
  }
  const marker = observation.marker
  const markerRevision =
    marker.state === 'present' && typeof (marker.value as {revision?: unknown})?.revision === 'number'
      ? (marker.value as {revision: number}).revision
      : null
  if (markerRevision !== revision.revision) {
    drift.push({
      kind: 'revision_marker',
      subject: 'revision.json',
      expected: String(revision.revision),
      observed: markerRevision === null ? null : String(markerRevision),
      detail:
        markerRevision === null ? 'the revision marker is missing or unreadable' : 'the node reports another revision',
    })
  }
  for (const key of Object.keys(recorded).sort(compareText)) {
    if (!key.startsWith('file:')) continue
    const path = key.slice('file:'.length)
    const observed = observedFile(path)
    if (observed !== recorded[key]) {
      drift.push({
        kind: 'file',
        subject: path,
        expected: recorded[key] ?? null,
        observed,
        detail: observed === null ? 'missing on the node' : `changed on the node since revision ${revision.revision}`,
      })
    }
  }
  const now = observedHashes(observation)
  for (const [iface, wg] of Object.entries(observation.wireguard)) {
    const expected = recorded[observedWireguardKey(iface)]
    if (expected === undefined) continue
    const observed = now[observedWireguardKey(iface)] ?? null
    if (observed === expected) continue
    drift.push({
      kind: 'wireguard_peers',
      subject: iface,
      expected,
      observed,
      detail:
        wg.state === 'present'
          ? peerDifference(wg.dump.peers, input.expectedPeers.get(iface) ?? [])
          : `interface ${wg.state}`,
    })
  }
  const nft = recorded[OBSERVED_NFT_KEY]
  if (nft !== undefined && now[OBSERVED_NFT_KEY] !== nft) {
    drift.push({
      kind: 'nftables',
      subject: 'table inet nexus',
      expected: nft,
      observed: now[OBSERVED_NFT_KEY] ?? null,
      detail: observation.nftables.state === 'absent' ? 'the table is gone' : 'the loaded ruleset was changed by hand',
    })
  }
  for (const [tag, users] of Object.entries(observation.xray)) {
    const expected = recorded[observedXrayKey(tag)]
    if (expected === undefined || users.state !== 'available') continue
    const observed = now[observedXrayKey(tag)] ?? null
    if (observed !== expected) {
      drift.push({
        kind: 'xray_users',
        subject: tag,
        expected,
        observed,
        detail: 'xray reports other users than were deployed',
      })
    }
  }
  return drift
}

function peerDifference(observed: readonly {publicKey: string}[], expected: readonly ExpectedPeer[]): string {
  const live = new Set(observed.map((p) => p.publicKey))
  const wanted = new Map(expected.map((p) => [p.publicKey, p.name]))
  const extra = [...live].filter((key) => !wanted.has(key))
  const missing = [...wanted].filter(([key]) => !live.has(key)).map(([, name]) => name)
  const parts = [
    ...(extra.length > 0
      ? [`${extra.length} peer(s) not declared: ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''}`]
      : []),
    ...(missing.length > 0 ? [`missing: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}`] : []),
  ]
  return parts.length > 0 ? parts.join('; ') : 'allowed IPs differ'
}
