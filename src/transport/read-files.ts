/**
 * Reading whole files from a node in one round trip: the deployed side of a
 * file diff (design.md §4) and of "compare first, write only what changed"
 * (house rule 7).
 *
 * One bash script reads every file; each file is a section framed by marker
 * lines that carry a random nonce, exactly as in the observation script
 * (observation.ts, whose parser this reuses), and its content travels as
 * base64, so any bytes survive, and no file can fake a boundary:
 *
 *     @@nexus:NONCE:out:file.I@@      base64 of the file
 *     @@nexus:NONCE:err:file.I@@      why it could not be read
 *     @@nexus:NONCE:end:file.I:CODE@@ 0 read, 100 missing, 102 over the size cap
 *     ...
 *     @@nexus:NONCE:done@@
 *
 * The node checks sizes before reading, so an absurdly large file (a log
 * written to the wrong path) is refused there and never travels.
 */
import {randomBytes} from 'node:crypto'

import {NexusError} from '../errors.js'
import {ABSENT, splitSections} from './probe.js'
import {sh, shellQuote} from './shell.js'
import type {ExecResult, NodeConnection} from './types.js'

export const READ_FILES_DEFAULTS = {
  /** The whole script, on one node. */
  timeoutMs: 120_000,
  /** The sum of the sizes of the files read, in bytes. */
  maxTotalBytes: 64 * 1024 * 1024,
} as const

export interface ReadFilesOptions {
  readonly timeoutMs?: number
  readonly maxTotalBytes?: number
}

const TOO_LARGE = 102

const PRELUDE = String.raw`export LC_ALL=C
PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
nx_total=0
nx_probe() {
  local name=$1 err rc
  shift
  printf '\n@@nexus:%s:out:%s@@\n' "$nx_nonce" "$name"
  { err=$( { "$@"; } 2>&1 1>&3 3>&- ); rc=$?; } 3>&1
  printf '\n@@nexus:%s:err:%s@@\n%s\n@@nexus:%s:end:%s:%d@@\n' "$nx_nonce" "$name" "$err" "$nx_nonce" "$name" "$rc"
}
nx_base64() {
  [ -e "$1" ] || return ${ABSENT}
  [ -f "$1" ] || { printf '%s: not a regular file\n' "$1" >&2; return 1; }
  command -v base64 >/dev/null 2>&1 || { printf 'base64: command not found\n' >&2; return 127; }
  base64 <"$1"
}
nx_too_large() {
  printf '%s\n' "$1" >&2
  return ${TOO_LARGE}
}
nx_read() {
  local id=$1 path=$2 size
  if [ -f "$path" ] && size=$(wc -c <"$path" 2>/dev/null); then
    size=$(( size ))
    nx_total=$(( nx_total + size ))
    if (( nx_total > nx_limit )); then
      nx_probe "$id" nx_too_large "$size"
      return
    fi
  fi
  nx_probe "$id" nx_base64 "$path"
}
`

const fileId = (i: number) => `file.${i}`

/** The script that reads `paths` (distinct) in one exec. `nonce`: hex, fresh per run. */
export function readFilesScript(paths: readonly string[], nonce: string, maxTotalBytes: number): string {
  if (!/^[0-9a-f]{16,64}$/.test(nonce)) throw new Error('the read nonce must be 16-64 hex digits')
  if (!Number.isSafeInteger(maxTotalBytes) || maxTotalBytes < 0) throw new RangeError(`bad size cap ${maxTotalBytes}`)
  const lines = [PRELUDE, sh`nx_nonce=${nonce}`, sh`nx_limit=${maxTotalBytes}`]
  paths.forEach((path, i) => lines.push(sh`nx_read ${fileId(i)} ${path}`))
  lines.push(`printf '\\n@@nexus:%s:done@@\\n' ${shellQuote(nonce)}`)
  return `${lines.join('\n')}\n`
}

/**
 * Turns the output of `readFilesScript` into contents by path (null: no such
 * file). Throws a NexusError: `remote_file_too_large` past the size cap,
 * `remote_read_failed` for a file that exists but cannot be read (not a
 * regular file, permission denied) or a script that stopped early.
 */
export function parseReadFiles(
  node: string,
  paths: readonly string[],
  output: Pick<ExecResult, 'exitCode' | 'stdout' | 'stderr'>,
  nonce: string,
  maxTotalBytes: number,
): Map<string, string | null> {
  const {sections, done} = splitSections(output.stdout, nonce)
  if (!done) {
    const detail = firstLine(output.stderr) || `exit ${output.exitCode ?? 'by signal'}`
    throw new NexusError(
      'remote_read_failed',
      `reading files on node ${node} failed: the script stopped early (${detail})`,
      'the node needs bash and coreutils; rerun with --verbose to see the script',
    )
  }
  const files = new Map<string, string | null>()
  paths.forEach((path, i) => {
    const section = sections.get(fileId(i))
    if (!section) {
      throw new NexusError('remote_read_failed', `reading ${path} on node ${node} failed: no output for it`)
    }
    switch (section.exitCode) {
      case 0:
        files.set(path, decodeBase64(section.stdout, path, node))
        return
      case ABSENT:
        files.set(path, null)
        return
      case TOO_LARGE:
        throw new NexusError(
          'remote_file_too_large',
          `${path} on node ${node} is too large to read (${formatBytes(Number(section.stderr.trim()))}; ` +
            `Nexus reads at most ${formatBytes(maxTotalBytes)} in all per node)`,
          `a file Nexus manages should be a few kilobytes: check what wrote ${path} on ${node}, and remove or move it`,
        )
      default:
        throw new NexusError(
          'remote_read_failed',
          `reading ${path} on node ${node} failed (exit ${section.exitCode}): ` +
            (firstLine(section.stderr) || 'no message'),
          'check that the path is a regular file the SSH user can read',
        )
    }
  })
  return files
}

/**
 * Reads whole files from a node in one exec. The result has an entry for
 * every path given: the content, decoded as UTF-8, or null when there is no
 * such file (a dangling symlink included). Rejects with the connection's
 * NexusErrors (`command_timeout`, `node_connection_lost`, …) or those of
 * `parseReadFiles`.
 */
export async function readRemoteFiles(
  connection: NodeConnection,
  paths: readonly string[],
  options: ReadFilesOptions = {},
): Promise<Map<string, string | null>> {
  const unique = [...new Set(paths)]
  if (unique.length === 0) return new Map()
  const maxTotalBytes = options.maxTotalBytes ?? READ_FILES_DEFAULTS.maxTotalBytes
  const nonce = randomBytes(16).toString('hex')
  const result = await connection.exec(readFilesScript(unique, nonce, maxTotalBytes), {
    timeoutMs: options.timeoutMs ?? READ_FILES_DEFAULTS.timeoutMs,
  })
  const files = parseReadFiles(connection.node, unique, result, nonce, maxTotalBytes)
  return new Map(paths.map((path) => [path, files.get(path) ?? null]))
}

function decodeBase64(text: string, path: string, node: string): string {
  const compact = text.replace(/\s+/g, '')
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact)) {
    throw new NexusError('remote_read_failed', `reading ${path} on node ${node} failed: its base64 is garbled`)
  }
  return Buffer.from(compact, 'base64').toString('utf8')
}

function firstLine(text: string): string {
  const line = text.trim().split('\n')[0] ?? ''
  return line.length > 300 ? `${line.slice(0, 300)}…` : line
}

function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'too large'
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${bytes} B`
}
