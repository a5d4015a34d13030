/**
 * The node port over SSH (ssh2, through node-ssh's connect).
 *
 * - Nexus opens the TCP socket itself with TCP_NODELAY: without it every
 *   round trip waits ~40 ms for Nagle + delayed ACK (perf-reliability.md §0.3).
 * - The host key is pinned (ssh.hostKey) or recorded on first use through a
 *   HostKeyStore; any other key is refused before authentication, and a
 *   first-use key is recorded only after the handshake has proved the node
 *   holds its private half.
 * - At most 8 channels are open per connection (OpenSSH MaxSessions is 10);
 *   OpenSSH frees a session slot lazily, so a refused open is retried briefly.
 * - Every command runs as `timeout … bash --noprofile --norc -c SCRIPT` on the
 *   node, so nothing outlives its timeout even if Nexus disappears.
 * - Credentials: ssh.identityFile, else NEXUS_SSH_KEY, else the SSH agent.
 *   Key material never appears in errors or in what onCommand sees.
 */
import {readFile} from 'node:fs/promises'
import {connect as netConnect, type Socket} from 'node:net'
import {homedir} from 'node:os'
import {join} from 'node:path'

import {NodeSSH} from 'node-ssh'

import {NexusError} from '../errors.js'
import type {Node} from '../model/desired.js'
import {algorithmsFor, decideHostKey, type HostKey, hostKeyFromBlob, parseHostKey} from './host-keys.js'
import {Semaphore} from './semaphore.js'
import {shellQuote} from './shell.js'
import type {ConnectOptions, ExecOptions, ExecResult, NodeConnection, NodeTransport} from './types.js'

export const SSH_DEFAULTS = {
  /** Channels per connection; OpenSSH's MaxSessions default is 10. */
  maxChannels: 8,
  connectTimeoutMs: 15_000,
  commandTimeoutMs: 120_000,
  keepaliveIntervalMs: 15_000,
  keepaliveCountMax: 3,
} as const

/** Extra seconds the node-side `timeout` grants beyond the client's own timeout. */
const REMOTE_TIMEOUT_MARGIN_S = 1
/**
 * Channel-open refusals worth retrying: OpenSSH answers a session it cannot
 * start (MaxSessions reached) with SSH_OPEN_CONNECT_FAILED (2) "open failed";
 * other servers use ADMINISTRATIVELY_PROHIBITED (1).
 */
const OPEN_RETRY_REASONS = new Set<unknown>([1, 2])
/** Waits before retrying a refused channel open (about 1.3 s in all). */
const OPEN_RETRY_DELAYS_MS = [20, 40, 80, 160, 320, 640]
/** How long a channel slot stays taken after a timeout if the node never confirms the close. */
const CLOSE_GRACE_MS = 5_000

export interface SshTransportOptions {
  /** Where NEXUS_SSH_KEY and SSH_AUTH_SOCK are read (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly maxChannels?: number
  /** SSH-level keepalive; the connection is declared lost after interval × countMax of silence. */
  readonly keepaliveIntervalMs?: number
  readonly keepaliveCountMax?: number
  /** Sees each TCP socket once it is connected and configured (diagnostics and tests). */
  readonly onSocket?: (socket: Socket) => void
}

// The few ssh2 shapes used here (ssh2 ships no types; node-ssh exposes the client untyped).
interface Ssh2Channel {
  readonly stderr: {on(event: 'data', listener: (chunk: Buffer) => void): unknown}
  on(event: 'data', listener: (chunk: Buffer) => void): unknown
  on(event: 'exit', listener: (code: number | null, signal?: string) => void): unknown
  on(event: 'close', listener: () => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  end(data?: string): void
  signal(name: string): void
  close(): void
}

interface Ssh2Client {
  exec(command: string, callback: (error: Error | undefined, channel: Ssh2Channel) => void): boolean
  end(): void
  on(event: 'error', listener: (error: Error) => void): unknown
  on(event: 'close', listener: () => void): unknown
}

type Credentials =
  | {readonly kind: 'key'; readonly path: string; readonly origin: 'ssh.identityFile' | 'NEXUS_SSH_KEY'}
  | {readonly kind: 'agent'; readonly socket: string}

export class SshTransport implements NodeTransport {
  constructor(private readonly options: SshTransportOptions = {}) {}

