import {chmodSync, mkdirSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {join} from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {NexusError} from '../../../src/errors.js'
import {MemoryHostKeyStore} from '../../../src/transport/host-keys.js'
import {LocalTransport} from '../../../src/transport/local.js'
import {
  parseUsageProbe,
  parseWireguardAllDump,
  parseXrayStats,
  probeUsage,
  usageProbePlan,
  usageProbeScript,
} from '../../../src/transport/usage-probe.js'
import {tempDir} from '../../helpers/tools.js'
import {fakeNode} from './fakes.js'

const NONCE = '00112233445566778899aabbccddeeff'
const WHEN = new Date('2026-03-01T12:00:00Z')

const KEY_A = 'xLMoDCZ1GjJnYlHQo7Ta88s3ZUrhUULmZTkQta79VxM='
const KEY_B = 'oQQdOiWywtVH7KEI3mKXWgxYUQPUkN+osA6wyATxWwI='
const KEY_C = 'BbnwOTjCPkFw/5LZJRVB0C7nXxyKhMeTLXyFFAvtkmc='
const SERVER_0 = 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw='
const SERVER_1 = 'e3G/AjwZKoVDD565ZZdHIjfl2end72NN4iwM9I0FtiI='
const PRIVATE = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk='
const PSK = '0nBJ9pQ3Yx2kH0qE7n1sT4vW8zC5aD6fG9hJ2kL3mN4='

/** `wg show all dump` of a gateway with two interfaces, as the node prints it after hiding the keys. */
const ALL_DUMP = [
  `wg0\t(hidden)\t${SERVER_0}\t51820\toff`,
  `wg0\t${KEY_B}\t(hidden)\t(none)\t10.66.0.3/32\t0\t0\t0\t25`,
  `wg0\t${KEY_A}\t(none)\t203.0.113.5:41234\t10.66.0.2/32,fd66::2/128\t1772366400\t123456\t7890123\toff`,
  `wg1\t(hidden)\t${SERVER_1}\t51821\t0xca6c`,
  `wg1\t${KEY_C}\t(none)\t198.51.100.7:51820\t10.77.0.2/32\t1772366000\t99\t100\toff`,
  '',
].join('\n')

/** `xray api statsquery -pattern 'user>>>'`: zero values are left out. */
const STATS = `{
    "stat": [
        {
            "name": "user>>>alice.phone@nexus>>>traffic>>>downlink",
            "value": 52428800
        },
        {
            "name": "user>>>alice.phone@nexus>>>traffic>>>uplink",
            "value": 1048576
        },
        {
            "name": "user>>>bob.default@nexus>>>traffic>>>uplink"
        },
        {
            "name": "user>>>bob.default@nexus>>>traffic>>>downlink",
            "value": 2048
        },
        {
            "name": "user>>>carol.default@nexus>>>traffic>>>downlink"
        }
    ]
}
`

function framed(sections: Record<string, {stdout?: string; stderr?: string; code?: number}>, done = true): string {
  const tag = `@@nexus:${NONCE}:`
  let out = ''
  for (const [id, {stdout = '', stderr = '', code = 0}] of Object.entries(sections)) {
    out += `\n${tag}out:${id}@@\n${stdout}\n${tag}err:${id}@@\n${stderr}\n${tag}end:${id}:${code}@@\n`
  }
  return done ? `${out}\n${tag}done@@\n` : out
}

const node = fakeNode({name: 'gw-1', interfaces: ['wg0', 'wg1'], xray: {apiPort: 10085, tags: ['vless-reality']}})
const plan = usageProbePlan(node)
const parse = (sections: Parameters<typeof framed>[0], done = true) =>
  parseUsageProbe(plan, {exitCode: 0, stdout: framed(sections, done), stderr: ''}, NONCE, WHEN)

describe('parseWireguardAllDump', () => {
  it('reads the peers of every interface with their counters (rx = upload, tx = download)', () => {
    expect(parseWireguardAllDump(ALL_DUMP)).toEqual({
      interfaces: ['wg0', 'wg1'],
      peers: [
        {iface: 'wg0', publicKey: KEY_B, rx: 0, tx: 0},
        {iface: 'wg0', publicKey: KEY_A, rx: 123456, tx: 7890123},
        {iface: 'wg1', publicKey: KEY_C, rx: 99, tx: 100},
      ],
    })
  })

  it('reads no interfaces as none, and refuses text that is not a dump', () => {
    expect(parseWireguardAllDump('')).toEqual({interfaces: [], peers: []})
    expect(parseWireguardAllDump('interface: wg0\n  public key: abc\n')).toBeUndefined()
    expect(parseWireguardAllDump(`wg0\t${KEY_A}\t(none)\t(none)\n`)).toBeUndefined()
  })
})

describe('parseXrayStats', () => {
  it('reads uplink and downlink per e-mail, a missing value as 0', () => {
    expect(parseXrayStats(STATS)).toEqual([
      {email: 'alice.phone@nexus', uplink: 1048576, downlink: 52428800},
      {email: 'bob.default@nexus', uplink: 0, downlink: 2048},
      {email: 'carol.default@nexus', uplink: 0, downlink: 0},
    ])
  })

  it('takes int64 values written as strings, ignores other counters, reads {} as no users', () => {
    const text = JSON.stringify({
      stat: [
        {name: 'user>>>dave.default@nexus>>>traffic>>>uplink', value: '9007199254740991'},
        {name: 'inbound>>>vless-reality>>>traffic>>>uplink', value: 5},
        {name: 'user>>>dave.default@nexus>>>online'},
      ],
    })
    expect(parseXrayStats(text)).toEqual([{email: 'dave.default@nexus', uplink: 9007199254740991, downlink: 0}])
    expect(parseXrayStats('{}\n')).toEqual([])
    expect(parseXrayStats('')).toEqual([])
  })

  it('reads the first document when a second follows it', () => {
    const text = `{\n  "stat": [{"name": "user>>>a.b@nexus>>>traffic>>>uplink", "value": 1}]\n}\n{"other": true}\n`
    expect(parseXrayStats(text)).toEqual([{email: 'a.b@nexus', uplink: 1, downlink: 0}])
  })

  it('refuses what is not the statsquery document', () => {
    expect(parseXrayStats('failed to dial 127.0.0.1:10085')).toBeUndefined()
    expect(parseXrayStats('[]')).toBeUndefined()
    expect(parseXrayStats('{"stat": {}}')).toBeUndefined()
    expect(parseXrayStats('{"stat": [{"name": "user>>>a@nexus>>>traffic>>>uplink", "value": -1}]}')).toBeUndefined()
  })
})

describe('parseUsageProbe', () => {
  it('reads both sections of a node', () => {
    expect(parse({wg: {stdout: ALL_DUMP}, xray: {stdout: STATS}})).toEqual({
      node: 'gw-1',
      reachable: true,
      observedAt: WHEN,
      wireguard: {
        state: 'available',
        interfaces: ['wg0', 'wg1'],
        peers: expect.arrayContaining([{iface: 'wg1', publicKey: KEY_C, rx: 99, tx: 100}]),
      },
      xray: {
        state: 'available',
        users: expect.arrayContaining([expect.objectContaining({email: 'bob.default@nexus'})]),
      },
    })
  })

  it('reports xray as unavailable, with the reason, when it cannot be asked', () => {
    const xray = (section: {stdout?: string; stderr?: string; code?: number}) =>
      parse({wg: {stdout: ALL_DUMP}, xray: section}).xray
    expect(xray({stderr: 'xray: command not found', code: 127})).toEqual({
      state: 'unavailable',
      reason: 'xray: command not found',
    })
    expect(xray({stderr: 'nothing listens on 127.0.0.1:10085 (the xray API)', code: 101})).toEqual({
      state: 'unavailable',
      reason: 'nothing listens on 127.0.0.1:10085 (the xray API)',
    })
    expect(xray({code: 124})).toEqual({state: 'unavailable', reason: 'the xray API did not answer within 10 s'})
    expect(xray({stderr: 'rpc error: code = Unavailable', code: 1})).toEqual({
      state: 'unavailable',
      reason: '`xray api statsquery` failed (exit 1): rpc error: code = Unavailable',
    })
    expect(xray({stdout: 'not json'})).toEqual({
      state: 'unavailable',
      reason: 'unrecognised output from `xray api statsquery`',
    })
  })

  it('reports WireGuard as unavailable when wg fails', () => {
    const result = parse({wg: {stderr: 'Unable to access interface: Operation not permitted', code: 1}, xray: {}})
    expect(result.wireguard).toEqual({
      state: 'unavailable',
      reason: '`wg show all dump` failed (exit 1): Unable to access interface: Operation not permitted',
    })
    expect(parse({wg: {stderr: 'wg: command not found', code: 127}, xray: {}}).wireguard).toEqual({
      state: 'unavailable',
      reason: 'wg: command not found',
    })
  })

  it('asks only for what the node declares', () => {
    const bare = usageProbePlan(fakeNode({interfaces: [], xray: null}))
    expect(bare).toEqual({node: 'fra-1', wireguard: false})
    const script = usageProbeScript(bare, NONCE)
    expect(script).not.toContain('nx_probe wg')
    expect(script).not.toContain('nx_probe xray')
    const result = parseUsageProbe(bare, {exitCode: 0, stdout: framed({}), stderr: ''}, NONCE, WHEN)
    expect(result).toMatchObject({wireguard: null, xray: null})
  })

  it('fails when the script stopped early', () => {
    expect(() => parse({wg: {stdout: ALL_DUMP}}, false)).toThrow(NexusError)
    expect(() => parse({wg: {stdout: ALL_DUMP}}, false)).toThrow(/stopped early/)
  })
})

describe('the probe script', () => {
  it('is valid bash that reads without resetting', async () => {
    const script = usageProbeScript(plan, NONCE)
    const check = await execa('bash', ['-n'], {input: script, reject: false})
    expect(check.stderr).toBe('')
    expect(check.exitCode).toBe(0)
    expect(script).toContain('nx_probe wg nx_wg_all')
    expect(script).toContain('nx_probe xray nx_xray_stats 10085')
    expect(script).not.toContain('-reset')
  })

  describe('run against fake wg and xray', () => {
    const tmp = tempDir('nexus-usage-probe-')
    let server: Server
    let port = 0

    beforeAll(async () => {
      server = createServer((socket) => socket.destroy())
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const address = server.address()
      port = typeof address === 'object' && address ? address.port : 0
      const bin = join(tmp.path, 'bin')
      mkdirSync(bin)
      // What the kernel would print: the private and preshared keys in the clear.
      const raw = ALL_DUMP.replace('wg0\t(hidden)', `wg0\t${PRIVATE}`)
        .replace('wg1\t(hidden)', `wg1\t${PRIVATE}`)
        .replace(`${KEY_B}\t(hidden)`, `${KEY_B}\t${PSK}`)
      writeFileSync(join(tmp.path, 'dump'), raw)
      writeFileSync(join(tmp.path, 'stats.json'), STATS)
      const tool = (name: string, body: string) => {
        writeFileSync(join(bin, name), `#!/bin/bash\n${body}`)
        chmodSync(join(bin, name), 0o755)
      }
      tool('wg', `[ "$*" = 'show all dump' ] && exec cat ${join(tmp.path, 'dump')}\nexit 2\n`)
      tool(
        'xray',
        `[ "$1 $2" = 'api statsquery' ] && [ "$3" = "--server=127.0.0.1:${port}" ] && [ "$5" = 'user>>>' ] && exec cat ${join(tmp.path, 'stats.json')}\necho "unexpected: $*" >&2; exit 2\n`,
      )
    })
    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      tmp.cleanup()
    })

    it('reads both in one exec and never prints a private or preshared key', async () => {
      const scripts: string[] = []
      const transport = new LocalTransport({env: {PATH: `${join(tmp.path, 'bin')}:${process.env.PATH ?? ''}`}})
      const target = fakeNode({
        name: 'gw-1',
        interfaces: ['wg0', 'wg1'],
        xray: {apiPort: port, tags: ['vless-reality']},
      })
      const connection = await transport.connect(target, {
        hostKeys: new MemoryHostKeyStore(),
        onCommand: (_node, script) => scripts.push(script),
      })
      try {
        const outputs: string[] = []
        const spy = {
          node: connection.node,
          exec: async (script: string, options?: Parameters<typeof connection.exec>[1]) => {
            const result = await connection.exec(script, options)
            outputs.push(result.stdout)
            return result
          },
          close: () => connection.close(),
        }
        const result = await probeUsage(spy, target, {now: () => WHEN})
        expect(scripts).toHaveLength(1)
        expect(outputs.join('')).not.toContain(PRIVATE)
        expect(outputs.join('')).not.toContain(PSK)
        expect(result.wireguard).toEqual(
          parseUsageProbe(plan, {exitCode: 0, stdout: framed({wg: {stdout: ALL_DUMP}}), stderr: ''}, NONCE, WHEN)
            .wireguard,
        )
        expect(result.xray).toEqual({state: 'available', users: parseXrayStats(STATS)})
      } finally {
        await connection.close()
      }
    })

    it('says so when nothing listens on the API port', async () => {
      const transport = new LocalTransport({env: {PATH: `${join(tmp.path, 'bin')}:${process.env.PATH ?? ''}`}})
      const closed = await new Promise<number>((resolve) => {
        const probe = createServer()
        probe.listen(0, '127.0.0.1', () => {
          const address = probe.address()
          probe.close(() => resolve(typeof address === 'object' && address ? address.port : 1))
        })
      })
      const target = fakeNode({name: 'gw-1', interfaces: ['wg0'], xray: {apiPort: closed, tags: ['vless-reality']}})
      const connection = await transport.connect(target, {hostKeys: new MemoryHostKeyStore()})
      try {
        const result = await probeUsage(connection, target)
        expect(result.xray).toEqual({
          state: 'unavailable',
          reason: `nothing listens on 127.0.0.1:${closed} (the xray API)`,
        })
        expect(result.wireguard?.state).toBe('available')
      } finally {
        await connection.close()
      }
    })
  })
})
