import {describe, expect, it} from 'vitest'

import {at, BASE, loadWith, only, WG_KEYS, withCode} from '../../helpers/repo.js'

const base = (path: string): string => BASE[path] as string
const RULE = 'apiVersion: nexus/v1\nkind: Rule\nname: r\n'
const service = (domains: string, name = 'git') =>
  `apiVersion: nexus/v1\nkind: Service\nname: ${name}\ndomains: ${domains}\ntarget: {address: 10.10.0.30, ports: 443}\naccess: {users: [alice]}\n`
const alicePeer = (name: string, key: string, extra = '') =>
  `apiVersion: nexus/v1\nkind: Peer\nname: ${name}\nuser: alice\nnode: gw-1\ninterface: wg0\npublicKey: ${key}\n${extra}`

describe('device quota', () => {
  it('reports peers + declared links above maxDevices', () => {
    const inventory = loadWith({
      'users/alice.yaml': `${base('users/alice.yaml')}links: [phone, tablet]\n`,
      'peers/p.yaml': alicePeer('alice-phone', WG_KEYS.b),
    })
    const d = only(inventory, 'device_quota_exceeded')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('users/alice.yaml:4:9')
    expect(d.kind).toBe('User')
    expect(d.name).toBe('alice')
    expect(d.message).toBe('User alice: has 2 peer(s) and 2 link(s), more than the 3 devices tariff basic allows')
  })

  it('accepts exactly maxDevices', () => {
    const inventory = loadWith({
      'users/alice.yaml': `${base('users/alice.yaml')}links: [phone]\n`,
      'peers/p.yaml': alicePeer('alice-phone', WG_KEYS.b),
    })
    expect(inventory.diagnostics).toEqual([])
  })

  it('does not count disabled peers', () => {
    const inventory = loadWith({
      'users/alice.yaml': `${base('users/alice.yaml')}links: [phone, tablet]\n`,
      'peers/p.yaml': alicePeer('alice-phone', WG_KEYS.b, 'enabled: false\n'),
    })
    expect(inventory.diagnostics).toEqual([])
  })

  it('counts the implicit default link when the tariff allows an xray protocol', () => {
    const inventory = loadWith({
      'tariffs/basic.yaml': base('tariffs/basic.yaml').replace('maxDevices: 3', 'maxDevices: 1'),
    })
    expect(only(inventory, 'device_quota_exceeded').message).toBe(
      'User alice: has 1 peer(s) and 1 link(s), more than the 1 devices tariff basic allows',
    )
  })

  it('does not count links when the tariff is WireGuard only', () => {
    const inventory = loadWith({
      'tariffs/basic.yaml': base('tariffs/basic.yaml')
        .replace('maxDevices: 3', 'maxDevices: 1')
        .replace('[wireguard, vless]', '[wireguard]'),
      'users/alice.yaml': `${base('users/alice.yaml')}links: [phone, tablet]\n`,
    })
    expect(inventory.diagnostics).toEqual([])
  })

  it('has no limit when maxDevices is null', () => {
    const inventory = loadWith({
      'tariffs/basic.yaml': base('tariffs/basic.yaml').replace('maxDevices: 3', 'maxDevices: null'),
      'users/alice.yaml': `${base('users/alice.yaml')}links: [a, b, c, d, e]\n`,
    })
    expect(inventory.diagnostics).toEqual([])
  })
})

