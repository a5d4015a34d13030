/**
 * One node's part of an apply (design.md §4, perf-reliability.md §7.5):
 * upload to staging paths, check with the node's own tools, swap atomically
 * keeping the previous files, activate each artifact the cheapest safe way,
 * confirm a new firewall over a fresh SSH connection, then read the node back.
 * Any failure after the swap puts the previous files back and reloads them.
 */
import {wireguardPublicKey} from '../crypto/keys.js'
import {NexusError} from '../errors.js'
import type {Node} from '../model/desired.js'
import {emailSetHash, observedWireguardKey, observedXrayKey, peerSetHash, sha256} from '../plan/hashes.js'
import {artifactHashes, digestFile, observedHashes} from '../plan/node-plan.js'
import type {ArtifactChange} from '../plan/types.js'
import type {RenderedFile} from '../render/types.js'
import type {NodeObservation} from '../transport/observation.js'
import {observeNode} from '../transport/observe.js'
import {readRemoteFiles} from '../transport/read-files.js'
import {sh} from '../transport/shell.js'
import {execSteps, lastLines, type Step} from '../transport/steps.js'
import type {NodeConnection} from '../transport/types.js'
import {
  absent,
  armWatchdogScript,
  type CheckSpec,
  checkScript,
  discardStagedScript,
  disarmWatchdogScript,
  fillCommand,
  markerScript,
  parseChecks,
  previous,
  restoreScript,
  swapScript,
  uploadScript,
  wireguardCommand,
} from './remote.js'

export type NodeStep = 'upload' | 'check' | 'swap' | 'activate' | 'confirm' | 'verify' | 'rollback'

export interface NodeApplyInput {
  readonly node: Node
  readonly connection: NodeConnection
  /** A new SSH connection, for confirming a firewall change. */
  readonly reconnect: () => Promise<NodeConnection>
  readonly artifacts: readonly ArtifactChange[]
  /** The node's rendered files (those with a target). */
  readonly files: readonly RenderedFile[]
  /**
   * The peers the plan puts on each WireGuard interface (from the model, not
   * counted in a file): the on-node check holds the uploaded file to it.
   * Without it (a rollback re-pushing a revision's files) the count is the
   * file's own.
   */
  readonly plannedPeers?: ReadonlyMap<string, number>
  readonly revision: number
  readonly commit: string | null
  readonly confirmTimeoutSec: number
  readonly progress: (step: NodeStep, status: 'started' | 'done' | 'skipped', detail?: string) => void
  /** Set on SIGINT: nodes not yet swapped stop; swapped ones finish. */
  readonly interrupted: () => boolean
  /** True once the apply lease is no longer this apply's: as interrupted, nodes not yet swapped stop. */
  readonly leaseLost?: () => boolean
  readonly now: Date
}

export type NodeApplyOutcome =
  | {
      readonly status: 'verified' | 'diverged'
      readonly hashes: Record<string, string>
      readonly divergences: readonly string[]
      readonly notes: readonly string[]
    }
  | {
      readonly status: 'failed'
      readonly step: NodeStep
      readonly error: {readonly code: string; readonly message: string}
      readonly rolledBack: boolean
      readonly notes: readonly string[]
    }

const ORDER = (artifact: string) =>
  artifact.startsWith('wireguard/') ? 0 : artifact === 'nftables' ? 1 : artifact === 'xray' ? 2 : 3

