import {describe, expect, it} from 'vitest'

import {subscriptionProxies} from '../../../../src/render/subscription/proxies.js'
import {renderSingbox, SINGBOX_SELECTOR} from '../../../../src/render/subscription/singbox.js'
import {KEYS, UUIDS} from '../../../helpers/fixture.js'
import {expectGolden} from '../../../helpers/golden.js'
import {fixtureFleet, fleetWithNode, nodeWithInbounds, projectTitled, VLESS_REALITY} from './fleet.js'

type Json = Record<string, unknown>

// ---------------------------------------------------------------------------
// A structural checker for the subset of sing-box ≥ 1.12 that nexus writes.
// sing-box rejects unknown fields (formats.md §9.2), so every object is held
// to an allow-list of keys, and the legacy forms removed in 1.13/1.14 are
// named explicitly.

const DIAL = ['tag', 'server', 'server_port']
const OUTBOUND_KEYS: Record<string, readonly string[]> = {
  selector: ['type', 'tag', 'outbounds', 'default', 'interrupt_exist_connections'],
  direct: ['type', 'tag'],
  vless: ['type', ...DIAL, 'uuid', 'flow', 'network', 'tls', 'packet_encoding', 'multiplex', 'transport'],
  vmess: [
    'type',
    ...DIAL,
    'uuid',
    'security',
    'alter_id',
    'global_padding',
    'authenticated_length',
    'network',
    'tls',
    'packet_encoding',
    'multiplex',
    'transport',
  ],
  trojan: ['type', ...DIAL, 'password', 'network', 'tls', 'multiplex', 'transport'],
  shadowsocks: ['type', ...DIAL, 'method', 'password', 'plugin', 'plugin_opts', 'network', 'udp_over_tcp', 'multiplex'],
}
const TLS_KEYS = ['enabled', 'server_name', 'insecure', 'alpn', 'utls', 'reality']
const TRANSPORT_KEYS: Record<string, readonly string[]> = {
  ws: ['type', 'path', 'headers', 'max_early_data', 'early_data_header_name'],
  httpupgrade: ['type', 'host', 'path', 'headers'],
  grpc: ['type', 'service_name', 'idle_timeout', 'ping_timeout', 'permit_without_stream'],
}
const DNS_SERVER_KEYS: Record<string, readonly string[]> = {
  local: ['type', 'tag'],
  https: ['type', 'tag', 'server', 'server_port', 'path', 'headers', 'tls', 'detour', 'domain_resolver'],
  udp: ['type', 'tag', 'server', 'server_port', 'detour', 'domain_resolver'],
}
const INBOUND_KEYS: Record<string, readonly string[]> = {
  mixed: ['type', 'tag', 'listen', 'listen_port', 'users', 'set_system_proxy'],
  tun: ['type', 'tag', 'interface_name', 'address', 'mtu', 'auto_route', 'strict_route', 'route_address', 'stack'],
}
const RULE_KEYS = ['action', 'protocol', 'ip_is_private', 'outbound', 'domain', 'domain_suffix', 'ip_cidr', 'port']
const FINGERPRINTS = ['chrome', 'firefox', 'edge', 'safari', '360', 'qq', 'ios', 'android', 'random', 'randomized']

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function checkSingbox(config: unknown): string[] {
  const problems: string[] = []
  const keys = (at: string, value: unknown, allowed: readonly string[] | undefined): Json => {
    if (!isObject(value)) {
      problems.push(`${at}: not an object`)
      return {}
    }
    if (!allowed) {
      problems.push(`${at}: unknown type ${String(value.type)}`)
      return value
    }
    for (const key of Object.keys(value)) if (!allowed.includes(key)) problems.push(`${at}: unknown field ${key}`)
    return value
  }
  const list = (at: string, value: unknown): unknown[] => {
    if (Array.isArray(value)) return value
    problems.push(`${at}: not a list`)
    return []
  }

  const root = keys('$', config, ['log', 'dns', 'inbounds', 'outbounds', 'route'])
  keys('log', root.log, ['disabled', 'level', 'timestamp'])
  const dns = keys('dns', root.dns, ['servers', 'rules', 'final', 'strategy'])
  const dnsTags = list('dns.servers', dns.servers).map((server, i) => {
    const s = keys(`dns.servers[${i}]`, server, isObject(server) ? DNS_SERVER_KEYS[String(server.type)] : [])
    if ('address' in s) problems.push(`dns.servers[${i}]: legacy address field (removed in 1.14)`)
    return String(s.tag)
  })
  list('inbounds', root.inbounds).forEach((inbound, i) => {
    const at = `inbounds[${i}]`
    const value = keys(at, inbound, isObject(inbound) ? INBOUND_KEYS[String(inbound.type)] : [])
    for (const legacy of ['sniff', 'sniff_override_destination', 'domain_strategy', 'inet4_address']) {
      if (legacy in value) problems.push(`${at}: legacy ${legacy}`)
    }
  })
  const tags: string[] = []
  const outbounds = list('outbounds', root.outbounds).map((outbound, i) => {
    const at = `outbounds[${i}]`
    const type = isObject(outbound) ? String(outbound.type) : ''
    if (type === 'block' || type === 'dns') problems.push(`${at}: legacy ${type} outbound (removed in 1.13)`)
    const value = keys(at, outbound, OUTBOUND_KEYS[type])
    tags.push(String(value.tag))
    if (value.tls !== undefined) {
      const tls = keys(`${at}.tls`, value.tls, TLS_KEYS)
      if (tls.enabled !== true) problems.push(`${at}.tls: not enabled`)
      const utls = tls.utls === undefined ? undefined : keys(`${at}.tls.utls`, tls.utls, ['enabled', 'fingerprint'])
      if (utls && !FINGERPRINTS.includes(String(utls.fingerprint))) problems.push(`${at}.tls.utls: bad fingerprint`)
      if (tls.reality !== undefined) {
        const reality = keys(`${at}.tls.reality`, tls.reality, ['enabled', 'public_key', 'short_id'])
        if (reality.enabled !== true || typeof reality.public_key !== 'string') problems.push(`${at}: bad reality`)
        if (utls?.enabled !== true) problems.push(`${at}: REALITY without utls.enabled`)
      }
    }
    if (value.transport !== undefined) {
      const transport = value.transport
      keys(`${at}.transport`, transport, isObject(transport) ? TRANSPORT_KEYS[String(transport.type)] : [])
    }
    if (typeof value.server_port === 'number' && (value.server_port < 1 || value.server_port > 65535)) {
      problems.push(`${at}: bad server_port`)
    }
    return value
  })
  if (new Set(tags).size !== tags.length) problems.push('outbounds: duplicate tags')
  const route = keys('route', root.route, ['rules', 'final', 'default_domain_resolver', 'auto_detect_interface'])
  list('route.rules', route.rules).forEach((rule, i) => {
    const value = keys(`route.rules[${i}]`, rule, RULE_KEYS)
    if (value.outbound !== undefined && !tags.includes(String(value.outbound))) {
      problems.push(`route.rules[${i}]: unknown outbound ${String(value.outbound)}`)
    }
    if (value.outbound === undefined && value.action === undefined) problems.push(`route.rules[${i}]: no action`)
  })
  // Every reference resolves.
  for (const selector of outbounds.filter((o) => o.type === 'selector')) {
    const members = list('selector.outbounds', selector.outbounds).map(String)
    for (const member of members) if (!tags.includes(member)) problems.push(`selector: unknown outbound ${member}`)
    if (!members.includes(String(selector.default))) problems.push('selector: default is not a member')
  }
  if (!tags.includes(String(route.final))) problems.push(`route.final: unknown outbound ${String(route.final)}`)
  if (!dnsTags.includes(String(route.default_domain_resolver))) problems.push('route.default_domain_resolver: unknown')
  if (!dnsTags.includes(String(dns.final))) problems.push('dns.final: unknown server')
  for (const server of list('dns.servers', dns.servers).filter(isObject)) {
    if (server.detour !== undefined && !tags.includes(String(server.detour))) problems.push('dns: unknown detour')
  }
  return problems
}

