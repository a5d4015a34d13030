import {describe, expect, it} from 'vitest'

import {deriveShadowsocksUserKey} from '../../../src/crypto/keys.js'
import type {Desired, Node, Rule, Service, XrayConfig, XrayInbound} from '../../../src/model/desired.js'
import {Fleet} from '../../../src/model/fleet.js'
import type {StateValues} from '../../../src/model/state-values.js'
import {
  formatHostPort,
  formatPortList,
  renderXray,
  XRAY_PREVIEW_NOTE,
  type XrayServerConfig,
  xrayDomainPattern,
} from '../../../src/render/xray.js'
import type {
  Shadowsocks2022Settings,
  ShadowsocksLegacySettings,
  VlessSettings,
  XrayInboundJson,
  XrayRuleJson,
} from '../../../src/render/xray-types.js'
import {makeRule} from '../../helpers/builders.js'
import {cidr, desired, ip, KEYS, node, state, UUIDS} from '../../helpers/fixture.js'
import {expectGolden} from '../../helpers/golden.js'
import {route} from './xray-route.js'

const fixtureXray = node.xray as XrayConfig

function render(d: Desired = desired, n: Node = node, s: StateValues = state): string {
  const text = renderXray(new Fleet(d, s), n)
  if (text === undefined) throw new Error('expected an xray config')
  return text
}

function config(d: Desired = desired, n: Node = node, s: StateValues = state): XrayServerConfig {
  return JSON.parse(render(d, n, s)) as XrayServerConfig
}

function nodeWith(xray: Partial<XrayConfig>): Node {
  const changed: Node = {...node, xray: {...fixtureXray, ...xray}}
  return changed
}

/** The fleet with its node replaced, so rules and tariffs see the changed node. */
function desiredWith(patch: Partial<Desired>, n: Node = node): Desired {
  return {...desired, nodes: [n], ...patch}
}

function inbound(cfg: XrayServerConfig, tag: string): XrayInboundJson {
  const found = cfg.inbounds.find((i) => i.tag === tag)
  if (!found) throw new Error(`no inbound ${tag}`)
  return found
}

function emailsOf(cfg: XrayServerConfig, tag: string): string[] {
  const settings = inbound(cfg, tag).settings
  return 'clients' in settings ? settings.clients.map((c) => c.email) : []
}

function rule(overrides: Partial<Rule> & Pick<Rule, 'name'>): Rule {
  return makeRule({action: 'deny', priority: 100, ...overrides})
}

function rulesTo(cfg: XrayServerConfig, ipText: string): XrayRuleJson[] {
  return cfg.routing.rules.filter((r) => r.ip?.includes(ipText))
}