  async connect(node: Node, options: ConnectOptions): Promise<SshConnection> {
    const connectTimeoutMs = options.connectTimeoutMs ?? SSH_DEFAULTS.connectTimeoutMs
    const credentials = chooseCredentials(node, this.options.env ?? process.env)
    const auth = await loadCredentials(node, credentials)
    const pinned = node.ssh.hostKey === undefined ? undefined : checkedKey(node, node.ssh.hostKey, 'ssh.hostKey')
    const recordedLine = pinned ? undefined : await options.hostKeys.get(node.name)
    const recorded = recordedLine === undefined ? undefined : checkedKey(node, recordedLine, 'state')
    const expected = pinned ?? recorded

    const socket = await openSocket(node, connectTimeoutMs)
    this.options.onSocket?.(socket)

    let refusal: NexusError | undefined
    let firstUse: HostKey | undefined
    let presented: HostKey | undefined
    const ssh = new NodeSSH()
    try {
      await ssh.connect({
        sock: socket,
        username: node.ssh.user,
        ...auth,
        readyTimeout: connectTimeoutMs,
        keepaliveInterval: this.options.keepaliveIntervalMs ?? SSH_DEFAULTS.keepaliveIntervalMs,
        keepaliveCountMax: this.options.keepaliveCountMax ?? SSH_DEFAULTS.keepaliveCountMax,
        // Only ask for the type we hold, so a node that also has other key types is not "changed".
        ...(expected ? {algorithms: {serverHostKey: algorithmsFor(expected.type)}} : {}),
        // Must return undefined (not a promise): ssh2 then waits for verify().
        hostVerifier: (blob: Buffer, verify: (accept: boolean) => void): undefined => {
          presented = hostKeyFromBlob(blob)
          const decision = decideHostKey(presented, pinned, recorded)
          if (decision.action === 'reject') {
            refusal = hostKeyChanged(node, decision.expected, presented, decision.source)
            verify(false)
          } else {
            if (decision.action === 'record') firstUse = presented
            verify(true)
          }
          return undefined
        },
      })
    } catch (error) {
      socket.destroy()
      throw refusal ?? connectError(node, credentials, error, expected, connectTimeoutMs)
    }
    const client = ssh.connection as Ssh2Client | null
    if (!client || !presented) {
      socket.destroy()
      throw new Error(`ssh connect to ${node.name} resolved without a client or host key`)
    }
    const connection = new SshConnection(node.name, presented, client, socket, {
      maxChannels: this.options.maxChannels ?? SSH_DEFAULTS.maxChannels,
      commandTimeoutMs: options.commandTimeoutMs ?? SSH_DEFAULTS.commandTimeoutMs,
      ...(options.onCommand ? {onCommand: options.onCommand} : {}),
    })
    if (firstUse) {
      // After the handshake (the node proved it holds the key), before any command.
      try {
        await options.hostKeys.record(node.name, firstUse.line)
      } catch (error) {
        await connection.close()
        throw error
      }
    }
    return connection
  }
}

interface ConnectionSettings {
  readonly maxChannels: number
  readonly commandTimeoutMs: number
  readonly onCommand?: (node: string, script: string) => void
}

export class SshConnection implements NodeConnection {
  readonly #client: Ssh2Client
  readonly #socket: Socket
  readonly #settings: ConnectionSettings
  readonly #channels: Semaphore
  readonly #gone: Promise<void>
  #closing = false
  #dead = false
  #lostReason: string | undefined

  constructor(
    readonly node: string,
    /** The key the node presented (pinned, recorded or just recorded). */
    readonly hostKey: HostKey,
    client: Ssh2Client,
    socket: Socket,
    settings: ConnectionSettings,
  ) {
    this.#client = client
    this.#socket = socket
    this.#settings = settings
    this.#channels = new Semaphore(settings.maxChannels)
    client.on('error', (error) => {
      this.#lostReason ??= error.message
    })
    this.#gone = new Promise((resolve) => {
      client.on('close', () => {
        this.#dead = true
        if (!this.#closing) this.#lostReason ??= 'the node closed the connection'
        resolve()
      })
    })
  }

