/**
 * Plan-test helpers: what a node would report after a faithful deployment of
 * a plan's files (built from the rendered files themselves), and the state
 * half of an apply (state write + node revisions), so tests can bring state
 * and nodes in line with a plan and plan again.
 */
import {wireguardPublicKey} from '../../src/crypto/keys.js'
import type {Node} from '../../src/model/desired.js'
import {managedFiles, markerPath} from '../../src/model/node-files.js'
import {sha256} from '../../src/plan/hashes.js'
import type {PlanResult} from '../../src/plan/index.js'
import {artifactHashes, digestFile, observedHashes} from '../../src/plan/node-plan.js'
import type {RenderedFile} from '../../src/render/types.js'
import type {StateStore} from '../../src/state/store.js'
import {
  type FileObservation,
  type NodeObservation,
  observationFingerprint,
  type WireguardObservation,
  type XrayUsersObservation,
} from '../../src/transport/observation.js'

export interface DeployedNode {
  readonly node: Node
  readonly files: readonly RenderedFile[]
  readonly revision?: number
  /** Peers added by hand with `wg set`, by interface. */
  readonly extraPeers?: Readonly<Record<string, readonly {publicKey: string; allowedIPs: string[]}[]>>
  /** A hand edit of the loaded ruleset. */
  readonly nftListing?: string
  /** Files changed on the node by hand: path -> new content. */
  readonly editedFiles?: Readonly<Record<string, string>>
}

/** What a node reports when it runs exactly `files` (plus any hand edits). */
export function observedNode(deployed: DeployedNode): NodeObservation {
  const {node, files} = deployed
  const byPath = new Map(files.flatMap((f) => (f.target ? [[f.target.path, f] as const] : [])))
  const fileObservations: Record<string, FileObservation> = {}
  for (const managed of managedFiles(node)) {
    const content = deployed.editedFiles?.[managed.path] ?? byPath.get(managed.path)?.content
    fileObservations[managed.path] =
      content === undefined
        ? {artifact: managed.artifact, path: managed.path, state: 'absent'}
        : {artifact: managed.artifact, path: managed.path, state: 'present', sha256: sha256(content)}
  }
  const wireguard: Record<string, WireguardObservation> = {}
  for (const iface of node.interfaces) {
    const file = files.find((f) => f.target?.artifact === `wireguard/${iface.name}`)
    if (!file) {
      wireguard[iface.name] = {state: 'absent'}
      continue
    }
    const privateKey = /^PrivateKey = (.+)$/m.exec(file.content)?.[1] ?? ''
    const peers = [...wireguardPeers(file.content), ...(deployed.extraPeers?.[iface.name] ?? [])].map((p) => ({
      publicKey: p.publicKey,
      presharedKey: false,
      endpoint: null,
      allowedIPs: [...p.allowedIPs].sort(),
      latestHandshake: 0,
      rxBytes: 0,
      txBytes: 0,
      persistentKeepalive: null,
    }))
    wireguard[iface.name] = {
      state: 'present',
      up: true,
      dump: {
        publicKey: wireguardPublicKey(privateKey),
        listenPort: iface.listenPort,
        fwmark: null,
        peers: peers.sort((a, b) => (a.publicKey < b.publicKey ? -1 : 1)),
      },
    }
  }
  const nftFile = files.find((f) => f.target?.artifact === 'nftables')
  const listing = deployed.nftListing ?? nftFile?.content
  const xray: Record<string, XrayUsersObservation> = {}
  const xrayFile = files.find((f) => f.target?.artifact === 'xray')
  if (xrayFile) {
    const config = JSON.parse(xrayFile.content) as {inbounds: {tag: string; settings?: {clients?: {email: string}[]}}[]}
    for (const inbound of config.inbounds) {
      if (inbound.tag === 'api-in') continue
      xray[inbound.tag] = {state: 'available', emails: (inbound.settings?.clients ?? []).map((c) => c.email).sort()}
    }
  }
  const observation: Omit<NodeObservation, 'fingerprint'> = {
    node: node.name,
    reachable: true,
    marker:
      deployed.revision === undefined
        ? {state: 'absent'}
        : {state: 'present', value: {revision: deployed.revision, path: markerPath(node)}},
    files: fileObservations,
    wireguard,
    nftables: listing === undefined ? {state: 'absent'} : {state: 'present', text: listing, sha256: sha256(listing)},
    xray,
  }
  return {...observation, fingerprint: observationFingerprint(observation)}
}

function wireguardPeers(content: string): {publicKey: string; allowedIPs: string[]}[] {
  return content
    .split('[Peer]')
    .slice(1)
    .map((section) => ({
      publicKey: /^PublicKey = (.+)$/m.exec(section)?.[1] ?? '',
      allowedIPs: (/^AllowedIPs = (.+)$/m.exec(section)?.[1] ?? '').split(', ').filter(Boolean),
    }))
}

/**
 * The state half of an apply: the plan's state write, and a revision for every
 * node with artifact changes, recording what the node reports afterwards.
 * Returns the observations of the deployed nodes, for the next plan.
 */
export async function applyStateOnly(store: StateStore, result: PlanResult): Promise<Map<string, NodeObservation>> {
  await store.write(result.state.write, {actor: 'test', expectedSerial: result.plan.state.serial})
  const observations = new Map<string, NodeObservation>()
  const snapshot = await store.snapshot()
  for (const nodePlan of result.plan.nodes) {
    if (nodePlan.status === 'disabled') continue
    const files = result.nodeFiles(nodePlan.node).filter((f) => f.target)
    const node = nodeNamed(result, nodePlan.node)
    const revision = nodePlan.revision.to ?? snapshot.revisions.get(nodePlan.node)?.revision
    const observation = observedNode({node, files, ...(revision === undefined ? {} : {revision})})
    if (nodePlan.artifacts.length > 0 && revision !== undefined && revision !== null) {
      await store.recordRevision({
        node: node.name,
        revision,
        hashes: {...artifactHashes(files.map(digestFile)), ...observedHashes(observation)},
        actor: 'test',
        result: 'verified',
      })
    }
    observations.set(node.name, observation)
  }
  return observations
}

function nodeNamed(result: PlanResult, name: string): Node {
  const node = result.desired.nodes.find((n) => n.name === name)
  if (!node) throw new Error(`node ${name} is not in the plan`)
  return node
}
