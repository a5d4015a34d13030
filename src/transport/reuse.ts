/**
 * Lets an apply push over the connection its plan read the node over: one
 * SSH handshake per node instead of two. A handshake costs tens of
 * milliseconds of CPU (key exchange, signatures) and a few round trips, so
 * at 20 nodes on two cores it is a good part of an apply.
 *
 * A connection is kept after its first user closes it, and handed out once
 * more: to the next `connect` for that node, whose `close` is final. It is
 * not kept when a command on it failed at the transport level (timeout, lost
 * connection), when its node was not retained, or once it has sat idle
 * longer than `maxIdleMs` (a connection that waited through a long
 * confirmation or earlier batches is replaced by a fresh one rather than
 * trusted).
 */
import {NexusError} from '../errors.js'
import type {Node} from '../model/desired.js'
import type {ConnectOptions, ExecOptions, ExecResult, NodeConnection, NodeTransport} from './types.js'

export interface ReuseOptions {
  /** A kept connection idle longer than this is closed, not handed out. Default 15 s. */
  readonly maxIdleMs?: number
  readonly now?: () => number
}

interface Idle {
  readonly connection: NodeConnection
  readonly since: number
}

export class ConnectionReuse implements NodeTransport {
  readonly #transport: NodeTransport
  readonly #maxIdleMs: number
  readonly #now: () => number
  readonly #idle = new Map<string, Idle>()
  /** Nodes whose connections may be kept; all of them until `retain` narrows it. */
  #retained: ReadonlySet<string> | undefined
  #closed = false

  constructor(transport: NodeTransport, options: ReuseOptions = {}) {
    this.#transport = transport
    this.#maxIdleMs = options.maxIdleMs ?? 15_000
    this.#now = options.now ?? Date.now
  }

  async connect(node: Node, options: ConnectOptions): Promise<NodeConnection> {
    const idle = this.#idle.get(node.name)
    if (idle) {
      this.#idle.delete(node.name)
      if (this.#now() - idle.since <= this.#maxIdleMs) return idle.connection
      await idle.connection.close().catch(() => {})
    }
    return new KeptOnClose(await this.#transport.connect(node, options), (connection) => this.#keep(connection))
  }

  /** Keeps only these nodes' connections (closing the others' now); the apply knows them once it has planned. */
  async retain(nodes: Iterable<string>): Promise<void> {
    this.#retained = new Set(nodes)
    for (const name of [...this.#idle.keys()]) if (!this.#retained.has(name)) await this.#drop(name)
  }

  /** Closes every kept connection; from now on nothing is kept. */
  async close(): Promise<void> {
    this.#closed = true
    for (const name of [...this.#idle.keys()]) await this.#drop(name)
  }

  async #keep(connection: NodeConnection): Promise<void> {
    const wanted = !this.#closed && (this.#retained?.has(connection.node) ?? true) && !this.#idle.has(connection.node)
    if (wanted) this.#idle.set(connection.node, {connection, since: this.#now()})
    else await connection.close()
  }

  async #drop(name: string): Promise<void> {
    const idle = this.#idle.get(name)
    this.#idle.delete(name)
    await idle?.connection.close().catch(() => {})
  }
}

/** Runs `work` with a ConnectionReuse over `transport`, closing whatever it still keeps at the end. */
export async function withConnectionReuse<T>(
  transport: NodeTransport,
  work: (connections: ConnectionReuse) => Promise<T>,
  options: ReuseOptions = {},
): Promise<T> {
  const connections = new ConnectionReuse(transport, options)
  try {
    return await work(connections)
  } finally {
    await connections.close()
  }
}

/** A connection whose first `close` hands it back to be kept, unless a command on it failed at the transport level. */
class KeptOnClose implements NodeConnection {
  readonly node: string
  readonly #inner: NodeConnection
  readonly #keep: (connection: NodeConnection) => Promise<void>
  #broken = false
  #closed = false

  constructor(inner: NodeConnection, keep: (connection: NodeConnection) => Promise<void>) {
    this.node = inner.node
    this.#inner = inner
    this.#keep = keep
  }

  async exec(script: string, options?: ExecOptions): Promise<ExecResult> {
    // Once handed back, the connection may be someone else's.
    if (this.#closed)
      throw new NexusError('connection_closed', `the connection to node ${this.node} was already closed`)
    try {
      return await this.#inner.exec(script, options)
    } catch (error) {
      // exec rejects only for the transport (timeout, lost or closed connection): never reuse it then.
      this.#broken = true
      throw error
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#broken) await this.#inner.close()
    else await this.#keep(this.#inner)
  }
}
