import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {renderSubscription, SUBSCRIPTION_FORMATS} from '../../../../src/render/subscription/index.js'
import {node, state, UUIDS} from '../../../helpers/fixture.js'
import {expectGolden} from '../../../helpers/golden.js'
import {fixtureFleet, fleetWithNode, fleetWithState, nodeWithInbounds, projectTitled} from './fleet.js'

describe('renderSubscription', () => {
  it('renders each format with its content type and file name', () => {
    const fleet = fixtureFleet()
    const rendered = SUBSCRIPTION_FORMATS.map((format) => renderSubscription(fleet, 'alice', 'default', format))
    expect(rendered.map((r) => [r.format, r.contentType, r.fileName])).toEqual([
      ['v2ray', 'text/plain; charset=utf-8', 'Acme VPN.txt'],
      ['clash', 'text/yaml; charset=utf-8', 'Acme VPN.yaml'],
      ['singbox', 'application/json; charset=utf-8', 'Acme VPN.json'],
    ])
    expect(rendered.every((r) => r.title === 'Acme VPN' && r.proxies.length === 4 && !r.preview)).toBe(true)
  })

  it('gives the same bodies as the golden files of each format', () => {
    const fleet = fixtureFleet()
    expectGolden('subscription/alice-default.v2ray.txt', renderSubscription(fleet, 'alice', 'default', 'v2ray').body)
    expectGolden('subscription/alice-default.clash.yaml', renderSubscription(fleet, 'alice', 'default', 'clash').body)
    expectGolden(
      'subscription/alice-default.singbox.json',
      renderSubscription(fleet, 'alice', 'default', 'singbox').body,
    )
  })

  it('is byte-identical across renders and fleets built from the same input', () => {
    for (const format of SUBSCRIPTION_FORMATS) {
      expect(renderSubscription(fixtureFleet(), 'alice', 'default', format).body).toBe(
        renderSubscription(fixtureFleet(), 'alice', 'default', format).body,
      )
    }
  })

  it('carries the link’s own UUID in every format', () => {
    const phone = UUIDS['alice/phone']
    const fleet = fixtureFleet()
    for (const format of SUBSCRIPTION_FORMATS) {
      const {body} = renderSubscription(fleet, 'alice', 'phone', format)
      const text = format === 'v2ray' ? Buffer.from(body, 'base64').toString('utf8') : body
      expect(text).toContain(phone)
      expect(text).not.toContain(UUIDS['alice/default'])
    }
  })

  it('gives bob (basic: wireguard + vmess) only the vmess proxy', () => {
    const fleet = fixtureFleet()
    const v2ray = renderSubscription(fleet, 'bob', 'default', 'v2ray')
    expect(
      Buffer.from(v2ray.body, 'base64')
        .toString('utf8')
        .split('\n')
        .map((l) => l.split('://')[0]),
    ).toEqual(['vmess'])
    const clash = parse(renderSubscription(fleet, 'bob', 'default', 'clash').body) as {proxies: {type: string}[]}
    expect(clash.proxies.map((p) => p.type)).toEqual(['vmess'])
  })

  it('gives an inactive user nothing to connect to', () => {
    const fleet = fleetWithState({activeUsers: new Set(['bob'])})
    expect(renderSubscription(fleet, 'alice', 'default', 'v2ray')).toMatchObject({body: '', proxies: []})
    const clash = parse(renderSubscription(fleet, 'alice', 'default', 'clash').body) as {proxies: unknown[]}
    expect(clash.proxies).toEqual([])
    const singbox = JSON.parse(renderSubscription(fleet, 'alice', 'default', 'singbox').body) as {
      outbounds: {type: string}[]
    }
    expect(singbox.outbounds.map((o) => o.type)).toEqual(['selector', 'direct'])
  })

  it('leaves out a node in maintenance', () => {
    const fleet = fleetWithNode({...node, status: 'maintenance'})
    for (const format of SUBSCRIPTION_FORMATS) {
      const {body, proxies} = renderSubscription(fleet, 'alice', 'default', format)
      expect(proxies).toEqual([])
      const text = format === 'v2ray' ? Buffer.from(body, 'base64').toString('utf8') : body
      expect(text).not.toContain('fra-1')
    }
  })

  it('brackets an IPv6 host in share links and leaves it bare (quoted) in Clash and sing-box', () => {
    const fleet = fleetWithNode(nodeWithInbounds({'trojan-tls': {publicHost: '2001:db8::20'}}))
    const links = Buffer.from(renderSubscription(fleet, 'alice', 'default', 'v2ray').body, 'base64').toString('utf8')
    expect(links).toContain('trojan://')
    expect(links).toContain('@[2001:db8::20]:2083?')
    expect(renderSubscription(fleet, 'alice', 'default', 'clash').body).toContain('server: "2001:db8::20"')
    expect(renderSubscription(fleet, 'alice', 'default', 'singbox').body).toContain('"server": "2001:db8::20"')
  })

  it('keeps path separators out of the file name', () => {
    const fleet = fleetWithNode(node, {project: projectTitled('../Acme: VPN/*')})
    expect(renderSubscription(fleet, 'alice', 'default', 'clash').fileName).toBe('_._Acme_ VPN__.yaml')
  })

  it('marks a render from preview state', () => {
    const fleet = fleetWithState({preview: true})
    expect(renderSubscription(fleet, 'alice', 'default', 'v2ray').preview).toBe(true)
    expect(state.preview).toBe(false)
  })
})
