/**
 * Names end up inside line-based config formats (formats.md §1.5): they are
 * validated, never escaped, and the error says what a name may contain.
 */
import {describe, expect, it} from 'vitest'

import {at, BASE, loadWith, only} from '../../helpers/repo.js'

const NODE = BASE['nodes/gw-1.yaml'] as string
const group = (name: string) => `apiVersion: nexus/v1\nkind: Group\nname: ${name}\n`
const NAME_RULE = 'name: must be a lower-case DNS label: a letter, then letters, digits or "-" (at most 63 characters)'

describe('declaration names', () => {
  it.each([
    ['upper case', 'Admins', '"Admins"'],
    ['a space', '"my group"', '"my group"'],
    ['a double quote', `'a"b'`, '"a\\"b"'],
    ['a newline', '"a\\nb"', '"a\\nb"'],
    ['">>>" (xray stats separator)', '"a>>>b"', '"a>>>b"'],
    ['a leading digit', '1st', '"1st"'],
    ['an underscore', 'a_b', '"a_b"'],
    ['a dot', 'a.b', '"a.b"'],
    ['64 characters', 'a'.repeat(64), `"${'a'.repeat(64)}"`],
  ])('refuses a name with %s', (_label, yaml, shown) => {
    const inventory = loadWith({'groups/x.yaml': group(yaml)})
    const d = only(inventory, 'invalid_value')
    expect(d.severity).toBe('error')
    expect(at(d)).toBe('groups/x.yaml:3:7')
    expect(d.kind).toBe('Group')
    expect(d.message).toBe(`Group ${shown}: ${NAME_RULE}`)
    // an invalid name is quoted, so a newline or escape code cannot break the output line
    expect(d.message).not.toContain('\n')
    expect(inventory.desired).toBeUndefined()
  })

  it('accepts 63 characters, digits and dashes', () => {
    expect(loadWith({'groups/x.yaml': group('a'.repeat(63))}).diagnostics).toEqual([])
    expect(loadWith({'groups/x.yaml': group('ops-2')}).diagnostics).toEqual([])
  })

  it('explains a name YAML read as a number', () => {
    const d = only(loadWith({'groups/x.yaml': group('123')}), 'invalid_value')
    expect(d.message).toContain('YAML read 123 as the number 123')
    expect(d.hint).toBe('quote it: "123"')
  })

  it('refuses a user name with ">>>" that would break xray stats names', () => {
    const d = only(
      loadWith({'users/x.yaml': 'apiVersion: nexus/v1\nkind: User\nname: "a>>>b"\nstatus: pending\n'}),
      'invalid_value',
    )
    expect(at(d)).toBe('users/x.yaml:3:7')
    expect(d.kind).toBe('User')
  })

  it('refuses an invalid link name', () => {
    const d = only(loadWith({'users/alice.yaml': `${BASE['users/alice.yaml']}links: [Phone]\n`}), 'invalid_value')
    expect(at(d)).toBe('users/alice.yaml:6:9')
    expect(d.message).toContain('links[0]: must be a lower-case DNS label')
  })

  it('refuses a reference that is not a name', () => {
    const d = only(
      loadWith({'users/alice.yaml': (BASE['users/alice.yaml'] as string).replace('[staff]', '["staff\\nx"]')}),
      'invalid_value',
    )
    expect(at(d)).toBe('users/alice.yaml:5:10')
    expect(d.message).toContain('groups[0]: must be a lower-case DNS label')
  })
})

describe('interface names', () => {
  it('refuses an interface name longer than 15 characters', () => {
    const inventory = loadWith({
      'nodes/gw-1.yaml': NODE.replace('name: wg0', 'name: wg-abcdefghijklm'),
      'peers/alice-laptop.yaml': null,
    })
    const d = only(inventory, 'invalid_value')
    expect(at(d)).toBe('nodes/gw-1.yaml:8:13')
    expect(d.message).toBe(
      'Node gw-1: wireguard.interfaces[0].name: must be a Linux interface name: a lower-case letter, then letters, digits, "_" or "-" (at most 15)',
    )
  })

  it('accepts 15 characters and an underscore', () => {
    const inventory = loadWith({
      'nodes/gw-1.yaml': NODE.replace('name: wg0', 'name: wg_abcdefghijkl'),
      'peers/alice-laptop.yaml': null,
    })
    expect(inventory.diagnostics).toEqual([])
  })

  it('refuses an interface name on a peer', () => {
    const peer = (BASE['peers/alice-laptop.yaml'] as string).replace('interface: wg0', 'interface: WG0')
    const d = only(loadWith({'peers/alice-laptop.yaml': peer}), 'invalid_value')
    expect(at(d)).toBe('peers/alice-laptop.yaml:6:12')
    expect(d.message).toContain('interface: must be a Linux interface name')
  })
})

