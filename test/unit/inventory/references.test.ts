import {describe, expect, it} from 'vitest'

import {at, BASE, loadWith, only, WG_KEYS, withCode} from '../../helpers/repo.js'

const base = (path: string): string => BASE[path] as string
const USER_BOB = 'apiVersion: nexus/v1\nkind: User\nname: bob\n'
const peer = (lines: string) => `apiVersion: nexus/v1\nkind: Peer\nname: bob-phone\n${lines}`
const GW2_WG0 = `apiVersion: nexus/v1
kind: Node
name: gw-2
ssh: {host: 192.0.2.11}
wireguard:
  interfaces:
    - {name: wg0, address: 10.67.0.1/24, listenPort: 51820}
`

describe('unresolved references', () => {
  it('user -> tariff, with "did you mean" on a near miss', () => {
    const inventory = loadWith({'users/bob.yaml': `${USER_BOB}tariff: basc\n`})
    const d = only(inventory, 'unresolved_reference')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('users/bob.yaml:4:9')
    expect(d.kind).toBe('User')
    expect(d.name).toBe('bob')
    expect(d.message).toBe('User bob: Tariff "basc" is not declared')
    expect(d.hint).toBe('did you mean "basic"?')
    expect(inventory.desired).toBeUndefined()
  })

  it('user -> groups, listing the declared ones when nothing is close', () => {
    const d = only(
      loadWith({'users/bob.yaml': `${USER_BOB}tariff: basic\ngroups: [staff, admins]\n`}),
      'unresolved_reference',
    )
    expect(at(d)).toBe('users/bob.yaml:5:17')
    expect(d.message).toBe('User bob: Group "admins" is not declared')
    expect(d.hint).toBe('declare a Group named admins, or use one of: staff')
  })

  it('peer -> user', () => {
    const d = only(
      loadWith({'peers/p.yaml': peer(`user: alcie\nnode: gw-1\ninterface: wg0\npublicKey: ${WG_KEYS.b}\n`)}),
      'unresolved_reference',
    )
    expect(at(d)).toBe('peers/p.yaml:4:7')
    expect(d.message).toBe('Peer bob-phone: User "alcie" is not declared')
    expect(d.hint).toBe('did you mean "alice"?')
  })

  it('peer -> node', () => {
    const d = only(
      loadWith({'peers/p.yaml': peer(`user: alice\nnode: gw-2\ninterface: wg0\npublicKey: ${WG_KEYS.b}\n`)}),
      'unresolved_reference',
    )
    expect(at(d)).toBe('peers/p.yaml:5:7')
    expect(d.message).toBe('Peer bob-phone: Node "gw-2" is not declared')
    expect(d.hint).toBe('did you mean "gw-1"?')
  })

  it('peer -> interface on its node', () => {
    const d = only(
      loadWith({'peers/p.yaml': peer(`user: alice\nnode: gw-1\ninterface: wg1\npublicKey: ${WG_KEYS.b}\n`)}),
      'unresolved_reference',
    )
    expect(at(d)).toBe('peers/p.yaml:6:12')
    expect(d.message).toBe('Peer bob-phone: node gw-1 has no interface wg1')
    expect(d.hint).toBe('use one of: wg0')
  })

  it('peer without node whose interface exists nowhere', () => {
    const d = only(
      loadWith({'peers/p.yaml': peer(`user: alice\ninterface: wg1\npublicKey: ${WG_KEYS.b}\n`)}),
      'unresolved_reference',
    )
    expect(at(d)).toBe('peers/p.yaml:5:12')
    expect(d.message).toBe('Peer bob-phone: no node has an interface named wg1')
    expect(d.hint).toMatch(/node: NAME/)
  })

  it('peer without node whose interface name is on several nodes', () => {
    const inventory = loadWith({
      'nodes/gw-2.yaml': GW2_WG0,
      'peers/p.yaml': peer(`user: alice\ninterface: wg0\npublicKey: ${WG_KEYS.b}\n`),
    })
    const d = only(inventory, 'ambiguous_interface')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('peers/p.yaml:5:12')
    expect(d.message).toBe('Peer bob-phone: interface wg0 exists on several nodes (gw-1, gw-2)')
    // the base peer names its node, so it is not ambiguous
    expect(inventory.diagnostics).toHaveLength(1)
  })

  it('peer without node resolves a unique interface name', () => {
    const inventory = loadWith({'peers/p.yaml': peer(`user: alice\ninterface: wg0\npublicKey: ${WG_KEYS.b}\n`)})
    expect(inventory.diagnostics).toEqual([])
    expect(inventory.desired?.peers.find((p) => p.name === 'bob-phone')?.node).toBe('gw-1')
  })

  it('tariff -> nextTariff', () => {
    const d = only(
      loadWith({'tariffs/basic.yaml': `${base('tariffs/basic.yaml')}nextTariff: pro\n`}),
      'unresolved_reference',
    )
    expect(at(d)).toBe('tariffs/basic.yaml:6:13')
    expect(d.message).toBe('Tariff basic: Tariff "pro" is not declared')
  })

  it('tariff nodes by name', () => {
    const d = only(
      loadWith({'tariffs/basic.yaml': `${base('tariffs/basic.yaml')}nodes: [gw-1, gw-9]\n`}),
      'unresolved_reference',
    )
    expect(at(d)).toBe('tariffs/basic.yaml:6:15')
    expect(d.message).toBe('Tariff basic: Node "gw-9" is not declared')
    expect(d.hint).toBe('did you mean "gw-1"?')
  })

  it('rule nodes by name', () => {
    const d = only(
      loadWith({'rules/no-smtp.yaml': `${base('rules/no-smtp.yaml')}nodes: [gw-2]\n`}),
      'unresolved_reference',
    )
    expect(at(d)).toBe('rules/no-smtp.yaml:7:9')
    expect(d.message).toBe('Rule no-smtp: Node "gw-2" is not declared')
  })

  it('service nodes by name', () => {
    const d = only(
      loadWith({'services/wiki.yaml': `${base('services/wiki.yaml')}nodes: [gw-x]\n`}),
      'unresolved_reference',
    )
    expect(at(d)).toBe('services/wiki.yaml:10:9')
    expect(d.message).toBe('Service wiki: Node "gw-x" is not declared')
  })

  it('rule source and destination group:, user: and service:', () => {
    const inventory = loadWith({
      'rules/no-smtp.yaml': `${base('rules/no-smtp.yaml')}source: [group:staf, user:bob, 10.0.0.0/8]\ndestination: service:wki\n`,
    })
    const found = withCode(inventory, 'unresolved_reference')
    expect(found.map((d) => [at(d), d.message, d.hint])).toEqual([
      ['rules/no-smtp.yaml:7:10', 'Rule no-smtp: Group "staf" is not declared', 'did you mean "staff"?'],
      [
        'rules/no-smtp.yaml:7:22',
        'Rule no-smtp: User "bob" is not declared',
        'declare a User named bob, or use one of: alice',
      ],
      ['rules/no-smtp.yaml:8:14', 'Rule no-smtp: Service "wki" is not declared', 'did you mean "wiki"?'],
    ])
    expect(inventory.diagnostics).toHaveLength(3)
  })

  it('rule endpoints that are neither a CIDR nor a reference', () => {
    const inventory = loadWith({
      'rules/no-smtp.yaml': `${base('rules/no-smtp.yaml')}source: [10.0.0.0/8, "group:", host:x]\n`,
    })
    const found = withCode(inventory, 'invalid_endpoint')
    expect(found.map(at)).toEqual(['rules/no-smtp.yaml:7:22', 'rules/no-smtp.yaml:7:32'])
    expect(found[0]?.message).toContain('source "group:" is not a CIDR')
  })

  it('service access users and groups', () => {
    const inventory = loadWith({
      'services/wiki.yaml': base('services/wiki.yaml').replace(
        'groups: [staff]',
        'groups: [stuff]\n  users: [alice, mallory]',
      ),
    })
    expect(withCode(inventory, 'unresolved_reference').map((d) => [at(d), d.message])).toEqual([
      ['services/wiki.yaml:9:12', 'Service wiki: Group "stuff" is not declared'],
      ['services/wiki.yaml:10:18', 'Service wiki: User "mallory" is not declared'],
    ])
  })

  it('xray routing rule -> outbound', () => {
    const node = `${base('nodes/gw-1.yaml')}  outbounds:\n    - {tag: warp, protocol: socks}\n  routing:\n    rules:\n      - domains: [geosite:ads]\n        outbound: blok\n`
    const d = only(loadWith({'nodes/gw-1.yaml': node}), 'unresolved_reference')
    expect(at(d)).toBe('nodes/gw-1.yaml:27:19')
    expect(d.message).toBe('Node gw-1: outbound blok is not declared')
    expect(d.hint).toBe('did you mean block?')
  })

  it('xray routing rule -> outbound far from any known tag lists the known ones', () => {
    const node = `${base('nodes/gw-1.yaml')}  outbounds:\n    - {tag: warp, protocol: socks}\n  routing:\n    rules:\n      - domains: [geosite:ads]\n        outbound: somewhere-else\n`
    const d = only(loadWith({'nodes/gw-1.yaml': node}), 'unresolved_reference')
    expect(d.hint).toBe('use one of: direct, block, warp')
  })

  it('xray routing rules may use direct, block and declared outbounds', () => {
    const node = `${base('nodes/gw-1.yaml')}  outbounds:\n    - {tag: warp, protocol: socks}\n  routing:\n    rules:\n      - {domains: [example.com], outbound: warp}\n      - {ips: [10.0.0.0/8], outbound: block}\n      - {network: "tcp,udp", outbound: direct}\n`
    expect(loadWith({'nodes/gw-1.yaml': node}).diagnostics).toEqual([])
  })
})

