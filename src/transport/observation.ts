/**
 * Node observation, the pure half: which probes a node gets, the one bash
 * script that runs them all in a single round trip, and the parser of its
 * output. observe.ts does the I/O.
 *
 * The script prints every probe as a section framed by marker lines that
 * carry a random nonce, so no file or tool output can fake a boundary:
 *
 *     @@nexus:NONCE:out:ID@@      then the probe's stdout, byte for byte
 *     @@nexus:NONCE:err:ID@@      then its stderr
 *     @@nexus:NONCE:end:ID:CODE@@ its exit code
 *     ...
 *     @@nexus:NONCE:done@@        the script reached its end
 *
 * Every probe tolerates failure: a missing file, interface, table or tool is
 * a value in the result, never an error of the whole observation. Secrets
 * stay out: the node replaces the private and preshared keys of `wg show
 * dump` before printing, the parser drops those columns anyway, and xray
 * accounts (UUIDs, passwords) are reduced to e-mails.
 */
import {createHash} from 'node:crypto'

import {NexusError} from '../errors.js'
import type {Node} from '../model/desired.js'
import {type ManagedFile, managedFiles, markerPath} from '../model/node-files.js'
import {
  ABSENT,
  assertNonce,
  firstLines,
  PROBE_PRELUDE,
  type Section,
  splitSections,
  UNAVAILABLE,
  XRAY_TIMEOUT_S,
  xrayUnavailable,
} from './probe.js'
import {shellQuote, sh} from './shell.js'

// ---------------------------------------------------------------- the result

/** A probe that ran but failed (permission denied, tool missing, odd output). */
export interface ProbeError {
  readonly state: 'error'
  readonly exitCode: number
  readonly message: string
}

export type MarkerObservation =
  | {readonly state: 'absent'}
  | {readonly state: 'present'; readonly value: unknown}
  /** The file exists but is not JSON; `raw` is its start. */
  | {readonly state: 'invalid'; readonly error: string; readonly raw: string}
  | ProbeError

export type FileObservation = {readonly artifact: string; readonly path: string} & (
  {readonly state: 'present'; readonly sha256: string} | {readonly state: 'absent'} | ProbeError
)

export interface WireguardPeerObservation {
  readonly publicKey: string
  /** Whether the peer has a preshared key; the key itself is never read. */
  readonly presharedKey: boolean
  /** `host:port` last seen, or null. */
  readonly endpoint: string | null
  /** Sorted. */
  readonly allowedIPs: readonly string[]
  /** Unix seconds of the latest handshake; 0 = never. */
  readonly latestHandshake: number
  readonly rxBytes: number
  readonly txBytes: number
  /** Seconds, or null when off. */
  readonly persistentKeepalive: number | null
}

export interface WireguardDump {
  readonly publicKey: string
  readonly listenPort: number
  /** null when off. */
  readonly fwmark: string | null
  /** Sorted by public key. */
  readonly peers: readonly WireguardPeerObservation[]
}

export type WireguardObservation =
  | {readonly state: 'absent'}
  /** `up` is the link's IFF_UP flag; null when /sys/class/net is not readable. */
  | {readonly state: 'present'; readonly up: boolean | null; readonly dump: WireguardDump}
  | ProbeError

export type NftablesObservation =
  | {readonly state: 'absent'}
  /** `nft -s list table inet nexus` (stateless: no counter values), and its sha256. */
  | {readonly state: 'present'; readonly text: string; readonly sha256: string}
  | ProbeError

export type XrayUsersObservation =
  | {readonly state: 'available'; readonly emails: readonly string[]}
  | {readonly state: 'unavailable'; readonly reason: string}

export interface NodeObservation {
  readonly node: string
  readonly reachable: true
  /** `<paths.state>/revision.json`. */
  readonly marker: MarkerObservation
  /** Every file Nexus manages on the node, by its path there. */
  readonly files: Readonly<Record<string, FileObservation>>
  /** By interface name. */
  readonly wireguard: Readonly<Record<string, WireguardObservation>>
  readonly nftables: NftablesObservation
  /** By inbound tag; empty when the node has no xray. */
  readonly xray: Readonly<Record<string, XrayUsersObservation>>
  /**
   * sha256 (hex) of the canonical JSON of the configuration-bearing part of
   * the above; see `fingerprintView` for what is left out and why.
   */
  readonly fingerprint: string
}

// ---------------------------------------------------------------- the plan

export interface ObservationPlan {
  readonly node: string
  readonly markerPath: string
  readonly files: readonly ManagedFile[]
  readonly interfaces: readonly string[]
  readonly xray?: {readonly apiPort: number; readonly tags: readonly string[]}
}