describe('renderXray', () => {
  it('matches the golden file for the fixture node', () => {
    expectGolden('xray/fra-1.json', render())
  })

  it('renders parseable JSON with a trailing newline and the top-level keys in order', () => {
    const text = render()
    expect(text.endsWith('}\n')).toBe(true)
    const parsed = JSON.parse(text) as Record<string, unknown>
    expect(Object.keys(parsed)).toEqual(['log', 'api', 'stats', 'policy', 'inbounds', 'outbounds', 'routing'])
  })

  it('is undefined for a node without xray', () => {
    const {xray: _, ...withoutXray} = node
    expect(renderXray(new Fleet(desired, state), withoutXray)).toBeUndefined()
  })

  it('is byte-identical for identical input', () => {
    expect(render()).toBe(render())
    const reordered = desiredWith({users: [...desired.users].reverse()})
    expect(render(reordered)).toBe(render())
  })

  it('carries no preview marker inside the JSON; the note is exported for the caller', () => {
    const preview = config(desired, node, {...state, preview: true})
    expect(Object.keys(preview)).not.toContain('//')
    expect(render(desired, node, {...state, preview: true})).toBe(render())
    expect(XRAY_PREVIEW_NOTE).toMatch(/PREVIEW/)
  })

  it('puts the API first in classic mode: dokodemo-door inbound and the first routing rule', () => {
    const cfg = config()
    expect(cfg.api).toEqual({tag: 'api', services: ['HandlerService', 'StatsService']})
    expect(cfg.inbounds[0]).toEqual({
      tag: 'api-in',
      listen: '127.0.0.1',
      port: 10085,
      protocol: 'dokodemo-door',
      settings: {address: '127.0.0.1'},
    })
    expect(cfg.routing.rules[0]).toEqual({type: 'field', inboundTag: ['api-in'], outboundTag: 'api'})
  })

  describe('clients', () => {
    it('lists only active users whose tariff allows the protocol', () => {
      const cfg = config()
      const pro = ['alice.default@nexus', 'alice.phone@nexus']
      expect(emailsOf(cfg, 'vless-reality')).toEqual(pro)
      expect(emailsOf(cfg, 'trojan-tls')).toEqual(pro)
      expect(emailsOf(cfg, 'ss2022')).toEqual(pro)
      expect(emailsOf(cfg, 'vmess-ws')).toEqual([...pro, 'bob.default@nexus', 'carol.default@nexus'])
      expect(render()).not.toContain('dave')
    })

    it('drops a user whose subscription is not active', () => {
      const cfg = config(desired, node, {...state, activeUsers: new Set(['alice', 'carol'])})
      expect(emailsOf(cfg, 'vmess-ws')).not.toContain('bob.default@nexus')
    })

    it('gives every vless client the vision flow and sets decryption none', () => {
      const settings = inbound(config(), 'vless-reality').settings as VlessSettings
      expect(settings.decryption).toBe('none')
      expect(settings.clients.length).toBeGreaterThan(0)
      for (const client of settings.clients) expect(client.flow).toBe('xtls-rprx-vision')
      expect(settings.clients[0]).toEqual({
        id: UUIDS['alice/default'],
        flow: 'xtls-rprx-vision',
        email: 'alice.default@nexus',
        level: 0,
      })
    })

    it('omits flow when the inbound declares none', () => {
      const [vless] = fixtureXray.inbounds
      const {flow: _, ...noFlow} = vless as XrayInbound
      const n = nodeWith({inbounds: [noFlow]})
      const settings = inbound(config(desiredWith({}, n), n), 'vless-reality').settings as VlessSettings
      for (const client of settings.clients) expect('flow' in client).toBe(false)
    })

    it('uses the link UUID as trojan password', () => {
      const settings = inbound(config(), 'trojan-tls').settings
      expect('clients' in settings && settings.clients[0]).toEqual({
        password: UUIDS['alice/default'],
        email: 'alice.default@nexus',
        level: 0,
      })
    })

    it('keeps emails lower-case and unique within each inbound', () => {
      const cfg = config()
      for (const tag of fixtureXray.inbounds.map((i) => i.tag)) {
        const emails = emailsOf(cfg, tag)
        expect(new Set(emails.map((e) => e.toLowerCase())).size).toBe(emails.length)
        for (const email of emails) {
          expect(email).toBe(email.toLowerCase())
          expect(email).not.toContain('>>>')
        }
      }
    })

    it('never writes the `users` alias', () => {
      expect(render()).not.toContain('"users"')
    })
  })

  describe('shadowsocks', () => {
    it('lays out SS-2022 as server PSK on top and derived per-client keys without method', () => {
      const settings = inbound(config(), 'ss2022').settings as Shadowsocks2022Settings
      expect(Object.keys(settings)).toEqual(['method', 'password', 'clients', 'network'])
      expect(settings.method).toBe('2022-blake3-aes-128-gcm')
      expect(settings.password).toBe(KEYS.shadowsocks)
      expect(settings.network).toBe('tcp,udp')
      expect(settings.clients[0]).toEqual({
        password: deriveShadowsocksUserKey(UUIDS['alice/default'], 'ss2022', '2022-blake3-aes-128-gcm'),
        email: 'alice.default@nexus',
        level: 0,
      })
      for (const client of settings.clients) {
        expect('method' in client).toBe(false)
        expect(Buffer.from(client.password, 'base64')).toHaveLength(16)
      }
    })

    it('gives every legacy AEAD client its own method and key, with no top-level key', () => {
      const legacy: XrayInbound = {...(fixtureXray.inbounds[3] as XrayInbound), tag: 'ss-legacy', method: 'aes-256-gcm'}
      const n = nodeWith({inbounds: [legacy]})
      const settings = inbound(config(desiredWith({}, n), n), 'ss-legacy').settings as ShadowsocksLegacySettings
      expect(Object.keys(settings)).toEqual(['clients', 'network'])
      expect(settings.network).toBe('tcp,udp')
      expect(settings.clients).toHaveLength(2)
      for (const client of settings.clients) {
        expect(Object.keys(client)).toEqual(['method', 'password', 'email', 'level'])
        expect(client.method).toBe('aes-256-gcm')
        expect(Buffer.from(client.password, 'base64')).toHaveLength(32)
      }
      expect(settings.clients[1]?.password).toBe(
        deriveShadowsocksUserKey(UUIDS['alice/phone'], 'ss-legacy', 'aes-256-gcm'),
      )
    })

    it('refuses 2022 chacha20, which has no multi-user mode', () => {
      const chacha: XrayInbound = {...(fixtureXray.inbounds[3] as XrayInbound), method: '2022-blake3-chacha20-poly1305'}
      const n = nodeWith({inbounds: [chacha]})
      expect(() => render(desiredWith({}, n), n)).toThrow(/chacha20.*multi-user/)
    })
  })

  describe('stream settings', () => {
    it('takes the REALITY private key from state and writes only server-side fields', () => {
      const stream = inbound(config(), 'vless-reality').streamSettings
      expect(stream?.network).toBe('tcp')
      expect(stream?.security).toBe('reality')
      expect(stream?.realitySettings).toEqual({
        target: 'www.example.com:443',
        serverNames: ['www.example.com'],
        privateKey: KEYS.reality.privateKey,
        shortIds: ['6d44678d93a3b4f6', '0123'],
        minClientVer: '1.8.0',
      })
      expect(render()).not.toContain(KEYS.reality.publicKey)
      expect(render()).not.toContain('"show"')
    })

    it('writes tls certificates, serverName and alpn', () => {
      expect(inbound(config(), 'trojan-tls').streamSettings).toEqual({
        network: 'tcp',
        security: 'tls',
        tlsSettings: {
          serverName: 'fra-1.vpn.example.com',
          alpn: ['h2', 'http/1.1'],
          certificates: [{certificateFile: '/etc/nexus/tls/fullchain.pem', keyFile: '/etc/nexus/tls/privkey.pem'}],
        },
      })
    })

    it('renders every transport under its own settings key, never raw or quic', () => {
      const base = fixtureXray.inbounds[1] as XrayInbound
      const inbounds: XrayInbound[] = [
        {...base, tag: 'ws', transport: {type: 'ws', path: '/ws', host: 'cdn.example.com'}},
        {...base, tag: 'grpc', transport: {type: 'grpc', serviceName: 'nexus'}},
        {...base, tag: 'hu', transport: {type: 'httpupgrade', path: '/hu'}},
        {...base, tag: 'xh', transport: {type: 'xhttp', path: '/xh', host: 'x.example.com'}},
      ]
      const n = nodeWith({inbounds})
      const cfg = config(desiredWith({}, n), n)
      expect(inbound(cfg, 'ws').streamSettings?.wsSettings).toEqual({path: '/ws', host: 'cdn.example.com'})
      expect(inbound(cfg, 'grpc').streamSettings?.grpcSettings).toEqual({serviceName: 'nexus'})
      expect(inbound(cfg, 'hu').streamSettings?.httpupgradeSettings).toEqual({path: '/hu'})
      expect(inbound(cfg, 'xh').streamSettings?.xhttpSettings).toEqual({path: '/xh', host: 'x.example.com'})
      const text = render()
      expect(text).not.toContain('"raw"')
      expect(text).not.toContain('quic')
    })

    it('sniffs http and tls for routing only', () => {
      for (const tag of fixtureXray.inbounds.map((i) => i.tag)) {
        expect(inbound(config(), tag).sniffing).toEqual({enabled: true, destOverride: ['http', 'tls'], routeOnly: true})
      }
    })

    it('throws naming node and tag when a secret is missing from state', () => {
      const noReality: StateValues = {
        ...state,
        nodes: new Map([
          ['fra-1', {wireguard: new Map(), reality: new Map(), shadowsocks: new Map([['ss2022', KEYS.shadowsocks]])}],
        ]),
      }
      expect(() => render(desired, node, noReality)).toThrow(/fra-1.*vless-reality/)
      const noSs: StateValues = {
        ...state,
        nodes: new Map([
          [
            'fra-1',
            {wireguard: new Map(), reality: new Map([['vless-reality', KEYS.reality]]), shadowsocks: new Map()},
          ],
        ]),
      }
      expect(() => render(desired, node, noSs)).toThrow(/fra-1.*ss2022/)
      expect(() => render(desired, node, {...state, nodes: new Map()})).toThrow(/fra-1/)
    })
  })

  describe('outbounds', () => {
    it('starts with direct, then block, then one redirecting freedom per service, then declared ones', () => {
      const declared = {tag: 'warp', protocol: 'wireguard', settings: {secretKey: 'x'}}
      const n = nodeWith({outbounds: [declared]})
      expect(config(desiredWith({}, n), n).outbounds).toEqual([
        {tag: 'direct', protocol: 'freedom'},
        {tag: 'block', protocol: 'blackhole'},
        {tag: 'svc-git', protocol: 'freedom', settings: {redirect: '10.10.0.10:0'}},
        declared,
      ])
    })

    it('brackets an IPv6 redirect target', () => {
      const [git] = desired.services as [Service]
      const v6: Service = {...git, target: {...git.target, addresses: [ip('fd10::10')]}}
      expect(config(desiredWith({services: [v6]})).outbounds[2]).toEqual({
        tag: 'svc-git',
        protocol: 'freedom',
        settings: {redirect: '[fd10::10]:0'},
      })
    })
  })

  describe('routing', () => {
    it('gates services after the fleet rules: members to the service, then everyone else blocked', () => {
      const rules = config().routing.rules
      const members = ['alice.default@nexus', 'alice.phone@nexus', 'carol.default@nexus']
      const domains = ['full:git.corp.example', 'regexp:^[^.]+\\.wiki\\.corp\\.example$']
      const targets = ['10.10.0.10', 'fd10::10']
      // No allow rule reaches git, so no non-member needs blocking before the rules.
      expect(rules[1]).toEqual({type: 'field', port: '25,465', network: 'tcp', outboundTag: 'block'})
      const gate = rules.findIndex((r) => r.outboundTag === 'svc-git')
      expect(gate).toBeGreaterThan(rules.findLastIndex((r) => r.port === '25,465'))
      expect(rules.slice(gate, gate + 4)).toEqual([
        {type: 'field', user: members, domain: domains, port: '22,443', outboundTag: 'svc-git'},
        {type: 'field', user: members, ip: targets, port: '22,443', outboundTag: 'direct'},
        {type: 'field', domain: domains, outboundTag: 'block'},
        {type: 'field', ip: targets, port: '22,443', outboundTag: 'block'},
      ])
      expect(rules.slice(gate + 4)).toEqual([])
    })

    describe('a deny rule on a service applies to its members, as in nftables', () => {
      const denyAlice = rule({
        name: 'no-git-for-alice',
        sources: [{kind: 'user', name: 'alice'}],
        destinations: [{kind: 'service', name: 'git'}],
      })
      const cfg = () => config(desiredWith({rules: [...desired.rules, denyAlice]}))

      it('blocks the member from the target addresses and from the domains', () => {
        for (const user of ['alice.default@nexus', 'alice.phone@nexus']) {
          expect(route(cfg(), {user, to: '10.10.0.10', port: 443})).toBe('block')
          expect(route(cfg(), {user, to: 'fd10::10', port: 22})).toBe('block')
          expect(route(cfg(), {user, to: 'git.corp.example', port: 443})).toBe('block')
          expect(route(cfg(), {user, to: 'team.wiki.corp.example', port: 22})).toBe('block')
        }
      })

      it('leaves the other members their access', () => {
        const user = 'carol.default@nexus'
        expect(route(cfg(), {user, to: 'git.corp.example', port: 443})).toBe('svc-git')
        expect(route(cfg(), {user, to: '10.10.0.10', port: 443})).toBe('direct')
        expect(route(cfg(), {user, to: 'git.corp.example', port: 80})).toBe('block')
        expect(route(cfg(), {user: 'bob.default@nexus', to: 'git.corp.example', port: 443})).toBe('block')
      })

      it('renders the deny, domains first, before the members are admitted', () => {
        const rules = cfg().routing.rules
        const deny = rules.findIndex((r) => r.user?.[0] === 'alice.default@nexus' && r.outboundTag === 'block')
        expect(rules.slice(deny, deny + 2)).toEqual([
          {
            type: 'field',
            user: ['alice.default@nexus', 'alice.phone@nexus'],
            domain: ['full:git.corp.example', 'regexp:^[^.]+\\.wiki\\.corp\\.example$'],
            outboundTag: 'block',
          },
          {
            type: 'field',
            user: ['alice.default@nexus', 'alice.phone@nexus'],
            ip: ['10.10.0.10', 'fd10::10'],
            outboundTag: 'block',
          },
        ])
        expect(deny).toBeLessThan(rules.findIndex((r) => r.outboundTag === 'svc-git'))
      })

      it('also when the rule names a prefix holding the service address, on the ports it names', () => {
        const lan = rule({
          name: 'alice-no-dc-https',
          sources: [{kind: 'user', name: 'alice'}],
          destinations: [{kind: 'cidr', cidr: cidr('10.10.0.0/16')}],
          ports: [{from: 443, to: 443}],
          protocol: 'tcp',
        })
        const c = config(desiredWith({rules: [lan]}))
        const user = 'alice.default@nexus'
        expect(route(c, {user, to: 'git.corp.example', port: 443})).toBe('block')
        expect(route(c, {user, to: '10.10.0.10', port: 443})).toBe('block')
        expect(route(c, {user, to: 'git.corp.example', port: 22})).toBe('svc-git')
        expect(route(c, {user, to: '10.10.0.10', port: 22})).toBe('direct')
      })
    })

    describe('an allow rule never opens a service to a non-member', () => {
      const bob = 'bob.default@nexus'

      it('blocks the non-members an allow rule to the target prefix names, before that rule', () => {
        const dc = rule({
          name: 'guests-to-dc',
          action: 'allow',
          priority: 1000,
          sources: [{kind: 'user', name: 'bob'}],
          destinations: [{kind: 'cidr', cidr: cidr('10.0.0.0/8')}],
        })
        const c = config(desiredWith({rules: [dc]}))
        expect(route(c, {user: bob, to: '10.10.0.10', port: 443})).toBe('block')
        expect(route(c, {user: bob, to: 'git.corp.example', port: 443})).toBe('block')
        expect(route(c, {user: bob, to: '10.10.0.11', port: 443})).toBe('direct')
        expect(c.routing.rules.slice(1, 3)).toEqual([
          {
            type: 'field',
            user: [bob],
            domain: ['full:git.corp.example', 'regexp:^[^.]+\\.wiki\\.corp\\.example$'],
            outboundTag: 'block',
          },
          {type: 'field', user: [bob], ip: ['10.10.0.10', 'fd10::10'], port: '22,443', outboundTag: 'block'},
        ])
      })

      it('blocks every non-member here when the allow rule has no source', () => {
        const everyone = rule({name: 'everyone-to-dc', action: 'allow', destinations: [{kind: 'service', name: 'git'}]})
        const c = config(desiredWith({rules: [everyone]}))
        expect(route(c, {user: bob, to: 'fd10::10', port: 22})).toBe('block')
        expect(route(c, {user: 'alice.phone@nexus', to: 'fd10::10', port: 22})).toBe('direct')
        expect(c.routing.rules[1]?.user).toEqual([bob])
      })

      it('adds nothing when no allow rule reaches a service target', () => {
        const other = rule({
          name: 'bob-elsewhere',
          action: 'allow',
          sources: [{kind: 'user', name: 'bob'}],
          destinations: [{kind: 'cidr', cidr: cidr('10.20.0.0/16')}],
        })
        const rules = config(desiredWith({rules: [other]})).routing.rules
        expect(rules.filter((r) => r.user?.includes(bob) && r.outboundTag === 'block')).toEqual([])
      })

      it('steers members to the service when an allow rule to anywhere would send its domains out directly', () => {
        const project = {...desired.project, defaults: {...desired.project.defaults, firewall: 'deny' as const}}
        const anywhere = rule({name: 'all-web', action: 'allow', ports: [{from: 443, to: 443}]})
        const c = config(desiredWith({project, rules: [anywhere]}))
        expect(route(c, {user: 'carol.default@nexus', to: 'git.corp.example', port: 443})).toBe('svc-git')
        expect(route(c, {user: 'carol.default@nexus', to: 'example.org', port: 443})).toBe('direct')
        expect(route(c, {user: bob, to: 'git.corp.example', port: 443})).toBe('block')
        expect(route(c, {user: bob, to: 'example.org', port: 443})).toBe('direct')
        expect(route(c, {user: bob, to: 'example.org', port: 80})).toBe('block')
      })
    })

    it('emits only the block rules for a service whose members have no client here', () => {
      const [git] = desired.services as [Service]
      const daveOnly: Service = {...git, access: {groups: [], users: ['dave']}}
      const rules = config(desiredWith({services: [daveOnly]})).routing.rules
      expect(rules.slice(-2)).toEqual([
        {
          type: 'field',
          domain: ['full:git.corp.example', 'regexp:^[^.]+\\.wiki\\.corp\\.example$'],
          outboundTag: 'block',
        },
        {type: 'field', ip: ['10.10.0.10', 'fd10::10'], port: '22,443', outboundTag: 'block'},
      ])
      expect(rules.some((r) => r.outboundTag === 'svc-git')).toBe(false)
    })

    it('translates allow and deny rules with users, destinations, ports and network', () => {
      const rules = config().routing.rules
      expect(rules).toContainEqual({
        type: 'field',
        user: ['alice.default@nexus', 'alice.phone@nexus'],
        ip: ['192.168.0.0/16', 'fd00:1::/48'],
        outboundTag: 'direct',
      })
      expect(rules).toContainEqual({
        type: 'field',
        user: ['bob.default@nexus'],
        ip: ['192.168.0.0/16', '10.10.0.10', 'fd10::10'],
        outboundTag: 'block',
      })
    })

    it('skips rate_limit, log, icmp and ingress-only rules', () => {
      const ingress = rule({
        name: 'in',
        direction: 'ingress',
        destinations: [{kind: 'cidr', cidr: cidr('198.51.100.0/24')}],
      })
      const rules = config(desiredWith({rules: [...desired.rules, ingress]})).routing.rules
      expect(rules.some((r) => r.port === '53')).toBe(false)
      expect(rules.some((r) => r.port === '22' && r.ip?.includes('10.0.0.0/8'))).toBe(false)
      expect(rulesTo(config(desiredWith({rules: [ingress]})), '198.51.100.0/24')).toEqual([])
      // 3 fleet rules survive of the fixture's 6: block-smtp, admins-to-lan, guests-no-lan
      // (which reaches git, so it blocks git's domains too).
      expect(rules).toHaveLength(1 + 3 + 1 + 4)
    })

    it('skips a rule whose user or group sources resolve to nobody here, never widening it to everyone', () => {
      const lan = {kind: 'cidr', cidr: cidr('172.16.0.0/12')} as const
      const cases: Rule[] = [
        rule({name: 'disabled-user', action: 'allow', sources: [{kind: 'user', name: 'dave'}], destinations: [lan]}),
        rule({name: 'unknown-user', action: 'allow', sources: [{kind: 'user', name: 'nobody'}], destinations: [lan]}),
        rule({name: 'wg-only-group', action: 'allow', sources: [{kind: 'group', name: 'guests'}], destinations: [lan]}),
        rule({
          name: 'cidr-only',
          action: 'allow',
          sources: [{kind: 'cidr', cidr: cidr('10.66.0.0/24')}],
          destinations: [lan],
        }),
        rule({
          name: 'mixed',
          action: 'allow',
          sources: [
            {kind: 'user', name: 'dave'},
            {kind: 'cidr', cidr: cidr('10.66.0.0/24')},
          ],
          destinations: [lan],
        }),
      ]
      // bob is the only guest; without an active subscription he has no client.
      const s: StateValues = {...state, activeUsers: new Set(['alice', 'carol'])}
      expect(rulesTo(config(desiredWith({rules: cases}), node, s), '172.16.0.0/12')).toEqual([])
    })

    it('skips a rule whose destinations are all peers, and one with source ports', () => {
      const cases: Rule[] = [
        rule({
          name: 'to-peer',
          destinations: [
            {kind: 'user', name: 'bob'},
            {kind: 'group', name: 'admins'},
          ],
        }),
        rule({
          name: 'src-port',
          destinations: [{kind: 'cidr', cidr: cidr('203.0.113.0/24')}],
          sourcePorts: [{from: 1000, to: 2000}],
        }),
      ]
      const rules = config(desiredWith({rules: cases})).routing.rules
      expect(rules.filter((r) => r.outboundTag === 'block' && r.ip === undefined && r.domain === undefined)).toEqual([])
      expect(rulesTo(config(desiredWith({rules: cases})), '203.0.113.0/24')).toEqual([])
    })

    it('keeps a group source to its members on this node', () => {
      const r = rule({
        name: 'admins-web',
        action: 'allow',
        sources: [{kind: 'group', name: 'admins'}],
        protocol: 'udp',
        ports: [
          {from: 8000, to: 8080},
          {from: 443, to: 443},
        ],
      })
      expect(config(desiredWith({rules: [r]})).routing.rules).toContainEqual({
        type: 'field',
        user: ['alice.default@nexus', 'alice.phone@nexus'],
        port: '443,8000-8080',
        network: 'udp',
        outboundTag: 'direct',
      })
    })

    it('gives a condition-less rule an explicit network, since Xray refuses a rule with no fields', () => {
      const all = rule({name: 'deny-all'})
      expect(config(desiredWith({rules: [all]})).routing.rules[1]).toEqual({
        type: 'field',
        network: 'tcp,udp',
        outboundTag: 'block',
      })
    })

    it('appends the node declared rules after the fleet rules', () => {
      const n = nodeWith({
        routing: {
          domainStrategy: 'IPIfNonMatch',
          rules: [
            {domains: ['geosite:category-ads'], ips: [], ports: [], outbound: 'block'},
            {domains: [], ips: ['203.0.113.7'], ports: [{from: 53, to: 53}], network: 'udp', outbound: 'direct'},
          ],
        },
      })
      const routing = config(desiredWith({}, n), n).routing
      expect(routing.domainStrategy).toBe('IPIfNonMatch')
      expect(routing.rules.slice(-2)).toEqual([
        {type: 'field', domain: ['geosite:category-ads'], outboundTag: 'block'},
        {type: 'field', ip: ['203.0.113.7'], port: '53', network: 'udp', outboundTag: 'direct'},
      ])
    })

    it('ends with a catch-all block when the project firewall default is deny', () => {
      const deny = desiredWith({
        project: {...desired.project, defaults: {...desired.project.defaults, firewall: 'deny'}},
      })
      expect(config(deny).routing.rules.at(-1)).toEqual({type: 'field', network: 'tcp,udp', outboundTag: 'block'})
      expect(config().routing.rules.at(-1)?.network).not.toBe('tcp,udp')
    })

    it('always writes type field', () => {
      for (const r of config().routing.rules) expect(r.type).toBe('field')
    })
  })

  it('renders 10k users on four inbounds quickly', () => {
    const users = Array.from({length: 10_000}, (_, i) => ({
      name: `user-${String(i).padStart(5, '0')}`,
      status: 'active' as const,
      tariff: 'pro',
      groups: i % 2 === 0 ? ['admins'] : ['guests'],
      subscription: {cancelled: false},
      links: ['default', 'phone'],
    }))
    const links = new Map<string, string>()
    for (const [i, u] of users.entries()) {
      for (const link of u.links)
        links.set(
          `${u.name}/${link}`,
          `00000000-0000-4000-8000-${String(i).padStart(11, '0')}${link === 'phone' ? '1' : '0'}`,
        )
    }
    const big = desiredWith({users})
    const s: StateValues = {...state, links, activeUsers: new Set(users.map((u) => u.name))}
    const cfg = config(big, node, s)
    expect(emailsOf(cfg, 'vless-reality')).toHaveLength(20_000)
  })
})