export async function applyNode(input: NodeApplyInput): Promise<NodeApplyOutcome> {
  const {node, connection, progress} = input
  const notes: string[] = []
  const byPath = new Map(input.files.flatMap((f) => (f.target ? [[f.target.path, f] as const] : [])))
  const artifacts = [...input.artifacts].sort((a, b) => ORDER(artifactOf(a)) - ORDER(artifactOf(b)))
  // Files already in place (a live-state drift, or a swap an earlier apply did not activate) are only reloaded.
  const inPlace = new Set(['live_state_drifted', 'not_activated'])
  const writes = artifacts.filter((a) => a.action !== 'delete' && !inPlace.has(a.reason))
  const removes = artifacts.filter((a) => a.action === 'delete')
  const swapped = [...writes, ...removes].map((a) => a.path)
  let step: NodeStep = 'upload'
  let swappedYet = false
  // The firewall's confirmation over a new connection, running while the remaining services reload.
  let confirming: Promise<void> | undefined

  const fail = async (error: unknown): Promise<NodeApplyOutcome> => {
    await confirming?.catch(() => {})
    const problem = describeError(error)
    let rolledBack = false
    if (swappedYet) {
      progress('rollback', 'started')
      try {
        await rollback(input, artifacts, swapped)
        rolledBack = true
        progress('rollback', 'done')
      } catch (rollbackError) {
        notes.push(`rollback failed: ${describeError(rollbackError).message}`)
      }
    } else {
      await run(connection, discardStagedScript(swapped)).catch(() => {})
    }
    return {status: 'failed', step, error: problem, rolledBack, notes}
  }

  try {
    // 1. Upload and 2. check, in one round trip.
    if (writes.length > 0) {
      const checks = writes.map((a) => checkOf(input, a, byPath.get(a.path)))
      const upload = uploadScript(
        writes.map((a) => {
          const file = byPath.get(a.path)
          if (!file) throw new Error(`bug: no rendered file for ${a.path}`)
          return {path: a.path, content: file.content, mode: file.mode}
        }),
      )
      progress('upload', 'started', `${writes.length} file(s)`)
      progress('check', 'started')
      const outcome = await execSteps(connection, [
        {id: 'upload', what: 'uploading the files', ...upload},
        {id: 'check', what: 'checking the files', script: checkScript(checks)},
      ])
      if (!outcome.ok && outcome.failed.id === 'upload') throw new NexusError('remote_command_failed', outcome.message)
      progress('upload', 'done')
      step = 'check'
      const checked = parseChecks(outcome.sections.get('check')?.stdout ?? '', checks)
      for (const skipped of checked.filter((o) => o.status === 'skipped')) {
        notes.push(`${skipped.artifact}: not checked on the node (its tool is not installed)`)
      }
      const failed = checked.filter((o) => o.status === 'failed')
      if (failed.length > 0) {
        throw new NexusError(
          'check_failed',
          failed.map((o) => `${o.artifact}: ${o.detail || 'rejected'}`).join('; '),
          'the previous files stay in place; fix the declaration or the node and apply again',
        )
      }
      progress('check', 'done')
    }
    if (input.interrupted()) throw new NexusError('interrupted', 'interrupted before the files were swapped')
    if (input.leaseLost?.())
      throw new NexusError('lease_lost', 'the apply lease was lost before the files were swapped; nothing was swapped')

    // 3. Swap, 4. activate, 5. confirm the firewall: the swap and the reloads go in as few round trips as
    // the order allows; a step that fails ends its round trip, so nothing after it runs.
    step = 'swap'
    let pending: NodeStepScript[] = []
    if (swapped.length > 0) {
      progress('swap', 'started')
      swappedYet = true
      pending.push({
        id: 'swap',
        what: 'swapping the files in',
        as: 'swap',
        code: 'remote_command_failed',
        script: swapScript(
          writes.map((a) => a.path),
          removes.map((a) => a.path),
        ),
      })
    }
    progress('activate', 'started')
    const flush = async () => {
      if (pending.length === 0) return
      const steps = pending
      pending = []
      const outcome = await execSteps(connection, steps)
      if (outcome.sections.get('swap')?.exitCode === 0) progress('swap', 'done')
      if (!outcome.ok) {
        const failed = steps.find((s) => s.id === outcome.failed.id) as NodeStepScript
        step = failed.as
        throw new NexusError(failed.code, outcome.message, failed.code === 'reload_failed' ? RELOAD_HINT : undefined)
      }
      step = 'activate'
    }
    for (const change of artifacts) {
      const activation = activationOf(input, change, byPath.get(change.path), pending.length)
      if (activation.note) notes.push(activation.note)
      if (activation.xrayApi) {
        await flush()
        if (await updateXrayUsers(input, change, byPath.get(change.path))) continue
        notes.push('xray: restarted (its API could not apply the user changes)')
      }
      pending.push(...activation.steps)
      if (activation.firewall) {
        progress('confirm', 'started', `watchdog ${input.confirmTimeoutSec}s`)
        await flush()
        confirming = confirmFirewall(input)
        // Awaited below (or by fail); until then a rejection is not unhandled.
        confirming.catch(() => {})
      }
    }
    await flush()
    if (confirming) {
      step = 'confirm'
      await confirming
    }
    progress('activate', 'done')

    // The revision marker, then read the node back, in one round trip.
    step = 'verify'
    progress('verify', 'started')
    const marker = markerScript(node, {
      revision: input.revision,
      commit: input.commit,
      appliedAt: input.now.toISOString(),
      files: Object.fromEntries(input.files.flatMap((f) => (f.target ? [[f.target.path, sha256(f.content)]] : []))),
    })
    const observation = await observeNode(connection, node, {
      before: [
        {id: 'marker', what: 'writing the revision marker', ...marker},
        // Activated: the "did not exist before" markers have served their purpose (the previous files stay).
        ...(swapped.length > 0
          ? [
              {
                id: 'unmark',
                what: 'removing the swap markers',
                script: swapped.map((path) => sh`rm -f -- ${absent(path)}`).join('\n'),
              },
            ]
          : []),
      ],
    })
    const divergences = verify(input.files, observation)
    progress('verify', 'done', divergences.length === 0 ? 'verified' : `${divergences.length} difference(s)`)
    return {
      status: divergences.length === 0 ? 'verified' : 'diverged',
      // A diverged node's revision records the live state it should have (not the wrong one it
      // reported), so the next plan sees the drift and puts it right.
      hashes: {
        ...artifactHashes(input.files.map(digestFile)),
        ...observedHashes(observation),
        ...(divergences.length > 0 ? intendedLiveHashes(input.files) : {}),
      },
      divergences,
      notes,
    }
  } catch (error) {
    return fail(error)
  }
}

