import {describe, expect, it} from 'vitest'

import type {Inventory} from '../../../src/inventory/load.js'
import {at, loadWith, only, withCode} from '../../helpers/repo.js'

/** A second node with only xray; the first inbound starts at line 8. */
const HEAD = 'apiVersion: nexus/v1\nkind: Node\nname: gw-2\nssh:\n  host: 192.0.2.11\nxray:\n  inbounds:\n'
const REALITY =
  '      reality:\n        target: www.example.com:443\n        serverNames: [www.example.com]\n        shortIds: [""]\n'
const TLS = '      tls:\n        certificateFile: /etc/tls/cert.pem\n        keyFile: /etc/tls/key.pem\n'
const xray = (inbounds: string, rest = ''): Inventory => loadWith({'nodes/gw-2.yaml': HEAD + inbounds + rest})
const inbound = (protocol: string, extra = '', tag = 'a') =>
  `    - tag: ${tag}\n      protocol: ${protocol}\n      port: 8443\n${extra}`

/** The one error of a code, on Node gw-2, at `line:column`. */
function expectError(inventory: Inventory, code: string, where: string, message: string): void {
  const d = only(inventory, code)
  expect(d.severity).toBe('error')
  expect(d.kind).toBe('Node')
  expect(d.name).toBe('gw-2')
  expect(at(d)).toBe(`nodes/gw-2.yaml:${where}`)
  expect(d.message).toBe(`Node gw-2: ${message}`)
  expect(inventory.desired).toBeUndefined()
}

describe('security blocks', () => {
  it('security reality without a reality block', () => {
    expectError(
      xray(inbound('vless', '      security: reality\n')),
      'missing_field',
      '11:17',
      'security: reality needs a `reality` block (target, serverNames, shortIds)',
    )
  })

  it('a reality block without security reality', () => {
    expectError(
      xray(inbound('vless', REALITY)),
      'invalid_combination',
      '12:9',
      '`reality` is set but security is not reality',
    )
  })

  it('security tls without a tls block', () => {
    expectError(
      xray(inbound('trojan', '      security: tls\n')),
      'missing_field',
      '11:17',
      'security: tls needs a `tls` block with certificateFile and keyFile',
    )
  })

  it('a tls block without security tls', () => {
    expectError(
      xray(inbound('vless', `      security: reality\n${REALITY}${TLS}`)),
      'invalid_combination',
      '17:9',
      '`tls` is set but security is not tls',
    )
  })

  it('accepts vless over reality and trojan over tls', () => {
    const inventory = xray(
      inbound('vless', `      security: reality\n${REALITY}`) +
        inbound('trojan', `      security: tls\n${TLS}`, 'b').replace('8443', '8444'),
    )
    expect(inventory.diagnostics).toEqual([])
  })
})

describe('reality', () => {
  it('refuses reality on vmess', () => {
    expectError(
      xray(inbound('vmess', `      security: reality\n${REALITY}`)),
      'invalid_combination',
      '9:17',
      'REALITY carries VLESS only, not vmess',
    )
  })

  it('refuses reality over ws', () => {
    expectError(
      xray(inbound('vless', `      security: reality\n      transport: {type: ws, path: /x}\n${REALITY}`)),
      'invalid_combination',
      '12:18',
      'REALITY works with tcp, grpc and xhttp transports, not ws',
    )
  })

  it('accepts reality over grpc', () => {
    const inventory = xray(
      inbound('vless', `      security: reality\n      transport: {type: grpc, serviceName: svc}\n${REALITY}`),
    )
    expect(inventory.diagnostics).toEqual([])
  })
})

describe('flow', () => {
  it('refuses flow on vmess', () => {
    expectError(
      xray(inbound('vmess', '      flow: xtls-rprx-vision\n')),
      'invalid_combination',
      '11:13',
      'flow is a VLESS setting',
    )
  })

  it('refuses flow over ws', () => {
    expectError(
      xray(
        inbound(
          'vless',
          `      security: tls\n      flow: xtls-rprx-vision\n      transport: {type: ws, path: /x}\n${TLS}`,
        ),
      ),
      'invalid_combination',
      '12:13',
      'xtls-rprx-vision needs the tcp transport with tls or reality security',
    )
  })

  it('refuses flow with security none', () => {
    expectError(
      xray(inbound('vless', '      security: none\n      flow: xtls-rprx-vision\n')),
      'invalid_combination',
      '12:13',
      'xtls-rprx-vision needs the tcp transport with tls or reality security',
    )
  })
})

