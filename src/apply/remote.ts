/**
 * The bash scripts apply runs on a node, built from fixed text and quoted
 * values only (transport/shell.ts), and the parsing of what they print.
 * Pure. The file layout on the node, for a managed file P:
 *
 *     P.nexus-new        staged by upload, checked, then renamed to P
 *     P.nexus-prev       P as it was before the swap, for rollback
 *     P.nexus-absent     P did not exist before the swap (rollback removes it)
 *
 * Renames stay inside P's directory, so they are atomic; a file is fsynced
 * before it is renamed into place and the directory after, so a crash
 * leaves either the old name or the new one, each with its whole content.
 */
import {posix} from 'node:path'

import type {Node} from '../model/desired.js'
import {markerPath} from '../model/node-files.js'
import {sh, shellQuote} from '../transport/shell.js'

export const staged = (path: string) => `${path}.nexus-new`
export const previous = (path: string) => `${path}.nexus-prev`
export const absent = (path: string) => `${path}.nexus-absent`

export interface Upload {
  readonly path: string
  readonly content: string
  readonly mode: number
}

/**
 * fsyncs files or directories (a directory: the names renamed into it), with
 * a whole-system `sync` where `sync FILE` is not supported (old coreutils).
 */
export function syncCommand(paths: readonly string[]): string {
  return paths.length === 0 ? ':' : sh`sync -- ${paths} 2>/dev/null || sync`
}

/** The distinct directories of some paths, in order. */
function directoriesOf(paths: readonly string[]): string[] {
  return [...new Set(paths.map((path) => posix.dirname(path)))]
}

/**
 * Writes every file to its staging path in one round trip: the contents go
 * through stdin back to back, each read with `head -c` (exact byte counts),
 * fsynced, and renamed into place so a half-written file never has the
 * staging name; then the directories are fsynced, so the staged names
 * survive a crash too.
 */
export function uploadScript(uploads: readonly Upload[]): {script: string; stdin: string} {
  const lines = ['set -eu', 'umask 077']
  for (const upload of uploads) {
    const target = staged(upload.path)
    const temporary = `${target}.tmp`
    lines.push(
      sh`mkdir -p -- ${posix.dirname(upload.path)}`,
      sh`head -c ${Buffer.byteLength(upload.content)} > ${temporary}`,
      sh`chmod ${upload.mode.toString(8).padStart(4, '0')} ${temporary}`,
      syncCommand([temporary]),
      sh`mv -f -- ${temporary} ${target}`,
    )
  }
  if (uploads.length > 0) lines.push(syncCommand(directoriesOf(uploads.map((u) => u.path))))
  return {script: lines.join('\n'), stdin: uploads.map((u) => u.content).join('')}
}

export type CheckKind = 'nftables' | 'dns' | 'xray' | 'wireguard'

export type CheckSpec =
  | {readonly artifact: string; readonly kind: Exclude<CheckKind, 'wireguard'>; readonly path: string}
  | {
      readonly artifact: string
      readonly kind: 'wireguard'
      readonly path: string
      /** The interface the file configures (wg-quick takes it from the file name). */
      readonly iface: string
      /** The peers the plan puts on the interface: the file must hold exactly these many. */
      readonly peers: number
    }

export interface CheckOutcome {
  readonly artifact: string
  readonly status: 'ok' | 'failed' | 'skipped'
  readonly detail: string
}

const CHECK_MARK = '@@nexus-check'

/**
 * Reads a WireGuard config the way `wg setconf` does (comments and all
 * whitespace dropped, keys case-insensitive, only the keys wg knows; with
 * `raw=1` also wg-quick's own [Interface] keys, for a node without
 * wg-quick), and checks it holds one [Interface] with a valid PrivateKey
 * and exactly `planned` peers, each with a PublicKey. Prints what is wrong
 * (never a value: they may be keys) and exits 1; prints nothing when fine.
 * POSIX awk (mawk, busybox): no interval expressions.
 */
