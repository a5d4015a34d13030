import {describe, expect, it} from 'vitest'

import {deriveShadowsocksUserKey, wireguardPublicKey} from '../../../../src/crypto/keys.js'
import type {Node} from '../../../../src/model/desired.js'
import {
  type Proxy,
  type ShadowsocksProxy,
  subscriptionProxies,
  type TrojanProxy,
  type VlessProxy,
  type VmessProxy,
  withUniqueNames,
} from '../../../../src/render/subscription/proxies.js'
import type {
  Shadowsocks2022Settings,
  ShadowsocksLegacySettings,
  TrojanSettings,
  VlessSettings,
  XrayInboundJson,
  XrayRealitySettings,
} from '../../../../src/render/xray-types.js'
import {xrayConfig} from '../../../../src/render/xray.js'
import {desired, KEYS, node, nodeSecrets, state, UUIDS} from '../../../helpers/fixture.js'
import {
  fixtureFleet,
  fleetWithNode,
  fleetWithNodes,
  fleetWithState,
  fleetWithTitle,
  nodeWithInbounds,
  nodeWithOnly,
  SS_2022,
  TROJAN_TLS,
  VLESS_REALITY,
  VMESS_WS,
} from './fleet.js'

const ALICE = UUIDS['alice/default']

function aliceProxies(fleet = fixtureFleet()): Proxy[] {
  return subscriptionProxies(fleet, 'alice', 'default')
}

function byTag<P extends Proxy['protocol']>(
  proxies: readonly Proxy[],
  tag: string,
  protocol: P,
): Extract<Proxy, {protocol: P}> {
  const found = proxies.find((proxy) => proxy.tag === tag)
  if (found?.protocol !== protocol) throw new Error(`no ${protocol} proxy ${tag}`)
  return found as Extract<Proxy, {protocol: P}>
}

function serverInbound(tag: string, n: Node = node): XrayInboundJson {
  const config = xrayConfig(fixtureFleet(), n)
  const found = config?.inbounds.find((inbound) => inbound.tag === tag)
  if (!found) throw new Error(`no server inbound ${tag}`)
  return found
}

function clientOf<C extends {email: string}>(clients: readonly C[], email = 'alice.default@nexus'): C {
  const found = clients.find((c) => c.email === email)
  if (!found) throw new Error(`no client ${email}`)
  return found
}

