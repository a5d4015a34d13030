import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {NexusError} from '../../../src/errors.js'
import {MemoryHostKeyStore} from '../../../src/transport/host-keys.js'
import {LocalTransport} from '../../../src/transport/local.js'
import {observeNode, observeNodes} from '../../../src/transport/observe.js'
import {sh} from '../../../src/transport/shell.js'
import type {NodeConnection, NodeTransport} from '../../../src/transport/types.js'
import {fakeNode, installFakeTools, writeNodeFile} from './fakes.js'

const dir = mkdtempSync(join(tmpdir(), 'nexus-local-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const hostKeys = new MemoryHostKeyStore()

async function connect(transport = new LocalTransport(), onCommand?: (node: string, script: string) => void) {
  return transport.connect(fakeNode(), {hostKeys, ...(onCommand ? {onCommand} : {})})
}

async function rejection(promise: Promise<unknown>): Promise<NexusError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(error instanceof NexusError)) throw new Error(`expected a NexusError, got ${String(error)}`)
  return error
}

describe('LocalTransport', () => {
  it('runs bash and returns exit code, stdout and stderr exactly', async () => {
    const connection = await connect()
    const result = await connection.exec('printf "out\\n\\n"; printf err >&2; [[ -n $BASH_VERSION ]] && exit 3')
    expect(result).toEqual({exitCode: 3, signal: null, stdout: 'out\n\n', stderr: 'err'})
    await connection.close()
  })

  it('feeds stdin and closes it', async () => {
    const connection = await connect()
    const input = 'line one\nünïcødé ✓\n'
    expect((await connection.exec('cat; echo "<eof>"', {stdin: input})).stdout).toBe(`${input}<eof>\n`)
    expect((await connection.exec('cat; echo done')).stdout).toBe('done\n')
    await connection.close()
  })

  it('echoes each script to onCommand, never stdin', async () => {
    const seen: string[] = []
    const connection = await connect(new LocalTransport(), (node, script) => seen.push(`${node}: ${script}`))
    await connection.exec(sh`cat >/dev/null; echo ${'a b'}`, {stdin: 'secret'})
    expect(seen).toEqual(["fra-1: cat >/dev/null; echo 'a b'"])
    await connection.close()
  })

  it('kills a command that outlives its timeout, children included', async () => {
    const connection = await connect()
    const marker = join(dir, 'timeout-marker')
    const error = await rejection(connection.exec(sh`(sleep 2; touch ${marker}) & sleep 5`, {timeoutMs: 300}))
    expect(error.code).toBe('command_timeout')
    expect(error.message).toMatch(/node fra-1 did not finish within 0.3 s/)
    await new Promise((resolve) => setTimeout(resolve, 2_500))
    expect(existsSync(marker)).toBe(false)
    expect((await connection.exec('echo still usable')).stdout).toBe('still usable\n')
    await connection.close()
  })

  it('runs at most maxConcurrent commands at once', async () => {
    const connection = await connect(new LocalTransport({maxConcurrent: 3}))
    const lock = join(dir, 'slots')
    const script = sh`mkdir -p ${lock}; touch ${lock}/$$; ls ${lock} | wc -l; sleep 0.1; rm ${lock}/$$`
    const results = await Promise.all(Array.from({length: 12}, () => connection.exec(script)))
    const peak = Math.max(...results.map((r) => Number(r.stdout.trim())))
    expect(results.every((r) => r.exitCode === 0)).toBe(true)
    expect(peak).toBeLessThanOrEqual(3)
    expect(peak).toBeGreaterThanOrEqual(2)
    await connection.close()
  })

  it('refuses commands after close', async () => {
    const connection = await connect()
    await connection.close()
    await connection.close()
    expect((await rejection(connection.exec('true'))).code).toBe('connection_closed')
  })
})

describe('observeNode over the local transport', () => {
  it('observes a node laid out in a temp directory', async () => {
    const root = join(dir, 'node')
    const tools = installFakeTools(join(dir, 'bin'), join(dir, 'state'))
    const node = fakeNode({root, interfaces: ['lo', 'nxabsent0'], xray: {apiPort: 1, tags: ['vless-reality']}})
    writeNodeFile(`${root}/etc/nexus/nexus.nft`, 'table inet nexus {}\n')
    tools.wgDump('lo', 'priv\tpub\t51820\toff\n')
    tools.nftTable('table inet nexus {\n}\n')
    const transport = new LocalTransport({env: {PATH: `${tools.binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`}})
    const scripts: string[] = []
    const connection = await transport.connect(node, {hostKeys, onCommand: (_node, script) => scripts.push(script)})
    const observation = await observeNode(connection, node)
    await connection.close()
    expect(scripts).toHaveLength(1)
    expect(observation).toMatchObject({
      marker: {state: 'absent'},
      files: {
        [`${root}/etc/nexus/nexus.nft`]: {state: 'present'},
        [`${root}/etc/wireguard/lo.conf`]: {state: 'absent'},
      },
      wireguard: {lo: {state: 'present', up: true, dump: {publicKey: 'pub'}}, nxabsent0: {state: 'absent'}},
      nftables: {state: 'present', text: 'table inet nexus {\n}\n'},
      xray: {'vless-reality': {state: 'unavailable', reason: 'nothing listens on 127.0.0.1:1 (the xray API)'}},
    })
  })

  it('observeNodes observes at most `concurrency` nodes at once', async () => {
    const local = new LocalTransport()
    let open = 0
    let peak = 0
    const transport: NodeTransport = {
      connect: async (node, options): Promise<NodeConnection> => {
        open++
        peak = Math.max(peak, open)
        const connection = await local.connect(node, options)
        return {
          node: connection.node,
          exec: async (script, execOptions) => {
            await new Promise((resolve) => setTimeout(resolve, 20))
            return connection.exec(script, execOptions)
          },
          close: async () => {
            open--
            await connection.close()
          },
        }
      },
    }
    const nodes = Array.from({length: 7}, (_, i) => fakeNode({name: `n-${i}`, root: join(dir, `n-${i}`), xray: null}))
    const results = await observeNodes(transport, nodes, {connect: {hostKeys}, concurrency: 3})
    expect(results.map((r) => r.node)).toEqual(nodes.map((n) => n.name))
    expect(results.every((r) => r.reachable)).toBe(true)
    expect(peak).toBe(3)
    expect(open).toBe(0)
  })

  it('observeNodes keeps going when one node fails', async () => {
    const good = fakeNode({name: 'good', root: join(dir, 'good'), xray: null})
    const bad = fakeNode({name: 'bad', root: join(dir, 'bad'), xray: null})
    const local = new LocalTransport()
    const transport: NodeTransport = {
      connect: async (node, options): Promise<NodeConnection> => {
        if (node.name === 'bad') throw new NexusError('node_unreachable', 'cannot reach node bad', 'check it')
        return local.connect(node, options)
      },
    }
    const results = await observeNodes(transport, [bad, good], {connect: {hostKeys}, concurrency: 1})
    expect(results.map((r) => [r.node, r.reachable])).toEqual([
      ['bad', false],
      ['good', true],
    ])
    expect(results[0]).toEqual({
      node: 'bad',
      reachable: false,
      error: {code: 'node_unreachable', message: 'cannot reach node bad', hint: 'check it'},
    })
  })
})
