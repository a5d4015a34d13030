import {describe, expect, it} from 'vitest'

import {at, BASE, loadWith, only, WG_KEYS, withCode} from '../../helpers/repo.js'

const NODE = BASE['nodes/gw-1.yaml'] as string
/** A second peer on gw-1/wg0; its extra lines start at line 7. */
const peer = (extra: string, name = 'bob-phone', key: string = WG_KEYS.b) =>
  `apiVersion: nexus/v1\nkind: Peer\nname: ${name}\nnode: gw-1\ninterface: wg0\npublicKey: ${key}\n${extra}`
const withInbound = (inbound: string) => ({'nodes/gw-1.yaml': NODE + inbound})

describe('peer addresses', () => {
  it('reports an address outside the interface CIDR', () => {
    const d = only(loadWith({'peers/p.yaml': peer('address: 10.67.0.5\n')}), 'address_outside_cidr')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('peers/p.yaml:7:10')
    expect(d.kind).toBe('Peer')
    expect(d.name).toBe('bob-phone')
    expect(d.message).toBe('Peer bob-phone: address 10.67.0.5 is outside wg0 (10.66.0.0/24, fd66::/64)')
  })

  it('points at the list item of an IPv6 address outside the CIDR', () => {
    const d = only(loadWith({'peers/p.yaml': peer('address: [10.66.0.5, "fd67::5"]\n')}), 'address_outside_cidr')
    expect(at(d)).toBe('peers/p.yaml:7:22')
    expect(d.message).toContain('address fd67::5 is outside')
  })

  it.each([
    ['network', '10.66.0.0', 'network or broadcast'],
    ['gateway', '10.66.0.1', "gateway's own"],
    ['broadcast', '10.66.0.255', 'network or broadcast'],
    ['IPv6 network', '"fd66::"', 'network or broadcast'],
    ['IPv6 gateway', '"fd66::1"', "gateway's own"],
  ])('reports the reserved %s address', (_label, address, what) => {
    const d = only(loadWith({'peers/p.yaml': peer(`address: ${address}\n`)}), 'address_reserved')
    expect(at(d)).toBe('peers/p.yaml:7:10')
    expect(d.message).toContain(`is the ${what} address of wg0`)
  })

  it('reports an address reused on an interface, naming the first owner', () => {
    const d = only(loadWith({'peers/p.yaml': peer('address: 10.66.0.2\n')}), 'address_reused')
    expect(at(d)).toBe('peers/p.yaml:7:10')
    expect(d.message).toBe('Peer bob-phone: address 10.66.0.2 is already used by peer alice-laptop on gw-1/wg0')
  })

  it('treats differently written IPv6 addresses as the same address', () => {
    const inventory = loadWith({
      'peers/p.yaml': peer('address: "fd66:0:0:0::0a"\n'),
      'peers/q.yaml': peer('address: "FD66::A"\n', 'bob-laptop', WG_KEYS.c),
    })
    const d = only(inventory, 'address_reused')
    expect(d.file).toBe('peers/q.yaml')
    expect(d.message).toContain('fd66::a is already used by peer bob-phone')
  })

  it('allows the same address on two interfaces', () => {
    const node = NODE.replace(
      '      listenPort: 51820\n',
      '      listenPort: 51820\n    - {name: wg1, address: 10.77.0.1/24, listenPort: 51821}\n',
    )
    const inventory = loadWith({
      'nodes/gw-1.yaml': node,
      'peers/p.yaml': peer('address: 10.77.0.2\n').replace('interface: wg0', 'interface: wg1'),
    })
    expect(inventory.diagnostics).toEqual([])
  })

  it('reports two addresses of one family on a peer', () => {
    const d = only(loadWith({'peers/p.yaml': peer('address: [10.66.0.3, 10.66.0.4]\n')}), 'invalid_value')
    expect(at(d)).toBe('peers/p.yaml:7:10')
    expect(d.message).toBe('Peer bob-phone: a peer has at most one address per family (one IPv4, one IPv6)')
  })

  it('reports more peers than the prefix holds', () => {
    const node = NODE.replace('[10.66.0.1/24, "fd66::1/64"]', '10.66.0.1/29')
    const peers: Record<string, string> = {}
    const keys = [
      WG_KEYS.b,
      WG_KEYS.c,
      WG_KEYS.d,
      'IovdpE/Nss3bJih1SBUj3dxoYWPEcKLNoMbnsmZsh3g=',
      'G/FL2Zclo72PKVVeTcwIASObeYWtQKG1l+HdHYylzTg=',
    ]
    for (const [i, key] of keys.entries()) peers[`peers/p${i}.yaml`] = peer('', `p${i}`, key)
    const d = only(loadWith({'nodes/gw-1.yaml': node, ...peers}), 'address_pool_exhausted')
    expect(at(d)).toBe('peers/alice-laptop.yaml:6:12')
    expect(d.message).toContain('gw-1/wg0 has 6 peers but 10.66.0.0/29 holds only 5 peer addresses')
  })
})

