/**
 * `nexus peer create/list/show/remove`: ad-hoc WireGuard peers written into
 * the repo as YAML. Every edit is made in memory first and the whole repo is
 * validated with it; only then is anything written (the repo file, and the
 * gateway's key in state when the interface has none yet), optionally
 * committed and applied to the peer's node.
 *
 * The device's private key, when nexus generates it, lives only in the
 * returned config: it is never written to the repo, the state or a log.
 *
 * The repo-editing steps shared with `nexus user` (read, edit in memory,
 * validate, write, commit) are exported from here.
 */
import {applyRepo, type ApplyOutcome} from '../apply/run.js'
import type {ApplyEventSink, NodeResult} from '../apply/events.js'
import {generateRequested, generateWireguardKeyPair} from '../crypto/keys.js'
import {NexusError} from '../errors.js'
import {checkCommittable, commitFiles, type CommitResult, type FileEdit, writeRepoFiles} from '../git/edit-repo.js'
import {repoInfo} from '../git/repo-info.js'
import {readDeclarationFiles} from '../git/working-tree.js'
import type {Declared, DeclarationSet} from '../inventory/declared.js'
import {
  appendDocument,
  contentDocumentCount,
  declarationText,
  type Fields,
  newFileText,
  removeDocument,
  schemaHeaderFor,
} from '../inventory/edit.js'
import {type Inventory, type LoadOptions, loadInventory} from '../inventory/load.js'
import {API_VERSION, type Kind} from '../model/declarations.js'
import type {Desired, Peer} from '../model/desired.js'
import {Fleet} from '../model/fleet.js'
import {formatAddress, formatNetwork, type IpAddress, ipKey, parseIp} from '../model/ip.js'
import {closest, NAME_PATTERN} from '../model/names.js'
import type {StateValues} from '../model/state-values.js'
import {missingValues, planState} from '../plan/state-plan.js'
import {renderClientConfig} from '../render/client.js'
import {actorFrom} from '../state/lease.js'
import {openState, type StateLocation} from '../state/open.js'
import {previewStateValues} from '../state/preview.js'
import type {StateSnapshot} from '../state/store.js'
import {observeNodes} from '../transport/observe.js'
import type {HostKeyStore, NodeTransport} from '../transport/types.js'
import {serverKeys, snapshotPublicValues} from './server-keys.js'

// ---------------------------------------------------------------- editing the repo (shared with user.ts)

export interface RepoText {
  /** Repo-relative, forward slashes. */
  readonly path: string
  readonly text: string
}

export async function readRepoTexts(root: string): Promise<RepoText[]> {
  const decoder = new TextDecoder()
  return (await readDeclarationFiles(root)).map((file) => ({path: file.path, text: decoder.decode(file.bytes)}))
}

export function loadTexts(texts: readonly RepoText[], options: LoadOptions = {}): Inventory {
  const encoder = new TextEncoder()
  return loadInventory(
    texts.map((file) => ({path: file.path, bytes: encoder.encode(file.text)})),
    options,
  )
}