const WIREGUARD_AWK = `
function key_ok(v) { return length(v) == 44 && v ~ /^[A-Za-z0-9+\\/]+=$/ && substr(v, 43, 1) ~ /[AEIMQUYcgkosw048]/ }
function bad(m) { if (errors < 5) print where NR ": " m; errors++ }
function end_peer() { if (section == "peer" && !peer_key) bad("a [Peer] without a valid PublicKey") }
BEGIN { where = raw ? "line " : "line (after wg-quick strip) " }
{
  line = $0
  sub(/#.*/, "", line)
  gsub(/[ \\t\\r]/, "", line)
  if (line == "") next
  l = tolower(line)
  if (l == "[interface]") { end_peer(); section = "interface"; interfaces++; next }
  if (l == "[peer]") { end_peer(); section = "peer"; peers++; peer_key = 0; next }
  eq = index(line, "=")
  if (eq < 2 || substr(line, 1, 1) == "[") { bad("neither a section nor key = value"); next }
  k = tolower(substr(line, 1, eq - 1)); v = substr(line, eq + 1)
  if (section == "") { bad("a key outside any section"); next }
  if (section == "interface") {
    if (k == "privatekey") { if (key_ok(v)) private_key++; else bad("PrivateKey is not a valid key"); next }
    if (k == "listenport") { if (v !~ /^[0-9]+$/ || v + 0 > 65535) bad("ListenPort is not a port"); next }
    if (k == "fwmark") next
    if (raw && (k == "address" || k == "dns" || k == "mtu" || k == "table" || k == "saveconfig" || k ~ /^(pre|post)(up|down)$/)) next
  } else {
    if (k == "publickey") { if (key_ok(v)) peer_key = 1; else bad("PublicKey is not a valid key"); next }
    if (k == "presharedkey") { if (!key_ok(v)) bad("PresharedKey is not a valid key"); next }
    if (k == "allowedips") { if (v !~ /^[0-9A-Fa-f:.\\/,]*$/) bad("AllowedIPs is not a list of addresses"); next }
    if (k == "endpoint" || k == "persistentkeepalive") next
  }
  bad("wg does not know the key " k " in [" section "]")
}
END {
  end_peer()
  if (interfaces + 0 != 1) { print "holds " interfaces + 0 " [Interface] sections, not one"; errors++ }
  if (!private_key) { print "no valid PrivateKey"; errors++ }
  if (peers + 0 != planned + 0) { print "holds " peers + 0 " peers, the plan has " planned; errors++ }
  exit errors > 0 ? 1 : 0
}
`

/**
 * The WireGuard check as a shell function: `wg-quick strip` of the file
 * where wg-quick is installed (under the interface's name, which wg-quick
 * requires), else the raw file, read by WIREGUARD_AWK.
 */
const WIREGUARD_CHECK = [
  `nexus_wg_awk=${shellQuote(WIREGUARD_AWK)}`,
  'nexus_wg_check() {',
  '  local file=$1 iface=$2 planned=$3 dir status=0',
  '  dir=$(mktemp -d) || return 1',
  '  if command -v wg-quick >/dev/null 2>&1; then',
  '    if cp -- "$file" "$dir/$iface.conf" && wg-quick strip "$dir/$iface.conf" > "$dir/stripped" 2> "$dir/err" < /dev/null; then',
  '      awk -v planned="$planned" -v raw=0 "$nexus_wg_awk" "$dir/stripped" || status=1',
  '    else',
  `      echo 'wg-quick strip refused it:'; grep -v 'world accessible' "$dir/err" | tail -n 3; status=1`,
  '    fi',
  '  else',
  '    awk -v planned="$planned" -v raw=1 "$nexus_wg_awk" "$file" || status=1',
  '  fi',
  '  rm -rf -- "$dir"',
  '  return "$status"',
  '}',
].join('\n')

/**
 * Checks every staged file with the node's own tools where they are
 * installed (skipped otherwise). A WireGuard file is read as `wg` will read
 * it (after `wg-quick strip`, so a file either refuses fails here, not at
 * the reload), and must hold a private key and the peer count of the plan:
 * `wg syncconf` of a peerless or keyless file wipes the interface.
 */