describe('interface prefixes', () => {
  it('reports two addresses of one family on an interface', () => {
    const d = only(
      loadWith({'nodes/gw-1.yaml': NODE.replace('[10.66.0.1/24, "fd66::1/64"]', '[10.66.0.1/24, 10.77.0.1/24]')}),
      'invalid_value',
    )
    expect(at(d)).toBe('nodes/gw-1.yaml:9:16')
    expect(d.message).toBe('Node gw-1: interface wg0 has two addresses of the same family')
  })

  it('reports overlapping interface CIDRs on one node', () => {
    const node = NODE.replace(
      '      listenPort: 51820\n',
      '      listenPort: 51820\n    - name: wg1\n      address: 10.66.0.129/25\n      listenPort: 51821\n',
    )
    const d = only(loadWith({'nodes/gw-1.yaml': node}), 'overlapping_cidr')
    expect(at(d)).toBe('nodes/gw-1.yaml:12:16')
    expect(d.message).toBe('Node gw-1: interface wg1 (10.66.0.128/25) overlaps wg0 (10.66.0.0/24)')
  })

  it('allows the same prefix on two nodes', () => {
    const gw2 =
      'apiVersion: nexus/v1\nkind: Node\nname: gw-2\nssh: {host: 192.0.2.11}\nwireguard:\n  interfaces:\n    - {name: wg1, address: 10.66.0.1/24, listenPort: 51820}\n'
    expect(loadWith({'nodes/gw-2.yaml': gw2}).diagnostics).toEqual([])
  })

  it('reports an interface address that is the network address', () => {
    const inventory = loadWith({
      'nodes/gw-1.yaml': NODE.replace('[10.66.0.1/24, "fd66::1/64"]', '10.66.0.0/24'),
      'peers/alice-laptop.yaml': null,
    })
    const d = only(inventory, 'invalid_value')
    expect(at(d)).toBe('nodes/gw-1.yaml:9:16')
    expect(d.message).toBe('Node gw-1: interface wg0 address 10.66.0.0/24 is the network address')
    expect(d.hint).toContain('10.66.0.1/24')
  })

  it('reports a prefix that leaves no room for peers', () => {
    const inventory = loadWith({
      'nodes/gw-1.yaml': NODE.replace('[10.66.0.1/24, "fd66::1/64"]', '10.66.0.1/31'),
      'peers/alice-laptop.yaml': null,
    })
    const d = only(inventory, 'prefix_too_small')
    expect(at(d)).toBe('nodes/gw-1.yaml:9:16')
  })

  it('reports an interface name used twice on a node', () => {
    const node = NODE.replace(
      '      listenPort: 51820\n',
      '      listenPort: 51820\n    - {name: wg0, address: 10.77.0.1/24, listenPort: 51821}\n',
    )
    const d = only(loadWith({'nodes/gw-1.yaml': node}), 'duplicate_name')
    expect(at(d)).toBe('nodes/gw-1.yaml:11:14')
  })
})