describe('duplicate names', () => {
  it('reports the same name in two files, saying where the first one is', () => {
    const d = only(
      loadWith({'groups/other.yaml': 'apiVersion: nexus/v1\nkind: Group\nname: staff\n'}),
      'duplicate_name',
    )
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('groups/other.yaml:3:7')
    expect(d.kind).toBe('Group')
    expect(d.message).toBe('Group staff: is declared twice (first at groups/staff.yaml:3:7)')
  })

  it('reports the same name twice in one file', () => {
    const group = 'apiVersion: nexus/v1\nkind: Group\nname: ops\n'
    const d = only(loadWith({'groups/ops.yaml': `${group}---\n${group}`}), 'duplicate_name')
    expect(at(d)).toBe('groups/ops.yaml:7:7')
    expect(d.message).toContain('first at groups/ops.yaml:3:7')
  })

  it('allows one name in different kinds', () => {
    expect(loadWith({'groups/alice.yaml': 'apiVersion: nexus/v1\nkind: Group\nname: alice\n'}).diagnostics).toEqual([])
  })

  it('reports a link listed twice on a user', () => {
    const d = only(
      loadWith({'users/alice.yaml': `${base('users/alice.yaml')}links: [phone, phone]\n`}),
      'duplicate_name',
    )
    expect(at(d)).toBe('users/alice.yaml:6:16')
    expect(d.message).toBe('User alice: link "phone" is listed twice')
  })
})