function artifactOf(change: ArtifactChange): string {
  return change.address.slice(`node.${change.node}/`.length)
}

/** The peers the plan puts on an interface; the file's own count where the plan does not say. */
function plannedPeers(input: NodeApplyInput, iface: string, file: RenderedFile | undefined): number {
  return input.plannedPeers?.get(iface) ?? peerCount(file)
}

function peerCount(file: RenderedFile | undefined): number {
  return file?.content.match(/^\[Peer\]$/gm)?.length ?? 0
}

async function run(connection: NodeConnection, script: string, stdin?: string): Promise<string> {
  const result = await connection.exec(script, stdin === undefined ? {} : {stdin})
  if (result.exitCode !== 0) {
    throw new NexusError(
      'remote_command_failed',
      `${firstLine(script)} failed on node ${connection.node} (exit ${result.exitCode ?? result.signal}): ${lastLines(result.stderr || result.stdout)}`,
    )
  }
  return result.stdout
}

const RELOAD_HINT = 'the previous files were put back and reloaded; fix the node or its reload command and apply again'

/** A step of the swap and activation, and what its failure means for the node. */
interface NodeStepScript extends Step {
  readonly as: NodeStep
  readonly code: 'remote_command_failed' | 'reload_failed'
}

/** How one artifact is activated: steps for the round trip, a note, and whether more is needed. */
interface Activation {
  readonly steps: readonly NodeStepScript[]
  readonly note?: string
  /** Try xray's API first; `steps` is the restart to fall back on. */
  readonly xrayApi?: boolean
  /** The steps load a new firewall, which a new SSH connection must confirm. */
  readonly firewall?: boolean
}

const reloadStep = (id: string, what: string, script: string): NodeStepScript => ({
  id,
  what,
  script,
  as: 'activate',
  code: 'reload_failed',
})

