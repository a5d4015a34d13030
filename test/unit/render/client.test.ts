import {describe, expect, it} from 'vitest'

import type {Desired, Peer, Rule, WireguardInterface} from '../../../src/model/desired.js'
import {Fleet} from '../../../src/model/fleet.js'
import type {StateValues} from '../../../src/model/state-values.js'
import {formatEndpoint, privateKeyPlaceholder, renderClientConfig} from '../../../src/render/client.js'
import {makeRule, peerNamed} from '../../helpers/builders.js'
import {cidr, desired, ip, KEYS, node, state} from '../../helpers/fixture.js'
import {expectGolden} from '../../helpers/golden.js'

const wg0 = node.interfaces[0]!

function render(name: string, options: {desired?: Desired; state?: StateValues; key?: string} = {}): string {
  const d = options.desired ?? desired
  return renderClientConfig(new Fleet(d, options.state ?? state), peerNamed(name, d), options.key)
}

function line(text: string, key: string): string | undefined {
  return text.split('\n').find((candidate) => candidate.startsWith(`${key} = `))
}

function withInterface(changes: Partial<WireguardInterface>): Desired {
  return {...desired, nodes: [{...node, interfaces: [{...wg0, ...changes}]}]}
}

function withPeer(name: string, changes: Partial<Peer>, d: Desired = desired): Desired {
  return {...d, peers: d.peers.map((peer) => (peer.name === name ? {...peer, ...changes} : peer))}
}

const allow = (overrides: Partial<Rule>): Rule => makeRule({name: 'extra', action: 'allow', priority: 50, ...overrides})

