/**
 * Network namespaces for the end-to-end tests, and the processes in them.
 *
 * Every "host" of a test topology is a network namespace plus a holder: a
 * shell that is PID 1 of its own PID namespace and owns a private mount
 * namespace with a tmpfs on /run (and its own /proc). Commands run on a host
 * through `nsenter` into all three, so what one host's daemons keep in /run
 * (sshd's /run/sshd, wireguard-go's UAPI sockets in /var/run/wireguard) never
 * meets another host's, and the real host's /run, interfaces, routes and
 * nftables are never touched. Like a real host's init, the holder reaps the
 * daemons that detach from their sessions (the host's own PID 1 here may not,
 * and a zombie still answers `kill`). Links are veth pairs created directly
 * inside the namespaces (never in the host's).
 *
 * Names carry a per-run prefix, `nxe2e-<owner pid>-<random>-`: namespaces
 * (`ip netns`), the run directory (`/tmp/nxe2e-<pid>-<random>`), and so every
 * process of a run is found either in one of its namespaces or by the run
 * directory on its command line. `removeLeftovers()` clears runs whose owner
 * process is gone (a crashed or killed run); `World.destroy()` clears this one.
 * Both are synchronous and idempotent, so they can run from `exit` and signal
 * handlers as well as from afterAll.
 */
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import {execa} from 'execa'

export const RUN_PREFIX = 'nxe2e'
const RUN_NAME = new RegExp(`^${RUN_PREFIX}-(\\d+)-([0-9a-f]+)(?:-|$)`)
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export interface Host {
  /** Short name in the topology: `gw1`, `c1`, ... */
  readonly name: string
  /** The `ip netns` name. */
  readonly netns: string
  /** The holder (host pid): PID 1 of the host's PID namespace, in its network and mount namespaces. */
  readonly pid: number
}

export interface RunResult {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly stdin?: string
  readonly timeoutMs?: number
  readonly cwd?: string
}

/** A program started with `World.start`: its stdout lines as they arrive, and its end. */
export interface Started {
  /** When it was started (ms since the epoch). */
  readonly startedAt: number
  /** Complete stdout lines so far, each with the time it arrived. */
  readonly lines: readonly {readonly at: number; readonly text: string}[]
  readonly result: Promise<RunResult & {readonly endedAt: number}>
}

export interface Daemon {
  readonly child: ChildProcess
  /** What it wrote to stderr (and stdout) so far. */
  log(): string
}

export class World {
  readonly id: string
  /** The run directory: keys, configs, repo, logs. Removed by destroy(). */
  readonly dir: string
  readonly hosts = new Map<string, Host>()
  readonly #holders: ChildProcess[] = []
  readonly #daemons: Daemon[] = []
  #destroyed = false

  constructor() {
    this.id = `${RUN_PREFIX}-${process.pid}-${randomBytes(3).toString('hex')}`
    this.dir = join('/tmp', this.id)
    mkdirSync(this.dir, {mode: 0o700})
  }

