import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {describe, expect, it} from 'vitest'

import {NexusError} from '../../../src/errors.js'
import {managedFiles} from '../../../src/model/node-files.js'
import {
  canonicalJson,
  type NodeObservation,
  observationPlan,
  observationScript,
  parseObservation,
  parseWireguardDump,
  parseXrayUsers,
} from '../../../src/transport/observation.js'
import {fakeNode, WG_DUMP_HEAD, WG_PRIVATE_KEY, WG_PUBLIC_KEY} from './fakes.js'
import {CAPTURE_NONCE, SCENARIOS} from './fixtures/capture.js'

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures')
const ROOT = '/srv/nexus-test'
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8')
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')
const PSK = '0nBJ9pQ3Yx2kH0qE7n1sT4vW8zC5aD6fG9hJ2kL3mN4='

type ScenarioName = keyof typeof SCENARIOS

/** Parses a captured output with the plan of the node it was captured with. */
function parseCaptured(name: ScenarioName, stdout = fixture(`${name}.out`)): NodeObservation {
  const plan = observationPlan(SCENARIOS[name].node(ROOT, 10085))
  return parseObservation(plan, {exitCode: 0, stdout, stderr: ''}, CAPTURE_NONCE)
}

const NONCE = '00112233445566778899aabbccddeeff'

/** Hand-framed output, for cases no fake can produce (a down link, a killed script). */
function framed(sections: Record<string, {stdout?: string; stderr?: string; code?: number}>, done = true): string {
  const tag = `@@nexus:${NONCE}:`
  let out = ''
  for (const [id, {stdout = '', stderr = '', code = 0}] of Object.entries(sections)) {
    out += `\n${tag}out:${id}@@\n${stdout}\n${tag}err:${id}@@\n${stderr}\n${tag}end:${id}:${code}@@\n`
  }
  return done ? `${out}\n${tag}done@@\n` : out
}

const smallNode = fakeNode({root: ROOT, interfaces: ['wg0'], xray: {apiPort: 10085, tags: ['vless-reality']}})
const smallPlan = observationPlan(smallNode)
const baseSections = {
  marker: {code: 100},
  'file.0': {code: 100},
  'file.1': {code: 100},
  'file.2': {code: 100},
  'file.3': {code: 100},
  'link.0': {stdout: '0x1003\n'},
  'wg.0': {stdout: `${WG_DUMP_HEAD}\n`},
  nft: {code: 100},
  'xray.0': {stdout: '{}\n'},
}
const parseFramed = (sections: Record<string, {stdout?: string; stderr?: string; code?: number}>, done = true) =>
  parseObservation(smallPlan, {exitCode: 0, stdout: framed(sections, done), stderr: ''}, NONCE)

describe('the observation script', () => {
  it('is valid bash', async () => {
    const script = observationScript(observationPlan(SCENARIOS.full.node(ROOT, 10085)), NONCE)
    const check = await execa('bash', ['-n'], {input: script, reject: false})
    expect(check.stderr).toBe('')
    expect(check.exitCode).toBe(0)
  })

  it('quotes every path, interface and tag', () => {
    const node = fakeNode({
      root: "/srv/it's here",
      interfaces: ['wg0'],
      xray: {apiPort: 10085, tags: ['vless-reality']},
    })
    const script = observationScript(observationPlan(node), NONCE)
    expect(script).toContain(`nx_probe marker nx_cat '/srv/it'\\''s here/var/lib/nexus/revision.json'`)
    expect(script).toContain(`nx_probe file.0 nx_sha256 '/srv/it'\\''s here/etc/wireguard/wg0.conf'`)
    expect(script).toContain('nx_probe wg.0 nx_wg wg0')
    expect(script).toContain('nx_probe xray.0 nx_xray 10085 vless-reality')
  })

  it('probes exactly the files Nexus manages', () => {
    expect(managedFiles(fakeNode({root: ROOT, interfaces: ['wg0', 'wg1']}))).toEqual([
      {artifact: 'wireguard/wg0', path: `${ROOT}/etc/wireguard/wg0.conf`},
      {artifact: 'wireguard/wg1', path: `${ROOT}/etc/wireguard/wg1.conf`},
      {artifact: 'nftables', path: `${ROOT}/etc/nexus/nexus.nft`},
      {artifact: 'xray', path: `${ROOT}/usr/local/etc/xray/config.json`},
      {artifact: 'dns', path: `${ROOT}/etc/dnsmasq.d/nexus.conf`},
    ])
    expect(managedFiles(fakeNode({root: ROOT, xray: null, dns: false})).map((f) => f.artifact)).toEqual([
      'wireguard/wg0',
      'nftables',
    ])
  })

  it('refuses a nonce that could collide with output', () => {
    expect(() => observationScript(smallPlan, 'short')).toThrow(/nonce/)
    expect(() => observationScript(smallPlan, 'not hex at all, not hex at all')).toThrow(/nonce/)
  })
})