describe('port collisions on a node', () => {
  it('WireGuard vs an xray shadowsocks inbound (UDP)', () => {
    const d = only(
      loadWith(
        withInbound(
          '    - tag: ss\n      protocol: shadowsocks\n      port: 51820\n      method: 2022-blake3-aes-128-gcm\n',
        ),
      ),
      'port_collision',
    )
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('nodes/gw-1.yaml:24:13')
    expect(d.message).toBe('Node gw-1: xray inbound ss and WireGuard wg0 both use udp/51820')
  })

  it('two WireGuard interfaces on one port', () => {
    const node = NODE.replace(
      '      listenPort: 51820\n',
      '      listenPort: 51820\n    - name: wg1\n      address: 10.77.0.1/24\n      listenPort: 51820\n',
    )
    const d = only(loadWith({'nodes/gw-1.yaml': node}), 'port_collision')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('nodes/gw-1.yaml:13:19')
    expect(d.message).toBe('Node gw-1: WireGuard wg1 and WireGuard wg0 both use udp/51820')
    expect(d.hint).toBe('give each listener on a node its own port')
  })

  it('two WireGuard interfaces on different ports do not collide', () => {
    const node = NODE.replace(
      '      listenPort: 51820\n',
      '      listenPort: 51820\n    - {name: wg1, address: 10.77.0.1/24, listenPort: 51821}\n',
    )
    expect(loadWith({'nodes/gw-1.yaml': node}).diagnostics).toEqual([])
  })

  it('WireGuard and a TCP-only inbound may share a port number', () => {
    const inventory = loadWith(withInbound('    - tag: vm\n      protocol: vmess\n      port: 51820\n'))
    expect(withCode(inventory, 'port_collision')).toEqual([])
  })

  it('xray vs SSH', () => {
    const d = only(loadWith({'nodes/gw-1.yaml': NODE.replace('port: 443', 'port: 22')}), 'port_collision')
    expect(at(d)).toBe('nodes/gw-1.yaml:15:13')
    expect(d.message).toBe('Node gw-1: xray inbound vless-reality and SSH both use tcp/22')
  })

  it('xray vs SSH on a custom port', () => {
    const node = NODE.replace('  host: 192.0.2.10\n', '  host: 192.0.2.10\n  port: 443\n')
    const d = only(loadWith({'nodes/gw-1.yaml': node}), 'port_collision')
    expect(d.message).toContain('xray inbound vless-reality and SSH both use tcp/443')
  })

  it('xray vs the xray API', () => {
    const d = only(loadWith({'nodes/gw-1.yaml': NODE.replace('port: 443', 'port: 10085')}), 'port_collision')
    expect(at(d)).toBe('nodes/gw-1.yaml:15:13')
    expect(d.message).toBe('Node gw-1: xray inbound vless-reality and xray API both use tcp/10085')
  })

  it('two inbounds on one port', () => {
    const d = only(
      loadWith(withInbound('    - tag: vmess-ws\n      protocol: vmess\n      port: 443\n')),
      'port_collision',
    )
    expect(at(d)).toBe('nodes/gw-1.yaml:24:13')
    expect(d.message).toBe('Node gw-1: xray inbound vmess-ws and xray inbound vless-reality both use tcp/443')
  })

  it('two inbounds on one port but different listen addresses do not collide', () => {
    const node = NODE.replace('      port: 443\n', '      port: 443\n      listen: 127.0.0.1\n')
    const inventory = loadWith({
      'nodes/gw-1.yaml': `${node}    - {tag: vm, protocol: vmess, port: 443, listen: 127.0.0.2}\n`,
    })
    expect(inventory.diagnostics).toEqual([])
  })

  it('xray vs the DNS server', () => {
    const d = only(loadWith({'nodes/gw-1.yaml': NODE.replace('port: 443', 'port: 53')}), 'port_collision')
    expect(d.message).toContain('DNS (dnsmasq) both use tcp/53')
  })
})