  /** A new namespace with loopback up, and its holder. */
  async addHost(name: string): Promise<Host> {
    const netns = `${this.id}-${name}`
    await must('ip', ['netns', 'add', netns])
    await must('ip', ['-n', netns, 'link', 'set', 'lo', 'up'])
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        netns,
        'unshare',
        '--mount',
        '--propagation',
        'private',
        '--pid',
        '--fork',
        '--kill-child',
        '--mount-proc',
        '--',
        'sh',
        '-c',
        // Not exec'd: the shell keeps the run dir ($0) on its command line, which marks it as this run's.
        'mount -t tmpfs -o mode=755 tmpfs /run && mkdir -m 755 /run/sshd && echo ready && while :; do sleep 3600; done',
        this.dir,
      ],
      {stdio: ['ignore', 'pipe', 'pipe']},
    )
    this.#holders.push(child)
    await new Promise<void>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error(`holder of ${netns} did not start: ${out}`)), 10_000)
      const onData = (chunk: Buffer) => {
        out += chunk.toString()
        if (out.includes('ready')) {
          clearTimeout(timer)
          resolve()
        }
      }
      child.stdout?.on('data', onData)
      child.stderr?.on('data', onData)
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`holder of ${netns} exited (${code}): ${out}`))
      })
    })
    // `unshare --fork` runs the holder as its child, PID 1 of the new PID namespace.
    const init = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0])
    if (!Number.isInteger(init) || init <= 1) throw new Error(`holder of ${netns} has no pid`)
    const host = {name, netns, pid: init}
    this.hosts.set(name, host)
    return host
  }

  host(name: string): Host {
    const host = this.hosts.get(name)
    if (!host) throw new Error(`no host ${name}`)
    return host
  }

  /** A veth pair between two hosts, both ends up, created inside their namespaces. */
  async link(a: string, aIf: string, b: string, bIf: string): Promise<void> {
    const ha = this.host(a)
    const hb = this.host(b)
    await must('ip', ['-n', ha.netns, 'link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', hb.netns])
    await must('ip', ['-n', ha.netns, 'link', 'set', aIf, 'up'])
    await must('ip', ['-n', hb.netns, 'link', 'set', bIf, 'up'])
  }

  /** `ip -n NS ARGS` (addresses, bridges, routes: always inside a namespace of this run). */
  async ip(host: string, args: readonly string[]): Promise<void> {
    await must('ip', ['-n', this.host(host).netns, ...args])
  }

  /** Runs a program on a host (network and mount namespace of its holder). */
  async run(host: string, argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const h = this.host(host)
    const result = await execa('nsenter', ['-t', String(h.pid), '-n', '-m', '-p', '--', ...argv], {
      reject: false,
      extendEnv: false,
      env: {PATH: SYSTEM_PATH, HOME: this.dir, LC_ALL: 'C', ...options.env},
      ...(options.stdin === undefined ? {stdin: 'ignore' as const} : {input: options.stdin}),
      timeout: options.timeoutMs ?? 60_000,
      cwd: options.cwd ?? this.dir,
    })
    return {exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr)}
  }

  /**
   * Like run(), but returns at once: what the program prints, line by line
   * with arrival times, while it runs (e.g. NDJSON events), and its result.
   */
  start(host: string, argv: readonly string[], options: RunOptions = {}): Started {
    const h = this.host(host)
    const env: Record<string, string> = {}
    for (const [key, value] of Object.entries({PATH: SYSTEM_PATH, HOME: this.dir, LC_ALL: 'C', ...options.env})) {
      if (value !== undefined) env[key] = value
    }
    const startedAt = Date.now()
    const child = spawn('nsenter', ['-t', String(h.pid), '-n', '-m', '-p', '--', ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
      cwd: options.cwd ?? this.dir,
    })
    const lines: {at: number; text: string}[] = []
    let stdout = ''
    let stderr = ''
    let partial = ''
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      const at = Date.now()
      stdout += chunk
      partial += chunk
      for (let end = partial.indexOf('\n'); end >= 0; end = partial.indexOf('\n')) {
        lines.push({at, text: partial.slice(0, end)})
        partial = partial.slice(end + 1)
      }
    })
    child.stderr.on('data', (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    const result = new Promise<RunResult & {endedAt: number}>((resolve) => {
      child.once('error', (error) => {
        clearTimeout(timer)
        resolve({exitCode: 1, stdout, stderr: `${stderr}${String(error)}`, endedAt: Date.now()})
      })
      child.once('close', (code) => {
        clearTimeout(timer)
        if (partial !== '') lines.push({at: Date.now(), text: partial})
        resolve({exitCode: code ?? 1, stdout, stderr, endedAt: Date.now()})
      })
    })
    return {startedAt, lines, result}
  }

  /** A bash script on a host; throws with its output when it fails. */
  async sh(host: string, script: string, options: RunOptions = {}): Promise<string> {
    const result = await this.run(host, ['bash', '-euo', 'pipefail', '-c', script], options)
    if (result.exitCode !== 0) {
      throw new Error(`on ${host}: script failed (${result.exitCode}):\n${script}\n${result.stderr}${result.stdout}`)
    }
    return result.stdout
  }

  /** A long-running program on a host, stopped by destroy() (with everything else in the namespace). */
  daemon(host: string, argv: readonly string[], env: Readonly<Record<string, string>> = {}): Daemon {
    const h = this.host(host)
    const child = spawn('nsenter', ['-t', String(h.pid), '-n', '-m', '-p', '--', ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {PATH: SYSTEM_PATH, HOME: this.dir, LC_ALL: 'C', ...env},
      cwd: this.dir,
    })
    let log = ''
    const append = (chunk: Buffer) => {
      log += chunk.toString()
      if (log.length > 200_000) log = log.slice(-100_000)
    }
    child.stdout?.on('data', append)
    child.stderr?.on('data', append)
    const daemon = {child, log: () => log}
    this.#daemons.push(daemon)
    return daemon
  }

  /**
   * Stops everything of this run: every process in its namespaces (SIGKILL,
   * by pid), any process naming the run dir, then the namespaces (their veths
   * go with them) and the run dir. Synchronous and idempotent.
   */
  destroy(): void {
    if (this.#destroyed) return
    this.#destroyed = true
    removeRun(this.id)
    for (const child of [...this.#daemons.map((d) => d.child), ...this.#holders]) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  }
}

/** Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

async function must(program: string, args: readonly string[]): Promise<void> {
  const result = await execa(program, args, {reject: false, env: {PATH: SYSTEM_PATH}})
  if (result.exitCode !== 0) throw new Error(`${program} ${args.join(' ')} failed: ${result.stderr}`)
}

// ------------------------------------------------------------- synchronous cleanup

function sync(program: string, args: readonly string[]): string {
  const result = spawnSync(program, args, {encoding: 'utf8', env: {PATH: SYSTEM_PATH}, timeout: 10_000})
  return result.status === 0 ? result.stdout : ''
}

function namespacesOf(runId: string): string[] {
  return sync('ip', ['netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(`${runId}-`))
}

function pidsIn(netns: string): number[] {
  return sync('ip', ['netns', 'pids', netns])
    .split('\n')
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 1 && pid !== process.pid)
}

/** Processes whose command line names the run dir (holders, and anything started with its files). */
function pidsNaming(runDir: string): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(runDir)) found.push(Number(entry))
    } catch {
      // Gone while we looked.
    }
  }
  return found
}

