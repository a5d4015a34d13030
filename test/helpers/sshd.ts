/**
 * A throw-away OpenSSH server for the transport tests: fresh host and user
 * keys, its own sshd_config, listening on 127.0.0.1 only, stopped (with every
 * session process it started) by `stop()` or, at the latest, when the test
 * process exits.
 *
 * sshd insists on its privilege-separation directory /run/sshd. Rather than
 * create it on the host, sshd runs in a private mount namespace with a tmpfs
 * on /run, so the host's filesystem is never touched.
 *
 * Sessions get `HOME` set to an empty temp directory (so the login shell reads
 * no rc files of the real root account) and `PATH` starting with `binDir`,
 * where tests put fake `wg`, `nft` and `xray` scripts.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, connect as netConnect} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {execa} from 'execa'

const SSHD = '/usr/sbin/sshd'

export interface TestSshd {
  readonly host: string
  readonly port: number
  /** Temp directory holding keys, config and log; removed by stop(). */
  readonly dir: string
  /** The host key as pinned in ssh.hostKey: `ssh-ed25519 AAAA…`. */
  readonly hostKey: string
  /** A private key file authorized to log in as root. */
  readonly userKey: string
  /** A private key file that is not authorized. */
  readonly strangerKey: string
  /** First on the PATH of every session. */
  readonly binDir: string
  /** HOME of every session (empty). */
  readonly homeDir: string
  /** What sshd logged so far. */
  log(): string
  stop(): Promise<void>
}

export interface SshdOptions {
  /** Directory put first on PATH in sessions (default: `DIR/bin`, created empty). */
  readonly binDir?: string
  /** Reuse user keys (so one key logs in to several servers). */
  readonly userKey?: string
  readonly strangerKey?: string
}

export async function startSshd(options: SshdOptions = {}): Promise<TestSshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing; install openssh-server (.ci/run does)`)
  const dir = mkdtempSync(join(tmpdir(), 'nexus-sshd-'))
  try {
    const hostKeyFile = join(dir, 'ssh_host_ed25519_key')
    await keygen(hostKeyFile)
    const userKey = options.userKey ?? (await keygen(join(dir, 'user_key')))
    const strangerKey = options.strangerKey ?? (await keygen(join(dir, 'stranger_key')))
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${userKey}.pub`), {mode: 0o600})
    const binDir = options.binDir ?? join(dir, 'bin')
    const homeDir = join(dir, 'home')
    mkdirSync(binDir, {recursive: true})
    mkdirSync(homeDir)
    const hostKey = readFileSync(`${hostKeyFile}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ')

    for (let attempt = 1; ; attempt++) {
      const port = await freePort()
      const config = join(dir, 'sshd_config')
      writeFileSync(config, sshdConfig({dir, port, hostKeyFile, binDir, homeDir}))
      try {
        const server = await launch(config, port)
        return {
          host: '127.0.0.1',
          port,
          dir,
          hostKey,
          userKey,
          strangerKey,
          binDir,
          homeDir,
          log: server.log,
          stop: async () => {
            await server.stop()
            rmSync(dir, {recursive: true, force: true})
          },
        }
      } catch (error) {
        // Another process may have taken the port between probing and binding.
        if (attempt >= 3 || !/Address already in use|Cannot bind/i.test(String(error))) throw error
      }
    }
  } catch (error) {
    rmSync(dir, {recursive: true, force: true})
    throw error
  }
}

/** Creates an ed25519 key pair without passphrase; returns the private key path. */
export async function keygen(path: string): Promise<string> {
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'nexus-test', '-f', path])
  return path
}

function sshdConfig(o: {dir: string; port: number; hostKeyFile: string; binDir: string; homeDir: string}): string {
  return [
    `ListenAddress 127.0.0.1`,
    `Port ${o.port}`,
    `HostKey ${o.hostKeyFile}`,
    `AuthorizedKeysFile ${join(o.dir, 'authorized_keys')}`,
    `PermitRootLogin prohibit-password`,
    `PubkeyAuthentication yes`,
    `PasswordAuthentication no`,
    `KbdInteractiveAuthentication no`,
    `AuthenticationMethods publickey`,
    `StrictModes no`,
    `UsePAM no`,
    `PidFile ${join(o.dir, 'sshd.pid')}`,
    // OpenSSH's default, stated so the channel-limit test means something.
    `MaxSessions 10`,
    `MaxStartups 100`,
    `PrintMotd no`,
    `Subsystem sftp internal-sftp`,
    `SetEnv PATH=${o.binDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=${o.homeDir}`,
    '',
  ].join('\n')
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}

interface Launched {
  log(): string
  stop(): Promise<void>
}

async function launch(config: string, port: number): Promise<Launched> {
  // A private mount namespace with its own /run, so /run/sshd exists without touching the host.
  const child = spawn(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount -t tmpfs -o mode=755 tmpfs /run && mkdir -m 755 /run/sshd && exec "$0" -D -e -f "$1"',
      SSHD,
      config,
    ],
    {stdio: ['ignore', 'ignore', 'pipe']},
  )
  let log = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    log += chunk
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const killOnExit = () => killTree(child)
  process.once('exit', killOnExit)
  const stop = async () => {
    process.removeListener('exit', killOnExit)
    killTree(child)
    const timer = setTimeout(() => child.pid !== undefined && signal(child.pid, 'SIGKILL'), 5_000)
    await exited
    clearTimeout(timer)
  }
  try {
    await waitForListening(child, () => log, port)
  } catch (error) {
    await stop()
    throw error
  }
  return {log: () => log, stop}
}

async function waitForListening(child: ChildProcess, log: () => string, port: number): Promise<void> {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`sshd exited before listening (${child.exitCode ?? child.signalCode}):\n${log()}`)
    }
    if (log().includes(`port ${port}.`) && (await accepts(port))) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`sshd did not listen on 127.0.0.1:${port} within 10 s:\n${log()}`)
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({host: '127.0.0.1', port})
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/**
 * SIGTERM to the sshd we started and to every process below it (the
 * per-connection sshd processes detach into their own sessions, so a
 * process-group kill would miss them). All by pid, found through /proc.
 */
function killTree(child: ChildProcess): void {
  const pid = child.pid
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  const descendants = descendantsOf(pid)
  signal(pid, 'SIGTERM')
  for (const descendant of descendants) signal(descendant, 'SIGTERM')
}

function descendantsOf(root: number): number[] {
  const parents = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // pid (comm) state ppid …; comm may contain spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      parents.set(Number(entry), ppid)
    } catch {
      // The process ended while we looked.
    }
  }
  const found: number[] = []
  const queue = [root]
  while (queue.length > 0) {
    const parent = queue.shift()
    for (const [pid, ppid] of parents) {
      if (ppid === parent) {
        found.push(pid)
        queue.push(pid)
      }
    }
  }
  return found
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name)
  } catch {
    // Already gone.
  }
}