/** The repo's files with `edits` applied (in memory). */
export function withEdits(texts: readonly RepoText[], edits: readonly FileEdit[]): RepoText[] {
  const changed = new Map(edits.map((edit) => [edit.path, edit.content]))
  const out: RepoText[] = []
  for (const file of texts) {
    if (!changed.has(file.path)) out.push(file)
    else {
      const content = changed.get(file.path)
      if (content !== null && content !== undefined) out.push({path: file.path, text: content})
    }
  }
  for (const [path, content] of changed) {
    if (content !== null && content !== undefined && !texts.some((f) => f.path === path))
      out.push({path, text: content})
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}

/**
 * Loads the repo as it would be with `edits`, and refuses (invalid_change,
 * listing every error) unless it validates. Nothing has been written yet.
 */
export function validateChange(
  texts: readonly RepoText[],
  edits: readonly FileEdit[],
  options: LoadOptions,
  what: string,
): Inventory & {desired: Desired} {
  const inventory = loadTexts(withEdits(texts, edits), options)
  if (inventory.desired) return inventory as Inventory & {desired: Desired}
  const errors = inventory.diagnostics.filter((d) => d.severity === 'error')
  const list = errors
    .map((d) => `  ${d.file}:${d.line}:${d.column}: ${d.message} [${d.code}]${d.hint ? `\n      ${d.hint}` : ''}`)
    .join('\n')
  throw new NexusError(
    'invalid_change',
    `${what} would leave the declarations with ${errors.length} error${errors.length === 1 ? '' : 's'}, so nothing was written:\n${list}`,
    'fix the arguments (or the files named above) and run the command again; nexus validate shows the whole repo',
  )
}

/**
 * Where a new declaration goes: appended to the multi-document file its kind
 * already lives in (`sameGroup` narrows which documents count as its
 * neighbours, e.g. the peers of one interface), else a new `FOLDER/NAME.yaml`
 * in the folder the other files of its kind are in, headed by the schema
 * comment.
 */
export function placeDeclaration(
  kind: Kind,
  name: string,
  document: string,
  texts: readonly RepoText[],
  existing: readonly Declared[],
  options: {readonly folder: string; readonly sameGroup?: (declared: Declared) => boolean},
): FileEdit & {readonly appended: boolean} {
  const byFile = new Map<string, Declared[]>()
  for (const declared of existing) {
    const list = byFile.get(declared.doc.file) ?? []
    list.push(declared)
    byFile.set(declared.doc.file, list)
  }
  const text = (path: string) => texts.find((f) => f.path === path)?.text ?? ''
  const multi = [...byFile].filter(([path]) => contentDocumentCount(text(path)) >= 2)
  const grouped = options.sameGroup
    ? multi.filter(([, list]) => list.every((declared) => options.sameGroup?.(declared)))
    : []
  const target =
    grouped.length === 1 ? grouped[0]?.[0] : byFile.size === 1 && multi.length === 1 ? multi[0]?.[0] : undefined
  if (target !== undefined) return {path: target, content: appendDocument(text(target), document), appended: true}

  const folders = new Set([...byFile.keys()].map((path) => path.slice(0, Math.max(0, path.lastIndexOf('/')))))
  const folder = folders.size === 1 ? ([...folders][0] ?? options.folder) : options.folder
  const path = folder === '' ? `${name}.yaml` : `${folder}/${name}.yaml`
  if (texts.some((f) => f.path.toLowerCase() === path.toLowerCase())) {
    throw new NexusError(
      'file_exists',
      `${path} already exists, and nexus writes a new ${kind} there only into a new file`,
      'move or rename that file, or add the declaration to it by hand',
    )
  }
  return {path, content: newFileText(schemaHeaderFor(kind, path, texts), document), appended: false}
}

export interface WriteOptions {
  readonly root: string
  readonly commit: boolean
  readonly message: string
}

/** Writes the edits and commits exactly those files when asked. */
export async function writeEdits(options: WriteOptions, edits: readonly FileEdit[]): Promise<CommitResult | null> {
  await writeRepoFiles(options.root, edits)
  if (!options.commit) return null
  return commitFiles(
    options.root,
    edits.map((edit) => edit.path),
    options.message,
  )
}

/** Checks before writing that --commit can commit the files on their own. */
export async function preflightCommit(root: string, commit: boolean, edits: readonly FileEdit[]): Promise<void> {
  if (commit)
    await checkCommittable(
      root,
      edits.map((edit) => edit.path),
    )
}

export function requireName(kind: string, name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new NexusError(
      'invalid_name',
      `${JSON.stringify(name)} is not a valid ${kind} name`,
      'names are lower-case DNS labels: a letter, then letters, digits or "-" (at most 63 characters)',
    )
  }
}

export function unknownName(kind: string, name: string, known: readonly string[]): NexusError {
  const suggestion = closest(name, known)
  return new NexusError(
    `unknown_${kind}`,
    `no ${kind} named ${name} is declared`,
    suggestion ? `did you mean ${suggestion}?` : `${kind}s: ${known.join(', ') || '(none)'}`,
  )
}

/** The state as it is now (read only), or undefined before the first write. */
export async function readSnapshot(
  location: StateLocation,
  env: NodeJS.ProcessEnv,
): Promise<StateSnapshot | undefined> {
  const store = await openState(location, {mode: 'read', env})
  try {
    return await store?.snapshot()
  } finally {
    await store?.close()
  }
}

/** The values a render would use: from state where it has them, generated for the occasion otherwise. */
export function stateValues(desired: Desired, snapshot: StateSnapshot | undefined, now: Date): StateValues {
  if (!snapshot) return previewStateValues(desired, now)
  const missing = missingValues(desired, snapshot)
  const planned = planState({desired, snapshot, generated: generateRequested(missing), now})
  return {...planned.values, preview: missing.secrets.length + missing.links.length > 0}
}

// ---------------------------------------------------------------- applying one node

export interface ApplyRequest {
  readonly transport: NodeTransport
  readonly confirm: Parameters<typeof applyRepo>[0]['confirm']
  /** Apply even when the repo had other uncommitted declaration changes before this edit. */
  readonly allowDirty: boolean
  readonly emit: ApplyEventSink
  /** True once the user asked to stop (Ctrl-C): nodes in flight finish or roll back, no other starts. */
  readonly interrupted?: () => boolean
}