  async exec(script: string, options: ExecOptions = {}): Promise<ExecResult> {
    const timeoutMs = options.timeoutMs ?? this.#settings.commandTimeoutMs
    if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) throw new RangeError(`bad command timeout ${timeoutMs}`)
    this.#assertUsable()
    const release = await this.#channels.acquire()
    try {
      this.#assertUsable()
    } catch (error) {
      release()
      throw error
    }
    this.#settings.onCommand?.(this.node, script)
    return new Promise<ExecResult>((resolve, reject) => {
      let settled = false
      let channel: Ssh2Channel | undefined
      const settle = (outcome: ExecResult | Error) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (outcome instanceof Error) reject(outcome)
        else resolve(outcome)
      }
      const timer = setTimeout(() => {
        settle(
          new NexusError(
            'command_timeout',
            `a command on node ${this.node} did not finish within ${formatSeconds(timeoutMs)}; it was stopped`,
            'the node may be overloaded or a tool may hang there; rerun with --verbose to see the command',
          ),
        )
        if (channel) stopChannel(channel)
        // Normally released when the channel closes; this covers a node that never confirms.
        setTimeout(release, CLOSE_GRACE_MS).unref()
      }, timeoutMs)

      const hasStdin = options.stdin !== undefined
      const command = remoteCommand(script, timeoutMs, hasStdin)
      const fail = (error: Error) => {
        release()
        settle(this.#dead ? this.#goneError() : channelOpenFailed(this.node, error))
      }
      const open = (attempt: number) => {
        if (settled || this.#dead) {
          release()
          if (this.#dead) settle(this.#goneError())
          return
        }
        try {
          this.#client.exec(command, (error, opened) => {
            if (error) {
              const delay = OPEN_RETRY_DELAYS_MS[attempt]
              // OpenSSH frees a session only after its close is processed, so a channel opened
              // right after another closed can be refused for a moment; try again shortly.
              const reason = (error as {reason?: unknown}).reason
              if (OPEN_RETRY_REASONS.has(reason) && delay !== undefined && !this.#dead) {
                setTimeout(() => open(attempt + 1), delay)
              } else {
                fail(error)
              }
              return
            }
            run(opened)
          })
        } catch (error) {
          fail(error instanceof Error ? error : new Error(String(error)))
        }
      }
      const run = (opened: Ssh2Channel) => {
        channel = opened
        const stdout: Buffer[] = []
        const stderr: Buffer[] = []
        let exitCode: number | null = null
        let signal: string | null = null
        let exited = false
        opened.on('error', () => {})
        opened.on('data', (chunk) => stdout.push(chunk))
        opened.stderr.on('data', (chunk) => stderr.push(chunk))
        opened.on('exit', (code, signalName) => {
          exited = true
          exitCode = typeof code === 'number' ? code : null
          signal = signalName ?? null
        })
        opened.on('close', () => {
          release()
          if (!exited && this.#dead) {
            settle(this.#goneError())
            return
          }
          settle({
            exitCode,
            signal,
            stdout: Buffer.concat(stdout).toString('utf8'),
            stderr: Buffer.concat(stderr).toString('utf8'),
          })
        })
        if (settled) stopChannel(opened)
        // Without stdin the command reads /dev/null and the channel stays writable, which
        // lets a timeout deliver its signal (ssh2 sends none on a channel whose input ended).
        else if (hasStdin) opened.end(options.stdin)
      }
      open(0)
    })
  }

  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true
      this.#client.end()
      const timer = setTimeout(() => this.#socket.destroy(), CLOSE_GRACE_MS)
      await this.#gone
      clearTimeout(timer)
    }
    await this.#gone
  }

  #assertUsable(): void {
    if (this.#closing) {
      throw new NexusError('connection_closed', `the connection to node ${this.node} was already closed`)
    }
    if (this.#dead) throw this.#lostError()
  }

  /** Why a command could not finish: close() was called, or the connection died. */
  #goneError(): NexusError {
    if (this.#closing) {
      return new NexusError('connection_closed', `the connection to node ${this.node} was closed while a command ran`)
    }
    return this.#lostError()
  }

  #lostError(): NexusError {
    return new NexusError(
      'node_connection_lost',
      `lost the connection to node ${this.node}: ${this.#lostReason ?? 'closed'}`,
      'check the node and the network, then rerun; Nexus converges from whatever state the node is in',
    )
  }
}

