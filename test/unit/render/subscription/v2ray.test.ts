import {describe, expect, it} from 'vitest'

import {subscriptionProxies} from '../../../../src/render/subscription/proxies.js'
import {renderV2ray, shareLink, shareLinks, type VmessShare} from '../../../../src/render/subscription/v2ray.js'
import {KEYS, UUIDS} from '../../../helpers/fixture.js'
import {expectGolden} from '../../../helpers/golden.js'
import {fixtureFleet, fleetWithNode, nodeWithInbounds, projectTitled, TROJAN_TLS, VLESS_REALITY} from './fleet.js'

const ALICE = UUIDS['alice/default']

function links(fleet = fixtureFleet(), user = 'alice'): string[] {
  return shareLinks(subscriptionProxies(fleet, user, 'default'))
}

function linkFor(scheme: string, fleet = fixtureFleet()): string {
  const found = links(fleet).find((link) => link.startsWith(`${scheme}://`))
  if (!found) throw new Error(`no ${scheme} link`)
  return found
}

/**
 * v2rayN's query parsing (formats.md §1.2): split on `&`, then on `=`; a part
 * that does not split into exactly two is dropped, and values are unescaped
 * like Uri.UnescapeDataString, which leaves `+` alone. Returns the dropped
 * parts too, so a test sees what v2rayN would lose.
 */
function v2rayNQuery(search: string): {params: Map<string, string>; dropped: string[]} {
  const params = new Map<string, string>()
  const dropped: string[] = []
  for (const part of search.replace(/^\?/, '').split('&')) {
    const keyValue = part.split('=')
    if (keyValue.length !== 2) {
      dropped.push(part)
      continue
    }
    const [key = '', value = ''] = keyValue
    if (params.has(key)) dropped.push(part)
    params.set(key, decodeURIComponent(value))
  }
  return {params, dropped}
}

function parsed(link: string): {url: URL; params: Map<string, string>; name: string} {
  const url = new URL(link)
  const {params, dropped} = v2rayNQuery(url.search)
  expect(dropped).toEqual([])
  // WHATWG URL agrees with v2rayN on every value.
  for (const [key, value] of url.searchParams) {
    if (!value.includes('+')) expect(params.get(key)).toBe(value)
  }
  return {url, params, name: decodeURIComponent(url.hash.slice(1))}
}

function vmessJson(link: string): Record<string, unknown> {
  expect(link.startsWith('vmess://')).toBe(true)
  const payload = link.slice('vmess://'.length)
  expect(payload).toMatch(/^[A-Za-z0-9+/]+={0,2}$/)
  return JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as Record<string, unknown>
}

