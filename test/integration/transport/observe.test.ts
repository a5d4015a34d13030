/**
 * Node observation over a real sshd. The node's paths point into a temp
 * directory and `wg`, `nft` and `xray` are fakes first on the session PATH:
 * the real tools would read the host's interfaces and ruleset, and nothing
 * here may touch those.
 */
import {createHash} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Node} from '../../../src/model/desired.js'
import {MemoryHostKeyStore} from '../../../src/transport/host-keys.js'
import {managedFiles, markerPath} from '../../../src/model/node-files.js'
import {observeNode, observeNodes} from '../../../src/transport/observe.js'
import {SshTransport} from '../../../src/transport/ssh.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {
  fakeNode,
  type FakeTools,
  installFakeTools,
  WG_DUMP_HEAD,
  WG_PRIVATE_KEY,
  WG_PUBLIC_KEY,
  writeNodeFile,
  xrayResponse,
} from '../../unit/transport/fakes.js'

const dir = mkdtempSync(join(tmpdir(), 'nexus-observe-'))
let sshd: TestSshd | undefined
let xrayApi: Server | undefined
let tools: FakeTools
let apiPort = 0

beforeAll(async () => {
  tools = installFakeTools(join(dir, 'bin'), join(dir, 'state'))
  // Something listening where the xray API would be, so the probe goes on to call (fake) xray.
  const api = createServer((socket) => socket.destroy())
  xrayApi = api
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve))
  apiPort = (api.address() as {port: number}).port
  sshd = await startSshd({binDir: tools.binDir})
})

afterAll(async () => {
  await sshd?.stop()
  await new Promise<void>((resolve) => (xrayApi ? xrayApi.close(() => resolve()) : resolve()))
  rmSync(dir, {recursive: true, force: true})
})

const transport = new SshTransport({env: {}})

function server(): TestSshd {
  if (!sshd) throw new Error('sshd did not start')
  return sshd
}