describe('rules', () => {
  it('reports rate_limit without a rate', () => {
    const d = only(loadWith({'rules/r.yaml': `${RULE}action: rate_limit\nprotocol: udp\nports: 53\n`}), 'missing_rate')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('rules/r.yaml:4:9')
    expect(d.message).toBe('Rule r: a rate_limit rule needs a rate')
  })

  it('warns about a rate on a rule that is not rate_limit', () => {
    const inventory = loadWith({'rules/r.yaml': `${RULE}action: allow\nrate: {pps: 5}\n`})
    const d = only(inventory, 'ignored_field')
    expect(d.severity).toBe('warning')
    expect(at(d)).toBe('rules/r.yaml:5:7')
    expect(d.message).toContain('rate has no effect')
    expect(inventory.desired).toBeDefined()
  })

  it('reports an unordered port range', () => {
    const d = only(
      loadWith({'rules/r.yaml': `${RULE}action: deny\nprotocol: tcp\nports: "2000-1000"\n`}),
      'invalid_port',
    )
    expect(at(d)).toBe('rules/r.yaml:6:8')
    expect(d.message).toBe('Rule r: port range "2000-1000" is reversed; write it as "1000-2000"')
  })

  it('reports an unordered source port range in a list', () => {
    const d = only(
      loadWith({'rules/r.yaml': `${RULE}action: deny\nprotocol: udp\nsourcePorts: [53, "2000-1000"]\n`}),
      'invalid_port',
    )
    expect(d.line).toBe(6)
    expect(d.message).toContain('"2000-1000" is reversed')
  })

  it.each([
    ['any (the default)', '', 'ports: 22\n', 'ports', 'rules/r.yaml:5:8'],
    ['icmp', 'protocol: icmp\n', 'sourcePorts: 22\n', 'sourcePorts', 'rules/r.yaml:6:14'],
  ])('reports ports with protocol %s', (_label, protocol, ports, field, where) => {
    const d = only(loadWith({'rules/r.yaml': `${RULE}action: deny\n${protocol}${ports}`}), 'ports_without_protocol')
    expect(at(d)).toBe(where)
    expect(d.message).toContain(`${field} need protocol tcp or udp`)
  })

  it('refuses a port above 65535', () => {
    const d = only(loadWith({'rules/r.yaml': `${RULE}action: deny\nprotocol: tcp\nports: 70000\n`}), 'invalid_value')
    expect(at(d)).toBe('rules/r.yaml:6:8')
    expect(d.message).toContain('65535')
  })

  it('refuses a port range reaching above 65535', () => {
    const d = only(
      loadWith({'rules/r.yaml': `${RULE}action: deny\nprotocol: tcp\nports: "1000-70000"\n`}),
      'invalid_port',
    )
    expect(at(d)).toBe('rules/r.yaml:6:8')
    expect(d.message).toBe('Rule r: port "1000-70000" is outside 1-65535')
  })

  it('explains a list item that is not a port', () => {
    const d = only(
      loadWith({'rules/r.yaml': `${RULE}action: deny\nprotocol: tcp\nports: [25, "smtp"]\n`}),
      'invalid_value',
    )
    expect(at(d)).toBe('rules/r.yaml:6:13')
    expect(d.message).toBe('Rule r: ports[1]: must be a port or a range like "8000-8080"')
  })

  it('refuses port 0 in a range', () => {
    const d = only(loadWith({'rules/r.yaml': `${RULE}action: deny\nprotocol: tcp\nports: "0-100"\n`}), 'invalid_port')
    expect(d.message).toContain('outside 1-65535')
  })

  it('warns when a label selector matches no node', () => {
    const d = only(
      loadWith({'rules/r.yaml': `${RULE}action: deny\nnodes: {labels: {region: mars}}\n`}),
      'selector_matches_nothing',
    )
    expect(d.severity).toBe('warning')
    expect(at(d)).toBe('rules/r.yaml:5:8')
  })
})

describe('peer access', () => {
  it('warns that a peer is not carried when its tariff has no wireguard', () => {
    const inventory = loadWith({
      'tariffs/basic.yaml': base('tariffs/basic.yaml').replace('[wireguard, vless]', '[vless]'),
    })
    const d = only(inventory, 'peer_not_allowed')
    expect(d.severity).toBe('warning')
    expect(at(d)).toBe('peers/alice-laptop.yaml:5:7')
    expect(d.message).toBe('Peer alice-laptop: is not carried: tariff basic does not include wireguard')
  })

  it('warns that a peer is not carried on a node its tariff does not allow', () => {
    const inventory = loadWith({
      'tariffs/basic.yaml': `${base('tariffs/basic.yaml')}nodes: {labels: {region: us}}\n`,
      'nodes/gw-2.yaml': base('nodes/gw-1.yaml')
        .replace('name: gw-1', 'name: gw-2\nlabels: {region: us}')
        .replace('192.0.2.10', '192.0.2.11'),
    })
    expect(only(inventory, 'peer_not_allowed').message).toBe(
      'Peer alice-laptop: is not carried: tariff basic does not allow node gw-1',
    )
  })
})