/** Activates each artifact the cheapest safe way (design.md §4). `n` keeps step ids unique in a round trip. */
function activationOf(
  input: NodeApplyInput,
  change: ArtifactChange,
  file: RenderedFile | undefined,
  n: number,
): Activation {
  const {node} = input
  const artifact = artifactOf(change)
  const id = (name: string) => `${name}.${n}`
  if (artifact.startsWith('wireguard/')) {
    const iface = artifact.slice('wireguard/'.length)
    if (change.action === 'delete') {
      const down = fillCommand(node.reload.wireguardDown, {iface, file: change.path})
      return {steps: [reloadStep(id('wg'), `taking down ${iface}`, down)]}
    }
    // `wg syncconf` of a peerless file wipes the interface's key and peers (perf-reliability.md §0): restart instead.
    const restart = change.effect === 'interface_restart' || plannedPeers(input, iface, file) === 0
    const command = restart
      ? fillCommand(node.reload.wireguardRestart, {iface, file: change.path})
      : wireguardCommand(node.reload.wireguard, iface, change.path)
    return {
      steps: [reloadStep(id('wg'), restart ? `restarting ${iface}` : `syncing ${iface}`, command)],
      ...(restart && change.effect === 'wg_syncconf'
        ? {note: `${iface}: restarted instead of synced (no peers left)`}
        : {}),
    }
  }
  if (artifact === 'nftables') {
    // A deleted table file: load nothing new; the table stays until the node is reconfigured.
    if (change.action === 'delete')
      return {steps: [], note: 'nftables: the rules file was removed; the loaded table is left as it is'}
    return {
      firewall: true,
      steps: [
        {
          id: id('arm'),
          what: 'arming the firewall watchdog',
          as: 'confirm',
          code: 'remote_command_failed',
          script: armWatchdogScript(node, input.confirmTimeoutSec),
        },
        {
          id: id('nft'),
          what: 'loading the nftables ruleset',
          as: 'confirm',
          code: 'reload_failed',
          script: fillCommand(node.reload.nftables, {file: change.path}),
        },
      ],
    }
  }
  if (artifact === 'xray') {
    if (change.action === 'delete') return {steps: [], note: 'xray: its config was removed; xray itself was left alone'}
    const restart = reloadStep(id('xray'), 'restarting xray', fillCommand(node.reload.xray, {file: change.path}))
    return {steps: [restart], ...(change.effect === 'xray_api' ? {xrayApi: true} : {})}
  }
  return {steps: [reloadStep(id('dns'), 'restarting dnsmasq', fillCommand(node.reload.dnsmasq, {file: change.path}))]}
}

/** What the on-node check holds a staged file to. */
function checkOf(input: NodeApplyInput, change: ArtifactChange, file: RenderedFile | undefined): CheckSpec {
  const artifact = artifactOf(change)
  if (artifact.startsWith('wireguard/')) {
    const iface = artifact.slice('wireguard/'.length)
    return {artifact, kind: 'wireguard', path: change.path, iface, peers: plannedPeers(input, iface, file)}
  }
  if (artifact === 'nftables') return {artifact, kind: 'nftables', path: change.path}
  if (artifact === 'xray') return {artifact, kind: 'xray', path: change.path}
  return {artifact, kind: 'dns', path: change.path}
}

/** Runs a reload command on its own (rollback); its failure is an error. */
async function reload(connection: NodeConnection, what: string, command: string): Promise<void> {
  const result = await connection.exec(command)
  if (result.exitCode !== 0) {
    throw new NexusError(
      'reload_failed',
      `${what} on node ${connection.node} failed (exit ${result.exitCode ?? result.signal}): ${lastLines(result.stderr || result.stdout)}`,
      RELOAD_HINT,
    )
  }
}

/**
 * Confirms a firewall just loaded over a NEW SSH connection: an established
 * session survives rules that block new ones, so only a fresh login proves
 * Nexus can still get in. The watchdog armed with the load restores the
 * previous ruleset unless this disarms it in time.
 */
async function confirmFirewall(input: NodeApplyInput): Promise<void> {
  const {node, progress} = input
  let fresh: NodeConnection | undefined
  try {
    fresh = await input.reconnect()
    const answer = (await run(fresh, disarmWatchdogScript(node))).trim()
    if (answer !== 'confirmed') {
      throw new NexusError(
        'confirm_expired',
        `the firewall watchdog on ${node.name} fired before the change was confirmed`,
      )
    }
  } catch (error) {
    if (error instanceof NexusError && error.code === 'confirm_expired') throw error
    throw new NexusError(
      'confirm_failed',
      `after loading the new firewall, a new SSH connection to ${node.name} failed (${describeError(error).message}); the watchdog restores the previous ruleset`,
      'check the rules that apply to SSH; nexus always accepts ssh.port first, so look at the node itself',
    )
  } finally {
    await fresh?.close()
  }
  progress('confirm', 'done')
}

interface XrayConfigJson {
  readonly inbounds?: readonly {tag?: string; settings?: {clients?: {email?: string}[]}}[]
  readonly api?: unknown
}

/**
 * Adds and removes xray clients live through its API (HandlerService),
 * comparing the previous config with the new one. False when the API is not
 * there or refuses: the caller restarts xray instead.
 */
