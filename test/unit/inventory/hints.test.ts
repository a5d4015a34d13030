/**
 * Every diagnostic says how to fix it: one broken repo per problem, each
 * checked for its code and a concrete hint, and then all of them swept for a
 * diagnostic without one.
 */
import {describe, expect, it} from 'vitest'

import type {Diagnostic} from '../../../src/inventory/diagnostics.js'
import type {Inventory} from '../../../src/inventory/load.js'
import {BASE, loadWith, WG_KEYS} from '../../helpers/repo.js'

const NODE = BASE['nodes/gw-1.yaml'] as string
const base = (path: string) => BASE[path] as string
const peer = (extra: string, name = 'bob-phone', key: string = WG_KEYS.b) =>
  `apiVersion: nexus/v1\nkind: Peer\nname: ${name}\nnode: gw-1\ninterface: wg0\npublicKey: ${key}\n${extra}`
const secondInterface = (line: string) => NODE.replace('      listenPort: 51820\n', `      listenPort: 51820\n${line}`)
const GW2 = 'apiVersion: nexus/v1\nkind: Node\nname: gw-2\nssh:\n  host: 192.0.2.11\nxray:\n  inbounds:\n'
const gw2 = (inbound: string, rest = '') => ({'nodes/gw-2.yaml': `${GW2}${inbound}${rest}`})

interface Case {
  readonly what: string
  readonly changes: Readonly<Record<string, string | null>>
  readonly code: string
  readonly hint: RegExp
}