export function checkScript(checks: readonly CheckSpec[]): string {
  const lines = ['export LC_ALL=C']
  if (checks.some((check) => check.kind === 'wireguard')) lines.push(WIREGUARD_CHECK)
  for (const check of checks) {
    const file = staged(check.path)
    const mark = (status: string) => sh`echo ${`${CHECK_MARK}:${check.artifact}:`}${status}`
    switch (check.kind) {
      case 'nftables':
        lines.push(
          `if command -v nft >/dev/null 2>&1; then out=$(${sh`nft -c -f ${file}`} 2>&1) && ${mark('ok')} || { printf '%s\\n' "$out"; ${mark('failed')}; }; else ${mark('skipped')}; fi`,
        )
        break
      case 'dns':
        lines.push(
          `if command -v dnsmasq >/dev/null 2>&1; then out=$(${sh`dnsmasq --test --conf-file=${file}`} 2>&1) && ${mark('ok')} || { printf '%s\\n' "$out"; ${mark('failed')}; }; else ${mark('skipped')}; fi`,
        )
        break
      case 'xray':
        lines.push(
          `if command -v xray >/dev/null 2>&1; then out=$(${sh`xray run -test -c ${file}`} 2>&1) && ${mark('ok')} || { printf '%s\\n' "$out" | tail -n 5; ${mark('failed')}; }; else ${mark('skipped')}; fi`,
        )
        break
      case 'wireguard':
        lines.push(
          `if out=$(${sh`nexus_wg_check ${file} ${check.iface} ${check.peers}`} 2>&1); then ${mark('ok')}; else printf '%s\\n' "$out"; ${mark('failed')}; fi`,
        )
        break
    }
  }
  return lines.join('\n')
}

export function parseChecks(stdout: string, checks: readonly CheckSpec[]): CheckOutcome[] {
  const outcomes: CheckOutcome[] = []
  let detail: string[] = []
  const statuses = new Map<string, {status: CheckOutcome['status']; detail: string}>()
  for (const line of stdout.split('\n')) {
    const match = new RegExp(`^${CHECK_MARK}:(.+):(ok|failed|skipped)$`).exec(line)
    if (match?.[1] && match[2]) {
      statuses.set(match[1], {status: match[2] as CheckOutcome['status'], detail: detail.join('\n').trim()})
      detail = []
    } else if (line.trim() !== '') {
      detail.push(line)
    }
  }
  for (const check of checks) {
    const found = statuses.get(check.artifact)
    outcomes.push({
      artifact: check.artifact,
      status: found?.status ?? 'failed',
      detail: found ? found.detail : 'the check did not run to its end',
    })
  }
  return outcomes
}

/**
 * Puts staged files in place, keeping what was there for rollback, and moves
 * deleted files aside. Everything is a rename within the file's directory.
 *
 * In phases, so that whatever point it stops at, restoreScript puts back
 * exactly what was there: (1) the `.nexus-prev` and `.nexus-absent` an
 * earlier apply left are removed for every path, before anything is renamed
 * (a leftover beside a path this swap never reached would otherwise be
 * "restored" over the current file); (2) the backups are made (a copy,
 * fsynced, then renamed to `.nexus-prev`) and their directories fsynced;
 * (3) the renames; (4) the directories fsynced.
 */
export function swapScript(replace: readonly string[], remove: readonly string[]): string {
  const all = [...replace, ...remove]
  if (all.length === 0) return 'set -eu'
  const copying = (path: string) => `${previous(path)}.tmp`
  const lines = ['set -eu', sh`rm -f -- ${all.flatMap((path) => [previous(path), copying(path), absent(path)])}`]
  for (const path of replace) {
    // Copied under a temporary name: a copy cut short (a full disk) never has the name restoreScript puts back.
    lines.push(
      [
        sh`if [ -e ${path} ]; then cp -p -- ${path} ${copying(path)}`,
        syncCommand([copying(path)]),
        sh`mv -f -- ${copying(path)} ${previous(path)}`,
        sh`else : > ${absent(path)}; fi`,
      ].join('; '),
    )
  }
  // The backups' names (and the absent markers) are on disk before any rename.
  if (replace.length > 0) lines.push(syncCommand(directoriesOf(replace)))
  for (const path of replace) lines.push(sh`mv -f -- ${staged(path)} ${path}`)
  for (const path of remove) lines.push(sh`if [ -e ${path} ]; then mv -f -- ${path} ${previous(path)}; fi`)
  lines.push(syncCommand(directoriesOf(all)))
  return lines.join('\n')
}

/**
 * Undoes swapScript, whichever phase it stopped in: the previous files back,
 * files that did not exist removed (a path the swap did not reach has
 * neither, since the swap cleared both first, and is left alone).
 */
export function restoreScript(paths: readonly string[]): string {
  const lines = ['set -u']
  for (const path of paths) {
    lines.push(
      sh`if [ -e ${previous(path)} ]; then mv -f -- ${previous(path)} ${path}; elif [ -e ${absent(path)} ]; then rm -f -- ${path} ${absent(path)}; fi`,
      sh`rm -f -- ${staged(path)} ${`${previous(path)}.tmp`}`,
    )
  }
  if (paths.length > 0) lines.push(syncCommand(directoriesOf(paths)))
  return lines.join('\n')
}