describe('subscriptionProxies', () => {
  it('lists one proxy per xray inbound of the active node for alice (pro: every protocol), ordered by tag', () => {
    const proxies = aliceProxies()
    expect(proxies.map((p) => [p.node, p.tag, p.protocol])).toEqual([
      ['fra-1', 'ss2022', 'shadowsocks'],
      ['fra-1', 'trojan-tls', 'trojan'],
      ['fra-1', 'vless-reality', 'vless'],
      ['fra-1', 'vmess-ws', 'vmess'],
    ])
    expect(proxies.map((p) => p.name)).toEqual([
      'Acme VPN · fra-1 ss2022',
      'Acme VPN · fra-1 trojan-tls',
      'Acme VPN · fra-1 vless-reality',
      'Acme VPN · fra-1 vmess-ws',
    ])
  })

  it('connects to publicHost:publicPort, not the listening address', () => {
    const vmess = byTag(aliceProxies(), 'vmess-ws', 'vmess')
    expect([vmess.server, vmess.port]).toEqual(['fra-1.vpn.example.com', 443])
    expect(VMESS_WS.port).toBe(10001)
  })

  it('builds the VLESS REALITY client from the inbound and the node key pair', () => {
    const vless: VlessProxy = byTag(aliceProxies(), 'vless-reality', 'vless')
    expect(vless).toEqual({
      name: 'Acme VPN · fra-1 vless-reality',
      node: 'fra-1',
      tag: 'vless-reality',
      server: 'fra-1.vpn.example.com',
      port: 443,
      protocol: 'vless',
      uuid: ALICE,
      flow: 'xtls-rprx-vision',
      security: {
        type: 'reality',
        serverName: 'www.example.com',
        fingerprint: 'chrome',
        publicKey: KEYS.reality.publicKey,
        shortId: '6d44678d93a3b4f6',
        spiderX: '/',
      },
      transport: {type: 'tcp'},
    })
  })

  it('matches what the server accepts: VLESS id and flow, REALITY key pair and shortId', () => {
    const vless = byTag(aliceProxies(), 'vless-reality', 'vless')
    const server = serverInbound('vless-reality')
    const client = clientOf((server.settings as VlessSettings).clients)
    expect(client.id).toBe(vless.uuid)
    expect(client.flow).toBe(vless.flow)
    const reality = server.streamSettings?.realitySettings as XrayRealitySettings
    if (vless.security.type !== 'reality') throw new Error('expected reality')
    // The exported public key is the public half of the server's private key.
    const b64 = (url: string) => Buffer.from(url, 'base64url').toString('base64')
    expect(b64(vless.security.publicKey)).toBe(wireguardPublicKey(b64(reality.privateKey)))
    expect(reality.shortIds).toContain(vless.security.shortId)
    expect(reality.serverNames).toContain(vless.security.serverName)
    expect(reality.minClientVer).toBe('1.8.0')
  })

  it('uses the link UUID as the trojan password, as the server does, with the inbound TLS settings', () => {
    const trojan: TrojanProxy = byTag(aliceProxies(), 'trojan-tls', 'trojan')
    expect(trojan.password).toBe(ALICE)
    expect(clientOf((serverInbound('trojan-tls').settings as TrojanSettings).clients).password).toBe(trojan.password)
    expect(trojan.security).toEqual({
      type: 'tls',
      serverName: 'fra-1.vpn.example.com',
      alpn: ['h2', 'http/1.1'],
      fingerprint: 'chrome',
    })
  })

  it('gives SS-2022 clients serverPSK:userPSK, the server key and the key the server gives this link', () => {
    const ss: ShadowsocksProxy = byTag(aliceProxies(), 'ss2022', 'shadowsocks')
    const settings = serverInbound('ss2022').settings as Shadowsocks2022Settings
    const userKey = clientOf(settings.clients).password
    expect(userKey).toBe(deriveShadowsocksUserKey(ALICE, 'ss2022', '2022-blake3-aes-128-gcm'))
    expect(settings.password).toBe(KEYS.shadowsocks)
    expect(ss.method).toBe('2022-blake3-aes-128-gcm')
    expect(ss.password).toBe(`${KEYS.shadowsocks}:${userKey}`)
  })

  it('gives legacy AEAD clients the derived key alone and the IETF name of the server method', () => {
    const n = nodeWithInbounds({ss2022: {method: 'chacha20-poly1305'}})
    const ss = byTag(aliceProxies(fleetWithNode(n)), 'ss2022', 'shadowsocks')
    const server = clientOf((serverInbound('ss2022', n).settings as ShadowsocksLegacySettings).clients)
    expect(server.method).toBe('chacha20-poly1305')
    expect(ss.method).toBe('chacha20-ietf-poly1305')
    expect(ss.password).toBe(server.password)
    expect(ss.password).not.toContain(':')

    const x = byTag(
      aliceProxies(fleetWithNode(nodeWithInbounds({ss2022: {method: 'xchacha20-poly1305'}}))),
      'ss2022',
      'shadowsocks',
    )
    expect(x.method).toBe('xchacha20-ietf-poly1305')
    const aes = byTag(
      aliceProxies(fleetWithNode(nodeWithInbounds({ss2022: {method: 'aes-256-gcm'}}))),
      'ss2022',
      'shadowsocks',
    )
    expect(aes.method).toBe('aes-256-gcm')
    expect(Buffer.from(aes.password, 'base64')).toHaveLength(32)
  })

  it('speaks TLS to an inbound behind a TLS-terminating proxy (publicPort differs from port)', () => {
    const vmess: VmessProxy = byTag(aliceProxies(), 'vmess-ws', 'vmess')
    expect(vmess.security).toEqual({type: 'tls', serverName: 'fra-1.vpn.example.com', alpn: [], fingerprint: 'chrome'})
    expect(vmess.transport).toEqual({type: 'ws', path: '/vm'})
  })

  it('speaks no TLS when the inbound has none and clients reach its own port', () => {
    const n = nodeWithInbounds({'vmess-ws': {publicPort: 10001}})
    expect(byTag(aliceProxies(fleetWithNode(n)), 'vmess-ws', 'vmess').security).toEqual({type: 'none'})
  })

  it('sends no IP literal as SNI', () => {
    const n = nodeWithInbounds({
      'trojan-tls': {publicHost: '203.0.113.10', tls: {...TROJAN_TLS.tls!, serverName: undefined}},
    })
    const security = byTag(aliceProxies(fleetWithNode(n)), 'trojan-tls', 'trojan').security
    expect(security.type).toBe('tls')
    expect('serverName' in security).toBe(false)
  })

  it('exports Vision only with the tcp transport under tls or reality', () => {
    const grpc = nodeWithInbounds({'vless-reality': {transport: {type: 'grpc', serviceName: 'svc'}}})
    expect(byTag(aliceProxies(fleetWithNode(grpc)), 'vless-reality', 'vless').flow).toBeUndefined()
    const plain = nodeWithInbounds({'vless-reality': {security: 'none', reality: undefined}})
    expect(byTag(aliceProxies(fleetWithNode(plain)), 'vless-reality', 'vless').flow).toBeUndefined()
    const noFlow = nodeWithInbounds({'vless-reality': {flow: undefined}})
    expect(byTag(aliceProxies(fleetWithNode(noFlow)), 'vless-reality', 'vless').flow).toBeUndefined()
  })

  it('takes the first shortId, even an empty one', () => {
    const n = nodeWithInbounds({'vless-reality': {reality: {...VLESS_REALITY.reality!, shortIds: ['', 'ab']}}})
    const security = byTag(aliceProxies(fleetWithNode(n)), 'vless-reality', 'vless').security
    expect(security.type === 'reality' && security.shortId).toBe('')
  })

  it('gives bob (basic: wireguard + vmess) only the vmess proxy', () => {
    const proxies = subscriptionProxies(fixtureFleet(), 'bob', 'default')
    expect(proxies.map((p) => [p.tag, p.protocol])).toEqual([['vmess-ws', 'vmess']])
    expect((proxies[0] as VmessProxy).uuid).toBe(UUIDS['bob/default'])
  })

  it('gives every link its own UUID', () => {
    const phone = subscriptionProxies(fixtureFleet(), 'alice', 'phone')
    expect(phone).toHaveLength(4)
    expect(byTag(phone, 'vless-reality', 'vless').uuid).toBe(UUIDS['alice/phone'])
  })

  it('leaves out maintenance and disabled nodes, and orders nodes by name', () => {
    const ams = {...node, name: 'ams-1'}
    const zrh = {...node, name: 'zrh-1'}
    const all = fleetWithNodes([zrh, node, ams])
    expect([...new Set(aliceProxies(all).map((p) => p.node))]).toEqual(['ams-1', 'fra-1', 'zrh-1'])

    const some = fleetWithNodes([{...zrh, status: 'disabled'}, {...node, status: 'maintenance'}, ams])
    expect([...new Set(aliceProxies(some).map((p) => p.node))]).toEqual(['ams-1'])
    expect(aliceProxies(fleetWithNode({...node, status: 'maintenance'}))).toEqual([])
  })

  it('leaves out nodes the tariff does not allow, and nodes without xray', () => {
    const us = {...node, name: 'nyc-1', labels: {region: 'us'}}
    expect(aliceProxies(fleetWithNodes([node, us])).every((p) => p.node === 'fra-1')).toBe(true)
    const {xray: _, ...noXray} = node
    expect(aliceProxies(fleetWithNode(noXray))).toEqual([])
  })

  it('gives nothing to an inactive user, an unknown user or link, or a link without UUID', () => {
    expect(subscriptionProxies(fixtureFleet(), 'dave', 'default')).toEqual([])
    expect(aliceProxies(fleetWithState({activeUsers: new Set(['bob', 'carol'])}))).toEqual([])
    const noTariff = {...desired, users: desired.users.map((u) => (u.name === 'alice' ? {...u, tariff: 'gone'} : u))}
    expect(aliceProxies(fleetWithState({}, noTariff))).toEqual([])
    expect(subscriptionProxies(fixtureFleet(), 'nobody', 'default')).toEqual([])
    expect(subscriptionProxies(fixtureFleet(), 'alice', 'tablet')).toEqual([])
    const links = new Map(state.links)
    links.delete('alice/default')
    expect(aliceProxies(fleetWithState({links}))).toEqual([])
  })

  it('writes an IPv6 publicHost in canonical form, unbracketed', () => {
    const n = nodeWithInbounds({'vless-reality': {publicHost: '2001:DB8:0:0::10'}})
    expect(byTag(aliceProxies(fleetWithNode(n)), 'vless-reality', 'vless').server).toBe('2001:db8::10')
  })

  it('keeps control characters out of names and falls back to the project name', () => {
    expect(aliceProxies(fleetWithTitle('Acme\nVPN\t '))[0]?.name).toBe('Acme VPN · fra-1 ss2022')
    expect(aliceProxies(fleetWithTitle(' \r\n'))[0]?.name).toBe('acme · fra-1 ss2022')
  })

  it('suffixes repeated names with (2), (3) and keeps them unique', () => {
    const twice = fleetWithNodes([node, node])
    const names = aliceProxies(twice).map((p) => p.name)
    expect(new Set(names).size).toBe(names.length)
    expect(names).toHaveLength(8)
    expect([names[0], names[4], names[7]]).toEqual([
      'Acme VPN · fra-1 ss2022',
      'Acme VPN · fra-1 ss2022 (2)',
      'Acme VPN · fra-1 vmess-ws (2)',
    ])
    const base = aliceProxies()[0]!
    const renamed = withUniqueNames([base, base, {...base, name: `${base.name} (2)`}]).map((p) => p.name)
    expect(renamed).toEqual([base.name, `${base.name} (2)`, `${base.name} (2) (2)`])
  })

  it('is stable: the same input gives equal output', () => {
    expect(aliceProxies()).toEqual(aliceProxies())
    const reordered = nodeWithOnly([VMESS_WS, SS_2022, VLESS_REALITY, TROJAN_TLS])
    expect(aliceProxies(fleetWithNode(reordered))).toEqual(aliceProxies())
  })

  it('fails loudly when state lacks a secret the inbound needs', () => {
    const noReality = fleetWithState({
      nodes: new Map([['fra-1', {...nodeSecrets, reality: new Map()}]]),
    })
    expect(() => aliceProxies(noReality)).toThrow(/REALITY key pair/)
    const noPsk = fleetWithState({nodes: new Map([['fra-1', {...nodeSecrets, shadowsocks: new Map()}]])})
    expect(() => aliceProxies(noPsk)).toThrow(/no shadowsocks server key/)
    expect(() => aliceProxies(fleetWithState({nodes: new Map()}))).toThrow(/no secrets in state for node fra-1/)
    const noTls = fleetWithNode(nodeWithInbounds({'trojan-tls': {tls: undefined}}))
    expect(() => aliceProxies(noTls)).toThrow(/security tls without tls settings/)
  })
})