describe('parseObservation on captured output', () => {
  it('reads a fresh node: nothing deployed is reported, not an error', () => {
    const observation = parseCaptured('fresh')
    expect(observation).toMatchObject({
      node: 'fra-1',
      reachable: true,
      marker: {state: 'absent'},
      wireguard: {wg0: {state: 'absent'}},
      nftables: {state: 'absent'},
      xray: {'vless-reality': {state: 'unavailable', reason: 'xray: command not found'}},
    })
    expect(Object.values(observation.files).map((f) => [f.artifact, f.state])).toEqual([
      ['wireguard/wg0', 'absent'],
      ['nftables', 'absent'],
      ['xray', 'absent'],
      ['dns', 'absent'],
    ])
    expect(observation.fingerprint).toMatch(/^[0-9a-f]{64}$/)
  })

  it('reads a fully deployed node', () => {
    const observation = parseCaptured('full')
    expect(observation.marker).toEqual({
      state: 'present',
      value: {revision: 7, commit: '85beb74', hashes: {nftables: 'abc'}},
    })
    for (const file of managedFiles(SCENARIOS.full.node(ROOT, 10085))) {
      expect(observation.files[file.path]).toEqual({...file, state: 'present', sha256: sha256(`# ${file.artifact}\n`)})
    }
    const wg = observation.wireguard.lo
    if (wg?.state !== 'present') throw new Error(`expected a present interface, got ${JSON.stringify(wg)}`)
    expect(wg.up).toBe(true)
    expect(wg.dump).toMatchObject({publicKey: WG_PUBLIC_KEY, listenPort: 51820, fwmark: null})
    expect(wg.dump.peers.map((p) => p.publicKey)).toEqual([
      'BbnwOTjCPkFw/5LZJRVB0C7nXxyKhMeTLXyFFAvtkmc=',
      'e3G/AjwZKoVDD565ZZdHIjfl2end72NN4iwM9I0FtiI=',
      'oQQdOiWywtVH7KEI3mKXWgxYUQPUkN+osA6wyATxWwI=',
      'xLMoDCZ1GjJnYlHQo7Ta88s3ZUrhUULmZTkQta79VxM=',
    ])
    expect(wg.dump.peers[1]).toEqual({
      publicKey: 'e3G/AjwZKoVDD565ZZdHIjfl2end72NN4iwM9I0FtiI=',
      presharedKey: true,
      endpoint: '198.51.100.7:51234',
      allowedIPs: ['10.66.0.5/32', 'fd66::5/128'],
      latestHandshake: 1732262400,
      rxBytes: 123456,
      txBytes: 654321,
      persistentKeepalive: 25,
    })
    expect(wg.dump.peers[0]).toMatchObject({presharedKey: false, endpoint: null, latestHandshake: 0})
    const table = fixture('nexus-table.nft')
    expect(observation.nftables).toEqual({state: 'present', text: table, sha256: sha256(table)})
    expect(observation.xray).toEqual({
      'vless-reality': {state: 'available', emails: ['alice.default@nexus', 'bob.phone@nexus']},
      'vmess-ws': {state: 'available', emails: []},
    })
  })

  it('never carries the private key, preshared keys or xray credentials', () => {
    const text = JSON.stringify(parseCaptured('full'))
    expect(text).not.toContain(WG_PRIVATE_KEY)
    expect(text).not.toContain(PSK)
    expect(text).not.toContain('(hidden)')
    expect(text).not.toContain('1db9f8ba')
    expect(fixture('full.out')).not.toContain(WG_PRIVATE_KEY)
    expect(fixture('full.out')).not.toContain(PSK)
  })

  it('reports each broken probe on its own', () => {
    const observation = parseCaptured('degraded')
    expect(observation.marker).toMatchObject({state: 'invalid', raw: 'revision: 7 # not JSON\n'})
    const [first, second] = Object.values(observation.files)
    expect(first).toMatchObject({artifact: 'wireguard/lo', state: 'error', exitCode: 1})
    expect(first?.state === 'error' && first.message).toMatch(/Is a directory/)
    expect(second).toMatchObject({artifact: 'nftables', state: 'present'})
    expect(observation.wireguard.lo).toEqual({
      state: 'error',
      exitCode: 0,
      message: 'unexpected `wg show dump` output',
    })
    expect(observation.nftables).toEqual({state: 'error', exitCode: 1, message: 'Error: Operation not permitted'})
    expect(observation.xray['vless-reality']).toMatchObject({state: 'unavailable'})
    const xray = observation.xray['vless-reality']
    expect(xray?.state === 'unavailable' && xray.reason).toMatch(/exit 1.*handler not found: vless-reality/)
  })
})