export interface ApplySummary {
  /** `error`: the apply stopped before it reached the node (lock, state, ...); `error` says why. */
  readonly outcome: ApplyOutcome | 'error'
  readonly nodes: Readonly<Record<string, NodeResult>>
  /** The state serial after the apply; null when it failed before writing. */
  readonly serial: number | null
  readonly error?: {readonly code: string; readonly message: string; readonly hint?: string}
}

/** Refuses before anything is written when an apply of this edit would record the wrong commit. */
async function preflightApply(root: string, apply: ApplyRequest | undefined): Promise<void> {
  if (!apply || apply.allowDirty) return
  if ((await repoInfo(root)).dirty) {
    throw new NexusError(
      'dirty_tree',
      'the repo already has uncommitted declaration changes, which --apply would push along with this one',
      'commit them first, or pass --allow-dirty',
    )
  }
}

/**
 * Applies the node the edit concerns. The edit is written by then (and for a
 * new peer its private key exists only in the result), so a failure is
 * reported in the result rather than thrown.
 */
async function applyOneNode(
  options: {root: string; location: StateLocation; env: NodeJS.ProcessEnv},
  node: string,
  apply: ApplyRequest,
): Promise<ApplySummary> {
  try {
    return await applyNode(options, node, apply)
  } catch (error) {
    const known = error instanceof NexusError
    return {
      outcome: 'error',
      nodes: {},
      serial: null,
      error: {
        code: known ? error.code : 'internal_error',
        message: error instanceof Error ? error.message : String(error),
        ...(known && error.hint ? {hint: error.hint} : {}),
      },
    }
  }
}

async function applyNode(
  options: {root: string; location: StateLocation; env: NodeJS.ProcessEnv},
  node: string,
  apply: ApplyRequest,
): Promise<ApplySummary> {
  const result = await applyRepo({
    root: options.root,
    location: options.location,
    env: options.env,
    transport: apply.transport,
    confirm: apply.confirm,
    parallel: 1,
    nodes: [node],
    // The only uncommitted declarations are this command's own (checked before writing).
    allowDirty: true,
    lockTimeoutMs: 60_000,
    confirmTimeoutSec: 60,
    emit: apply.emit,
    interrupted: apply.interrupted ?? (() => false),
    now: () => new Date(),
  })
  return {outcome: result.outcome, nodes: result.nodes, serial: result.serial}
}

// ---------------------------------------------------------------- peer create

export interface CreatePeerOptions {
  readonly root: string
  readonly location: StateLocation
  readonly env: NodeJS.ProcessEnv
  readonly now: Date
  readonly name: string
  readonly interface: string
  readonly node?: string
  readonly user?: string
  /** The device's own public key; without it a key pair is generated and the private key returned once. */
  readonly publicKey?: string
  /** Addresses to pin (one per family at most); the rest are allocated. */
  readonly addresses?: readonly string[]
  readonly allowedIPs?: readonly string[]
  readonly commit: boolean
  readonly apply?: ApplyRequest
  readonly notice?: (text: string) => void
}

export interface PeerCreated {
  /** The declaration as written to the repo. */
  readonly peer: Record<string, unknown>
  readonly node: string
  readonly addresses: string[]
  /** The device's wg-quick file; holds the private key when nexus generated it (the only copy). */
  readonly config: string
  readonly privateKeyGenerated: boolean
  readonly file: string
  /** Appended to a multi-document file rather than a new file. */
  readonly appended: boolean
  /** The gateway interface had no key yet: one was generated and recorded in state so the config stays valid. */
  readonly serverKeyRecorded: boolean
  readonly committed: CommitResult | null
  /** --commit failed after the file was written (the file stays; nothing was applied). */
  readonly commitError?: {readonly code: string; readonly message: string; readonly hint?: string}
  readonly applied: ApplySummary | null
}