export function observationPlan(node: Node): ObservationPlan {
  return {
    node: node.name,
    markerPath: markerPath(node),
    files: managedFiles(node),
    interfaces: node.interfaces.map((i) => i.name),
    ...(node.xray ? {xray: {apiPort: node.xray.apiPort, tags: node.xray.inbounds.map((i) => i.tag)}} : {}),
  }
}

// ---------------------------------------------------------------- the script

const SCRIPT_FUNCTIONS = String.raw`nx_cat() {
  [ -e "$1" ] || return ${ABSENT}
  cat -- "$1"
}
nx_sha256() {
  [ -e "$1" ] || return ${ABSENT}
  nx_need sha256sum || return
  sha256sum -- "$1"
}
nx_link() {
  [ -e "/sys/class/net/$1" ] || return ${ABSENT}
  cat -- "/sys/class/net/$1/flags"
}
nx_wg() {
  nx_need wg || return
  local dump
  # wg itself tells a missing interface apart; /sys/class/net may be another namespace's view.
  if ! dump=$(wg show "$1" dump 2>/tmp/nx-wg-err.$$); then
    local err; err=$(cat /tmp/nx-wg-err.$$ 2>/dev/null); rm -f /tmp/nx-wg-err.$$
    case $err in *"No such device"*|*"No such file"*) return ${ABSENT} ;; esac
    printf '%s\n' "$err" >&2
    return 1
  fi
  rm -f /tmp/nx-wg-err.$$
  # The private key (line 1, field 1) and preshared keys (field 2) never leave the node.
  printf '%s\n' "$dump" | awk -F '\t' -v OFS='\t' 'NR == 1 { $1 = "(hidden)" } NR > 1 && $2 != "(none)" { $2 = "(hidden)" } { print }'
}
nx_nft() {
  nx_need nft || return
  local tables
  tables=$(nft list tables inet) || return
  [[ $'\n'"$tables"$'\n' == *$'\n''table inet nexus'$'\n'* ]] || return ${ABSENT}
  nft -s list table inet nexus
}
nx_xray() {
  nx_need xray || return
  if ! (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    printf 'nothing listens on 127.0.0.1:%s (the xray API)\n' "$1" >&2
    return ${UNAVAILABLE}
  fi
  if command -v timeout >/dev/null 2>&1; then
    timeout ${XRAY_TIMEOUT_S} xray api inbounduser --server="127.0.0.1:$1" -tag="$2"
  else
    xray api inbounduser --server="127.0.0.1:$1" -tag="$2"
  fi
}
`

/** Section ids: fixed words and indexes only, so they need no escaping. */
const fileId = (i: number) => `file.${i}`
const linkId = (i: number) => `link.${i}`
const wgId = (i: number) => `wg.${i}`
const xrayId = (i: number) => `xray.${i}`

/** The bash script that observes a node in one exec. `nonce`: hex, fresh per run. */
export function observationScript(plan: ObservationPlan, nonce: string): string {
  assertNonce(nonce)
  const lines = [PROBE_PRELUDE + SCRIPT_FUNCTIONS, sh`nx_nonce=${nonce}`, sh`nx_probe marker nx_cat ${plan.markerPath}`]
  plan.files.forEach((file, i) => lines.push(sh`nx_probe ${fileId(i)} nx_sha256 ${file.path}`))
  plan.interfaces.forEach((iface, i) => {
    lines.push(sh`nx_probe ${linkId(i)} nx_link ${iface}`, sh`nx_probe ${wgId(i)} nx_wg ${iface}`)
  })
  lines.push('nx_probe nft nx_nft')
  plan.xray?.tags.forEach((tag, i) => lines.push(sh`nx_probe ${xrayId(i)} nx_xray ${plan.xray?.apiPort ?? 0} ${tag}`))
  lines.push(`printf '\\n@@nexus:%s:done@@\\n' ${shellQuote(nonce)}`)
  return `${lines.join('\n')}\n`
}

// ---------------------------------------------------------------- the parser

/**
 * Turns the output of `observationScript` into a NodeObservation. Throws a
 * NexusError `observation_failed` only when the script did not run to its
 * end (no bash, killed); every single probe failure is a value.
 */