describe('service domains', () => {
  it.each([['"*.*.corp.example"'], ['a.*.corp.example'], ['"*"'], ['"corp.*"']])(
    'refuses the multi-label wildcard %s',
    (domain) => {
      const d = only(loadWith({'services/git.yaml': service(`[${domain}]`)}), 'invalid_value')
      expect(at(d)).toBe('services/git.yaml:4:11')
      expect(d.message).toContain('domains[0]: only one leading "*." label is allowed')
    },
  )

  it('accepts a single-label wildcard', () => {
    const inventory = loadWith({'services/git.yaml': service('["*.corp.example"]')})
    expect(inventory.diagnostics).toEqual([])
    expect(inventory.desired?.services.find((s) => s.name === 'git')?.domains).toEqual(['*.corp.example'])
  })

  it('reports a domain declared by two services, ignoring case', () => {
    const d = only(
      loadWith({'services/git.yaml': service('[git.corp.example, WIKI.corp.example]')}),
      'duplicate_domain',
    )
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('services/git.yaml:4:29')
    expect(d.message).toBe('Service git: domain WIKI.corp.example is also declared by service wiki')
  })

  it('refuses a single-label domain', () => {
    const d = only(loadWith({'services/git.yaml': service('[localhost]')}), 'invalid_value')
    expect(d.message).toContain('at least two labels')
  })

  it('warns about a service nobody may reach', () => {
    const text = base('services/wiki.yaml').replace('access:\n  groups: [staff]\n', '')
    const d = only(loadWith({'services/wiki.yaml': text}), 'unreachable_service')
    expect(d.severity).toBe('warning')
  })
})

describe('users', () => {
  it('reports an active user without a tariff, at status', () => {
    const user = 'apiVersion: nexus/v1\nkind: User\nname: alice\nstatus: active\ngroups: [staff]\n'
    const d = only(loadWith({'users/alice.yaml': user}), 'missing_tariff')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('users/alice.yaml:4:9')
    expect(d.message).toBe('User alice: an active user needs a tariff')
  })

  it('treats a user without status as active', () => {
    const d = only(loadWith({'users/alice.yaml': 'apiVersion: nexus/v1\nkind: User\nname: alice\n'}), 'missing_tariff')
    expect(at(d)).toBe('users/alice.yaml:1:1')
  })

  it('lets a pending user go without a tariff', () => {
    const user = 'apiVersion: nexus/v1\nkind: User\nname: alice\nstatus: pending\n'
    expect(loadWith({'users/alice.yaml': user}).diagnostics).toEqual([])
  })

  it('reports a subscription that expires before it starts', () => {
    const text = `${base('users/alice.yaml')}subscription:\n  start: 2026-03-01\n  expires: 2026-02-01\n`
    const d = only(loadWith({'users/alice.yaml': text}), 'invalid_dates')
    expect(at(d)).toBe('users/alice.yaml:8:12')
    expect(d.message).toBe('User alice: subscription expires (2026-02-01) before it starts (2026-03-01)')
  })

  it.each([['2026-02-30'], ['2026-02-29'], ['2026-04-31T12:00:00Z'], ['2026-13-01']])(
    'refuses the impossible date %s',
    (date) => {
      const d = only(
        loadWith({'users/alice.yaml': `${base('users/alice.yaml')}subscription:\n  start: ${date}\n`}),
        'invalid_value',
      )
      expect(at(d)).toBe('users/alice.yaml:7:10')
      expect(d.message).toContain('subscription.start: is not a real calendar date')
    },
  )

  it('accepts a leap day and a date-time with a zone', () => {
    const text = `${base('users/alice.yaml')}subscription:\n  start: 2028-02-29\n  expires: 2029-02-28T12:00:00+02:00\n`
    expect(loadWith({'users/alice.yaml': text}).diagnostics).toEqual([])
  })
})