export async function createPeer(options: CreatePeerOptions): Promise<PeerCreated> {
  const {name} = options
  requireName('peer', name)
  const texts = await readRepoTexts(options.root)
  const snapshot = await readSnapshot(options.location, options.env)
  const loadOptions: LoadOptions = {serverKeys: serverKeys(snapshotPublicValues(snapshot?.secrets))}
  const current = loadTexts(texts, loadOptions)
  if (current.declarations.Peer.some((p) => p.name === name) || current.declarations.invalid.Peer.has(name)) {
    throw new NexusError(
      'peer_exists',
      `a peer named ${name} is already declared`,
      `pick another name, or nexus peer remove ${name} first`,
    )
  }

  const node = options.node ?? uniqueNodeOf(current.declarations, options.interface)
  if (node === undefined) {
    const candidates = current.declarations.Node.filter((n) =>
      n.spec.wireguard?.interfaces.some((i) => i.name === options.interface),
    ).map((n) => n.name)
    if (candidates.length > 1) {
      throw new NexusError(
        'ambiguous_interface',
        `interface ${options.interface} exists on several nodes (${candidates.join(', ')})`,
        'pass --node to say which one',
      )
    }
  }
  const keys = options.publicKey === undefined ? generateWireguardKeyPair() : undefined
  const publicKey = options.publicKey ?? keys?.publicKey ?? ''
  const requested = options.addresses ?? []
  const fields = (address: readonly string[]): Fields => [
    ['apiVersion', API_VERSION],
    ['kind', 'Peer'],
    ['name', name],
    ['user', options.user],
    ['node', node],
    ['interface', options.interface],
    ['publicKey', publicKey],
    ['address', address.length === 0 ? undefined : address.length === 1 ? address[0] : [...address]],
    ['allowedIPs', options.allowedIPs && options.allowedIPs.length > 0 ? [...options.allowedIPs] : undefined],
  ]
  const place = (document: string) =>
    placeDeclaration('Peer', name, document, texts, current.declarations.Peer, {
      folder: 'peers',
      sameGroup: (declared) =>
        declared.kind === 'Peer' &&
        (declared as Declared<'Peer'>).spec.interface === options.interface &&
        ((declared as Declared<'Peer'>).spec.node ?? uniqueNodeOf(current.declarations, options.interface)) === node,
    })

  // 1. The peer as asked (addresses not pinned yet): does the repo validate with it?
  const draft = place(declarationText(fields(requested)))
  const drafted = validateChange(texts, [draft], loadOptions, `peer create ${name}`)
  const draftPeer = drafted.desired.peers.find((p) => p.name === name)
  if (!draftPeer) throw new Error(`bug: peer ${name} is missing from the validated repo`)

  // 2. Addresses: the plan's allocator against state (previous allocations, tombstones), the others kept where they are.
  const addresses = allocateNewPeer(drafted.desired, current.desired, snapshot, draftPeer, options.now)
  const pinned = addresses.map(formatAddress)

  // 3. The peer with its addresses pinned, so the config printed now stays valid.
  const edit = place(declarationText(fields(pinned)))
  const final = validateChange(texts, [edit], loadOptions, `peer create ${name}`)
  const peer = final.desired.peers.find((p) => p.name === name)
  if (!peer) throw new Error(`bug: peer ${name} is missing from the validated repo`)

  const message = `nexus: add peer ${name} (${peer.interface} on ${peer.node})`
  await preflightCommit(options.root, options.commit, [edit])
  await preflightApply(options.root, options.apply)

  // 4. The gateway's key: the config names it, so it must be the one apply will deploy. One the
  //    interface lacks is generated here and recorded in state only once the repo file is written
  //    (which is put back if that fails): a command that fails changes neither the repo nor the state.
  const serverKeyId = `node/${peer.node}/wireguard/${peer.interface}`
  const serverKeyRecorded = !snapshot?.secrets.has(serverKeyId)
  const clientConfig = (state: StateSnapshot | undefined): {config: string; serverKey?: ServerKeyPair} => {
    const generated = generateRequested(missingValues(final.desired, state))
    const values = planState({desired: final.desired, snapshot: state, generated, now: options.now}).values
    const pair = generated.secrets.get(serverKeyId)
    return {
      config: renderClientConfig(new Fleet(final.desired, values), peer, keys?.privateKey),
      ...(pair?.publicValue ? {serverKey: {privateKey: pair.value, publicKey: pair.publicValue}} : {}),
    }
  }
  const first = clientConfig(snapshot)
  const serverKey = first.serverKey
  let config = first.config
  if (serverKeyRecorded && !serverKey) throw new Error(`bug: no gateway key generated for ${serverKeyId}`)

  await writeRepoFiles(options.root, [edit])
  if (serverKeyRecorded && serverKey) {
    let state: StateSnapshot
    try {
      state = await recordServerKey(options, peer, serverKey)
    } catch (error) {
      const before = texts.find((text) => text.path === edit.path)
      await writeRepoFiles(options.root, [{path: edit.path, content: before?.text ?? null}])
      throw error
    }
    // Another writer recorded a key first: the config names the one in state.
    if (state.secrets.get(serverKeyId)?.publicValue !== serverKey.publicKey) config = clientConfig(state).config
  }
  // From here on the private key exists only in the result: failures are reported in it, not thrown.
  let committed: CommitResult | null = null
  let commitError: PeerCreated['commitError']
  if (options.commit) {
    try {
      committed = await commitFiles(options.root, [edit.path], message)
    } catch (error) {
      if (!(error instanceof NexusError)) throw error
      commitError = {code: error.code, message: error.message, ...(error.hint ? {hint: error.hint} : {})}
    }
  }
  const applied = options.apply && !commitError ? await applyOneNode(options, peer.node, options.apply) : null
  return {
    ...(commitError ? {commitError} : {}),
    peer: Object.fromEntries(fields(pinned).filter(([, value]) => value !== undefined)),
    node: peer.node,
    addresses: pinned,
    config,
    privateKeyGenerated: keys !== undefined,
    file: edit.path,
    appended: edit.appended,
    serverKeyRecorded,
    committed,
    applied,
  }
}