export function parseObservation(
  plan: ObservationPlan,
  output: {readonly exitCode: number | null; readonly stdout: string; readonly stderr: string},
  nonce: string,
): NodeObservation {
  const {sections, done} = splitSections(output.stdout, nonce)
  if (!done) {
    const detail = firstLines(output.stderr) || `exit ${output.exitCode ?? 'by signal'}`
    throw new NexusError(
      'observation_failed',
      `observing node ${plan.node} failed: the probe script stopped early (${detail})`,
      'the node needs bash and coreutils; rerun with --verbose to see the script',
    )
  }
  const section = (id: string): Section =>
    sections.get(id) ?? {stdout: '', stderr: 'the probe printed no section', exitCode: -1}

  const files: Record<string, FileObservation> = {}
  plan.files.forEach((file, i) => {
    files[file.path] = {...file, ...parseFile(section(fileId(i)))}
  })
  const wireguard: Record<string, WireguardObservation> = {}
  plan.interfaces.forEach((iface, i) => {
    wireguard[iface] = parseWireguard(section(linkId(i)), section(wgId(i)))
  })
  const xray: Record<string, XrayUsersObservation> = {}
  plan.xray?.tags.forEach((tag, i) => {
    xray[tag] = parseXray(section(xrayId(i)))
  })
  const observed = {
    node: plan.node,
    reachable: true as const,
    marker: parseMarker(section('marker')),
    files,
    wireguard,
    nftables: parseNftables(section('nft')),
    xray,
  }
  return {...observed, fingerprint: observationFingerprint(observed)}
}

function probeError(section: Section, fallback = 'the probe failed'): ProbeError {
  return {state: 'error', exitCode: section.exitCode, message: firstLines(section.stderr) || fallback}
}

function parseMarker(section: Section): MarkerObservation {
  if (section.exitCode === ABSENT) return {state: 'absent'}
  if (section.exitCode !== 0) return probeError(section)
  try {
    return {state: 'present', value: JSON.parse(section.stdout) as unknown}
  } catch (error) {
    return {state: 'invalid', error: (error as Error).message, raw: section.stdout.slice(0, 200)}
  }
}

function parseFile(section: Section): {state: 'present'; sha256: string} | {state: 'absent'} | ProbeError {
  if (section.exitCode === ABSENT) return {state: 'absent'}
  if (section.exitCode !== 0) return probeError(section)
  const hash = /^\\?([0-9a-f]{64})\s/.exec(section.stdout)?.[1]
  return hash ? {state: 'present', sha256: hash} : probeError(section, 'unexpected sha256sum output')
}

function parseWireguard(link: Section, wg: Section): WireguardObservation {
  if (wg.exitCode === ABSENT) return {state: 'absent'}
  if (wg.exitCode !== 0) return probeError(wg)
  const dump = parseWireguardDump(wg.stdout)
  if (!dump) return probeError(wg, 'unexpected `wg show dump` output')
  const flags = link.exitCode === 0 ? Number.parseInt(link.stdout.trim(), 16) : Number.NaN
  return {state: 'present', up: Number.isNaN(flags) ? null : (flags & 1) === 1, dump}
}

const toCount = (text: string | undefined): number => {
  const n = Number(text)
  return Number.isSafeInteger(n) && n >= 0 ? n : 0
}

/**
 * Parses `wg show IFACE dump`. The first line is the interface: private
 * key (dropped, whatever it holds), public key, listen port, fwmark. Each
 * further line is a peer: public key, preshared key (reduced to a flag),
 * endpoint, allowed IPs, latest handshake, rx, tx, persistent keepalive.
 */
export function parseWireguardDump(text: string): WireguardDump | undefined {
  const lines = text.split('\n').filter((line) => line !== '')
  const head = lines[0]?.split('\t')
  if (!head || head.length !== 4) return undefined
  const [, publicKey = '', listenPort = '', fwmark = ''] = head
  const port = Number(listenPort)
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined
  const peers: WireguardPeerObservation[] = []
  for (const line of lines.slice(1)) {
    const fields = line.split('\t')
    if (fields.length !== 8) return undefined
    const [peerKey = '', psk, endpoint, allowed, handshake, rx, tx, keepalive] = fields
    peers.push({
      publicKey: peerKey,
      presharedKey: psk !== '(none)',
      endpoint: endpoint === '(none)' || !endpoint ? null : endpoint,
      allowedIPs: allowed === '(none)' || !allowed ? [] : allowed.split(',').sort(),
      latestHandshake: toCount(handshake),
      rxBytes: toCount(rx),
      txBytes: toCount(tx),
      persistentKeepalive: keepalive === 'off' || !keepalive ? null : toCount(keepalive),
    })
  }
  peers.sort((a, b) => (a.publicKey < b.publicKey ? -1 : a.publicKey > b.publicKey ? 1 : 0))
  return {publicKey, listenPort: port, fwmark: fwmark === 'off' || fwmark === '' ? null : fwmark, peers}
}

function parseNftables(section: Section): NftablesObservation {
  if (section.exitCode === ABSENT) return {state: 'absent'}
  if (section.exitCode !== 0) return probeError(section)
  return {state: 'present', text: section.stdout, sha256: sha256(withoutDynamicElements(section.stdout))}
}

/**
 * The listing without the entries of dynamic sets (the per-source buckets of
 * rate_limit rules): traffic adds and expires them, so they are not
 * configuration and must not look like drift.
 */