describe('parseObservation on framed output', () => {
  it('reports a down interface', () => {
    const observation = parseFramed({...baseSections, 'link.0': {stdout: '0x1002\n'}})
    expect(observation.wireguard.wg0).toMatchObject({state: 'present', up: false})
  })

  it('says "unknown" for up when the link flags cannot be read', () => {
    const observation = parseFramed({...baseSections, 'link.0': {code: 100}})
    expect(observation.wireguard.wg0).toMatchObject({state: 'present', up: null})
  })

  it('drops the private key column even when the node printed it', () => {
    const observation = parseFramed(baseSections)
    expect(JSON.stringify(observation)).not.toContain(WG_PRIVATE_KEY)
    expect(observation.wireguard.wg0).toMatchObject({dump: {publicKey: WG_PUBLIC_KEY, peers: []}})
  })

  it('reports a wg that is not installed', () => {
    const observation = parseFramed({...baseSections, 'wg.0': {stderr: 'wg: command not found', code: 127}})
    expect(observation.wireguard.wg0).toEqual({state: 'error', exitCode: 127, message: 'wg: command not found'})
  })

  it.each([
    [{stderr: 'xray: command not found', code: 127}, 'xray: command not found'],
    [{stderr: 'nothing listens on 127.0.0.1:10085 (the xray API)', code: 101}, 'nothing listens on 127.0.0.1:10085'],
    [{code: 124}, 'did not answer within 10 s'],
    [{stdout: 'Usage: xray api <command>\n', code: 0}, 'unrecognised output'],
    [{stdout: '', stderr: 'xray: unknown command "inbounduser"', code: 2}, 'exit 2'],
  ])('reports xray as unavailable (%j)', (section, reason) => {
    const observation = parseFramed({...baseSections, 'xray.0': section})
    const xray = observation.xray['vless-reality']
    expect(xray?.state).toBe('unavailable')
    expect(xray?.state === 'unavailable' && xray.reason).toContain(reason)
  })

  it('does not mistake markers of another run for its own', () => {
    const forged = `table inet nexus {\n@@nexus:${'f'.repeat(32)}:end:nft:0@@\n}\n@@nexus:${'f'.repeat(32)}:done@@\n`
    const observation = parseFramed({...baseSections, nft: {stdout: forged}})
    expect(observation.nftables).toMatchObject({state: 'present', text: forged})
  })

  it('keeps output byte for byte, trailing newlines included', () => {
    const observation = parseFramed({...baseSections, nft: {stdout: 'table inet nexus {\n}\n\n'}})
    expect(observation.nftables).toMatchObject({text: 'table inet nexus {\n}\n\n'})
  })

  it('reports a probe whose section is missing', () => {
    const {'file.2': _missing, ...rest} = baseSections
    const observation = parseFramed(rest)
    expect(Object.values(observation.files)[2]).toMatchObject({state: 'error', exitCode: -1})
  })

  it('fails the observation only when the script did not reach its end', () => {
    const run = () =>
      parseObservation(
        smallPlan,
        {exitCode: 137, stdout: framed({marker: {code: 100}}, false), stderr: 'bash: line 3: killed\n'},
        NONCE,
      )
    expect(run).toThrow(NexusError)
    expect(run).toThrow(/observing node fra-1 failed: the probe script stopped early \(bash: line 3: killed\)/)
    try {
      run()
    } catch (error) {
      expect((error as NexusError).code).toBe('observation_failed')
    }
  })
})