async function updateXrayUsers(
  input: NodeApplyInput,
  change: ArtifactChange,
  file: RenderedFile | undefined,
): Promise<boolean> {
  const {node, connection} = input
  const apiPort = node.xray?.apiPort
  if (!file || apiPort === undefined) return false
  const before = (await readRemoteFiles(connection, [previous(change.path)])).get(previous(change.path))
  if (!before) return false
  const old = parseXray(before)
  const next = parseXray(file.content)
  if (!old || !next) return false
  const server = `--server=127.0.0.1:${apiPort}`
  const commands: string[] = []
  const additions: {tag: string; protocol?: string; settings: {clients: unknown[]}}[] = []
  for (const inbound of next.inbounds ?? []) {
    if (!inbound.tag || inbound.tag === 'api-in') continue
    const previousInbound = old.inbounds?.find((i) => i.tag === inbound.tag)
    const had = new Map((previousInbound?.settings?.clients ?? []).map((c) => [c.email, c]))
    const has = new Map((inbound.settings?.clients ?? []).map((c) => [c.email, c]))
    const removed = [...had.keys()].filter((email) => email && !has.has(email)) as string[]
    const changed = [...has].filter(
      ([email, client]) => had.has(email) && JSON.stringify(had.get(email)) !== JSON.stringify(client),
    )
    const added = [...has].filter(([email]) => !had.has(email)).map(([, client]) => client)
    const gone = [...removed, ...changed.map(([email]) => email as string)]
    if (gone.length > 0) commands.push(sh`xray api rmu ${server} ${`-tag=${inbound.tag}`} ${gone}`)
    const toAdd = [...added, ...changed.map(([, client]) => client)]
    if (toAdd.length > 0)
      additions.push({...inbound, tag: inbound.tag, settings: {...inbound.settings, clients: toAdd}})
  }
  const addFile = `${change.path}.nexus-adu.json`
  const script = [
    'set -eu',
    'command -v xray >/dev/null 2>&1',
    ...commands,
    ...(additions.length > 0
      ? [
          sh`head -c ${Buffer.byteLength(JSON.stringify({inbounds: additions}))} > ${addFile}`,
          sh`xray api adu ${server} ${addFile}`,
          sh`rm -f -- ${addFile}`,
        ]
      : []),
  ].join('\n')
  const result = await connection.exec(
    script,
    additions.length > 0 ? {stdin: JSON.stringify({inbounds: additions})} : {},
  )
  return result.exitCode === 0
}

function parseXray(text: string): XrayConfigJson | undefined {
  try {
    return JSON.parse(text) as XrayConfigJson
  } catch {
    return undefined
  }
}

/** Puts the previous files back and reloads them, the firewall without a watchdog (it is the known-good one). */
async function rollback(
  input: NodeApplyInput,
  artifacts: readonly ArtifactChange[],
  paths: readonly string[],
): Promise<void> {
  const {node, connection} = input
  // A watchdog still waiting would later load a previous file that is no longer there.
  await run(connection, disarmWatchdogScript(node)).catch(() => {})
  await run(connection, restoreScript(paths))
  const problems: string[] = []
  for (const change of artifacts) {
    const artifact = artifactOf(change)
    try {
      if (artifact.startsWith('wireguard/')) {
        const iface = artifact.slice('wireguard/'.length)
        const command =
          change.action === 'create'
            ? fillCommand(node.reload.wireguardDown, {iface, file: change.path})
            : fillCommand(node.reload.wireguardRestart, {iface, file: change.path})
        await reload(connection, `restoring ${iface}`, command)
      } else if (artifact === 'nftables') {
        const command =
          change.action === 'create'
            ? 'nft delete table inet nexus 2>/dev/null || true'
            : fillCommand(node.reload.nftables, {file: change.path})
        await reload(connection, 'restoring the nftables ruleset', command)
      } else if (artifact === 'xray') {
        if (change.action !== 'create')
          await reload(connection, 'restoring xray', fillCommand(node.reload.xray, {file: change.path}))
      } else {
        await reload(connection, 'restoring dnsmasq', fillCommand(node.reload.dnsmasq, {file: change.path}))
      }
    } catch (error) {
      problems.push(describeError(error).message)
    }
  }
  if (problems.length > 0) throw new NexusError('rollback_failed', problems.join('; '))
}

