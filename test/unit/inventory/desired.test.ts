import {describe, expect, it} from 'vitest'

import type {Desired} from '../../../src/model/desired.js'
import {formatAddress, formatInterfaceAddress} from '../../../src/model/ip.js'
import {BASE, loadWith} from '../../helpers/repo.js'

const base = (path: string): string => BASE[path] as string

function desiredOf(changes: Parameters<typeof loadWith>[0] = {}): Desired {
  const inventory = loadWith(changes)
  expect(inventory.diagnostics.filter((d) => d.severity === 'error')).toEqual([])
  if (!inventory.desired) throw new Error('no desired model')
  return inventory.desired
}

describe('defaults', () => {
  it('gives a node ssh port 22, user root, and the ssh host as endpoint', () => {
    const [node] = desiredOf().nodes
    expect(node?.ssh).toEqual({host: '192.0.2.10', port: 22, user: 'root'})
    expect(node?.endpoint).toBe('192.0.2.10')
    expect(node?.status).toBe('active')
    expect(node?.interfaces[0]?.endpoint).toEqual({host: '192.0.2.10', port: 51820})
    expect(node?.xray?.inbounds[0]?.publicHost).toBe('192.0.2.10')
    expect(node?.xray?.inbounds[0]?.publicPort).toBe(443)
    expect(node?.xray?.apiPort).toBe(10085)
  })

  it('keeps an explicit endpoint, ssh port and user', () => {
    const node = base('nodes/gw-1.yaml').replace(
      'ssh:\n  host: 192.0.2.10\n',
      'endpoint: vpn.example.com\nssh:\n  host: 192.0.2.10\n  port: 2222\n  user: deploy\n',
    )
    const [gw] = desiredOf({'nodes/gw-1.yaml': node}).nodes
    expect(gw?.ssh).toEqual({host: '192.0.2.10', port: 2222, user: 'deploy'})
    expect(gw?.endpoint).toBe('vpn.example.com')
    expect(gw?.interfaces[0]?.endpoint).toEqual({host: 'vpn.example.com', port: 51820})
  })

  it('parses an interface endpoint override, bracketed IPv6 included', () => {
    const node = base('nodes/gw-1.yaml').replace(
      '      listenPort: 51820\n',
      '      listenPort: 51820\n      endpoint: "[2001:db8::1]:443"\n',
    )
    expect(desiredOf({'nodes/gw-1.yaml': node}).nodes[0]?.interfaces[0]?.endpoint).toEqual({
      host: '2001:db8::1',
      port: 443,
    })
  })

  it('pushes the gateway addresses as DNS when the node runs DNS', () => {
    const iface = desiredOf().nodes[0]?.interfaces[0]
    expect(iface?.dns.map(formatAddress)).toEqual(['10.66.0.1', 'fd66::1'])
    expect(desiredOf().nodes[0]?.dns.enabled).toBe(true)
    expect(desiredOf().nodes[0]?.dns.listen.map(formatAddress)).toEqual(['10.66.0.1', 'fd66::1'])
    expect(desiredOf().nodes[0]?.dns.upstreams).toEqual(['1.1.1.1', '9.9.9.9'])
  })

  it('pushes the Project DNS when the node runs no DNS', () => {
    const desired = desiredOf({
      'nexus.yaml': `${base('nexus.yaml')}defaults:\n  dns: [9.9.9.9]\n`,
      'nodes/gw-1.yaml': `${base('nodes/gw-1.yaml')}dns:\n  enabled: false\n`,
    })
    expect(desired.nodes[0]?.interfaces[0]?.dns.map(formatAddress)).toEqual(['9.9.9.9'])
  })

  it('takes mtu and keepalive from the Project defaults', () => {
    const desired = desiredOf({'nexus.yaml': `${base('nexus.yaml')}defaults:\n  mtu: 1380\n  keepalive: 15\n`})
    expect(desired.project.defaults.mtu).toBe(1380)
    expect(desired.nodes[0]?.interfaces[0]?.mtu).toBe(1380)
    expect(desired.peers[0]?.keepalive).toBe(15)
  })

  it('uses mtu 1420 and keepalive 25 without Project defaults', () => {
    const desired = desiredOf()
    expect(desired.nodes[0]?.interfaces[0]?.mtu).toBe(1420)
    expect(desired.peers[0]?.keepalive).toBe(25)
    expect(desired.project.defaults.tunnel).toBe('full')
    expect(desired.project.subscription.title).toBe('test')
  })

  it('lets an interface and a peer override the defaults', () => {
    const desired = desiredOf({
      'nodes/gw-1.yaml': base('nodes/gw-1.yaml').replace(
        '      listenPort: 51820\n',
        '      listenPort: 51820\n      mtu: 1280\n',
      ),
      'peers/alice-laptop.yaml': `${base('peers/alice-laptop.yaml')}keepalive: 0\n`,
    })
    expect(desired.nodes[0]?.interfaces[0]?.mtu).toBe(1280)
    expect(desired.peers[0]?.keepalive).toBe(0)
  })

  it('gives a user status active, the link "default" and sorted groups', () => {
    const [user] = desiredOf().users
    expect(user).toMatchObject({
      status: 'active',
      links: ['default'],
      groups: ['staff'],
      subscription: {cancelled: false},
    })
  })

  it('sorts and de-duplicates declared links', () => {
    const desired = desiredOf({
      'users/alice.yaml': `${base('users/alice.yaml')}links: [phone, {name: laptop, description: work}]\n`,
    })
    expect(desired.users[0]?.links).toEqual(['laptop', 'phone'])
  })

  it('converts sizes to bytes', () => {
    const sizes: [string, number][] = [
      ['100GiB', 100 * 2 ** 30],
      ['500MiB', 500 * 2 ** 20],
      ['1TiB', 2 ** 40],
      ['1.5GB', 1.5e9],
      ['12345', 12345],
    ]
    for (const [size, bytes] of sizes) {
      const desired = desiredOf({'tariffs/basic.yaml': `${base('tariffs/basic.yaml')}trafficLimit: ${size}\n`})
      expect(desired.tariffs[0]?.trafficLimit, size).toBe(bytes)
    }
    expect(desiredOf().tariffs[0]?.trafficLimit).toBeNull()
  })

  it('sorts and de-duplicates tariff protocols and defaults the rest', () => {
    const text = base('tariffs/basic.yaml').replace('[wireguard, vless]', '[wireguard, vless, wireguard]')
    expect(desiredOf({'tariffs/basic.yaml': text}).tariffs[0]).toMatchObject({
      protocols: ['vless', 'wireguard'],
      trafficReset: 'none',
      startOnFirstUse: false,
      durationDays: null,
      durationMonths: null,
      nodes: {kind: 'all'},
    })
  })

  it('parses interface and peer addresses, keeping the gateway address', () => {
    const desired = desiredOf()
    expect(desired.nodes[0]?.interfaces[0]?.addresses.map(formatInterfaceAddress)).toEqual([
      '10.66.0.1/24',
      'fd66::1/64',
    ])
    expect(desired.peers[0]?.addresses.map(formatAddress)).toEqual(['10.66.0.2'])
    expect(desired.peers[0]).toMatchObject({
      node: 'gw-1',
      interface: 'wg0',
      enabled: true,
      tunnel: 'full',
      allowedIPs: [],
    })
  })

  it('fills in xray defaults', () => {
    const inbound = desiredOf().nodes[0]?.xray?.inbounds[0]
    expect(inbound).toMatchObject({listen: '0.0.0.0', transport: {type: 'tcp'}})
    expect(inbound?.reality).toMatchObject({fingerprint: 'chrome', spiderX: '/', minClientVer: '1.8.0'})
  })
})

