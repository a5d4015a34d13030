/**
 * Node observation, the I/O half: one exec of the observation script per
 * node (observation.ts builds and parses it), and a bounded fan-out over a
 * fleet in which one failing node never hides the others.
 */
import {randomBytes} from 'node:crypto'

import {NexusError} from '../errors.js'
import type {Node} from '../model/desired.js'
import {onEachNode, type UnreachableNode} from './each-node.js'
import {type NodeObservation, observationPlan, observationScript, parseObservation} from './observation.js'
import {execSteps, type Step} from './steps.js'
import type {ConnectOptions, NodeConnection, NodeTransport} from './types.js'

export type {UnreachableNode} from './each-node.js'

export const OBSERVE_DEFAULTS = {
  /** The whole observation script, on one node. */
  timeoutMs: 60_000,
  /** Nodes observed at once. */
  concurrency: 16,
} as const

export interface ObserveOptions {
  readonly timeoutMs?: number
  /**
   * Steps run first, in the same round trip (apply writes its revision
   * marker so). When one fails, nothing is observed and observeNode rejects
   * with `remote_command_failed`.
   */
  readonly before?: readonly Step[]
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
  const script = observationScript(plan, nonce)
  const timeoutMs = options.timeoutMs ?? OBSERVE_DEFAULTS.timeoutMs
  if (!options.before || options.before.length === 0) {
    return parseObservation(plan, await connection.exec(script, {timeoutMs}), nonce)
  }
  const outcome = await execSteps(
    connection,
    [...options.before, {id: 'observe', what: 'observing the node', script}],
    {
      timeoutMs,
    },
  )
  if (!outcome.ok && outcome.failed.id !== 'observe') throw new NexusError('remote_command_failed', outcome.message)
  // The probe's own sections tell what it saw, whatever its exit status.
  const section = outcome.sections.get('observe') ?? {
    exitCode: -1,
    stdout: '',
    stderr: outcome.ok ? '' : outcome.message,
  }
  return parseObservation(plan, section, nonce)
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
  return onEachNode(
    transport,
    nodes,
    {
      connect: options.connect,
      concurrency: options.concurrency ?? OBSERVE_DEFAULTS.concurrency,
      failure: {code: 'observation_failed', doing: (node) => `observing node ${node}`},
    },
    (connection, node) => observeNode(connection, node, options),
  )
}