/** What the node reports against what was rendered: files, WireGuard peers and key, the table, xray users. */
export function verify(files: readonly RenderedFile[], observation: NodeObservation): string[] {
  const problems: string[] = []
  for (const file of files) {
    if (!file.target) continue
    const seen = observation.files[file.target.path]
    if (seen?.state !== 'present' || seen.sha256 !== sha256(file.content)) {
      problems.push(`${file.target.path}: ${seen?.state === 'present' ? 'content differs' : 'missing'}`)
    }
    if (file.kind === 'wireguard') {
      const iface = file.target.artifact.slice('wireguard/'.length)
      const wg = observation.wireguard[iface]
      if (wg?.state !== 'present') {
        problems.push(`${iface}: the interface is ${wg?.state ?? 'unknown'}`)
        continue
      }
      const privateKey = /^PrivateKey = (.+)$/m.exec(file.content)?.[1]
      if (privateKey && wg.dump.publicKey !== wireguardPublicKey(privateKey))
        problems.push(`${iface}: runs another key`)
      if (wg.dump.peers.length > 0 || peerCount(file) > 0) {
        if (peerSetHash(wg.dump.peers) !== peerSetHash(renderedPeers(file.content)))
          problems.push(`${iface}: peers differ`)
      }
    }
    if (file.kind === 'nftables') {
      if (observation.nftables.state !== 'present') problems.push(`table inet nexus: ${observation.nftables.state}`)
      else problems.push(...missingNftables(file.content, observation.nftables.text))
    }
    if (file.kind === 'xray') {
      const config = parseXray(file.content)
      for (const inbound of config?.inbounds ?? []) {
        if (!inbound.tag || inbound.tag === 'api-in') continue
        const users = observation.xray[inbound.tag]
        if (users?.state !== 'available') continue
        const expected = (inbound.settings?.clients ?? []).flatMap((c) => (c.email ? [c.email] : []))
        if (emailSetHash(users.emails) !== emailSetHash(expected)) problems.push(`xray ${inbound.tag}: users differ`)
      }
    }
  }
  return problems
}

/**
 * The sets, chains and rule comments of the rendered table that the live
 * listing lacks. A table that exists proves little on its own: a stale or
 * hand-made one would pass; every rendered rule carries a comment, so the
 * comments stand for the rules.
 */
export function missingNftables(rendered: string, listing: string): string[] {
  const names = (text: string, pattern: RegExp) => new Set(Array.from(text.matchAll(pattern), (m) => m[1] ?? m[0]))
  const structure = /^\s*((?:set|map|chain) \S+) \{/gm
  const comments = /comment "(?:[^"\\]|\\.)*"/g
  const problems: string[] = []
  for (const [what, pattern] of [
    ['', structure],
    ['rule ', comments],
  ] as const) {
    const live = names(listing, pattern)
    const missing = [...names(rendered, pattern)].filter((name) => !live.has(name))
    if (missing.length > 0)
      problems.push(
        `table inet nexus: ${what}${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''} not loaded`,
      )
  }
  return problems
}

/** What `observedHashes` reports for a node that runs these files: WireGuard peer sets, xray users. */
function intendedLiveHashes(files: readonly RenderedFile[]): Record<string, string> {
  const hashes: Record<string, string> = {}
  for (const file of files) {
    if (file.target && file.kind === 'wireguard')
      hashes[observedWireguardKey(file.target.artifact.slice('wireguard/'.length))] = peerSetHash(
        renderedPeers(file.content),
      )
    if (file.kind === 'xray') {
      for (const inbound of parseXray(file.content)?.inbounds ?? []) {
        if (!inbound.tag || inbound.tag === 'api-in') continue
        hashes[observedXrayKey(inbound.tag)] = emailSetHash(
          (inbound.settings?.clients ?? []).flatMap((c) => (c.email ? [c.email] : [])),
        )
      }
    }
  }
  return hashes
}

function renderedPeers(content: string): {publicKey: string; allowedIPs: string[]}[] {
  return content
    .split(/^\[Peer\]$/m)
    .slice(1)
    .map((section) => ({
      publicKey: /^PublicKey = (.+)$/m.exec(section)?.[1] ?? '',
      allowedIPs: (/^AllowedIPs = (.+)$/m.exec(section)?.[1] ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    }))
}

function describeError(error: unknown): {code: string; message: string} {
  if (error instanceof NexusError) return {code: error.code, message: error.message}
  return {code: 'internal_error', message: error instanceof Error ? error.message : String(error)}
}

function firstLine(text: string): string {
  return (text.split('\n').find((line) => line.trim() !== '' && !line.startsWith('set ')) ?? text).slice(0, 80)
}
