import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {Ajv, type ValidateFunction} from 'ajv'
import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {CLASH_GROUP, clashConfig, renderClash} from '../../../../src/render/subscription/clash.js'
import {subscriptionProxies} from '../../../../src/render/subscription/proxies.js'
import {KEYS, UUIDS} from '../../../helpers/fixture.js'
import {expectGolden} from '../../../helpers/golden.js'
import {fixtureFleet, fleetWithNode, nodeWithInbounds, projectTitled, VLESS_REALITY} from './fleet.js'

/**
 * meta-json-schema@1.19.24 (MIT), vendored: the npm package's preinstall
 * (`npx only-allow pnpm`) makes `npm ci` fail, so it cannot be a dependency
 * (formats.md §8.4).
 */
const SCHEMA_FILE = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../../golden/subscription/vendor/meta-json-schema-1.19.24.json',
)

let validator: ValidateFunction | undefined
function validate(): ValidateFunction {
  validator ??= new Ajv({strict: false}).compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as object)
  return validator
}

function schemaErrors(doc: unknown): string[] {
  const check = validate()
  return check(doc) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`)
}

type Entry = Record<string, unknown>
interface Parsed {
  proxies: Entry[]
  'proxy-groups': {name: string; type: string; proxies: string[]}[]
  rules: string[]
  [key: string]: unknown
}

function yamlOf(fleet = fixtureFleet(), user = 'alice'): string {
  return renderClash(subscriptionProxies(fleet, user, 'default'))
}

function parsed(text: string): Parsed {
  return parse(text) as Parsed
}

function proxyNamed(doc: Parsed, suffix: string): Entry {
  const found = doc.proxies.find((p) => String(p.name).endsWith(suffix))
  if (!found) throw new Error(`no proxy ${suffix}`)
  return found
}

describe('renderClash', () => {
  it('matches the golden file', () => {
    expectGolden('subscription/alice-default.clash.yaml', yamlOf())
  })

  it('validates against meta-json-schema', () => {
    expect(schemaErrors(parsed(yamlOf()))).toEqual([])
  })

  it('is checked by a schema that does reject a broken proxy', () => {
    const mutations: ((doc: Parsed) => void)[] = [
      (doc) => delete proxyNamed(doc, 'vless-reality').uuid,
      (doc) => (proxyNamed(doc, 'vless-reality').port = '443x'),
      (doc) => (proxyNamed(doc, 'vmess-ws')['client-fingerprint'] = 'chrome_bogus'),
      (doc) => (proxyNamed(doc, 'vless-reality').network = 'httpupgrade'),
      // Xray's name for the cipher; mihomo knows only the IETF one the exporter writes.
      (doc) => (proxyNamed(doc, 'ss2022').cipher = 'xchacha20-poly1305'),
    ]
    for (const mutate of mutations) {
      const doc = parsed(yamlOf())
      mutate(doc)
      expect(schemaErrors(doc).length).toBeGreaterThan(0)
    }
  })

  it('has the §8.2 skeleton: a select group of every proxy plus DIRECT, rules ending in MATCH', () => {
    const doc = parsed(yamlOf())
    expect(Object.keys(doc)).toEqual([
      'mixed-port',
      'allow-lan',
      'mode',
      'log-level',
      'ipv6',
      'proxies',
      'proxy-groups',
      'rules',
    ])
    expect([doc['mixed-port'], doc.mode]).toEqual([7890, 'rule'])
    const names = doc.proxies.map((p) => p.name)
    expect(new Set(names).size).toBe(4)
    expect(doc['proxy-groups']).toEqual([{name: CLASH_GROUP, type: 'select', proxies: [...names, 'DIRECT']}])
    expect(doc.rules.at(-1)).toBe(`MATCH,${CLASH_GROUP}`)
    expect(doc.rules.slice(0, -1).every((rule) => /^IP-CIDR6?,[^,]+,DIRECT,no-resolve$/.test(rule))).toBe(true)
  })

  it('writes VLESS REALITY with servername, client-fingerprint and reality-opts', () => {
    expect(proxyNamed(parsed(yamlOf()), 'vless-reality')).toEqual({
      name: 'Acme VPN · fra-1 vless-reality',
      type: 'vless',
      server: 'fra-1.vpn.example.com',
      port: 443,
      udp: true,
      uuid: UUIDS['alice/default'],
      flow: 'xtls-rprx-vision',
      'packet-encoding': 'xudp',
      tls: true,
      servername: 'www.example.com',
      'client-fingerprint': 'chrome',
      'reality-opts': {'public-key': KEYS.reality.publicKey, 'short-id': '6d44678d93a3b4f6'},
      network: 'tcp',
    })
  })

  it('writes vmess with alterId 0, servername and ws-opts', () => {
    expect(proxyNamed(parsed(yamlOf()), 'vmess-ws')).toMatchObject({
      type: 'vmess',
      alterId: 0,
      cipher: 'auto',
      tls: true,
      servername: 'fra-1.vpn.example.com',
      network: 'ws',
      'ws-opts': {path: '/vm'},
    })
  })

  it('writes trojan with sni (not servername) and its alpn', () => {
    const trojan = proxyNamed(parsed(yamlOf()), 'trojan-tls')
    expect(trojan).toMatchObject({
      type: 'trojan',
      password: UUIDS['alice/default'],
      sni: 'fra-1.vpn.example.com',
      alpn: ['h2', 'http/1.1'],
      'client-fingerprint': 'chrome',
    })
    expect(trojan).not.toHaveProperty('servername')
  })

  it('writes SS-2022 with the combined password', () => {
    const ss = proxyNamed(parsed(yamlOf()), 'ss2022')
    expect(ss.type).toBe('ss')
    expect(ss.cipher).toBe('2022-blake3-aes-128-gcm')
    expect(String(ss.password).startsWith(`${KEYS.shadowsocks}:`)).toBe(true)
  })

  it('keeps a shortId like 0123 a quoted string (formats.md §8.3)', () => {
    const n = nodeWithInbounds({'vless-reality': {reality: {...VLESS_REALITY.reality!, shortIds: ['0123']}}})
    const text = yamlOf(fleetWithNode(n))
    expect(text).toContain('short-id: "0123"')
    expect(proxyNamed(parsed(text), 'vless-reality')['reality-opts']).toEqual({
      'public-key': KEYS.reality.publicKey,
      'short-id': '0123',
    })
    expect(schemaErrors(parsed(text))).toEqual([])
  })

  it('double-quotes every string scalar, IPv6 hosts and yes-like names included', () => {
    const n = nodeWithInbounds({'vless-reality': {publicHost: '2001:db8::10'}})
    const text = yamlOf(fleetWithNode(n, {project: projectTitled('yes')}))
    expect(text).toContain('server: "2001:db8::10"')
    expect(text).toContain('name: "yes · fra-1 vless-reality"')
    const unquoted = text
      .split('\n')
      .map((line) => /^\s*(?:- )?(?:[\w-]+: )?(.+)$/.exec(line)?.[1])
      .filter((value): value is string => value !== undefined && !value.endsWith(':'))
      .filter((value) => !/^(".*"|-?\d+|true|false)$/.test(value))
    expect(unquoted).toEqual([])
    expect(proxyNamed(parsed(text), 'vless-reality').server).toBe('2001:db8::10')
  })

  it('writes grpc-opts, httpupgrade as ws with v2ray-http-upgrade, and VLESS xhttp-opts', () => {
    const n = nodeWithInbounds({
      'vless-reality': {transport: {type: 'xhttp', path: '/x', host: 'x.example.com'}, flow: undefined},
      'vmess-ws': {transport: {type: 'httpupgrade', path: '/up', host: 'up.example.com'}},
      'trojan-tls': {transport: {type: 'grpc', serviceName: 'tr'}},
    })
    const text = yamlOf(fleetWithNode(n))
    const doc = parsed(text)
    expect(proxyNamed(doc, 'vless-reality')).toMatchObject({
      network: 'xhttp',
      'xhttp-opts': {path: '/x', host: 'x.example.com'},
    })
    expect(proxyNamed(doc, 'vless-reality')).not.toHaveProperty('flow')
    expect(proxyNamed(doc, 'vmess-ws')).toMatchObject({
      network: 'ws',
      'ws-opts': {path: '/up', headers: {Host: 'up.example.com'}, 'v2ray-http-upgrade': true},
    })
    expect(proxyNamed(doc, 'trojan-tls')).toMatchObject({network: 'grpc', 'grpc-opts': {'grpc-service-name': 'tr'}})
    expect(schemaErrors(doc)).toEqual([])
  })

  it('leaves out what mihomo cannot speak: vmess over xhttp, trojan without TLS', () => {
    const n = nodeWithInbounds({
      'vmess-ws': {transport: {type: 'xhttp', path: '/x'}},
      'trojan-tls': {security: 'none', tls: undefined},
    })
    const doc = parsed(yamlOf(fleetWithNode(n)))
    expect(doc.proxies.map((p) => p.type)).toEqual(['ss', 'vless'])
    expect(doc['proxy-groups'][0]?.proxies).toEqual([...doc.proxies.map((p) => p.name), 'DIRECT'])
  })

  it('gives bob only vmess, and an inactive user a valid profile with DIRECT alone', () => {
    expect(parsed(yamlOf(fixtureFleet(), 'bob')).proxies.map((p) => p.type)).toEqual(['vmess'])
    const empty = clashConfig([])
    expect(empty.proxies).toEqual([])
    expect(empty['proxy-groups'][0]?.proxies).toEqual(['DIRECT'])
    expect(schemaErrors(parsed(yamlOf(fixtureFleet(), 'dave')))).toEqual([])
  })

  it('is byte-stable', () => {
    expect(yamlOf()).toBe(yamlOf())
  })
})