describe('shadowsocks', () => {
  it('needs a method', () => {
    const inventory = xray(inbound('shadowsocks'))
    expectError(inventory, 'missing_field', '8:7', 'a shadowsocks inbound needs a method')
    expect(only(inventory, 'missing_field').hint).toContain('2022-blake3-aes-128-gcm')
  })

  it('refuses 2022-blake3-chacha20-poly1305 (no multi-user mode)', () => {
    expectError(
      xray(inbound('shadowsocks', '      method: 2022-blake3-chacha20-poly1305\n')),
      'invalid_value',
      '11:15',
      '2022-blake3-chacha20-poly1305 has no multi-user mode in Xray',
    )
  })

  it('accepts a 2022 AES method', () => {
    expect(xray(inbound('shadowsocks', '      method: 2022-blake3-aes-256-gcm\n')).diagnostics).toEqual([])
  })

  it('refuses method on a non-shadowsocks inbound', () => {
    expectError(
      xray(inbound('vless', '      method: aes-128-gcm\n')),
      'invalid_combination',
      '11:15',
      'method is a shadowsocks setting',
    )
  })

  it('refuses tls on shadowsocks', () => {
    expectError(
      xray(inbound('shadowsocks', `      method: aes-128-gcm\n      security: tls\n${TLS}`)),
      'invalid_combination',
      '12:17',
      'shadowsocks takes no tls or reality security',
    )
  })
})

describe('transport', () => {
  it('grpc needs a serviceName', () => {
    expectError(
      xray(inbound('vless', '      transport: {type: grpc}\n')),
      'missing_field',
      '11:18',
      'the grpc transport needs a serviceName',
    )
  })

  it('refuses a path on tcp', () => {
    expectError(
      xray(inbound('vless', '      transport:\n        type: tcp\n        path: /x\n')),
      'invalid_combination',
      '12:9',
      'transport path is used by ws, httpupgrade and xhttp, not tcp',
    )
  })

  it('refuses a serviceName outside grpc', () => {
    expectError(
      xray(inbound('vless', '      transport: {type: ws, path: /x, serviceName: svc}\n')),
      'invalid_combination',
      '11:18',
      'serviceName is a grpc setting',
    )
  })
})

describe('tags', () => {
  it.each([['api'], ['api-in'], ['direct'], ['block'], ['svc-x']])('refuses the reserved inbound tag %s', (tag) => {
    const inventory = xray(inbound('vless', '', tag))
    expectError(inventory, 'reserved_name', '8:12', `inbound tag ${tag} is reserved for what Nexus generates`)
  })

  it('refuses a reserved outbound tag', () => {
    expectError(
      xray(inbound('vless'), '  outbounds:\n    - tag: direct\n      protocol: freedom\n'),
      'reserved_name',
      '12:12',
      'outbound tag direct is reserved for what Nexus generates',
    )
  })

  it('refuses duplicate inbound tags', () => {
    expectError(
      xray(inbound('vless') + inbound('vmess').replace('8443', '8444')),
      'duplicate_name',
      '11:12',
      'inbound tag a is used twice',
    )
  })

  it('refuses an outbound tag equal to an inbound tag', () => {
    expectError(
      xray(inbound('vless'), '  outbounds:\n    - tag: a\n      protocol: freedom\n'),
      'duplicate_name',
      '12:12',
      'tag a is used twice',
    )
  })

  it('refuses an empty routing rule', () => {
    expectError(
      xray(inbound('vless'), '  routing:\n    rules:\n      - outbound: block\n'),
      'empty_rule',
      '13:9',
      'a routing rule needs at least one of domains, ips, ports or network',
    )
  })

  it('warns about trojan without TLS', () => {
    const inventory = xray(inbound('trojan'))
    const d = only(inventory, 'insecure_inbound')
    expect(d.severity).toBe('warning')
    expect(at(d)).toBe('nodes/gw-2.yaml:8:7')
    expect(d.hint).toBe('set security: tls, or put a TLS proxy in front and set publicPort to its port')
    expect(inventory.desired).toBeDefined()
  })

  it('does not warn about trojan without TLS behind a proxy (publicPort differs)', () => {
    expect(withCode(xray(inbound('trojan', '      publicPort: 443\n')), 'insecure_inbound')).toEqual([])
  })
})