describe('WireGuard keys', () => {
  it.each([
    ['too short', WG_KEYS.b.slice(1)],
    ['not base64', `"${WG_KEYS.b.replace('Q', '-')}"`],
    ['without padding', WG_KEYS.b.slice(0, -1)],
    ['not 32 bytes (bad last character)', 'oQQdOiWywtVH7KEI3mKXWgxYUQPUkN+osA6wyATxWwB='],
  ])('refuses a key %s', (_label, key) => {
    const d = only(loadWith({'peers/p.yaml': peer('', 'bob-phone', key)}), 'invalid_value')
    expect(at(d)).toBe('peers/p.yaml:6:12')
    expect(d.message).toContain('publicKey: must be a WireGuard public key: 44 characters of base64 (32 bytes)')
  })

  it('reports a public key used twice on one interface as an error', () => {
    const d = only(loadWith({'peers/p.yaml': peer('', 'bob-phone', WG_KEYS.a)}), 'duplicate_public_key')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('peers/p.yaml:6:12')
    expect(d.message).toBe('Peer bob-phone: publicKey is also used by peer alice-laptop on gw-1/wg0')
  })

  it('warns about a public key reused on another node', () => {
    const gw2 =
      'apiVersion: nexus/v1\nkind: Node\nname: gw-2\nssh: {host: 192.0.2.11}\nwireguard:\n  interfaces:\n    - {name: wg9, address: 10.67.0.1/24, listenPort: 51820}\n'
    const inventory = loadWith({
      'nodes/gw-2.yaml': gw2,
      'peers/p.yaml': peer('', 'bob-phone', WG_KEYS.a).replace(
        'node: gw-1\ninterface: wg0',
        'node: gw-2\ninterface: wg9',
      ),
    })
    const d = only(inventory, 'duplicate_public_key')
    expect(d.severity).toBe('warning')
    expect(at(d)).toBe('peers/p.yaml:6:12')
    expect(d.message).toBe('Peer bob-phone: publicKey is also used by peer alice-laptop')
    expect(inventory.desired).toBeDefined()
  })

  it('reports a peer key equal to the key of its server interface', () => {
    const inventory = loadWith(
      {'peers/p.yaml': peer('', 'bob-phone', WG_KEYS.server)},
      {serverKeys: new Map([['gw-1/wg0', WG_KEYS.server]])},
    )
    const d = only(inventory, 'peer_key_is_server_key')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('peers/p.yaml:6:12')
    expect(d.message).toBe('Peer bob-phone: publicKey is the public key of gw-1/wg0 itself')
  })

  it("does not compare with another interface's server key", () => {
    const inventory = loadWith(
      {'peers/p.yaml': peer('', 'bob-phone', WG_KEYS.server)},
      {serverKeys: new Map([['gw-2/wg0', WG_KEYS.server]])},
    )
    expect(inventory.diagnostics).toEqual([])
  })
})