describe('tariffs', () => {
  it('reports both durationDays and durationMonths', () => {
    const d = only(
      loadWith({'tariffs/basic.yaml': `${base('tariffs/basic.yaml')}durationDays: 30\ndurationMonths: 1\n`}),
      'invalid_combination',
    )
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('tariffs/basic.yaml:7:17')
    expect(d.message).toBe('Tariff basic: durationDays and durationMonths are both set')
  })

  it('allows one duration, or null for both', () => {
    const text = `${base('tariffs/basic.yaml')}durationDays: 30\ndurationMonths: null\n`
    expect(loadWith({'tariffs/basic.yaml': text}).diagnostics).toEqual([])
  })

  it('reports a protocol no allowed node offers', () => {
    const text = base('tariffs/basic.yaml').replace('[wireguard, vless]', '[wireguard, vless, trojan]')
    const d = only(loadWith({'tariffs/basic.yaml': text}), 'protocol_unavailable')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('tariffs/basic.yaml:5:31')
    expect(d.message).toBe('Tariff basic: no node it allows offers trojan')
    expect(d.hint).toContain('add a trojan inbound')
  })

  it('only looks at the nodes the tariff allows', () => {
    const gw2 =
      'apiVersion: nexus/v1\nkind: Node\nname: gw-2\nssh: {host: 192.0.2.11}\nwireguard:\n  interfaces:\n    - {name: wg1, address: 10.67.0.1/24, listenPort: 51820}\n'
    const inventory = loadWith({
      'nodes/gw-2.yaml': gw2,
      'tariffs/basic.yaml': `${base('tariffs/basic.yaml')}nodes: [gw-2]\n`,
    })
    const d = only(inventory, 'protocol_unavailable')
    expect(d.message).toContain('offers vless')
    expect(at(d)).toBe('tariffs/basic.yaml:5:24')
  })

  it('warns when trafficReset has no trafficLimit to reset', () => {
    const d = only(
      loadWith({'tariffs/basic.yaml': `${base('tariffs/basic.yaml')}trafficReset: monthly\n`}),
      'ignored_field',
    )
    expect(d.severity).toBe('warning')
    expect(at(d)).toBe('tariffs/basic.yaml:6:15')
  })
})

describe('cascades', () => {
  const brokenNode = base('nodes/gw-1.yaml').replace('host: 192.0.2.10', 'host: "bad host"')

  it('a Node that fails its schema produces no errors on its peers, tariffs or rules', () => {
    const inventory = loadWith({
      'nodes/gw-1.yaml': brokenNode,
      'peers/p.yaml': `apiVersion: nexus/v1\nkind: Peer\nname: p\ninterface: wg0\npublicKey: ${WG_KEYS.b}\n`,
      'rules/no-smtp.yaml': `${base('rules/no-smtp.yaml')}nodes: [gw-1]\n`,
      'tariffs/basic.yaml': `${base('tariffs/basic.yaml')}nodes: [gw-1]\n`,
    })
    expect(inventory.diagnostics.map((d) => `${at(d)} ${d.code}`)).toEqual(['nodes/gw-1.yaml:5:9 invalid_value'])
    expect(inventory.diagnostics[0]?.message).toContain('ssh.host: must be a hostname')
  })

  it('a User that fails its schema is not reported again as unresolved by its peers', () => {
    const inventory = loadWith({'users/alice.yaml': `${base('users/alice.yaml')}email: not-an-email\n`})
    expect(inventory.diagnostics.map((d) => `${at(d)} ${d.code}`)).toEqual(['users/alice.yaml:6:8 invalid_value'])
  })

  it('a Tariff that fails its schema is not reported again as unresolved by its users', () => {
    const inventory = loadWith({'tariffs/basic.yaml': `${base('tariffs/basic.yaml')}durationDays: 0\n`})
    expect(inventory.diagnostics.map((d) => `${at(d)} ${d.code}`)).toEqual(['tariffs/basic.yaml:6:15 invalid_value'])
  })

  it('a Group that fails its schema is not reported again by users, rules or services', () => {
    const inventory = loadWith({'groups/staff.yaml': `${base('groups/staff.yaml')}members: [alice]\n`})
    expect(inventory.diagnostics.map((d) => d.code)).toEqual(['unknown_field'])
    expect(withCode(inventory, 'unresolved_reference')).toEqual([])
  })
})
