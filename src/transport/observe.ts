/**
 * Node observation, the I/O half: one exec of the observation script per
 * node (observation.ts builds and parses it), and a bounded fan-out over a
 * fleet in which one failing node never hides the others.
 */
import {randomBytes} from 'node:crypto'

import {NexusError} from '../errors.js'
import type {Node} from '../model/desired.js'
import {type NodeObservation, observationPlan, observationScript, parseObservation} from './observation.js'
import {mapLimit} from './semaphore.js'
import type {ConnectOptions, NodeConnection, NodeTransport} from './types.js'

export const OBSERVE_DEFAULTS = {
  /** The whole observation script, on one node. */
  timeoutMs: 60_000,
  /** Nodes observed at once. */
  concurrency: 16,
} as const

export interface ObserveOptions {
  readonly timeoutMs?: number
}

/**
 * Reads a node's live state in one round trip. Rejects with the
 * connection's NexusErrors (`command_timeout`, `node_connection_lost`, …)
 * or `observation_failed` when the script could not run to its end; a
 * missing file, interface, table or xray API is part of the result.
 */
export async function observeNode(
  connection: NodeConnection,
  node: Node,
  options: ObserveOptions = {},
): Promise<NodeObservation> {
  const plan = observationPlan(node)
  const nonce = randomBytes(16).toString('hex')
  const result = await connection.exec(observationScript(plan, nonce), {
    timeoutMs: options.timeoutMs ?? OBSERVE_DEFAULTS.timeoutMs,
  })
  return parseObservation(plan, result, nonce)
}

export interface UnreachableNode {
  readonly node: string
  readonly reachable: false
  readonly error: {readonly code: string; readonly message: string; readonly hint?: string}
}

export type NodeObservationResult = NodeObservation | UnreachableNode

export interface ObserveNodesOptions extends ObserveOptions {
  readonly connect: ConnectOptions
  /** Nodes observed at once (default 16). */
  readonly concurrency?: number
}

/**
 * Observes every node (connect, observe, close), at most `concurrency` at a
 * time. Results keep the order of `nodes`. Any failure of one node —
 * unreachable, refused host key, failed login, timeout — becomes
 * `{reachable: false, error}` for that node only.
 */
export async function observeNodes(
  transport: NodeTransport,
  nodes: readonly Node[],
  options: ObserveNodesOptions,
): Promise<NodeObservationResult[]> {
  return mapLimit(nodes, options.concurrency ?? OBSERVE_DEFAULTS.concurrency, async (node) => {
    let connection: NodeConnection | undefined
    try {
      connection = await transport.connect(node, options.connect)
      return await observeNode(connection, node, options)
    } catch (error) {
      return failed(node.name, error)
    } finally {
      await connection?.close().catch(() => {})
    }
  })
}

function failed(node: string, error: unknown): UnreachableNode {
  if (error instanceof NexusError) {
    return {
      node,
      reachable: false,
      error: {code: error.code, message: error.message, ...(error.hint ? {hint: error.hint} : {})},
    }
  }
  const message = error instanceof Error ? error.message : String(error)
  return {
    node,
    reachable: false,
    error: {code: 'observation_failed', message: `observing node ${node} failed: ${message}`},
  }
}