describe('allowedIPs', () => {
  it('reports a network routed to two peers of one interface', () => {
    const inventory = loadWith({
      'peers/p.yaml': peer('allowedIPs: [192.168.1.0/24]\n'),
      'peers/q.yaml': peer('allowedIPs: [10.1.0.0/16, 192.168.1.0/24]\n', 'site-b', WG_KEYS.c),
    })
    const d = only(inventory, 'duplicate_allowed_ips')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('peers/q.yaml:7:27')
    expect(d.message).toBe('Peer site-b: allowedIPs 192.168.1.0/24 is also routed to peer bob-phone on gw-1/wg0')
  })

  it('allows overlapping but different networks on one interface: WireGuard picks the longest prefix', () => {
    const inventory = loadWith({
      'peers/p.yaml': peer('allowedIPs: [172.16.0.0/12]\n'),
      'peers/q.yaml': peer('allowedIPs: [172.16.1.0/24]\n', 'site-b', WG_KEYS.c),
    })
    expect(inventory.diagnostics).toEqual([])
  })

  describe('across the interfaces of one node', () => {
    const twoInterfaces = NODE.replace(
      '      listenPort: 51820\n',
      '      listenPort: 51820\n    - {name: wg1, address: 10.77.0.1/24, listenPort: 51821}\n',
    )
    const onWg1 = (extra: string, name: string, key: string) =>
      peer(extra, name, key).replace('interface: wg0', 'interface: wg1')

    it('reports the same network routed to peers on two interfaces', () => {
      const inventory = loadWith({
        'nodes/gw-1.yaml': twoInterfaces,
        'peers/p.yaml': peer('allowedIPs: [192.168.1.0/24]\n'),
        'peers/q.yaml': onWg1('allowedIPs: [10.1.0.0/16, 192.168.1.0/24]\n', 'site-b', WG_KEYS.c),
      })
      const d = only(inventory, 'duplicate_allowed_ips')
      expect(d.severity).toBe('error')
      expect(at(d)).toBe('peers/q.yaml:7:27')
      expect(d.message).toBe('Peer site-b: allowedIPs 192.168.1.0/24 is also routed to peer bob-phone on gw-1/wg0')
      expect(d.hint).toMatch(/wg-quick would fail to add the second route/)
      expect(inventory.desired).toBeUndefined()
    })

    it('reports overlapping networks routed to peers on two interfaces, whichever is wider', () => {
      const inventory = loadWith({
        'nodes/gw-1.yaml': twoInterfaces,
        'peers/p.yaml': peer('allowedIPs: [172.16.1.0/24]\n'),
        'peers/q.yaml': onWg1('allowedIPs: ["fd99::/64", 172.16.0.0/12]\n', 'site-b', WG_KEYS.c),
      })
      const d = only(inventory, 'overlapping_allowed_ips')
      expect(d.severity).toBe('error')
      expect(at(d)).toBe('peers/q.yaml:7:27')
      expect(d.message).toBe(
        'Peer site-b: allowedIPs 172.16.0.0/12 on gw-1/wg1 overlaps 172.16.1.0/24 of peer bob-phone on gw-1/wg0',
      )
      expect(d.hint).toMatch(/longer prefix/)
    })

    it('allows the same network on two nodes', () => {
      const gw2 =
        'apiVersion: nexus/v1\nkind: Node\nname: gw-2\nssh: {host: 192.0.2.11}\nwireguard:\n  interfaces:\n    - {name: wg0, address: 10.67.0.1/24, listenPort: 51820}\n'
      const inventory = loadWith({
        'nodes/gw-2.yaml': gw2,
        'peers/p.yaml': peer('allowedIPs: [192.168.1.0/24]\n'),
        'peers/q.yaml': peer('allowedIPs: [192.168.0.0/16]\n', 'site-b', WG_KEYS.c).replace('node: gw-1', 'node: gw-2'),
      })
      expect(inventory.diagnostics).toEqual([])
    })

    it("reports allowedIPs overlapping another interface's tunnel prefix", () => {
      const inventory = loadWith({
        'nodes/gw-1.yaml': twoInterfaces,
        'peers/p.yaml': peer('allowedIPs: [10.77.0.0/16]\n'),
      })
      const d = only(inventory, 'overlapping_cidr')
      expect(at(d)).toBe('peers/p.yaml:7:14')
      expect(d.message).toBe('Peer bob-phone: allowedIPs 10.77.0.0/16 overlaps the tunnel prefix 10.77.0.0/24 of wg1')
      expect(d.hint).toBe('the node routes 10.77.0.0/24 to wg1; drop 10.77.0.0/16 or narrow it to exclude that prefix')
    })
  })

  it('reports allowedIPs overlapping the tunnel prefix', () => {
    const d = only(loadWith({'peers/p.yaml': peer('allowedIPs: [10.66.0.128/25]\n')}), 'overlapping_cidr')
    expect(at(d)).toBe('peers/p.yaml:7:14')
    expect(d.message).toBe('Peer bob-phone: allowedIPs 10.66.0.128/25 overlaps the tunnel prefix 10.66.0.0/24 of wg0')
    expect(d.hint).toMatch(/its own tunnel address is routed already/)
  })

  it('reports IPv6 allowedIPs overlapping the tunnel prefix', () => {
    const d = only(loadWith({'peers/p.yaml': peer('allowedIPs: ["fd66::/48"]\n')}), 'overlapping_cidr')
    expect(d.message).toContain('fd66::/48 overlaps the tunnel prefix fd66::/64')
  })

  it('reports allowedIPs with host bits set', () => {
    const d = only(
      loadWith({'peers/p.yaml': peer('allowedIPs:\n  - 10.1.0.0/16\n  - 192.168.1.1/24\n')}),
      'host_bits_set',
    )
    expect(at(d)).toBe('peers/p.yaml:9:5')
    expect(d.message).toBe('Peer bob-phone: 192.168.1.1/24 has host bits set')
    expect(d.hint).toContain('192.168.1.0/24')
  })

  it('refuses allowedIPs without a prefix length', () => {
    const d = only(loadWith({'peers/p.yaml': peer('allowedIPs: [192.168.1.0]\n')}), 'invalid_value')
    expect(at(d)).toBe('peers/p.yaml:7:14')
    expect(d.message).toContain('allowedIPs[0]: must be an address with a prefix length')
  })
})