/**
 * The command line the node's login shell receives: bash without rc files,
 * bounded by coreutils `timeout` a little beyond the client's own limit, so
 * nothing outlives a client that gave up or vanished (`timeout` signals the
 * whole process group, then kills it).
 */
function remoteCommand(script: string, timeoutMs: number, hasStdin: boolean): string {
  const seconds = (Math.ceil(timeoutMs / 100) + REMOTE_TIMEOUT_MARGIN_S * 10) / 10
  const input = hasStdin ? '' : ' </dev/null'
  return `exec timeout --kill-after=2 ${seconds} bash --noprofile --norc -c ${shellQuote(script)}${input}`
}

function stopChannel(channel: Ssh2Channel): void {
  try {
    // sshd delivers it to the session's process group where it supports signal requests
    // (OpenSSH 9.2 does); the node-side `timeout` is the fallback.
    channel.signal('TERM')
  } catch {
    // The channel may already be closing.
  }
  channel.close()
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`
}

function chooseCredentials(node: Node, env: Readonly<Record<string, string | undefined>>): Credentials {
  if (node.ssh.identityFile) {
    return {kind: 'key', path: expandHome(node.ssh.identityFile), origin: 'ssh.identityFile'}
  }
  if (env.NEXUS_SSH_KEY) return {kind: 'key', path: expandHome(env.NEXUS_SSH_KEY), origin: 'NEXUS_SSH_KEY'}
  if (env.SSH_AUTH_SOCK) return {kind: 'agent', socket: env.SSH_AUTH_SOCK}
  throw new NexusError(
    'ssh_auth_failed',
    `no SSH credentials for node ${node.name}`,
    'set ssh.identityFile on the node, point NEXUS_SSH_KEY at a private key, or start an SSH agent (SSH_AUTH_SOCK)',
  )
}

async function loadCredentials(node: Node, credentials: Credentials): Promise<{privateKey: string} | {agent: string}> {
  if (credentials.kind === 'agent') return {agent: credentials.socket}
  try {
    return {privateKey: await readFile(credentials.path, 'utf8')}
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable'
    throw new NexusError(
      'ssh_auth_failed',
      `cannot read the SSH key ${credentials.path} (from ${credentials.origin}) for node ${node.name}: ${code}`,
      `fix ${credentials.origin} or create the key`,
    )
  }
}

export function expandHome(path: string): string {
  if (path === '~') return homedir()
  if (path.startsWith('~/')) return join(homedir(), path.slice(2))
  return path
}

function checkedKey(node: Node, line: string, source: 'ssh.hostKey' | 'state'): HostKey {
  const key = parseHostKey(line)
  if (key) return key
  throw new NexusError(
    'host_key_invalid',
    source === 'ssh.hostKey'
      ? `ssh.hostKey of node ${node.name} is not a valid public key`
      : `the host key recorded in state for node ${node.name} is not a valid public key`,
    source === 'ssh.hostKey'
      ? 'copy the key from the node: the second and third fields of /etc/ssh/ssh_host_ed25519_key.pub'
      : `run \`nexus node forget-host-key ${node.name}\`; the key is recorded again on the next connection`,
  )
}

function hostKeyChanged(node: Node, expected: HostKey, presented: HostKey, source: 'pinned' | 'recorded'): NexusError {
  const where = source === 'pinned' ? 'pinned in ssh.hostKey' : 'recorded on the first connection'
  const remedy =
    source === 'pinned'
      ? `update ssh.hostKey of node ${node.name}`
      : `run \`nexus node forget-host-key ${node.name}\` (or pin the new key as ssh.hostKey)`
  return new NexusError(
    'host_key_changed',
    `the host key of node ${node.name} (${node.ssh.host}:${node.ssh.port}) changed: expected ${expected.fingerprint} (${expected.type}, ${where}), the node presented ${presented.fingerprint} (${presented.type}); nothing was run`,
    `if the change is expected (node reinstalled, key rotated), compare ${presented.fingerprint} with \`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub\` on the node, then ${remedy}; otherwise someone may be intercepting the connection`,
  )
}