describe('parseWireguardDump', () => {
  it('rejects lines with the wrong number of fields', () => {
    expect(parseWireguardDump('')).toBeUndefined()
    expect(parseWireguardDump('a\tb\tc\n')).toBeUndefined()
    expect(parseWireguardDump(`${WG_DUMP_HEAD}\npeer\t(none)\n`)).toBeUndefined()
    expect(parseWireguardDump('priv\tpub\tnot-a-port\toff\n')).toBeUndefined()
  })

  it('reads fwmark and a peer without allowed IPs', () => {
    const dump = parseWireguardDump('priv\tpub\t0\t0xca6c\npeer=\t(none)\t(none)\t(none)\t0\t0\t0\toff\n')
    expect(dump).toEqual({
      publicKey: 'pub',
      listenPort: 0,
      fwmark: '0xca6c',
      peers: [
        {
          publicKey: 'peer=',
          presharedKey: false,
          endpoint: null,
          allowedIPs: [],
          latestHandshake: 0,
          rxBytes: 0,
          txBytes: 0,
          persistentKeepalive: null,
        },
      ],
    })
  })
})

describe('parseXrayUsers', () => {
  it('reads users, sorted and unique, and nothing else', () => {
    const text = JSON.stringify({
      users: [{email: 'b@nexus'}, {email: 'a@nexus', account: {id: 'secret'}}, {email: 'a@nexus'}],
    })
    expect(parseXrayUsers(text)).toEqual(['a@nexus', 'b@nexus'])
  })

  it('reads an empty answer as no users', () => {
    expect(parseXrayUsers('{}\n')).toEqual([])
    expect(parseXrayUsers('')).toEqual([])
  })

  it('reads the first document when a second one follows', () => {
    const text = `{\n  "users": [\n    {\n      "email": "a@nexus"\n    }\n  ]\n}\n{\n  "id": "uuid"\n}\n`
    expect(parseXrayUsers(text)).toEqual(['a@nexus'])
  })

  it('refuses what is not a user list', () => {
    expect(parseXrayUsers('failed')).toBeUndefined()
    expect(parseXrayUsers('[]')).toBeUndefined()
    expect(parseXrayUsers('{"users": 3}')).toBeUndefined()
  })
})