describe('rule and routing values', () => {
  it('reports a rule CIDR with host bits set instead of widening it', () => {
    const rule = 'apiVersion: nexus/v1\nkind: Rule\nname: r\naction: deny\ndestination: [10.20.0.0/16, 10.30.0.50/16]\n'
    const d = only(loadWith({'rules/r.yaml': rule}), 'host_bits_set')
    expect(at(d)).toBe('rules/r.yaml:5:29')
    expect(d.message).toBe('Rule r: destination 10.30.0.50/16 has host bits set')
    expect(d.hint).toBe('write the network (10.30.0.0/16) or a single address')
  })

  it('reports a reversed port range in an xray routing rule at the item', () => {
    const node = `${BASE['nodes/gw-1.yaml']}  routing:\n    rules:\n      - ports: [80, "9000-8000"]\n        outbound: block\n`
    const d = only(loadWith({'nodes/gw-1.yaml': node}), 'invalid_port')
    expect(at(d)).toBe('nodes/gw-1.yaml:24:21')
    expect(d.message).toBe('Node gw-1: port range "9000-8000" is reversed; write it as "8000-9000"')
  })

  it('rejects bracketed IPv6 DNS upstreams and port 0, accepts dnsmasq syntax', () => {
    const node = (upstreams: string) => `${BASE['nodes/gw-1.yaml']}dns:\n  upstreams: ${upstreams}\n`
    expect(withCode(loadWith({'nodes/gw-1.yaml': node('["[fd20::53]#5353"]')}), 'invalid_value')).toHaveLength(1)
    expect(withCode(loadWith({'nodes/gw-1.yaml': node('["9.9.9.9#0"]')}), 'invalid_value')).toHaveLength(1)
    expect(loadWith({'nodes/gw-1.yaml': node('["fd20::53#5353", "9.9.9.9#9953", 1.1.1.1]')}).diagnostics).toEqual([])
  })
})

describe('reload commands', () => {
  it('accepts the placeholders apply fills in, and names an unknown one', () => {
    const node = (reload: string) => `${BASE['nodes/gw-1.yaml']}reload:\n${reload}`
    expect(
      loadWith({'nodes/gw-1.yaml': node('  wireguard: wg syncconf {iface} {stripped}\n  nftables: nft -f {file}\n')})
        .diagnostics,
    ).toEqual([])
    const d = only(loadWith({'nodes/gw-1.yaml': node('  nftables: nft -f {path}\n')}), 'unknown_placeholder')
    expect(d.message).toBe('Node gw-1: reload.nftables uses {path}, which apply does not fill in')
    expect(d.hint).toBe('use {file}')
  })
})