describe('xray helpers', () => {
  it('formats port lists sorted, ranges with a dash', () => {
    expect(
      formatPortList([
        {from: 8000, to: 8080},
        {from: 443, to: 443},
        {from: 22, to: 22},
        {from: 22, to: 22},
      ]),
    ).toBe('22,443,8000-8080')
  })

  it('maps exact domains to full: and single-label wildcards to an anchored regexp', () => {
    expect(xrayDomainPattern('Git.Corp.Example')).toBe('full:git.corp.example')
    const pattern = xrayDomainPattern('*.wiki.corp.example')
    expect(pattern).toBe('regexp:^[^.]+\\.wiki\\.corp\\.example$')
    const re = new RegExp(pattern.slice('regexp:'.length))
    expect(re.test('team.wiki.corp.example')).toBe(true)
    expect(re.test('wiki.corp.example')).toBe(false)
    expect(re.test('a.b.wiki.corp.example')).toBe(false)
    expect(re.test('teamXwiki.corp.example')).toBe(false)
  })

  it('brackets IPv6 hosts', () => {
    expect(formatHostPort('10.10.0.10', 0)).toBe('10.10.0.10:0')
    expect(formatHostPort('fd10::10', 443)).toBe('[fd10::10]:443')
  })
})

describe('renderXray across the nodes of one render', () => {
  // Routing rules are built once per distinct (xray users, rules, services, declared routing)
  // and shared between nodes: sharing must never change what any node gets.
  const twin: Node = {...node, name: 'fra-2'}
  const elsewhere: Node = {...node, name: 'nyc-1', labels: {region: 'us'}}
  const fleetDesired: Desired = {...desired, nodes: [node, twin, elsewhere]}
  const fleetState: StateValues = {
    ...state,
    nodes: new Map([
      ['fra-1', state.nodes.get('fra-1')!],
      ['fra-2', state.nodes.get('fra-1')!],
      ['nyc-1', state.nodes.get('fra-1')!],
    ]),
  }
  const routingOf = (text: string | undefined) => JSON.stringify((JSON.parse(text ?? '{}') as XrayServerConfig).routing)

  it('gives each node what a render of that node alone gives it', () => {
    const shared = new Fleet(fleetDesired, fleetState)
    for (const n of [node, twin, elsewhere, node]) {
      expect(renderXray(shared, n)).toBe(renderXray(new Fleet(fleetDesired, fleetState), n))
    }
  })

  it('shares nothing between nodes whose users or rules differ', () => {
    const shared = new Fleet(fleetDesired, fleetState)
    const [eu, twinEu, us] = [node, twin, elsewhere].map((n) => routingOf(renderXray(shared, n)))
    expect(twinEu).toBe(eu)
    // alice's tariff and the region rule are for eu nodes only.
    expect(us).not.toBe(eu)
    expect(eu).toContain('alice')
    expect(us).not.toContain('alice')
  })
})