export function withoutDynamicElements(listing: string): string {
  const out: string[] = []
  let block: string[] | undefined
  let depth = 0
  const braces = (line: string) => (line.match(/\{/g)?.length ?? 0) - (line.match(/\}/g)?.length ?? 0)
  for (const line of listing.split('\n')) {
    if (!block) {
      if (/^\s*set \S+ \{\s*$/.test(line)) {
        block = [line]
        depth = 1
      } else {
        out.push(line)
      }
      continue
    }
    block.push(line)
    depth += braces(line)
    if (depth > 0) continue
    const dynamic = block.some((l) => /^\s*flags\b.*\bdynamic\b/.test(l))
    let skipping = 0
    for (const l of block) {
      if (dynamic && skipping === 0 && /^\s*elements = \{/.test(l)) {
        skipping = braces(l)
        continue
      }
      if (skipping > 0) {
        skipping += braces(l)
        continue
      }
      out.push(l)
    }
    block = undefined
  }
  if (block) out.push(...block)
  return out.join('\n')
}

function parseXray(section: Section): XrayUsersObservation {
  if (section.exitCode !== 0) return xrayUnavailable(section, 'xray api inbounduser')
  const emails = parseXrayUsers(section.stdout)
  return emails
    ? {state: 'available', emails}
    : {state: 'unavailable', reason: 'unrecognised output from `xray api inbounduser`'}
}

/**
 * The e-mails in `xray api inbounduser` output (`{"users": [{"email": …,
 * "account": …}]}`; `{}` when there are none), sorted and unique. Accounts
 * hold credentials and are dropped. Undefined when the output is not that.
 */
export function parseXrayUsers(text: string): string[] | undefined {
  const trimmed = text.trim()
  if (trimmed === '') return []
  let document: unknown
  try {
    document = JSON.parse(trimmed)
  } catch {
    // Some versions print a second JSON document after the response; read the first.
    const end = trimmed.search(/\n\}/)
    if (!trimmed.startsWith('{') || end < 0) return undefined
    try {
      document = JSON.parse(trimmed.slice(0, end + 2))
    } catch {
      return undefined
    }
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return undefined
  const users = (document as {users?: unknown}).users
  if (users === undefined) return []
  if (!Array.isArray(users)) return undefined
  const emails = new Set<string>()
  for (const user of users) {
    const email = (user as {email?: unknown} | null)?.email
    if (typeof email === 'string') emails.add(email)
  }
  return [...emails].sort()
}

// ---------------------------------------------------------------- the fingerprint

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

/** JSON with object keys sorted at every level; undefined members are left out, as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key])
    return out
  }
  return value
}

/**
 * What the fingerprint covers: everything that reflects configuration —
 * the marker, file hashes, each interface's state, keys, port, fwmark and
 * peers (public key, preshared-key flag, allowed IPs, keepalive), the
 * nftables table hash and the xray users. Left out, because they move on
 * their own without anyone changing the node: peer endpoints (clients roam),
 * handshakes and byte counters, error and unavailability messages.
 */
export function fingerprintView(observation: Omit<NodeObservation, 'fingerprint'>): unknown {
  const errorView = (e: ProbeError) => ({state: e.state, exitCode: e.exitCode})
  return {
    version: 1,
    node: observation.node,
    marker: observation.marker.state === 'error' ? errorView(observation.marker) : observation.marker,
    files: Object.fromEntries(
      Object.entries(observation.files).map(([path, file]) => [
        path,
        file.state === 'error' ? {artifact: file.artifact, ...errorView(file)} : file,
      ]),
    ),
    wireguard: Object.fromEntries(
      Object.entries(observation.wireguard).map(([iface, wg]) => [
        iface,
        wg.state === 'present'
          ? {
              state: wg.state,
              up: wg.up,
              publicKey: wg.dump.publicKey,
              listenPort: wg.dump.listenPort,
              fwmark: wg.dump.fwmark,
              peers: wg.dump.peers.map((p) => ({
                publicKey: p.publicKey,
                presharedKey: p.presharedKey,
                allowedIPs: p.allowedIPs,
                persistentKeepalive: p.persistentKeepalive,
              })),
            }
          : wg.state === 'error'
            ? errorView(wg)
            : wg,
      ]),
    ),
    nftables:
      observation.nftables.state === 'present'
        ? {state: 'present', sha256: observation.nftables.sha256}
        : observation.nftables.state === 'error'
          ? errorView(observation.nftables)
          : observation.nftables,
    xray: Object.fromEntries(
      Object.entries(observation.xray).map(([tag, users]) => [
        tag,
        users.state === 'available' ? users : {state: users.state},
      ]),
    ),
  }
}

export function observationFingerprint(observation: Omit<NodeObservation, 'fingerprint'>): string {
  return sha256(canonicalJson(fingerprintView(observation)))
}