/** The node that has an interface of this name, when exactly one has. */
function uniqueNodeOf(set: DeclarationSet, iface: string): string | undefined {
  const nodes = set.Node.filter((node) => node.spec.wireguard?.interfaces.some((i) => i.name === iface))
  return nodes.length === 1 ? nodes[0]?.name : undefined
}

/**
 * The new peer's addresses, as the next plan would allocate them, with every
 * other peer of the interface kept at the address it has now (so the new one
 * never pushes an unpinned peer to another address). Addresses the user asked
 * for are checked against those, and against state: held by another peer,
 * or released and still in quarantine.
 */
function allocateNewPeer(
  desired: Desired,
  before: Desired | undefined,
  snapshot: StateSnapshot | undefined,
  peer: Peer,
  now: Date,
): IpAddress[] {
  const sameInterface = (p: Peer) => p.name !== peer.name && p.node === peer.node && p.interface === peer.interface
  const current = before
    ? planState({desired: before, snapshot, generated: generateRequested(missingValues(before, snapshot)), now}).values
        .addresses
    : new Map<string, readonly IpAddress[]>()
  const holders = new Map<string, string>()
  for (const other of desired.peers.filter(sameInterface)) {
    for (const address of current.get(other.name) ?? other.addresses) holders.set(ipKey(address), other.name)
  }
  const quarantineMs = desired.project.state.quarantineDays * 86_400_000
  for (const row of snapshot?.allocations ?? []) {
    if (row.node !== peer.node || row.iface !== peer.interface || row.peer === peer.name) continue
    const ip = parseIp(row.address)
    if (!ip) continue
    if (row.state === 'active' && !holders.has(ipKey(ip))) holders.set(ipKey(ip), `${row.peer} (in state)`)
    if (row.state === 'tombstone' && row.releasedAt && row.releasedAt.getTime() + quarantineMs > now.getTime()) {
      for (const address of peer.addresses) {
        if (ipKey(address) !== ipKey(ip)) continue
        throw new NexusError(
          'address_quarantined',
          `${row.address} was released by peer ${row.peer} and is quarantined until ${new Date(row.releasedAt.getTime() + quarantineMs).toISOString()}`,
          'an old client config may still use it; omit --address to get a free one',
        )
      }
    }
  }
  for (const address of peer.addresses) {
    const holder = holders.get(ipKey(address))
    if (holder) {
      throw new NexusError(
        'address_in_use',
        `${formatAddress(address)} is already used by peer ${holder} on ${peer.node}/${peer.interface}`,
        'omit --address to get a free one',
      )
    }
  }
  const held = {
    ...desired,
    peers: desired.peers.map((p) => {
      const now = current.get(p.name)
      return sameInterface(p) && now && now.length > 0 ? {...p, addresses: now} : p
    }),
  }
  const planned = planState({
    desired: held,
    snapshot,
    generated: generateRequested(missingValues(held, snapshot)),
    now,
  })
  const addresses = [...(planned.values.addresses.get(peer.name) ?? [])]
  const iface = desired.nodes.find((n) => n.name === peer.node)?.interfaces.find((i) => i.name === peer.interface)
  for (const cidr of iface?.addresses ?? []) {
    if (!addresses.some((a) => a.family === cidr.family)) {
      throw new NexusError(
        'address_pool_exhausted',
        `no free IPv${cidr.family} address is left on ${peer.node}/${peer.interface}`,
        'remove peers no longer used (their addresses free up after the quarantine), or use a larger prefix',
      )
    }
  }
  return addresses
}

interface ServerKeyPair {
  readonly privateKey: string
  readonly publicKey: string
}

/**
 * Records the key pair of the peer's gateway interface (unless another
 * writer got there first) and returns the state as it is then.
 */
