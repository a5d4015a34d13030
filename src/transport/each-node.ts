/**
 * Runs one piece of work on many nodes over their own connections, a bounded
 * number at a time. Results keep the order of `nodes`. Any failure of one
 * node (unreachable, refused host key, failed login, timeout, a probe that
 * stopped early) becomes `{reachable: false, error}` for that node only.
 */
import {NexusError} from '../errors.js'
import type {Node} from '../model/desired.js'
import {mapLimit} from './semaphore.js'
import type {ConnectOptions, NodeConnection, NodeTransport} from './types.js'

export interface UnreachableNode {
  readonly node: string
  readonly reachable: false
  readonly error: {readonly code: string; readonly message: string; readonly hint?: string}
}

export interface EachNodeOptions {
  readonly connect: ConnectOptions
  readonly concurrency: number
  /** The error code, and the words before the message, of an unexpected failure. */
  readonly failure: {readonly code: string; readonly doing: (node: string) => string}
}

export async function onEachNode<T>(
  transport: NodeTransport,
  nodes: readonly Node[],
  options: EachNodeOptions,
  work: (connection: NodeConnection, node: Node) => Promise<T>,
): Promise<(T | UnreachableNode)[]> {
  return mapLimit(nodes, options.concurrency, async (node) => {
    let connection: NodeConnection | undefined
    try {
      connection = await transport.connect(node, options.connect)
      return await work(connection, node)
    } catch (error) {
      return unreachable(node.name, error, options.failure)
    } finally {
      await connection?.close().catch(() => {})
    }
  })
}

function unreachable(node: string, error: unknown, failure: EachNodeOptions['failure']): UnreachableNode {
  if (error instanceof NexusError) {
    return {
      node,
      reachable: false,
      error: {code: error.code, message: error.message, ...(error.hint ? {hint: error.hint} : {})},
    }
  }
  const message = error instanceof Error ? error.message : String(error)
  return {node, reachable: false, error: {code: failure.code, message: `${failure.doing(node)} failed: ${message}`}}
}
