/**
 * The fleet of the no-op apply benchmark: a generated repo (generate.ts)
 * whose every node is reached over a real OpenSSH server on loopback (one per
 * node: a session's PATH, where the fake node's tools are, is per server) and
 * runs the fake node toolkit (test/helpers/fake-node.ts) in a root of its own.
 *
 * `mark()` records what is on every node (each file's inode, size, mtime and
 * ctime below the fake root, and the fake tools' reload log); `changesSince()`
 * reports what was written, removed or reloaded after it.
 */
import {
  type BigIntStats,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'

import {mapLimit} from '../../../src/transport/semaphore.js'
import {type FakeNode, installFakeNode} from '../../../test/helpers/fake-node.js'
import {keygen, startSshd, type TestSshd} from '../../../test/helpers/sshd.js'
import {type FleetSize, generateFleet} from '../generate.js'

export interface NoopHost {
  readonly name: string
  readonly sshd: TestSshd
  readonly fake: FakeNode
}

/** What every node holds at one moment: file fingerprints and how many reloads it logged. */
export interface FleetMark {
  readonly files: ReadonlyMap<string, ReadonlyMap<string, string>>
  readonly logLength: ReadonlyMap<string, number>
}

export interface FleetChanges {
  /** `node: path (created|modified|removed)`, below the node's fake root. */
  readonly files: readonly string[]
  /** `node: what` for every reload (or xray API call) the fake tools logged. */
  readonly reloads: readonly string[]
  /**
   * For files replaced by a swap (they have a `.nexus-prev` now): whether the new content differs from
   * the previous one, and where (`node: path: identical content` or `node: path: KEY: BEFORE -> AFTER`).
   */
  readonly rewrites: readonly string[]
}

export interface NoopFleet {
  readonly dir: string
  readonly repo: string
  readonly hosts: readonly NoopHost[]
  mark(): FleetMark
  changesSince(mark: FleetMark): FleetChanges
  close(): Promise<void>
}

/** sshd servers started at once (each generates a host key first). */
const START_CONCURRENCY = 8

const SSH_LINE = /^ssh: \{host: [^,}]+, port: \d+, user: root\}$/m

export async function startNoopFleet(size: FleetSize, log: (line: string) => void): Promise<NoopFleet> {
  const dir = mkdtempSync(join(tmpdir(), 'nexus-bench-noop-'))
  const servers: TestSshd[] = []
  const fakes: FakeNode[] = []
  let closing: Promise<void> | undefined
  // startSshd adds an exit listener per server (to stop it at the latest when this process exits).
  const maxListeners = process.getMaxListeners()
  process.setMaxListeners(Math.max(maxListeners, size.nodes + 10))
  const cleanUp = async () => {
    // An apply still in flight (interrupted benchmark): its command line names the fleet's dir.
    killProcessesMentioning(dir)
    await Promise.all(servers.map((s) => s.stop().catch(() => {})))
    // Anything still running with a fake node's tools on its PATH (a watchdog, say; none expected).
    for (const fake of fakes) fake.killProcesses()
    // A session killed a moment ago may still be writing below the dir: retry on ENOTEMPTY.
    rmSync(dir, {recursive: true, force: true, maxRetries: 20, retryDelay: 100})
    process.setMaxListeners(maxListeners)
  }
  // Every caller (the signal handler, the benchmark's finally) waits for the one and only cleanup.
  const close = () => (closing ??= cleanUp())
  try {
    const repo = join(dir, 'repo')
    log(
      `noop: generating fleet ${size.name} (${size.users} users, ${size.peers} peers, ${size.nodes} nodes, ${size.rules} rules)`,
    )
    generateFleet(repo, size)

    const names = readdirSync(join(repo, 'nodes'))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => f.slice(0, -'.yaml'.length))
      .sort()
    if (names.length !== size.nodes) throw new Error(`expected ${size.nodes} node files, found ${names.length}`)

    // One user key logs in everywhere, as in a real fleet.
    mkdirSync(join(dir, 'keys'))
    const userKey = await keygen(join(dir, 'keys', 'user_key'))
    const strangerKey = await keygen(join(dir, 'keys', 'stranger_key'))
    for (const name of names) fakes.push(installFakeNode(join(dir, 'hosts', name), {xray: true}))
    log(`noop: starting ${names.length} sshd servers on loopback`)
    await mapLimit(fakes, START_CONCURRENCY, async (fake) => {
      servers.push(await startSshd({binDir: fake.binDir, userKey, strangerKey}))
    })
    const serverOf = new Map(servers.map((s) => [s.binDir, s]))
    const hosts = names.map((name, i): NoopHost => {
      const fake = fakes[i] as FakeNode
      const sshd = serverOf.get(fake.binDir)
      if (!sshd) throw new Error(`no sshd for ${name}`)
      return {name, sshd, fake}
    })

    for (const host of hosts) pointAtHost(join(repo, 'nodes', `${host.name}.yaml`), host)

    const fingerprints = () => new Map(hosts.map((h) => [h.name, treeFingerprints(h.fake.root)]))
    return {
      dir,
      repo,
      hosts,
      mark: () => ({
        files: fingerprints(),
        logLength: new Map(hosts.map((h) => [h.name, h.fake.log().length])),
      }),
      changesSince: (mark) => {
        const files: string[] = []
        const reloads: string[] = []
        const rewrites: string[] = []
        for (const host of hosts) {
          const before = mark.files.get(host.name) ?? new Map<string, string>()
          const after = treeFingerprints(host.fake.root)
          for (const [path, print] of after) {
            const was = before.get(path)
            if (was === undefined) files.push(`${host.name}: ${path} (created)`)
            else if (was !== print) files.push(`${host.name}: ${path} (modified)`)
            if (was !== print && after.has(`${path}.nexus-prev`))
              rewrites.push(`${host.name}: ${path}: ${compareWithPrevious(join(host.fake.root, path))}`)
          }
          for (const path of before.keys()) if (!after.has(path)) files.push(`${host.name}: ${path} (removed)`)
          const logged = host.fake.log().slice(mark.logLength.get(host.name) ?? 0)
          reloads.push(...logged.map((line) => `${host.name}: ${line}`))
        }
        return {files, reloads, rewrites}
      },
      close,
    }
  } catch (error) {
    await close()
    throw error
  }
}