// ---------------------------------------------------------------------------

function jsonOf(fleet = fixtureFleet(), user = 'alice'): string {
  return renderSingbox(subscriptionProxies(fleet, user, 'default'))
}

interface Config {
  outbounds: Json[]
  route: {rules: Json[]; final: string}
  dns: {servers: Json[]}
  inbounds: Json[]
}

function config(text = jsonOf()): Config {
  return JSON.parse(text) as Config
}

function outbound(cfg: Config, suffix: string): Json {
  const found = cfg.outbounds.find((o) => String(o.tag).endsWith(suffix))
  if (!found) throw new Error(`no outbound ${suffix}`)
  return found
}

describe('renderSingbox', () => {
  it('matches the golden file', () => {
    expectGolden('subscription/alice-default.singbox.json', jsonOf())
  })

  it('is pretty JSON with a trailing newline, byte-stable, keys in a fixed order', () => {
    const text = jsonOf()
    expect(text.endsWith('}\n')).toBe(true)
    expect(text).toBe(`${JSON.stringify(JSON.parse(text), null, 2)}\n`)
    expect(jsonOf()).toBe(text)
    expect(Object.keys(JSON.parse(text) as Json)).toEqual(['log', 'dns', 'inbounds', 'outbounds', 'route'])
  })

  it('passes the structural check: only known fields, no legacy forms, every reference resolves', () => {
    expect(checkSingbox(config())).toEqual([])
  })

  it('has a checker that catches unknown fields, legacy outbounds and inbound sniffing, and REALITY without utls', () => {
    const cfg = config()
    outbound(cfg, 'trojan-tls').servername = 'typo'
    cfg.outbounds.push({type: 'block', tag: 'block'}, {type: 'dns', tag: 'dns-out'})
    cfg.inbounds.push({type: 'mixed', tag: 'old', listen: '::', listen_port: 1, sniff: true})
    cfg.dns.servers.push({tag: 'old-dns', address: 'tls://1.1.1.1'})
    const vless = outbound(cfg, 'vless-reality').tls as Json
    delete vless.utls
    const problems = checkSingbox(cfg)
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('unknown field servername'),
        expect.stringContaining('legacy block outbound'),
        expect.stringContaining('legacy dns outbound'),
        expect.stringContaining('legacy sniff'),
        expect.stringContaining('legacy address field'),
        expect.stringContaining('REALITY without utls.enabled'),
      ]),
    )
  })

  it('uses typed DNS servers and rule actions (sniff, hijack-dns) instead of the removed forms', () => {
    const cfg = config()
    expect(cfg.dns.servers.map((s) => s.type)).toEqual(['https', 'local'])
    expect(cfg.route.rules.slice(0, 2)).toEqual([{action: 'sniff'}, {protocol: 'dns', action: 'hijack-dns'}])
    expect(cfg.outbounds.map((o) => o.type)).not.toContain('block')
    expect(cfg.outbounds.map((o) => o.type)).not.toContain('dns')
  })

  it('puts every proxy in the selector, then the proxies, then direct', () => {
    const cfg = config()
    const [selector, ...rest] = cfg.outbounds
    const proxyTags = rest.slice(0, -1).map((o) => o.tag)
    expect(proxyTags).toEqual([
      'Acme VPN · fra-1 ss2022',
      'Acme VPN · fra-1 trojan-tls',
      'Acme VPN · fra-1 vless-reality',
      'Acme VPN · fra-1 vmess-ws',
    ])
    expect(selector).toEqual({
      type: 'selector',
      tag: SINGBOX_SELECTOR,
      outbounds: [...proxyTags, 'direct'],
      default: proxyTags[0],
    })
    expect(rest.at(-1)).toEqual({type: 'direct', tag: 'direct'})
    expect(cfg.route.final).toBe(SINGBOX_SELECTOR)
  })

  it('writes VLESS REALITY with utls enabled (required by the REALITY client)', () => {
    expect(outbound(config(), 'vless-reality')).toEqual({
      type: 'vless',
      tag: 'Acme VPN · fra-1 vless-reality',
      server: 'fra-1.vpn.example.com',
      server_port: 443,
      uuid: UUIDS['alice/default'],
      flow: 'xtls-rprx-vision',
      packet_encoding: 'xudp',
      tls: {
        enabled: true,
        server_name: 'www.example.com',
        utls: {enabled: true, fingerprint: 'chrome'},
        reality: {enabled: true, public_key: KEYS.reality.publicKey, short_id: '6d44678d93a3b4f6'},
      },
    })
  })

  it('writes vmess (alter_id 0, ws transport), trojan (alpn) and SS-2022', () => {
    const cfg = config()
    expect(outbound(cfg, 'vmess-ws')).toMatchObject({
      type: 'vmess',
      security: 'auto',
      alter_id: 0,
      tls: {enabled: true, server_name: 'fra-1.vpn.example.com'},
      transport: {type: 'ws', path: '/vm'},
    })
    expect(outbound(cfg, 'trojan-tls')).toMatchObject({
      password: UUIDS['alice/default'],
      tls: {enabled: true, server_name: 'fra-1.vpn.example.com', alpn: ['h2', 'http/1.1']},
    })
    const ss = outbound(cfg, 'ss2022')
    expect(ss.method).toBe('2022-blake3-aes-128-gcm')
    expect(String(ss.password).startsWith(`${KEYS.shadowsocks}:`)).toBe(true)
    expect(ss).not.toHaveProperty('tls')
  })

  it('writes grpc and httpupgrade transports, and leaves out XHTTP, which sing-box lacks', () => {
    const n = nodeWithInbounds({
      'vless-reality': {transport: {type: 'xhttp', path: '/x'}, flow: undefined},
      'vmess-ws': {transport: {type: 'httpupgrade', path: '/up', host: 'up.example.com'}},
      'trojan-tls': {transport: {type: 'grpc', serviceName: 'tr'}},
    })
    const cfg = config(jsonOf(fleetWithNode(n)))
    expect(checkSingbox(cfg)).toEqual([])
    expect(cfg.outbounds.some((o) => String(o.tag).endsWith('vless-reality'))).toBe(false)
    expect(outbound(cfg, 'vmess-ws').transport).toEqual({type: 'httpupgrade', host: 'up.example.com', path: '/up'})
    expect(outbound(cfg, 'trojan-tls').transport).toEqual({type: 'grpc', service_name: 'tr'})
  })

  it('writes no tls block without TLS, and no short_id for an empty shortId', () => {
    const n = nodeWithInbounds({
      'vmess-ws': {publicPort: 10001},
      'vless-reality': {reality: {...VLESS_REALITY.reality!, shortIds: ['']}},
    })
    const cfg = config(jsonOf(fleetWithNode(n)))
    expect(outbound(cfg, 'vmess-ws')).not.toHaveProperty('tls')
    expect((outbound(cfg, 'vless-reality').tls as {reality: Json}).reality).toEqual({
      enabled: true,
      public_key: KEYS.reality.publicKey,
    })
    expect(checkSingbox(cfg)).toEqual([])
  })

  it('writes an IPv6 server bare and a non-ASCII title as UTF-8', () => {
    const n = nodeWithInbounds({'vless-reality': {publicHost: '2001:db8::10'}})
    const text = jsonOf(fleetWithNode(n, {project: projectTitled('Акме "VPN"')}))
    const cfg = config(text)
    expect(outbound(cfg, 'vless-reality')).toMatchObject({
      server: '2001:db8::10',
      tag: 'Акме "VPN" · fra-1 vless-reality',
    })
    expect(checkSingbox(cfg)).toEqual([])
  })

  it('gives bob only vmess, and an empty subscription a valid selector with direct', () => {
    expect(config(jsonOf(fixtureFleet(), 'bob')).outbounds.map((o) => o.type)).toEqual(['selector', 'vmess', 'direct'])
    const empty = config(jsonOf(fixtureFleet(), 'dave'))
    expect(empty.outbounds[0]).toEqual({
      type: 'selector',
      tag: SINGBOX_SELECTOR,
      outbounds: ['direct'],
      default: 'direct',
    })
    expect(checkSingbox(empty)).toEqual([])
  })
})