describe('the Project', () => {
  it('reports a second Project, naming the first', () => {
    const d = only(
      loadWith({'other/nexus.yaml': 'apiVersion: nexus/v1\nkind: Project\nname: other\n'}),
      'duplicate_project',
    )
    expect(at(d)).toBe('other/nexus.yaml:2:7')
    expect(d.message).toBe('Project other: a repo has one Project, and test is already declared at nexus.yaml:3:7')
  })

  it('reports a missing Project and nexus.yaml', () => {
    const inventory = loadWith({'nexus.yaml': null})
    const d = only(inventory, 'missing_project')
    expect(at(d)).toBe('nexus.yaml:1:1')
    expect(d.hint).toMatch(/create nexus.yaml/)
    expect(inventory.desired).toBeUndefined()
  })

  it('reports a nexus.yaml that declares no Project', () => {
    const d = only(loadWith({'nexus.yaml': '# to do\n'}), 'missing_project')
    expect(d.hint).toMatch(/kind: Project/)
  })

  it('does not pile missing_project onto a broken nexus.yaml', () => {
    const inventory = loadWith({'nexus.yaml': 'apiVersion: nexus/v1\nkind: Project\nname: Test\n'})
    expect(withCode(inventory, 'missing_project')).toEqual([])
    expect(at(only(inventory, 'invalid_value'))).toBe('nexus.yaml:3:7')
  })

  it('warns about a Project outside nexus.yaml', () => {
    const inventory = loadWith({'nexus.yaml': null, 'config/project.yaml': base('nexus.yaml')})
    const d = only(inventory, 'project_location')
    expect(d.severity).toBe('warning')
    expect(at(d)).toBe('config/project.yaml:2:7')
    expect(inventory.desired).toBeDefined()
  })
})