/** Points a generated Node at its loopback sshd and lays its files out under the fake root. */
function pointAtHost(file: string, host: NoopHost): void {
  const text = readFileSync(file, 'utf8')
  if (!SSH_LINE.test(text)) throw new Error(`${file}: no generated ssh: line to rewrite`)
  const ssh = [
    'ssh:',
    '  host: 127.0.0.1',
    `  port: ${host.sshd.port}`,
    '  user: root',
    `  identityFile: ${host.sshd.userKey}`,
    `  hostKey: "${host.sshd.hostKey}"`,
  ].join('\n')
  const body = text.replace(SSH_LINE, ssh)
  writeFileSync(file, `${body.endsWith('\n') ? body : `${body}\n`}${host.fake.yaml}`)
}

/** Every file and symlink below `root` (relative path -> inode, size, mtime and ctime in ns). */
function treeFingerprints(root: string): Map<string, string> {
  const out = new Map<string, string>()
  const walk = (at: string) => {
    for (const entry of readdirSync(at)) {
      const path = join(at, entry)
      const stat: BigIntStats = lstatSync(path, {bigint: true})
      if (stat.isDirectory()) walk(path)
      else out.set(relative(root, path), `${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}:${stat.mode}`)
    }
  }
  if (existsSync(root)) walk(root)
  return out
}

/** How a swapped-in file differs from the `.nexus-prev` the swap kept: nothing, or the first differences. */
function compareWithPrevious(path: string): string {
  const now = readFileSync(path, 'utf8')
  const before = readFileSync(`${path}.nexus-prev`, 'utf8')
  if (now === before) return 'identical content'
  if (path.endsWith('.json')) {
    try {
      const found: string[] = []
      jsonDifferences(JSON.parse(before), JSON.parse(now), '$', found)
      if (found.length > 0) return found.slice(0, 5).join('; ')
    } catch {
      // Not JSON after all: compare lines.
    }
  }
  const a = before.split('\n')
  const b = now.split('\n')
  const at = a.findIndex((line, i) => line !== b[i])
  const line = at === -1 ? a.length : at
  return `line ${line + 1}: ${clip(a[line] ?? '(end)')} -> ${clip(b[line] ?? '(end)')} (${a.length} -> ${b.length} lines)`
}

function jsonDifferences(a: unknown, b: unknown, at: string, found: string[]): void {
  if (found.length >= 5) return
  if (
    typeof a !== 'object' ||
    typeof b !== 'object' ||
    a === null ||
    b === null ||
    Array.isArray(a) !== Array.isArray(b)
  ) {
    if (JSON.stringify(a) !== JSON.stringify(b))
      found.push(`${at}: ${clip(JSON.stringify(a))} -> ${clip(JSON.stringify(b))}`)
    return
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length !== b.length)
    found.push(`${at}: ${a.length} -> ${b.length} items`)
  const left = a as Record<string, unknown>
  const right = b as Record<string, unknown>
  for (const key of new Set([...Object.keys(left), ...Object.keys(right)]))
    jsonDifferences(left[key], right[key], `${at}.${key}`, found)
}

const clip = (text: string | undefined) =>
  text === undefined ? '(absent)' : text.length > 120 ? `${text.slice(0, 117)}...` : text

/** SIGKILLs (by pid) every process other than this one whose command line contains `text`. */
function killProcessesMentioning(text: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) process.kill(Number(entry), 'SIGKILL')
    } catch {
      // Ended while we looked.
    }
  }
}
