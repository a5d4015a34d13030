/**
 * ConnectionReuse: the connection a plan read a node over is handed to the
 * push once, and only while it is sound, retained and fresh.
 */
import {describe, expect, it} from 'vitest'

import {NexusError} from '../../../src/errors.js'
import type {Node} from '../../../src/model/desired.js'
import {ConnectionReuse} from '../../../src/transport/reuse.js'
import type {ExecResult, NodeConnection, NodeTransport} from '../../../src/transport/types.js'
import {fakeNode} from './fakes.js'

/** A transport whose connections count themselves and can be made to fail. */
function countingTransport() {
  const opened: {id: number; node: string; closed: boolean; failNext: boolean}[] = []
  const transport: NodeTransport = {
    async connect(node: Node): Promise<NodeConnection> {
      const state = {id: opened.length + 1, node: node.name, closed: false, failNext: false}
      opened.push(state)
      return {
        node: node.name,
        async exec(): Promise<ExecResult> {
          if (state.closed) throw new NexusError('connection_closed', 'closed')
          if (state.failNext) throw new NexusError('node_connection_lost', 'lost')
          return {exitCode: 0, signal: null, stdout: String(state.id), stderr: ''}
        },
        async close() {
          state.closed = true
        },
      }
    },
  }
  return {transport, opened}
}

const options = {hostKeys: {get: async () => undefined, record: async () => {}}}
const gw1 = fakeNode({name: 'gw-1'})
const gw2 = fakeNode({name: 'gw-2'})
const idOf = async (connection: NodeConnection) => (await connection.exec('true')).stdout

describe('ConnectionReuse', () => {
  it('hands the read connection to the push once; the push closes it for good', async () => {
    const {transport, opened} = countingTransport()
    const reuse = new ConnectionReuse(transport)

    const read = await reuse.connect(gw1, options)
    expect(await idOf(read)).toBe('1')
    await read.close()
    expect(opened[0]?.closed).toBe(false)
    // The first user's handle is dead even though the connection lives on.
    await expect(read.exec('true')).rejects.toMatchObject({code: 'connection_closed'})

    const push = await reuse.connect(gw1, options)
    expect(await idOf(push)).toBe('1')
    await push.close()
    expect(opened[0]?.closed).toBe(true)

    const later = await reuse.connect(gw1, options)
    expect(await idOf(later)).toBe('2')
    expect(opened).toHaveLength(2)
    await reuse.close()
  })

  it('does not keep a connection a command failed on at the transport level', async () => {
    const {transport, opened} = countingTransport()
    const reuse = new ConnectionReuse(transport)
    const read = await reuse.connect(gw1, options)
    const state = opened[0]
    if (state) state.failNext = true
    await expect(read.exec('true')).rejects.toMatchObject({code: 'node_connection_lost'})
    await read.close()

    expect(opened[0]?.closed).toBe(true)
    const push = await reuse.connect(gw1, options)
    expect(opened).toHaveLength(2)
    await push.close()
  })

  it('closes the connections of nodes not retained, and everything on close', async () => {
    const {transport, opened} = countingTransport()
    const reuse = new ConnectionReuse(transport)
    await (await reuse.connect(gw1, options)).close()
    await (await reuse.connect(gw2, options)).close()

    await reuse.retain(['gw-2'])
    expect(opened.map((c) => c.closed)).toEqual([true, false])

    await reuse.close()
    expect(opened.map((c) => c.closed)).toEqual([true, true])
    // After close nothing is kept any more.
    await (await reuse.connect(gw2, options)).close()
    expect(opened.at(-1)?.closed).toBe(true)
  })

  it('replaces a connection that sat idle too long instead of trusting it', async () => {
    const {transport, opened} = countingTransport()
    let now = 0
    const reuse = new ConnectionReuse(transport, {maxIdleMs: 1000, now: () => now})
    await (await reuse.connect(gw1, options)).close()

    now = 1001
    const push = await reuse.connect(gw1, options)

    expect(opened[0]?.closed).toBe(true)
    expect(await idOf(push)).toBe('2')
    await reuse.close()
  })
})