async function recordServerKey(
  options: {location: StateLocation; env: NodeJS.ProcessEnv; notice?: (text: string) => void},
  peer: Peer,
  pair: ServerKeyPair,
): Promise<StateSnapshot> {
  const store = await openState(options.location, {
    mode: 'write',
    env: options.env,
    ...(options.notice ? {notice: options.notice} : {}),
  })
  if (!store) throw new NexusError('no_state', 'the state could not be opened')
  try {
    const scope = `node/${peer.node}`
    const name = `wireguard/${peer.interface}`
    if (!(await store.snapshot()).secrets.has(`${scope}/${name}`)) {
      await store.write(
        {
          secrets: [{scope, name, value: pair.privateKey, publicValue: pair.publicKey}],
          audit: [
            {action: 'peer_create', subject: `peer/${peer.name}`, details: {recordedKey: `${peer.node}/${name}`}},
          ],
        },
        {actor: actorFrom(options.env)},
      )
    }
    return await store.snapshot()
  } finally {
    await store.close()
  }
}

// ---------------------------------------------------------------- peer remove

export interface RemovePeerOptions {
  readonly root: string
  readonly location: StateLocation
  readonly env: NodeJS.ProcessEnv
  readonly now: Date
  readonly name: string
  readonly commit: boolean
  readonly apply?: ApplyRequest
}

export interface PeerRemoved {
  readonly peer: string
  readonly node: string
  readonly interface: string
  readonly file: string
  /** The whole file went (the peer was its only declaration), rather than one document of it. */
  readonly fileDeleted: boolean
  /** What the peer holds now; the next apply releases them into quarantine. */
  readonly addresses: string[]
  readonly quarantineDays: number
  readonly committed: CommitResult | null
  readonly applied: ApplySummary | null
}

export async function removePeer(options: RemovePeerOptions): Promise<PeerRemoved> {
  const texts = await readRepoTexts(options.root)
  const snapshot = await readSnapshot(options.location, options.env)
  const loadOptions: LoadOptions = {serverKeys: serverKeys(snapshotPublicValues(snapshot?.secrets))}
  const current = loadTexts(texts, loadOptions)
  const declared = findDeclared(current, 'Peer', options.name)
  const file = declared.doc.file
  const text = texts.find((f) => f.path === file)?.text ?? ''
  const content = removeDocument(text, declared.doc.index)
  const edit: FileEdit = {path: file, content}
  const changed = validateChange(texts, [edit], loadOptions, `peer remove ${options.name}`)
  const peer = current.desired?.peers.find((p) => p.name === options.name)
  const node = peer?.node ?? declared.spec.node ?? uniqueNodeOf(current.declarations, declared.spec.interface) ?? ''

  await preflightCommit(options.root, options.commit, [edit])
  await preflightApply(options.root, options.apply)
  const held = heldAddresses(options.name, snapshot, peer)
  const committed = await writeEdits(
    {root: options.root, commit: options.commit, message: `nexus: remove peer ${options.name}`},
    [edit],
  )
  const applied = options.apply && node !== '' ? await applyOneNode(options, node, options.apply) : null
  return {
    peer: options.name,
    node,
    interface: declared.spec.interface,
    file,
    fileDeleted: content === null,
    addresses: held,
    quarantineDays: changed.desired.project.state.quarantineDays,
    committed,
    applied,
  }
}

/** The declared document of a kind and name, or a clear error. */
export function findDeclared<K extends Kind>(inventory: Inventory, kind: K, name: string): Declared<K> {
  const list = inventory.declarations[kind] as Declared<K>[]
  const found = list.find((d) => d.name === name)
  if (found) return found
  if (inventory.declarations.invalid[kind].has(name)) {
    throw new NexusError(
      'invalid_declaration',
      `${kind} ${name} is declared, but its document does not validate, so nexus will not edit it`,
      'run nexus validate and fix it, or edit the file by hand',
    )
  }
  throw unknownName(
    kind.toLowerCase(),
    name,
    list.map((d) => d.name),
  )
}

/** Addresses a peer has: active allocations in state, else the ones pinned in YAML. */
function heldAddresses(name: string, snapshot: StateSnapshot | undefined, peer: Peer | undefined): string[] {
  const rows = (snapshot?.allocations ?? []).filter((row) => row.peer === name && row.state === 'active')
  if (rows.length > 0) return rows.sort((a, b) => a.family - b.family).map((row) => row.address)
  return (peer?.addresses ?? []).map(formatAddress)
}

/**
 * A peer's addresses as they stand: per family, the one pinned in YAML, else
 * the one state allocated (an address the next apply would allocate is not
 * one yet). `pinned` when all of them are written in YAML.
 */