function unreachable(node: Node, reason: string): NexusError {
  return new NexusError(
    'node_unreachable',
    `cannot reach node ${node.name} at ${node.ssh.host}:${node.ssh.port}: ${reason}`,
    'check that the node is up, that sshd listens on that port and that no firewall is in the way (ssh.host, ssh.port)',
  )
}

const NET_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  EPIPE: 'connection closed',
}

function openSocket(node: Node, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({host: node.ssh.host, port: node.ssh.port})
    const fail = (reason: string) => {
      clearTimeout(timer)
      socket.destroy()
      reject(unreachable(node, reason))
    }
    const timer = setTimeout(() => fail(`no answer within ${formatSeconds(timeoutMs)}`), timeoutMs)
    const onError = (error: NodeJS.ErrnoException) => fail(NET_REASONS[error.code ?? ''] ?? error.message)
    socket.once('error', onError)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.removeListener('error', onError)
      // ssh2 reports socket errors itself; this keeps a late one from being unhandled.
      socket.on('error', () => {})
      socket.setNoDelay(true)
      resolve(socket)
    })
  })
}

function connectError(
  node: Node,
  credentials: Credentials,
  error: unknown,
  expected: HostKey | undefined,
  timeoutMs: number,
): Error {
  if (!(error instanceof Error)) return new Error(String(error))
  const {level, code} = error as Error & {level?: string; code?: string}
  const message = error.message
  const using =
    credentials.kind === 'agent'
      ? 'the keys of the SSH agent (SSH_AUTH_SOCK)'
      : `the key ${credentials.path} (from ${credentials.origin})`
  if (level === 'agent') {
    return new NexusError(
      'ssh_auth_failed',
      `cannot use the SSH agent (SSH_AUTH_SOCK) for node ${node.name}: ${message}`,
      'start ssh-agent and ssh-add the key, or set ssh.identityFile or NEXUS_SSH_KEY',
    )
  }
  if (level === 'client-authentication') {
    return new NexusError(
      'ssh_auth_failed',
      `node ${node.name} refused the login of ${node.ssh.user} with ${using}`,
      `add the matching public key to ~${node.ssh.user}/.ssh/authorized_keys on the node, or fix ssh.user, ssh.identityFile, NEXUS_SSH_KEY or the agent`,
    )
  }
  if (/private ?key|passphrase/i.test(message)) {
    return new NexusError(
      'ssh_auth_failed',
      `cannot use ${using} for node ${node.name}: ${message}`,
      'use an unencrypted OpenSSH/PEM private key, or load the key into ssh-agent and leave ssh.identityFile and NEXUS_SSH_KEY unset',
    )
  }
  if (level === 'client-timeout') {
    return unreachable(node, `no SSH handshake within ${formatSeconds(timeoutMs)}`)
  }
  if (level === 'handshake') {
    if (expected && /host ?key/i.test(message)) {
      return new NexusError(
        'host_key_changed',
        `node ${node.name} (${node.ssh.host}:${node.ssh.port}) no longer offers a ${expected.type} host key; expected ${expected.fingerprint}; nothing was run`,
        `if the node's host keys were replaced on purpose, check them with \`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub\` on the node and update ssh.hostKey or run \`nexus node forget-host-key ${node.name}\``,
      )
    }
    return new NexusError(
      'ssh_handshake_failed',
      `SSH handshake with node ${node.name} failed: ${message}`,
      'Nexus needs curve25519 or ECDH key exchange and an ed25519, ECDSA or RSA host key; check the node sshd configuration',
    )
  }
  if (level === 'client-socket' || level === 'client-dns' || code !== undefined) {
    if (message === 'No response from server') {
      return unreachable(node, 'the node closed the connection during the SSH handshake')
    }
    return unreachable(node, NET_REASONS[code ?? ''] ?? message)
  }
  return error
}

function channelOpenFailed(node: string, error: Error): NexusError {
  return new NexusError(
    'channel_open_failed',
    `node ${node} refused to open a session channel: ${error.message}`,
    'the node limits sessions per connection (sshd MaxSessions); raise it to at least 10 or lower the load',
  )
}
