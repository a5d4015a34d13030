import {describe, expect, it} from 'vitest'

import type {Desired, Peer} from '../../../src/model/desired.js'
import {Fleet} from '../../../src/model/fleet.js'
import type {IpAddress} from '../../../src/model/ip.js'
import type {StateValues} from '../../../src/model/state-values.js'
import {renderWireguardInterface} from '../../../src/render/wireguard.js'
import {cidr, desired, ip, KEYS, node, state} from '../../helpers/fixture.js'
import {expectGolden} from '../../helpers/golden.js'

const wg0 = node.interfaces[0]!

function render(d: Desired = desired, s: StateValues = state): string {
  const fleet = new Fleet(d, s)
  const target = fleet.nodes.get('fra-1')!
  return renderWireguardInterface(fleet, target, target.interfaces[0]!)
}

function peerComments(text: string): string[] {
  return text.split('\n').filter((line) => line.startsWith('# peer='))
}

describe('renderWireguardInterface', () => {
  it('matches the golden gateway file', () => {
    expectGolden('wireguard/fra-1/wg0.conf', render())
  })

  it('sorts peers by name whatever the declaration order', () => {
    const shuffled = render({...desired, peers: [...desired.peers].reverse()})
    expect(peerComments(shuffled)).toEqual([
      '# peer=alice-laptop user=alice',
      '# peer=bob-phone user=bob',
      '# peer=carol-laptop user=carol',
      '# peer=office-router',
    ])
    expect(shuffled).toBe(render())
  })

  it('leaves out disabled peers and peers of inactive or disabled users', () => {
    const davePeer: Peer = {...desired.peers[0]!, name: 'dave-laptop', user: 'dave', publicKey: KEYS.site.publicKey}
    const peers = desired.peers.map((peer) => (peer.name === 'carol-laptop' ? {...peer, enabled: false} : peer))
    const text = render({...desired, peers: [...peers, davePeer]}, {...state, activeUsers: new Set(['alice', 'carol'])})
    expect(peerComments(text)).toEqual(['# peer=alice-laptop user=alice', '# peer=office-router'])
    expect(text).not.toContain(KEYS.bob.publicKey)
    expect(text).not.toContain(KEYS.carol.publicKey)
    expect(text).not.toContain('dave')
  })

  it('routes host addresses first, then the peer networks, canonical', () => {
    const router = desired.peers.find((peer) => peer.name === 'office-router')!
    const routed: Peer = {
      ...router,
      allowedIPs: [cidr('fd50:0:0::7/64'), cidr('192.168.50.9/24'), cidr('172.16.0.0/12')],
    }
    const addresses = new Map<string, readonly IpAddress[]>(state.addresses)
    addresses.set('office-router', [ip('fd66:0::fa'), ip('10.66.0.250')])
    const text = render(
      {...desired, peers: desired.peers.map((peer) => (peer.name === router.name ? routed : peer))},
      {...state, addresses},
    )
    expect(text).toContain(
      '# peer=office-router\n[Peer]\nPublicKey = mySxEHpckw22EO9fDZtHsNhmArHDmklG0mva+cSvZ3s=\n' +
        'AllowedIPs = 10.66.0.250/32, fd66::fa/128, 172.16.0.0/12, 192.168.50.0/24, fd50::/64\n',
    )
  })

  it('writes the interface addresses as declared, canonical, IPv4 first', () => {
    const iface = {...wg0, addresses: [cidr('FD66:0:0:0::1/64'), cidr('10.66.0.1/24')]}
    const text = render({...desired, nodes: [{...node, interfaces: [iface]}]})
    expect(text).toContain('\nAddress = 10.66.0.1/24, fd66::1/64\n')
  })

  it('keeps wg-quick hooks and routing tables out of the file', () => {
    const text = render()
    expect(text).toContain('\nSaveConfig = false\n')
    expect(text).not.toMatch(/^(Table|PostUp|PreDown|PreUp|PostDown|Endpoint|PersistentKeepalive)\b/m)
    expect(text.endsWith('\n')).toBe(true)
    expect(text).not.toContain('\n\n\n')
  })

  it('adds the preview notice to the header of a preview render', () => {
    const text = render(desired, {...state, preview: true})
    expect(text.split('\n').slice(0, 2)).toEqual([
      '# rendered by nexus -- do not edit',
      '# PREVIEW: keys, UUIDs and addresses were generated for this render only and saved nowhere; do not deploy this file',
    ])
    expect(render().split('\n')[1]).toBe('[Interface]')
  })

  it('throws, naming node and interface, when state holds no key pair', () => {
    expect(() => render(desired, {...state, nodes: new Map()})).toThrow(/fra-1.*wg0/)
  })

  it('renders an interface without peers', () => {
    const text = render({...desired, peers: []})
    expect(text).not.toContain('[Peer]')
    expect(text.endsWith('SaveConfig = false\n')).toBe(true)
  })

  it('renders 50k peers, sorted by name (speed is measured by npm run bench)', () => {
    const template = desired.peers[0]!
    const peers: Peer[] = []
    const addresses = new Map<string, readonly IpAddress[]>()
    for (let i = 0; i < 50_000; i++) {
      const name = `p${String(49_999 - i).padStart(5, '0')}`
      peers.push({...template, name, addresses: []})
      const host = BigInt(i + 2)
      addresses.set(name, [
        {family: 4, value: (10n << 24n) | host},
        {family: 6, value: (0xfd66n << 112n) | host},
      ])
    }
    const big = {...desired, peers}
    const text = render(big, {...state, addresses})
    expect(text.split('[Peer]').length - 1).toBe(50_000)
    expect(peerComments(text)[0]).toBe('# peer=p00000 user=alice')
  })
})