export function peerAddresses(
  peer: Peer,
  snapshot: StateSnapshot | undefined,
): {addresses: string[]; source: 'pinned' | 'allocated' | 'unallocated'} {
  const rows = (snapshot?.allocations ?? []).filter(
    (row) => row.peer === peer.name && row.state === 'active' && row.node === peer.node && row.iface === peer.interface,
  )
  const byFamily = new Map<number, {address: string; pinned: boolean}>()
  for (const row of rows) byFamily.set(row.family, {address: row.address, pinned: false})
  for (const address of peer.addresses) byFamily.set(address.family, {address: formatAddress(address), pinned: true})
  const list = [...byFamily].sort(([a], [b]) => a - b).map(([, entry]) => entry)
  return {
    addresses: list.map((entry) => entry.address),
    source: list.length === 0 ? 'unallocated' : list.every((entry) => entry.pinned) ? 'pinned' : 'allocated',
  }
}

// ---------------------------------------------------------------- peer list / show

export type LiveState = 'present' | 'not_on_node' | 'interface_absent' | 'unreachable' | 'error' | 'not_read'

export interface PeerLive {
  readonly state: LiveState
  /** ISO time of the latest handshake; null when there was none. */
  readonly latestHandshake: string | null
  readonly endpoint: string | null
  /** Bytes the gateway received from the device (its upload). */
  readonly rxBytes: number | null
  /** Bytes the gateway sent to the device (its download). */
  readonly txBytes: number | null
  readonly error?: string
}

export interface PeerEntry {
  readonly name: string
  readonly user: string | null
  readonly node: string
  readonly interface: string
  readonly publicKey: string
  readonly addresses: string[]
  /** pinned: all written in YAML; allocated: (some) held in state; unallocated: the next apply assigns them. */
  readonly addressSource: 'pinned' | 'allocated' | 'unallocated'
  readonly enabled: boolean
  /** Whether the node's config carries it: enabled, and its user (if any) let in by their subscription. */
  readonly active: boolean
  readonly tunnel: 'full' | 'split'
  readonly allowedIPs: string[]
  readonly file: string
  readonly live: PeerLive | null
}

export interface PeerListResult {
  readonly offline: boolean
  readonly peers: PeerEntry[]
  readonly warnings: string[]
}

export interface ListPeersOptions {
  readonly root: string
  readonly location: StateLocation
  readonly env: NodeJS.ProcessEnv
  readonly now: Date
  readonly offline: boolean
  readonly transport: NodeTransport
  readonly node?: string
  readonly user?: string
}

interface RepoState {
  readonly inventory: Inventory & {desired: Desired}
  readonly snapshot: StateSnapshot | undefined
  readonly values: StateValues
  readonly fleet: Fleet
}

async function loadRepoState(options: {
  root: string
  location: StateLocation
  env: NodeJS.ProcessEnv
  now: Date
}): Promise<RepoState> {
  const snapshot = await readSnapshot(options.location, options.env)
  const inventory = loadTexts(await readRepoTexts(options.root), {
    serverKeys: serverKeys(snapshotPublicValues(snapshot?.secrets)),
  })
  if (!inventory.desired) {
    const errors = inventory.diagnostics.filter((d) => d.severity === 'error').length
    throw new NexusError(
      'invalid_declarations',
      `the declarations have ${errors} error${errors === 1 ? '' : 's'}`,
      'run nexus validate',
    )
  }
  const values = stateValues(inventory.desired, snapshot, options.now)
  return {
    inventory: inventory as Inventory & {desired: Desired},
    snapshot,
    values,
    fleet: new Fleet(inventory.desired, values),
  }
}

function peerEntry(repo: RepoState, peer: Peer, live: PeerLive | null): PeerEntry {
  const {snapshot, fleet} = repo
  const node = fleet.nodes.get(peer.node)
  const iface = node?.interfaces.find((i) => i.name === peer.interface)
  const active = node && iface ? fleet.peersOn(node, iface).some((on) => on.peer.name === peer.name) : false
  const {addresses, source} = peerAddresses(peer, snapshot)
  const declared = repo.inventory.declarations.Peer.find((d) => d.name === peer.name)
  return {
    name: peer.name,
    user: peer.user ?? null,
    node: peer.node,
    interface: peer.interface,
    publicKey: peer.publicKey,
    addresses,
    addressSource: source,
    enabled: peer.enabled,
    active,
    tunnel: peer.tunnel,
    allowedIPs: peer.allowedIPs.map(formatNetwork),
    file: declared?.doc.file ?? '',
    live,
  }
}