describe('renderClientConfig', () => {
  it('matches the golden files', () => {
    expectGolden('client/alice-laptop.conf', render('alice-laptop'))
    expectGolden('client/bob-phone.conf', render('bob-phone'))
    expectGolden('client/office-router.conf', render('office-router'))
  })

  it('shows a placeholder instead of the private key unless one is given', () => {
    const placeholder = render('alice-laptop')
    expect(line(placeholder, 'PrivateKey')).toBe(
      'PrivateKey = <replace with the private key of alice-laptop; nexus does not store it>',
    )
    expect(placeholder).toContain(privateKeyPlaceholder(peerNamed('alice-laptop')))
    const withKey = render('alice-laptop', {key: KEYS.alice.privateKey})
    expect(line(withKey, 'PrivateKey')).toBe(`PrivateKey = ${KEYS.alice.privateKey}`)
    expect(withKey).not.toContain('replace with')
  })

  it('refuses something that is not a WireGuard private key', () => {
    expect(() => render('alice-laptop', {key: `${KEYS.alice.privateKey}\n[Peer]`})).toThrow(/alice-laptop/)
    expect(() => render('alice-laptop', {key: KEYS.reality.privateKey})).toThrow(/not a WireGuard key/)
  })

  it('connects to the interface public key and endpoint', () => {
    const text = render('alice-laptop')
    expect(line(text, 'PublicKey')).toBe(`PublicKey = ${KEYS.gatewayWg0.publicKey}`)
    expect(line(text, 'Endpoint')).toBe('Endpoint = fra-1.vpn.example.com:51820')
    expect(text).not.toContain(KEYS.gatewayWg0.privateKey)
  })

  it('brackets an IPv6 endpoint, canonical', () => {
    const text = render('alice-laptop', {desired: withInterface({endpoint: {host: '2001:DB8:0::1', port: 51821}})})
    expect(line(text, 'Endpoint')).toBe('Endpoint = [2001:db8::1]:51821')
    expect(formatEndpoint('203.0.113.10', 51820)).toBe('203.0.113.10:51820')
  })

  it('routes everything for a full tunnel', () => {
    expect(line(render('alice-laptop'), 'AllowedIPs')).toBe('AllowedIPs = 0.0.0.0/0, ::/0')
  })

  it('routes the tunnel networks and only the services the user may reach for a split tunnel', () => {
    // bob is neither in admins nor named on the git service; carol is named on it.
    expect(line(render('bob-phone'), 'AllowedIPs')).toBe('AllowedIPs = 10.66.0.0/24, fd66::/64')
    expect(line(render('carol-laptop'), 'AllowedIPs')).toBe(
      'AllowedIPs = 10.10.0.10/32, 10.66.0.0/24, fd10::10/128, fd66::/64',
    )
    // A user-less site router reaches no service.
    expect(line(render('office-router'), 'AllowedIPs')).toBe('AllowedIPs = 10.66.0.0/24, fd66::/64')
  })

  it('adds allow-rule destinations of rules that take the peer in, dropping covered prefixes', () => {
    const rules: Rule[] = [
      ...desired.rules,
      allow({
        name: 'bob-lab',
        sources: [{kind: 'user', name: 'bob'}],
        destinations: [
          {kind: 'cidr', cidr: cidr('10.0.0.0/8')},
          {kind: 'cidr', cidr: cidr('10.66.0.0/24')},
          {kind: 'cidr', cidr: cidr('2001:db8:0:0::/32')},
          {kind: 'cidr', cidr: cidr('2001:db8:5::/48')},
        ],
      }),
      allow({
        name: 'guests-printer',
        sources: [{kind: 'group', name: 'guests'}],
        destinations: [{kind: 'cidr', cidr: cidr('172.16.5.5/32')}],
      }),
      allow({
        name: 'tunnel-ntp',
        sources: [{kind: 'cidr', cidr: cidr('10.66.0.0/29')}],
        destinations: [{kind: 'cidr', cidr: cidr('198.51.100.123/32')}],
      }),
      allow({name: 'everyone-git', destinations: [{kind: 'service', name: 'git'}], direction: 'both'}),
      // None of these may add a route for bob:
      allow({
        name: 'inbound-only',
        sources: [{kind: 'user', name: 'bob'}],
        direction: 'ingress',
        destinations: [{kind: 'cidr', cidr: cidr('198.18.0.0/15')}],
      }),
      allow({
        name: 'carol-only',
        sources: [{kind: 'user', name: 'carol'}],
        destinations: [{kind: 'cidr', cidr: cidr('198.19.0.0/16')}],
      }),
      allow({
        name: 'denied',
        action: 'deny',
        sources: [{kind: 'user', name: 'bob'}],
        destinations: [{kind: 'cidr', cidr: cidr('203.0.113.0/24')}],
      }),
      allow({name: 'inactive', active: false, destinations: [{kind: 'cidr', cidr: cidr('100.64.0.0/10')}]}),
      allow({
        name: 'elsewhere',
        nodes: {kind: 'names', names: ['ams-1']},
        destinations: [{kind: 'cidr', cidr: cidr('100.64.0.0/10')}],
      }),
      allow({name: 'anywhere', sources: [{kind: 'user', name: 'bob'}]}),
    ]
    const text = render('bob-phone', {desired: {...desired, rules}})
    expect(line(text, 'AllowedIPs')).toBe(
      'AllowedIPs = 10.0.0.0/8, 172.16.5.5/32, 198.51.100.123/32, 2001:db8::/32, fd10::10/128, fd66::/64',
    )
  })

  it('takes DNS from the peer, else from the interface, and omits an empty list', () => {
    expect(line(render('bob-phone'), 'DNS')).toBe('DNS = 10.66.0.1, fd66::1')
    const own = withPeer('bob-phone', {dns: [ip('9.9.9.9'), ip('2620:FE::FE')]})
    expect(line(render('bob-phone', {desired: own}), 'DNS')).toBe('DNS = 9.9.9.9, 2620:fe::fe')
    expect(render('bob-phone', {desired: withPeer('bob-phone', {dns: []})})).not.toContain('DNS')
    expect(render('bob-phone', {desired: withInterface({dns: []})})).not.toContain('DNS')
  })

  it('uses the allocated addresses as host routes and the interface MTU', () => {
    const text = render('bob-phone', {desired: withInterface({mtu: 1280})})
    expect(line(text, 'Address')).toBe('Address = 10.66.0.3/32, fd66::3/128')
    expect(line(text, 'MTU')).toBe('MTU = 1280')
  })

  it('sets PersistentKeepalive only when it is positive', () => {
    expect(line(render('bob-phone'), 'PersistentKeepalive')).toBe('PersistentKeepalive = 25')
    expect(render('carol-laptop')).not.toContain('PersistentKeepalive')
  })

  it('adds the preview notice to the header of a preview render', () => {
    expect(render('bob-phone', {state: {...state, preview: true}})).toMatch(
      /^# rendered by nexus -- do not edit\n# PREVIEW: /,
    )
  })

  it('is deterministic', () => {
    const reversed: Desired = {...desired, peers: [...desired.peers].reverse(), rules: [...desired.rules].reverse()}
    expect(render('carol-laptop', {desired: reversed})).toBe(render('carol-laptop'))
  })

  it('throws on a peer of an unknown interface', () => {
    expect(() => render('bob-phone', {desired: withPeer('bob-phone', {interface: 'wg9'})})).toThrow(
      /bob-phone.*fra-1\/wg9/,
    )
  })
})