function nodeAt(name: string, root: string, ssh: Partial<Node['ssh']> = {}): Node {
  const s = server()
  return fakeNode({
    name,
    root,
    interfaces: ['lo', 'nxabsent0'],
    xray: {apiPort, tags: ['vless-reality', 'vmess-ws']},
    ssh: {host: s.host, port: s.port, user: 'root', identityFile: s.userKey, ...ssh},
  })
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

describe('observeNode over SSH', () => {
  it('reads marker, file hashes, wg, nft and xray in one command', async () => {
    const root = join(dir, 'gw-1')
    const node = nodeAt('gw-1', root)
    writeNodeFile(markerPath(node), '{"revision": 3}\n')
    const file = (artifact: string) => {
      const found = managedFiles(node).find((f) => f.artifact === artifact)
      if (!found) throw new Error(`no managed file for ${artifact}`)
      return found
    }
    const [wg, absentWg, nft, xray, dns] = ['wireguard/lo', 'wireguard/nxabsent0', 'nftables', 'xray', 'dns'].map(file)
    if (!wg || !absentWg || !nft || !xray || !dns) throw new Error('unexpected managed files')
    writeNodeFile(nft.path, 'table inet nexus {}\n')
    writeNodeFile(xray.path, '{"inbounds": []}\n')
    tools.wgDump('lo', `${WG_DUMP_HEAD}\npeer-a=\t(none)\t192.0.2.7:51000\t10.66.0.2/32\t1700000000\t10\t20\t25\n`)
    tools.nftTable('table inet nexus {\n\tchain input {\n\t}\n}\n')
    tools.xrayUsers('vless-reality', xrayResponse(['bob.default@nexus', 'alice.default@nexus']))

    const commands: string[] = []
    const connection = await transport.connect(node, {
      hostKeys: new MemoryHostKeyStore(),
      onCommand: (_node, script) => commands.push(script),
    })
    try {
      const observation = await observeNode(connection, node)
      expect(commands).toHaveLength(1)
      expect(observation.marker).toEqual({state: 'present', value: {revision: 3}})
      expect(observation.files).toEqual({
        [wg.path]: {...wg, state: 'absent'},
        [absentWg.path]: {...absentWg, state: 'absent'},
        [nft.path]: {...nft, state: 'present', sha256: sha256('table inet nexus {}\n')},
        [xray.path]: {...xray, state: 'present', sha256: sha256('{"inbounds": []}\n')},
        [dns.path]: {...dns, state: 'absent'},
      })
      expect(observation.wireguard).toEqual({
        lo: {
          state: 'present',
          up: true,
          dump: {
            publicKey: WG_PUBLIC_KEY,
            listenPort: 51820,
            fwmark: null,
            peers: [
              {
                publicKey: 'peer-a=',
                presharedKey: false,
                endpoint: '192.0.2.7:51000',
                allowedIPs: ['10.66.0.2/32'],
                latestHandshake: 1700000000,
                rxBytes: 10,
                txBytes: 20,
                persistentKeepalive: 25,
              },
            ],
          },
        },
        nxabsent0: {state: 'absent'},
      })
      expect(observation.nftables).toEqual({
        state: 'present',
        text: 'table inet nexus {\n\tchain input {\n\t}\n}\n',
        sha256: sha256('table inet nexus {\n\tchain input {\n\t}\n}\n'),
      })
      expect(observation.xray['vless-reality']).toEqual({
        state: 'available',
        emails: ['alice.default@nexus', 'bob.default@nexus'],
      })
      expect(observation.xray['vmess-ws']).toMatchObject({state: 'unavailable'})
      expect(JSON.stringify(observation)).not.toContain(WG_PRIVATE_KEY)

      // Same node, same state: same fingerprint. A changed deployed file: another one.
      const again = await observeNode(connection, node)
      expect(again.fingerprint).toBe(observation.fingerprint)
      writeNodeFile(nft.path, 'table inet nexus { }\n')
      const changed = await observeNode(connection, node)
      expect(changed.fingerprint).not.toBe(observation.fingerprint)
    } finally {
      await connection.close()
    }
  })

  it('reports a fresh node without failing', async () => {
    const node = nodeAt('fresh', join(dir, 'fresh'))
    tools.nftTable(undefined)
    tools.wgDump('lo', undefined)
    const connection = await transport.connect(node, {hostKeys: new MemoryHostKeyStore()})
    try {
      const observation = await observeNode(connection, node)
      expect(observation.marker).toEqual({state: 'absent'})
      expect(Object.values(observation.files).every((file) => file.state === 'absent')).toBe(true)
      expect(observation.nftables).toEqual({state: 'absent'})
      // wg answers "No such device" for an interface it cannot find: absent, not an error.
      expect(observation.wireguard.lo).toEqual({state: 'absent'})
      expect(observation.wireguard.nxabsent0).toEqual({state: 'absent'})
    } finally {
      await connection.close()
    }
  })
})

describe('observeNodes over SSH', () => {
  it('observes every reachable node and reports the others, in order', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const closedPort = (closed.address() as {port: number}).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))

    const nodes = [
      nodeAt('gw-a', join(dir, 'a')),
      nodeAt('gw-down', join(dir, 'down'), {port: closedPort}),
      nodeAt('gw-b', join(dir, 'b')),
      nodeAt('gw-spoofed', join(dir, 'spoofed'), {
        hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMdDGkRzdMQNHQHSKVB8CZiRnftRAKk7ScoSYbhC+jPa',
      }),
    ]
    const hostKeys = new MemoryHostKeyStore()
    const results = await observeNodes(transport, nodes, {connect: {hostKeys}, concurrency: 2})
    expect(results.map((r) => [r.node, r.reachable])).toEqual([
      ['gw-a', true],
      ['gw-down', false],
      ['gw-b', true],
      ['gw-spoofed', false],
    ])
    const [, down, , spoofed] = results
    expect(down).toMatchObject({
      reachable: false,
      error: {code: 'node_unreachable', message: expect.stringContaining('connection refused')},
    })
    expect(spoofed).toMatchObject({reachable: false, error: {code: 'host_key_changed'}})
    expect(Object.keys(hostKeys.entries()).sort()).toEqual(['gw-a', 'gw-b'])
  })
})