describe('fingerprint', () => {
  const full = fixture('full.out')
  const base = parseCaptured('full', full).fingerprint

  it('is the same for the same observation', () => {
    expect(parseCaptured('full', full).fingerprint).toBe(base)
    expect(parseCaptured('fresh').fingerprint).toBe(parseCaptured('fresh').fingerprint)
    expect(parseCaptured('fresh').fingerprint).not.toBe(base)
  })

  it('does not depend on key order', () => {
    expect(canonicalJson({b: 1, a: {d: [2, {y: 1, x: 2}], c: null}})).toBe(
      '{"a":{"c":null,"d":[2,{"x":2,"y":1}]},"b":1}',
    )
    const marker = (json: string) =>
      parseCaptured('full', full.replace('{"revision": 7, "commit": "85beb74", "hashes": {"nftables": "abc"}}', json))
    expect(marker('{"hashes": {"nftables": "abc"}, "commit": "85beb74", "revision": 7}').fingerprint).toBe(base)
  })

  it('ignores what moves by itself: handshakes, byte counters, roaming endpoints, the order of peers', () => {
    const moved = full
      .replace('1732262400\t123456\t654321', '1732263000\t999999\t888888')
      .replace('198.51.100.7:51234', '203.0.113.99:40000')
    expect(moved).not.toBe(full)
    expect(parseCaptured('full', moved).fingerprint).toBe(base)
    const lines = full.split('\n')
    const first = lines.findIndex((line) => line.startsWith('BbnwOTjC'))
    const swapped = [...lines]
    swapped[first] = lines[first + 1] ?? ''
    swapped[first + 1] = lines[first] ?? ''
    expect(parseCaptured('full', swapped.join('\n')).fingerprint).toBe(base)
  })

  it.each([
    ['the marker', '"revision": 7', '"revision": 8'],
    [
      'the interface public key',
      'EC+vL9zFwYUyp/TTvKFZqCkiI3uzISxGk6t4Swm9J0Q=',
      'FC+vL9zFwYUyp/TTvKFZqCkiI3uzISxGk6t4Swm9J0Q=',
    ],
    ['the listen port', '\t51820\t', '\t51821\t'],
    ['a peer key', 'BbnwOTjCPkFw', 'CbnwOTjCPkFw'],
    ['allowed IPs', '10.66.0.4/32,fd66::4/128', '10.66.0.4/32'],
    ['a keepalive', '654321\t25', '654321\t30'],
    ['the link going down', '0x9\n', '0x8\n'],
    ['the nftables table', 'nexus ssh management', 'nexus ssh admin'],
    ['an xray user', 'bob.phone@nexus', 'carol.phone@nexus'],
  ])('changes with %s', (_what, from, to) => {
    expect(full).toContain(from)
    expect(parseCaptured('full', full.replace(from, to)).fingerprint).not.toBe(base)
  })

  it('changes with a file hash', () => {
    const changed = full.replace(/^[0-9a-f]{64}(?= {2}\/)/m, 'f'.repeat(64))
    expect(changed).not.toBe(full)
    expect(parseCaptured('full', changed).fingerprint).not.toBe(base)
  })

  it('changes when a peer appears or a file disappears', () => {
    const peer = 'zzzzZZZZzzzzZZZZzzzzZZZZzzzzZZZZzzzzZZZZzzw=\t(none)\t(none)\t10.66.0.9/32\t0\t0\t0\toff\n'
    const added = full.replace(/(oQQdOiWy[^\n]*\n)/, `$1${peer}`)
    expect(added).not.toBe(full)
    expect(parseCaptured('full', added).fingerprint).not.toBe(base)
    const gone = full.replace(/(out:file\.2@@\n)[^\n]*\n([\s\S]*?end:file\.2):0@@/, `$1$2:100@@`)
    expect(parseCaptured('full', gone).files[`${ROOT}/usr/local/etc/xray/config.json`]).toMatchObject({
      state: 'absent',
    })
    expect(parseCaptured('full', gone).fingerprint).not.toBe(base)
  })

  it('changes when xray becomes unavailable, but not with the wording of why', () => {
    const down = (reason: string) =>
      full.replace(
        /(out:xray\.1@@\n)\{\}\n([\s\S]*?err:xray\.1@@\n)([\s\S]*?end:xray\.1):0@@/,
        `$1$2${reason}\n$3:101@@`,
      )
    const a = parseCaptured('full', down('nothing listens on 127.0.0.1:10085'))
    const b = parseCaptured('full', down('nothing listens on 127.0.0.1:10086'))
    expect(a.xray['vmess-ws']).toMatchObject({state: 'unavailable'})
    expect(a.fingerprint).not.toBe(base)
    expect(a.fingerprint).toBe(b.fingerprint)
  })
})

describe('withoutDynamicElements', () => {
  it('drops the entries of dynamic (rate-limit) sets and keeps every other line', async () => {
    const {withoutDynamicElements} = await import('../../../src/transport/observation.js')
    const listing = [
      'table inet nexus {',
      '\tset peers_v4 {',
      '\t\ttype ipv4_addr',
      '\t\tflags interval',
      '\t\telements = { 10.66.0.2, 10.66.0.3 }',
      '\t}',
      '',
      '\tset rl_dns_v4 {',
      '\t\ttype ipv4_addr',
      '\t\tsize 65535',
      '\t\tflags dynamic,timeout',
      '\t\ttimeout 1m',
      '\t\telements = { 10.66.0.2 expires 58s limit rate over 50/second burst 100 packets,',
      '\t\t\t     10.66.0.3 expires 12s limit rate over 50/second burst 100 packets }',
      '\t}',
      '}',
    ].join('\n')
    const stable = withoutDynamicElements(listing)
    expect(stable).not.toContain('expires')
    expect(stable).toContain('elements = { 10.66.0.2, 10.66.0.3 }')
    expect(stable.split('\n')).toHaveLength(listing.split('\n').length - 2)
    const empty = listing.replace(/\t\telements = \{ 10\.66\.0\.2 expires[^]*?packets \}\n/, '')
    expect(withoutDynamicElements(empty)).toBe(stable)
  })
})