function kill(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/** PID 1 of a PID namespace (seen from the host): its death takes every process of that namespace along. */
function isNamespaceInit(pid: number): boolean {
  try {
    return /^NSpid:\s+\d+\s+1$/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

/** Removes one run: its processes, namespaces and directory. */
export function removeRun(runId: string): void {
  const runDir = join('/tmp', runId)
  // The holders first: their PID namespaces go with them, and each `unshare` reaps its holder.
  kill(namespacesOf(runId).flatMap(pidsIn).filter(isNamespaceInit))
  sleepSync(50)
  for (let round = 0; round < 20; round++) {
    const pids = [...namespacesOf(runId).flatMap(pidsIn), ...pidsNaming(runDir)]
    if (pids.length === 0) break
    kill(pids)
    sleepSync(50)
  }
  for (const netns of namespacesOf(runId)) sync('ip', ['netns', 'delete', netns])
  rmSync(runDir, {recursive: true, force: true})
}

/** Whether the process that owns a run (the pid in its name) still runs. */
export function ownerAlive(pid: number): boolean {
  try {
    return existsSync(`/proc/${pid}`) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node')
  } catch {
    return false
  }
}

/**
 * Removes what runs whose owner process is gone left behind (namespaces,
 * processes, run dirs). Runs of a live owner, e.g. a colleague's suite
 * running right now, are left alone. Returns the run ids it removed.
 */
export function removeLeftovers(): string[] {
  const runs = new Set<string>()
  for (const name of [
    ...sync('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0] ?? ''),
    ...readdirSync('/tmp'),
  ]) {
    const match = RUN_NAME.exec(name)
    if (match?.[1] && match[2] && !ownerAlive(Number(match[1]))) runs.add(`${RUN_PREFIX}-${match[1]}-${match[2]}`)
  }
  for (const run of runs) removeRun(run)
  return [...runs]
}
