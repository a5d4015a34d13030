/**
 * The node port without SSH: scripts run with bash on this machine. For unit
 * tests (with fake tools on PATH) and for a node that is the machine Nexus
 * runs on. Same guarantees as the SSH transport (types.ts), minus host keys.
 */
import {execa} from 'execa'

import {NexusError} from '../errors.js'
import type {Node} from '../model/desired.js'
import {Semaphore} from './semaphore.js'
import type {ConnectOptions, ExecOptions, ExecResult, NodeConnection, NodeTransport} from './types.js'

export interface LocalTransportOptions {
  /** Variables added to (and overriding) this process's environment for every command. */
  readonly env?: Readonly<Record<string, string>>
  /** Working directory of the commands (default: the current one). */
  readonly cwd?: string
  /** Commands run at once per connection (default 8, like SSH). */
  readonly maxConcurrent?: number
}

const DEFAULT_COMMAND_TIMEOUT_MS = 120_000

export class LocalTransport implements NodeTransport {
  constructor(private readonly options: LocalTransportOptions = {}) {}

  async connect(node: Node, options: ConnectOptions): Promise<NodeConnection> {
    return new LocalConnection(node.name, this.options, options)
  }
}

class LocalConnection implements NodeConnection {
  readonly #slots: Semaphore
  readonly #running = new Set<number>()
  #closed = false

  constructor(
    readonly node: string,
    private readonly transport: LocalTransportOptions,
    private readonly connect: ConnectOptions,
  ) {
    this.#slots = new Semaphore(transport.maxConcurrent ?? 8)
  }

  async exec(script: string, options: ExecOptions = {}): Promise<ExecResult> {
    const timeoutMs = options.timeoutMs ?? this.connect.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS
    if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) throw new RangeError(`bad command timeout ${timeoutMs}`)
    this.#assertOpen()
    return this.#slots.run(async () => {
      this.#assertOpen()
      this.connect.onCommand?.(this.node, script)
      const child = execa('bash', ['--noprofile', '--norc', '-c', script], {
        input: options.stdin ?? '',
        reject: false,
        stripFinalNewline: false,
        // Its own process group, so a timeout kills everything the script started.
        detached: true,
        ...(this.transport.env ? {env: this.transport.env} : {}),
        ...(this.transport.cwd ? {cwd: this.transport.cwd} : {}),
      })
      const pid = child.pid
      if (pid !== undefined) this.#running.add(pid)
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        if (pid !== undefined) killGroup(pid)
      }, timeoutMs)
      try {
        const result = await child
        if (timedOut) {
          throw new NexusError(
            'command_timeout',
            `a command on node ${this.node} did not finish within ${timeoutMs / 1000} s; it was stopped`,
            'rerun with --verbose to see the command',
          )
        }
        if (this.#closed && result.exitCode === undefined) {
          throw new NexusError(
            'connection_closed',
            `the connection to node ${this.node} was closed while a command ran`,
          )
        }
        return {
          exitCode: result.exitCode ?? null,
          signal: result.signal?.replace(/^SIG/, '') ?? null,
          stdout: String(result.stdout),
          stderr: String(result.stderr),
        }
      } finally {
        clearTimeout(timer)
        if (pid !== undefined) this.#running.delete(pid)
      }
    })
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const pid of this.#running) killGroup(pid)
  }

  #assertOpen(): void {
    if (this.#closed)
      throw new NexusError('connection_closed', `the connection to node ${this.node} was already closed`)
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // Already gone.
  }
}