describe('labels and tags', () => {
  it('refuses a label key with upper case, at the key, with the rule', () => {
    const d = only(
      loadWith({'nodes/gw-1.yaml': NODE.replace('name: gw-1\n', 'name: gw-1\nlabels: {Region: eu}\n')}),
      'invalid_value',
    )
    expect(at(d)).toBe('nodes/gw-1.yaml:4:10')
    expect(d.message).toBe(
      'Node gw-1: labels.Region: invalid key: label keys are lower-case letters, digits, ".", "_", "-" and "/"',
    )
  })

  it('refuses a label value with a space', () => {
    const d = only(
      loadWith({'nodes/gw-1.yaml': NODE.replace('name: gw-1\n', 'name: gw-1\nlabels: {region: "eu west"}\n')}),
      'invalid_value',
    )
    expect(at(d)).toBe('nodes/gw-1.yaml:4:18')
    expect(d.message).toContain('labels.region: label values are letters, digits')
  })

  it('refuses an xray tag with upper case', () => {
    const d = only(loadWith({'nodes/gw-1.yaml': NODE.replace('tag: vless-reality', 'tag: Vless')}), 'invalid_value')
    expect(at(d)).toBe('nodes/gw-1.yaml:13:12')
    expect(d.message).toContain('xray.inbounds[0].tag: must be a lower-case letter')
  })
})

describe('domains and hosts must be ASCII (IDNs as punycode)', () => {
  const service = (domain: string) =>
    `apiVersion: nexus/v1\nkind: Service\nname: books\ndomains: [${domain}]\ntarget: {address: 10.10.0.30, ports: 443}\naccess: {users: [alice]}\n`

  it('refuses a non-ASCII service domain', () => {
    const d = only(loadWith({'services/books.yaml': service('bücher.corp.example')}), 'invalid_value')
    expect(at(d)).toBe('services/books.yaml:4:11')
    expect(d.message).toContain(
      'domains[0]: must be a domain name with at least two labels (ASCII; write IDNs as punycode xn--)',
    )
  })

  it('accepts the punycode form', () => {
    expect(loadWith({'services/books.yaml': service('xn--bcher-kva.corp.example')}).diagnostics).toEqual([])
  })

  it('refuses a non-ASCII ssh host', () => {
    const d = only(
      loadWith({'nodes/gw-1.yaml': NODE.replace('host: 192.0.2.10', 'host: gw.bücher.example')}),
      'invalid_value',
    )
    expect(at(d)).toBe('nodes/gw-1.yaml:5:9')
    expect(d.message).toContain(
      'ssh.host: must be a hostname (ASCII letters, digits and "-"; write IDNs as punycode xn--)',
    )
  })

  it('refuses a non-ASCII endpoint', () => {
    const d = only(
      loadWith({'nodes/gw-1.yaml': NODE.replace('ssh:\n', 'endpoint: vpn.müller.example\nssh:\n')}),
      'invalid_value',
    )
    expect(at(d)).toBe('nodes/gw-1.yaml:4:11')
    expect(d.message).toContain('endpoint: must be a hostname')
  })

  it('refuses a non-ASCII or wildcard Reality serverName', () => {
    for (const name of ['www.bücher.example', '"*.example.com"']) {
      const d = only(
        loadWith({'nodes/gw-1.yaml': NODE.replace('serverNames: [www.example.com]', `serverNames: [${name}]`)}),
        'invalid_value',
      )
      expect(at(d)).toBe('nodes/gw-1.yaml:20:23')
      expect(d.message).toContain('serverNames[0]: must be a hostname without wildcards')
    }
  })
})

describe('keys in messages', () => {
  it('quotes an unknown field whose key holds a newline, so the message stays on one line', () => {
    const inventory = loadWith({'groups/odd.yaml': 'apiVersion: nexus/v1\nkind: Group\nname: odd\n"bad\\nkey": 1\n'})
    const d = only(inventory, 'unknown_field')
    expect(d.message).toBe('Group odd: "bad\\nkey": unknown field')
    expect(d.message).not.toContain('\n')
  })
})

describe('paths that reach remote commands', () => {
  it('rejects node paths with shell metacharacters or relative paths', () => {
    for (const path of ['/etc/nexus; rm -rf /', '/etc/my dir/nexus.nft', 'etc/nexus.nft', '/etc/$(id)']) {
      const node = `${BASE['nodes/gw-1.yaml']}paths:\n  nftables: ${JSON.stringify(path)}\n`
      const d = only(loadWith({'nodes/gw-1.yaml': node}), 'invalid_value')
      expect(d.message, path).toBe(
        'Node gw-1: paths.nftables: must be an absolute path of letters, digits and . _ @ + - /',
      )
    }
    const ok = `${BASE['nodes/gw-1.yaml']}paths:\n  nftables: /etc/nexus/nexus-v2.nft\n`
    expect(loadWith({'nodes/gw-1.yaml': ok}).diagnostics).toEqual([])
  })
})

describe('subscription title', () => {
  it('rejects a title with a newline: it reaches headers and client profile names', () => {
    const project = 'apiVersion: nexus/v1\nkind: Project\nname: test\nsubscription:\n  title: "Acme\\nVPN"\n'
    const d = only(loadWith({'nexus.yaml': project}), 'invalid_value')
    expect(d.message).toBe('Project test: subscription.title: must be one line of text without control characters')
  })
})