const CASES: readonly Case[] = [
  {
    what: 'a peer address used twice on an interface',
    changes: {'peers/p.yaml': peer('address: 10.66.0.2\n')},
    code: 'address_reused',
    hint: /its own address, or omit address to have a free one allocated/,
  },
  {
    what: "a peer address that is the gateway's own",
    changes: {'peers/p.yaml': peer('address: 10.66.0.1\n')},
    code: 'address_reserved',
    hint: /pick another address inside the prefix, or omit address/,
  },
  {
    what: 'a prefix with no room for peers',
    changes: {
      'nodes/gw-1.yaml': NODE.replace('[10.66.0.1/24, "fd66::1/64"]', '10.66.0.1/31'),
      'peers/alice-laptop.yaml': null,
    },
    code: 'prefix_too_small',
    hint: /^use a shorter prefix, e\.g\. 10\.66\.0\.1\/24$/,
  },
  {
    what: 'an interface name used twice',
    changes: {'nodes/gw-1.yaml': secondInterface('    - {name: wg0, address: 10.77.0.1/24, listenPort: 51821}\n')},
    code: 'duplicate_name',
    hint: /rename one of them/,
  },
  {
    what: 'allowedIPs over the tunnel prefix',
    changes: {'peers/p.yaml': peer('allowedIPs: [10.66.0.0/16]\n')},
    code: 'overlapping_cidr',
    hint: /drop 10\.66\.0\.0\/16 or narrow it to exclude 10\.66\.0\.0\/24/,
  },
  {
    what: 'a subscription that expires before it starts',
    changes: {
      'users/alice.yaml': `${base('users/alice.yaml')}subscription:\n  start: 2026-03-01\n  expires: 2026-02-01\n`,
    },
    code: 'invalid_dates',
    hint: /set subscription\.expires to a date after subscription\.start/,
  },
  {
    what: 'a rule endpoint that is not one',
    changes: {'rules/no-smtp.yaml': `${base('rules/no-smtp.yaml')}source: host:x\n`},
    code: 'invalid_endpoint',
    hint: /10\.20\.0\.0\/16.*group:staff, user:alice or service:git/,
  },
  {
    what: 'a link listed twice',
    changes: {'users/alice.yaml': `${base('users/alice.yaml')}links: [phone, phone]\n`},
    code: 'duplicate_name',
    hint: /remove the second entry/,
  },
  {
    what: 'a port outside 1-65535',
    changes: {'rules/no-smtp.yaml': base('rules/no-smtp.yaml').replace('[25, 465]', '["1000-70000"]')},
    code: 'invalid_port',
    hint: /use ports from 1 to 65535/,
  },
  {
    what: 'trafficReset without a limit',
    changes: {'tariffs/basic.yaml': `${base('tariffs/basic.yaml')}trafficReset: monthly\n`},
    code: 'ignored_field',
    hint: /add a trafficLimit .* or remove trafficReset/,
  },
  {
    what: 'a rate on an allow rule',
    changes: {
      'rules/no-smtp.yaml': `${base('rules/no-smtp.yaml').replace('deny', 'allow')}rate: {pps: 10}\n`,
    },
    code: 'ignored_field',
    hint: /remove rate, or set `action: rate_limit`/,
  },
  {
    what: 'a tariff node selector that matches nothing',
    changes: {'tariffs/basic.yaml': `${base('tariffs/basic.yaml')}nodes: {labels: {region: mars}}\n`},
    code: 'selector_matches_nothing',
    hint: /use labels that a node has/,
  },
  {
    what: 'a rule node selector that matches nothing',
    changes: {'rules/no-smtp.yaml': `${base('rules/no-smtp.yaml')}nodes: [gw-9]\n`},
    code: 'selector_matches_nothing',
    hint: /name declared nodes/,
  },
  {
    what: 'a service node selector that matches nothing',
    changes: {'services/wiki.yaml': `${base('services/wiki.yaml')}nodes: {labels: {region: mars}}\n`},
    code: 'selector_matches_nothing',
    hint: /remove `nodes` to offer it everywhere/,
  },
  {
    what: 'the Project outside nexus.yaml',
    changes: {'nexus.yaml': null, 'config/project.yaml': base('nexus.yaml')},
    code: 'project_location',
    hint: /^move the Project document from config\/project\.yaml to nexus\.yaml$/,
  },
  {
    what: 'two inbounds with one tag',
    changes: gw2('    - {tag: a, protocol: vmess, port: 8443}\n    - {tag: a, protocol: vmess, port: 8444}\n'),
    code: 'duplicate_name',
    hint: /give each inbound its own tag/,
  },
  {
    what: 'security tls without a tls block',
    changes: gw2('    - {tag: a, protocol: trojan, port: 8443, security: tls}\n'),
    code: 'missing_field',
    hint: /add `tls: \{certificateFile/,
  },
  {
    what: 'REALITY on vmess',
    changes: gw2(
      '    - tag: a\n      protocol: vmess\n      port: 8443\n      security: reality\n      reality: {target: "www.example.com:443", serverNames: [www.example.com], shortIds: [""]}\n',
    ),
    code: 'invalid_combination',
    hint: /use `protocol: vless`/,
  },
  {
    what: 'flow on a non-VLESS inbound',
    changes: gw2('    - {tag: a, protocol: vmess, port: 8443, flow: xtls-rprx-vision}\n'),
    code: 'invalid_combination',
    hint: /remove `flow`/,
  },
  {
    what: 'shadowsocks over ws',
    changes: gw2(
      '    - {tag: a, protocol: shadowsocks, port: 8443, method: 2022-blake3-aes-128-gcm, transport: {type: ws, path: /x}}\n',
    ),
    code: 'invalid_combination',
    hint: /remove `transport`/,
  },
  {
    what: 'grpc without a serviceName',
    changes: gw2('    - {tag: a, protocol: vless, port: 8443, transport: {type: grpc}}\n'),
    code: 'missing_field',
    hint: /add `serviceName: NAME`/,
  },
  {
    what: 'a reserved outbound tag',
    changes: gw2(
      '    - {tag: a, protocol: vmess, port: 8443}\n',
      '  outbounds:\n    - {tag: direct, protocol: freedom}\n',
    ),
    code: 'reserved_name',
    hint: /pick another tag \(not api, api-in, direct, block or svc-\*\)/,
  },
  {
    what: 'an empty routing rule',
    changes: gw2(
      '    - {tag: a, protocol: vmess, port: 8443}\n',
      '  routing:\n    rules:\n      - {outbound: block}\n',
    ),
    code: 'empty_rule',
    hint: /add a condition/,
  },
  {
    what: 'a name in capitals',
    changes: {'groups/x.yaml': 'apiVersion: nexus/v1\nkind: Group\nname: Ops Team\n'},
    code: 'invalid_value',
    hint: /^did you mean "ops-team"\?$/,
  },
  {
    what: 'a label key in capitals',
    changes: {'nodes/gw-1.yaml': NODE.replace('ssh:\n', 'labels: {Region: eu}\nssh:\n')},
    code: 'invalid_value',
    hint: /^rename the key to "region"$/,
  },
  {
    what: 'a mapping where a list belongs',
    changes: {'tariffs/basic.yaml': base('tariffs/basic.yaml').replace('[wireguard, vless]', '{a: b}')},
    code: 'invalid_value',
    hint: /write a list/,
  },
  {
    what: 'a number below its minimum',
    changes: {'tariffs/basic.yaml': `${base('tariffs/basic.yaml')}durationDays: 0\n`},
    code: 'invalid_value',
    hint: /^use a number greater than 0$/,
  },
  {
    what: 'an empty list that needs an item',
    changes: {'services/wiki.yaml': base('services/wiki.yaml').replace('[wiki.corp.example]', '[]')},
    code: 'invalid_value',
    hint: /^list at least 1 item\(s\)$/,
  },
  {
    what: 'an invalid email address',
    changes: {'users/alice.yaml': `${base('users/alice.yaml')}email: alice-at-example\n`},
    code: 'invalid_value',
    hint: /alice@example\.com/,
  },
  {
    what: 'a malformed public key',
    changes: {'peers/p.yaml': peer('', 'bob-phone', 'not-a-key')},
    code: 'invalid_value',
    hint: /see the Peer section of docs\/declarations\.md/,
  },
]

function problems(inventory: Inventory, code: string): Diagnostic[] {
  return inventory.diagnostics.filter((d) => d.code === code)
}

describe('hints', () => {
  it.each(CASES.map((c) => [c.what, c] as const))('%s', (_what, c) => {
    const inventory = loadWith(c.changes)
    const found = problems(inventory, c.code)
    expect(found.length, inventory.diagnostics.map((d) => `${d.code}: ${d.message}`).join('\n')).toBeGreaterThan(0)
    expect(found.map((d) => d.hint)).toContainEqual(expect.stringMatching(c.hint))
  })

  it('every diagnostic of every case has one', () => {
    const missing = CASES.flatMap((c) => loadWith(c.changes).diagnostics)
      .filter((d) => !d.hint)
      .map((d) => `${d.code}: ${d.message}`)
    expect(missing).toEqual([])
  })

  it('leaves the hint out only where the message already says what to write', () => {
    const inventory = loadWith({
      'rules/no-smtp.yaml': base('rules/no-smtp.yaml').replace('[25, 465]', '["2000-1000"]'),
    })
    const [d] = problems(inventory, 'invalid_port')
    expect(d?.message).toBe('Rule no-smtp: port range "2000-1000" is reversed; write it as "1000-2000"')
    expect(d?.hint).toBeUndefined()
  })
})