export async function listPeers(options: ListPeersOptions): Promise<PeerListResult> {
  const repo = await loadRepoState(options)
  const {desired} = repo.inventory
  if (options.node !== undefined && !desired.nodes.some((n) => n.name === options.node)) {
    throw unknownName(
      'node',
      options.node,
      desired.nodes.map((n) => n.name),
    )
  }
  if (options.user !== undefined && !desired.users.some((u) => u.name === options.user)) {
    throw unknownName(
      'user',
      options.user,
      desired.users.map((u) => u.name),
    )
  }
  const peers = desired.peers
    .filter(
      (p) =>
        (options.node === undefined || p.node === options.node) &&
        (options.user === undefined || p.user === options.user),
    )
    .sort((a, b) => (a.node !== b.node ? (a.node < b.node ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const warnings: string[] = []
  const live = options.offline ? undefined : await readLive(options, repo, peers, warnings)
  return {
    offline: options.offline,
    peers: peers.map((peer) => peerEntry(repo, peer, live ? (live.get(peer.name) ?? null) : null)),
    warnings,
  }
}

/** `wg show dump` of every node the peers are on, in one observation per node; nothing is recorded. */
async function readLive(
  options: ListPeersOptions,
  repo: RepoState,
  peers: readonly Peer[],
  warnings: string[],
): Promise<Map<string, PeerLive>> {
  const names = new Set(peers.map((p) => p.node))
  const nodes = repo.inventory.desired.nodes.filter((n) => names.has(n.name))
  const hostKeys: HostKeyStore = {
    get: async (node) => repo.snapshot?.hostKeys.get(node),
    record: async (node) => {
      warnings.push(`${node}: host key seen for the first time; peer list does not record it (the next apply does)`)
    },
  }
  const targets = nodes.filter((n) => n.status !== 'disabled')
  for (const node of nodes.filter((n) => n.status === 'disabled')) warnings.push(`${node.name}: disabled, not read`)
  const observations = new Map(
    (await observeNodes(options.transport, targets, {connect: {hostKeys}})).map((o) => [o.node, o]),
  )
  const live = new Map<string, PeerLive>()
  const none = {latestHandshake: null, endpoint: null, rxBytes: null, txBytes: null}
  for (const peer of peers) {
    const observation = observations.get(peer.node)
    if (!observation) {
      live.set(peer.name, {state: 'not_read', ...none})
      continue
    }
    if (!observation.reachable) {
      live.set(peer.name, {state: 'unreachable', ...none, error: observation.error.message})
      continue
    }
    const wg = observation.wireguard[peer.interface]
    if (!wg || wg.state === 'absent') {
      live.set(peer.name, {state: 'interface_absent', ...none})
      continue
    }
    if (wg.state === 'error') {
      live.set(peer.name, {state: 'error', ...none, error: wg.message})
      continue
    }
    const found = wg.dump.peers.find((p) => p.publicKey === peer.publicKey)
    if (!found) {
      live.set(peer.name, {state: 'not_on_node', ...none})
      continue
    }
    live.set(peer.name, {
      state: 'present',
      latestHandshake: found.latestHandshake > 0 ? new Date(found.latestHandshake * 1000).toISOString() : null,
      endpoint: found.endpoint,
      rxBytes: found.rxBytes,
      txBytes: found.txBytes,
    })
  }
  for (const observation of observations.values()) {
    if (!observation.reachable) warnings.push(`${observation.node}: unreachable: ${observation.error.message}`)
  }
  return live
}

export interface ShowPeerOptions {
  readonly root: string
  readonly location: StateLocation
  readonly env: NodeJS.ProcessEnv
  readonly now: Date
  readonly name: string
  /** Render the device's wg-quick file (private key as a placeholder). */
  readonly config: boolean
}

export interface PeerShown extends PeerEntry {
  /** The wg-quick file with a placeholder for the private key; null unless asked for. */
  readonly config: string | null
  /** True when the config holds values generated for this display only (no state yet). */
  readonly preview: boolean
}

export async function showPeer(options: ShowPeerOptions): Promise<PeerShown> {
  const repo = await loadRepoState(options)
  const peer = repo.inventory.desired.peers.find((p) => p.name === options.name)
  if (!peer) {
    throw unknownName(
      'peer',
      options.name,
      repo.inventory.desired.peers.map((p) => p.name),
    )
  }
  // Only the gateway's key comes from state in a client config: without it the config is a preview.
  const preview = !repo.snapshot?.secrets.has(`node/${peer.node}/wireguard/${peer.interface}`)
  const config = options.config
    ? renderClientConfig(new Fleet(repo.inventory.desired, {...repo.values, preview}), peer)
    : null
  return {...peerEntry(repo, peer, null), config, preview}
}