describe('renderV2ray', () => {
  it('matches the golden files (body, and the links it carries)', () => {
    const proxies = subscriptionProxies(fixtureFleet(), 'alice', 'default')
    expectGolden('subscription/alice-default.v2ray.txt', renderV2ray(proxies))
    expectGolden('subscription/alice-default.links.txt', `${shareLinks(proxies).join('\n')}\n`)
  })

  it('is standard padded base64 of the newline-joined links', () => {
    const proxies = subscriptionProxies(fixtureFleet(), 'alice', 'default')
    const body = renderV2ray(proxies)
    expect(body).toMatch(/^[A-Za-z0-9+/]+={0,2}$/)
    expect(body.length % 4).toBe(0)
    const decoded = Buffer.from(body, 'base64').toString('utf8')
    expect(decoded.split('\n')).toEqual(shareLinks(proxies))
    expect(decoded.split('\n').map((l) => l.split('://')[0])).toEqual(['ss', 'trojan', 'vless', 'vmess'])
  })

  it('is empty for a user without proxies', () => {
    expect(renderV2ray(subscriptionProxies(fixtureFleet(), 'dave', 'default'))).toBe('')
  })

  it('writes the VLESS REALITY link field by field (formats.md §7.1)', () => {
    const {url, params, name} = parsed(linkFor('vless'))
    expect(url.protocol).toBe('vless:')
    expect(url.username).toBe(ALICE)
    expect(url.hostname).toBe('fra-1.vpn.example.com')
    expect(url.port).toBe('443')
    expect(Object.fromEntries(params)).toEqual({
      encryption: 'none',
      flow: 'xtls-rprx-vision',
      security: 'reality',
      sni: 'www.example.com',
      fp: 'chrome',
      pbk: KEYS.reality.publicKey,
      sid: '6d44678d93a3b4f6',
      spx: '/',
      type: 'tcp',
      headerType: 'none',
    })
    expect(name).toBe('Acme VPN · fra-1 vless-reality')
    expect(linkFor('vless')).toContain('spx=%2F&')
  })

  it('always puts security=tls on a TLS trojan link, with the password percent-encoded', () => {
    const {url, params} = parsed(linkFor('trojan'))
    expect(decodeURIComponent(url.username)).toBe(ALICE)
    expect(url.port).toBe('2083')
    expect(Object.fromEntries(params)).toEqual({
      security: 'tls',
      sni: 'fra-1.vpn.example.com',
      fp: 'chrome',
      alpn: 'h2,http/1.1',
      type: 'tcp',
      headerType: 'none',
    })
    expect(linkFor('trojan')).toContain('alpn=h2%2Chttp%2F1.1')
  })

  it('says security=none on a trojan link without TLS', () => {
    const n = nodeWithInbounds({'trojan-tls': {security: 'none', tls: undefined}})
    expect(parsed(linkFor('trojan', fleetWithNode(n))).params.get('security')).toBe('none')
  })

  it('writes the vmess link as v2rayN JSON with every value a string and no fragment (formats.md §7.2)', () => {
    const link = linkFor('vmess')
    expect(link).not.toContain('#')
    const json = vmessJson(link)
    expect(json).toEqual({
      v: '2',
      ps: 'Acme VPN · fra-1 vmess-ws',
      add: 'fra-1.vpn.example.com',
      port: '443',
      id: ALICE,
      aid: '0',
      scy: 'auto',
      net: 'ws',
      type: 'none',
      host: '',
      path: '/vm',
      tls: 'tls',
      sni: 'fra-1.vpn.example.com',
      alpn: '',
      fp: 'chrome',
    } satisfies VmessShare)
    expect(Object.values(json).every((value) => typeof value === 'string')).toBe(true)
  })

  it('writes SS-2022 userinfo as pct(method):pct(password), the inner colon encoded (formats.md §7.4)', () => {
    const link = linkFor('ss')
    const url = new URL(link)
    expect(url.username).toBe('2022-blake3-aes-128-gcm')
    const password = decodeURIComponent(url.password)
    expect(password.startsWith(`${KEYS.shadowsocks}:`)).toBe(true)
    expect(url.password).not.toContain(':')
    expect(url.password).toContain('%3A')
    expect(url.search).toBe('')
    expect(decodeURIComponent(url.hash.slice(1))).toBe('Acme VPN · fra-1 ss2022')
  })

  it('writes legacy AEAD userinfo as unpadded base64url of method:password', () => {
    const n = nodeWithInbounds({ss2022: {method: 'chacha20-poly1305'}})
    const ss = subscriptionProxies(fleetWithNode(n), 'alice', 'default').find((p) => p.protocol === 'shadowsocks')
    if (ss?.protocol !== 'shadowsocks') throw new Error('no ss proxy')
    const url = new URL(shareLink(ss))
    expect(url.username).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(url.password).toBe('')
    expect(Buffer.from(url.username, 'base64url').toString('utf8')).toBe(`chacha20-ietf-poly1305:${ss.password}`)
  })

  it('brackets an IPv6 host in links and leaves it bare inside vmess JSON (formats.md §1.3)', () => {
    const n = nodeWithInbounds({
      'vless-reality': {publicHost: '2001:db8::10'},
      'vmess-ws': {publicHost: '2001:db8::10'},
      ss2022: {publicHost: '2001:db8::10'},
    })
    const fleet = fleetWithNode(n)
    expect(linkFor('vless', fleet)).toContain('@[2001:db8::10]:443?')
    expect(new URL(linkFor('vless', fleet)).hostname).toBe('[2001:db8::10]')
    expect(linkFor('ss', fleet)).toContain('@[2001:db8::10]:8388#')
    expect(vmessJson(linkFor('vmess', fleet)).add).toBe('2001:db8::10')
  })

  it('escapes =, &, spaces and + so v2rayN keeps every parameter and value (formats.md §1.2)', () => {
    const n = nodeWithInbounds({
      'vless-reality': {
        security: 'tls',
        reality: undefined,
        flow: undefined,
        tls: {...TROJAN_TLS.tls!, serverName: 'cdn.example.com'},
        transport: {type: 'ws', path: '/ws?ed=2048&x=a b+c', host: 'cdn.example.com'},
      },
    })
    const link = linkFor('vless', fleetWithNode(n, {project: projectTitled('A+B & C #1 = ok?')}))
    expect(link).toContain('path=%2Fws%3Fed%3D2048%26x%3Da%20b%2Bc')
    expect(link).not.toMatch(/[ ]/)
    const {params, name} = parsed(link)
    expect(params.get('path')).toBe('/ws?ed=2048&x=a b+c')
    expect(params.get('host')).toBe('cdn.example.com')
    expect(params.get('type')).toBe('ws')
    expect(params.has('flow')).toBe(false)
    expect(name).toBe('A+B & C #1 = ok? · fra-1 vless-reality')
    expect(link.slice(link.indexOf('#') + 1)).not.toMatch(/[+ &=#?]/)
  })

  it('writes grpc, httpupgrade and xhttp transports', () => {
    const grpc = nodeWithInbounds({
      'vless-reality': {transport: {type: 'grpc', serviceName: 'tun.svc'}, flow: undefined},
      'vmess-ws': {transport: {type: 'grpc', serviceName: 'vm'}},
    })
    const g = parsed(linkFor('vless', fleetWithNode(grpc))).params
    expect([g.get('type'), g.get('serviceName'), g.get('mode'), g.get('security')]).toEqual([
      'grpc',
      'tun.svc',
      'gun',
      'reality',
    ])
    expect(vmessJson(linkFor('vmess', fleetWithNode(grpc)))).toMatchObject({net: 'grpc', type: 'gun', path: 'vm'})

    const upgrade = nodeWithInbounds({
      'vmess-ws': {transport: {type: 'httpupgrade', path: '/up', host: 'h.example.com'}},
    })
    expect(vmessJson(linkFor('vmess', fleetWithNode(upgrade)))).toMatchObject({
      net: 'httpupgrade',
      path: '/up',
      host: 'h.example.com',
    })

    const xhttp = nodeWithInbounds({'vless-reality': {transport: {type: 'xhttp', path: '/x'}, flow: undefined}})
    const x = parsed(linkFor('vless', fleetWithNode(xhttp))).params
    expect([x.get('type'), x.get('path'), x.get('mode'), x.has('host')]).toEqual(['xhttp', '/x', 'auto', false])
  })

  it('leaves out an empty shortId rather than sending sid=', () => {
    const n = nodeWithInbounds({'vless-reality': {reality: {...VLESS_REALITY.reality!, shortIds: ['']}}})
    expect(parsed(linkFor('vless', fleetWithNode(n))).params.has('sid')).toBe(false)
  })

  it('gives bob only his vmess link', () => {
    const bob = links(fixtureFleet(), 'bob')
    expect(bob).toHaveLength(1)
    expect(vmessJson(bob[0]!).id).toBe(UUIDS['bob/default'])
  })
})
