/**
 * Rendered xray configs checked by Debian's real `v2ray -test` (4.34). It is
 * only a smoke test of the subset v2ray shares with Xray (formats.md §5.8):
 * JSON skeleton, protocol names, UUIDs, decryption, duplicate emails, rule
 * type and CIDRs, transport names, readable certificates. REALITY, Vision and
 * SS-2022 are invisible or unknown to it, so the unit tests pin those.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Desired, Node, XrayConfig, XrayInbound} from '../../../src/model/desired.js'
import {Fleet} from '../../../src/model/fleet.js'
import {renderXray, type XrayServerConfig} from '../../../src/render/xray.js'
import {makeRule} from '../../helpers/builders.js'
import {cidr, desired, node, state} from '../../helpers/fixture.js'
import {checkV2ray, makeTestCertificate, type TestCertificate, v2raySubset} from '../../helpers/real-tools.js'
import {requireTool, tempDir} from '../../helpers/tools.js'

let dir: {path: string; cleanup: () => void}
let cert: TestCertificate

beforeAll(async () => {
  await requireTool('v2ray')
  dir = tempDir('nexus-v2ray-')
  cert = await makeTestCertificate(dir.path)
})

afterAll(() => dir?.cleanup())

function render(d: Desired, n: Node): XrayServerConfig {
  const text = renderXray(new Fleet(d, state), n)
  if (text === undefined) throw new Error('expected an xray config')
  return JSON.parse(text) as XrayServerConfig
}

/** What v2ray 4.34 can read (see v2raySubset), with certificate paths swapped for a real, readable one. */
function forV2ray(config: XrayServerConfig): XrayServerConfig {
  return v2raySubset(config, cert)
}

/** The fixture node with one inbound of every transport, and rules of every shape. */
function richFleet(): {desired: Desired; node: Node} {
  const xray = node.xray as XrayConfig
  const base = xray.inbounds[1] as XrayInbound
  const ss = xray.inbounds[3] as XrayInbound
  const richNode: Node = {
    ...node,
    xray: {
      ...xray,
      inbounds: [
        ...xray.inbounds,
        {
          ...base,
          tag: 'vless-ws',
          protocol: 'vless',
          port: 10002,
          transport: {type: 'ws', path: '/vl', host: 'cdn.example.com'},
        },
        {...base, tag: 'vmess-grpc', port: 10003, transport: {type: 'grpc', serviceName: 'nexus'}},
        {...base, tag: 'trojan-hu', protocol: 'trojan', port: 10004, transport: {type: 'httpupgrade', path: '/hu'}},
        {...base, tag: 'vless-xhttp', protocol: 'vless', port: 10005, transport: {type: 'xhttp', path: '/xh'}},
        {...ss, tag: 'ss-legacy', port: 8389, method: 'chacha20-poly1305'},
      ],
      outbounds: [{tag: 'warp', protocol: 'freedom', settings: {domainStrategy: 'UseIPv4'}}],
      routing: {
        domainStrategy: 'IPIfNonMatch',
        rules: [
          {domains: ['domain:ads.example', 'full:tracker.example'], ips: [], ports: [], outbound: 'block'},
          {
            domains: [],
            ips: ['203.0.113.0/24', '2001:db8::/32'],
            ports: [{from: 53, to: 53}],
            network: 'udp',
            outbound: 'warp',
          },
        ],
      },
    },
  }
  const richDesired: Desired = {
    ...desired,
    project: {...desired.project, defaults: {...desired.project.defaults, firewall: 'deny'}},
    nodes: [richNode],
    rules: [
      ...desired.rules,
      makeRule({
        name: 'admins-web',
        action: 'allow',
        protocol: 'tcp',
        sources: [
          {kind: 'group', name: 'admins'},
          {kind: 'user', name: 'carol'},
        ],
        destinations: [
          {kind: 'cidr', cidr: cidr('198.51.100.0/24')},
          {kind: 'service', name: 'git'},
        ],
        ports: [
          {from: 8000, to: 8080},
          {from: 443, to: 443},
        ],
        priority: 50,
      }),
    ],
  }
  return {desired: richDesired, node: richNode}
}

describe('v2ray -test on rendered xray configs', () => {
  it('accepts the fixture node', async () => {
    const config = forV2ray(render(desired, node))
    expect(config.inbounds.map((i) => i.tag)).toEqual(['api-in', 'vless-reality', 'vmess-ws', 'trojan-tls'])
    const result = await checkV2ray(dir.path, 'fixture.json', config)
    expect(result.all).toContain('Configuration OK')
    expect(result.exitCode).toBe(0)
  })

  it('accepts a node with every transport, declared outbounds and rules, and default deny', async () => {
    const rich = richFleet()
    const config = forV2ray(render(rich.desired, rich.node))
    expect(config.inbounds.map((i) => i.tag)).toEqual(['api-in', 'vless-reality', 'vmess-ws', 'trojan-tls', 'vless-ws'])
    expect(config.routing.rules.at(-1)).toEqual({type: 'field', network: 'tcp,udp', outboundTag: 'block'})
    const result = await checkV2ray(dir.path, 'rich.json', config)
    expect(result.all).toContain('Configuration OK')
    expect(result.exitCode).toBe(0)
  })

  it('catches a broken client UUID, so a pass above means something', async () => {
    const config = forV2ray(render(desired, node))
    const broken: XrayServerConfig = {
      ...config,
      inbounds: config.inbounds.map((inbound) =>
        inbound.tag === 'vmess-ws' && 'clients' in inbound.settings
          ? {...inbound, settings: {clients: inbound.settings.clients.map((c) => ({...c, id: 'not-a-uuid'}))}}
          : inbound,
      ),
    }
    const result = await checkV2ray(dir.path, 'broken-uuid.json', broken)
    expect(result.exitCode).not.toBe(0)
    expect(result.all).not.toContain('Configuration OK')
    expect(result.all).toMatch(/failed to parse ID/i)
  })

  it('catches an unreadable certificate path, which is why the test swaps in a real one', async () => {
    const result = await checkV2ray(dir.path, 'unswapped.json', v2raySubset(render(desired, node)))
    expect(result.exitCode).not.toBe(0)
    expect(result.all).toContain('/etc/nexus/tls/fullchain.pem')
  })
})