describe('rules', () => {
  const rule = (name: string, priority?: number) =>
    `apiVersion: nexus/v1\nkind: Rule\nname: ${name}\naction: allow\n${priority === undefined ? '' : `priority: ${priority}\n`}`

  it('defaults priority to 100, direction egress, protocol any', () => {
    const desired = desiredOf()
    expect(desired.rules[0]).toMatchObject({
      priority: 100,
      direction: 'egress',
      protocol: 'tcp',
      active: true,
      log: false,
    })
    expect(desired.rules[0]?.ports).toEqual([
      {from: 25, to: 25},
      {from: 465, to: 465},
    ])
    const other = desiredOf({'rules/a.yaml': rule('a')}).rules.find((r) => r.name === 'a')
    expect(other?.protocol).toBe('any')
  })

  it('orders rules by priority, highest first, then by name', () => {
    const desired = desiredOf({
      'rules/z.yaml': rule('zeta', 500),
      'rules/b.yaml': rule('beta'),
      'rules/a.yaml': rule('alpha'),
      'rules/l.yaml': rule('low', 5),
      'rules/h.yaml': rule('high', 500),
    })
    expect(desired.rules.map((r) => r.name)).toEqual(['high', 'zeta', 'alpha', 'beta', 'no-smtp', 'low'])
  })

  it('gives rate_limit rules a burst equal to pps by default', () => {
    const text =
      'apiVersion: nexus/v1\nkind: Rule\nname: dns\naction: rate_limit\nprotocol: udp\nports: 53\nrate: {pps: 50}\n'
    expect(desiredOf({'rules/dns.yaml': text}).rules.find((r) => r.name === 'dns')?.rate).toEqual({pps: 50, burst: 50})
  })

  it('merges port lists into sorted ranges', () => {
    const text =
      'apiVersion: nexus/v1\nkind: Rule\nname: web\naction: allow\nprotocol: tcp\nports: [8081, "8000-8080", 443]\n'
    expect(desiredOf({'rules/web.yaml': text}).rules.find((r) => r.name === 'web')?.ports).toEqual([
      {from: 443, to: 443},
      {from: 8000, to: 8081},
    ])
  })
})

describe('collections and validity', () => {
  it('sorts every collection by name', () => {
    const group = (name: string) => `apiVersion: nexus/v1\nkind: Group\nname: ${name}\n`
    const desired = desiredOf({'groups/b.yaml': group('zz'), 'groups/a.yaml': group('aa')})
    expect(desired.groups.map((g) => g.name)).toEqual(['aa', 'staff', 'zz'])
  })

  it('has no desired model when there is any error', () => {
    const inventory = loadWith({'users/alice.yaml': `${base('users/alice.yaml')}tariff2: x\n`})
    expect(inventory.diagnostics.some((d) => d.severity === 'error')).toBe(true)
    expect(inventory.desired).toBeUndefined()
    expect(inventory.declarations.Node.map((n) => n.name)).toEqual(['gw-1'])
  })

  it('has a desired model when there are only warnings', () => {
    const inventory = loadWith({'tariffs/basic.yaml': `${base('tariffs/basic.yaml')}trafficReset: monthly\n`})
    expect(inventory.diagnostics.map((d) => d.severity)).toEqual(['warning'])
    expect(inventory.desired).toBeDefined()
  })
})