/** Removes staged leftovers (after a failed check nothing was swapped). */
export function discardStagedScript(paths: readonly string[]): string {
  return paths.map((path) => sh`rm -f -- ${staged(path)} ${`${staged(path)}.tmp`}`).join('\n')
}

/** A reload command with its placeholders replaced by quoted values. */
export function fillCommand(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{([a-z]+)\}/g, (whole, name: string) =>
    values[name] === undefined ? whole : shellQuote(values[name] as string),
  )
}

/**
 * A WireGuard reload: `{stripped}` is a temporary `wg-quick strip` of the
 * file, removed afterwards.
 */
export function wireguardCommand(template: string, iface: string, path: string): string {
  if (!template.includes('{stripped}')) return fillCommand(template, {iface, file: path})
  return [
    'stripped=$(mktemp)',
    `trap 'rm -f "$stripped"' EXIT`,
    sh`wg-quick strip ${path} > "$stripped"`,
    fillCommand(template, {iface, file: path}).replaceAll('{stripped}', '"$stripped"'),
  ].join('\n')
}

export const WATCHDOG_PID = (node: Node) => posix.join(node.paths.state, 'nft-watchdog.pid')
/** Present while the watchdog waits: whoever removes it first, the watchdog or the confirmation, wins. */
export const WATCHDOG_ARMED = (node: Node) => posix.join(node.paths.state, 'nft-watchdog.armed')

/**
 * Arms the firewall watchdog. It first saves the loaded `table inet nexus`
 * (or its absence) as a file `nft -f` can load; unless confirmed within
 * `seconds`, it loads that file again, putting back exactly the rules that
 * were in force. It is detached from the SSH session, so it outlives a
 * connection the new rules cut off. The armed flag decides the race between
 * it and the confirmation: `rm` succeeds for exactly one of them.
 */
export function armWatchdogScript(node: Node, seconds: number): string {
  const saved = posix.join(node.paths.state, 'nft-before.nft')
  const armed = WATCHDOG_ARMED(node)
  return [
    'set -eu',
    sh`mkdir -p -- ${node.paths.state}`,
    // "table; delete table" first: loading the file replaces the table, or removes it when there was none.
    sh`{ printf 'table inet nexus\ndelete table inet nexus\n'; nft -s list table inet nexus 2>/dev/null || true; } > ${saved}`,
    sh`: > ${armed}`,
    `setsid sh -c ${shellQuote(`sleep ${seconds}; rm -- ${shellQuote(armed)} 2>/dev/null && nft -f ${shellQuote(saved)}`)} </dev/null >/dev/null 2>&1 &`,
    sh`echo $! > ${WATCHDOG_PID(node)}`,
    'echo "$!"',
  ].join('\n')
}

/**
 * Confirms the new ruleset. Prints `confirmed` only when it took the armed
 * flag away before the watchdog did (a kill alone proves nothing: a finished
 * watchdog nobody reaped, or a reused pid, can still be signalled), then stops
 * the watchdog's whole process group, its `sleep` included.
 */
export function disarmWatchdogScript(node: Node): string {
  const pidFile = WATCHDOG_PID(node)
  return [
    sh`pid=$(cat ${pidFile} 2>/dev/null || true)`,
    sh`if rm -- ${WATCHDOG_ARMED(node)} 2>/dev/null; then state=confirmed; else state=expired; fi`,
    'if [ -n "$pid" ]; then kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; fi',
    sh`rm -f -- ${pidFile}`,
    'echo "$state"',
  ].join('\n')
}

export function markerScript(node: Node, marker: unknown): {script: string; stdin: string} {
  const path = markerPath(node)
  const content = `${JSON.stringify(marker)}\n`
  return {
    script: [
      'set -eu',
      'umask 022',
      sh`mkdir -p -- ${posix.dirname(path)}`,
      sh`head -c ${Buffer.byteLength(content)} > ${`${path}.tmp`}`,
      syncCommand([`${path}.tmp`]),
      sh`mv -f -- ${`${path}.tmp`} ${path}`,
      syncCommand([posix.dirname(path)]),
    ].join('\n'),
    stdin: content,
  }
}
