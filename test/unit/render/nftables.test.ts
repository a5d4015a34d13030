import {describe, expect, it} from 'vitest'

import type {Desired, Node, Peer, Rule, Service, User} from '../../../src/model/desired.js'
import {Fleet} from '../../../src/model/fleet.js'
import type {StateValues} from '../../../src/model/state-values.js'
import {renderNftables} from '../../../src/render/nftables.js'
import {makeRule} from '../../helpers/builders.js'
import {cidr, desired, ip, node, state} from '../../helpers/fixture.js'
import {expectGolden} from '../../helpers/golden.js'

// ------------------------------------------------------------------ helpers

function render(d: Desired = desired, s: StateValues = state, n: Node = node): string {
  return renderNftables(new Fleet(d, s), n)
}

/** The lines of a block (`chain NAME {` or `set NAME {`) without its braces and indentation. */
function block(text: string, header: string): string[] {
  const lines = text.split('\n')
  const start = lines.indexOf(`\t${header} {`)
  if (start === -1) throw new Error(`no block "${header}" in:\n${text}`)
  const end = lines.indexOf('\t}', start)
  return lines.slice(start + 1, end).map((line) => line.trim())
}

const chain = (text: string, name: string): string[] => block(text, `chain ${name}`)
const set = (text: string, name: string): string[] => block(text, `set ${name}`)
const hasBlock = (text: string, header: string): boolean => text.split('\n').includes(`\t${header} {`)

/** Rule lines carrying `comment "NAME"`, in file order. */
function tagged(lines: readonly string[], name: string): string[] {
  return lines.filter((line) => line.endsWith(`comment "${name}"`))
}

function withPeer(name: string, patch: Partial<Peer>, base: Desired = desired): Desired {
  return {...base, peers: base.peers.map((peer) => (peer.name === name ? {...peer, ...patch} : peer))}
}

function withRule(name: string, patch: Partial<Rule>, base: Desired = desired): Desired {
  return {...base, rules: base.rules.map((rule) => (rule.name === name ? {...rule, ...patch} : rule))}
}

function withService(name: string, patch: Partial<Service>, base: Desired = desired): Desired {
  return {...base, services: base.services.map((s) => (s.name === name ? {...s, ...patch} : s))}
}

function withUser(name: string, patch: Partial<User>, base: Desired = desired): Desired {
  return {...base, users: base.users.map((user) => (user.name === name ? {...user, ...patch} : user))}
}

function onlyRule(rule: Rule, base: Desired = desired): Desired {
  return {...base, rules: [rule]}
}

const baseRule: Rule = makeRule({name: 'probe', action: 'allow', priority: 1})

const VERDICT = /\b(accept|drop|reject|return|jump|goto|queue|continue)\b/

// ------------------------------------------------------------------ tests

describe('renderNftables', () => {
  const text = render()

  it('matches the golden file', () => {
    expectGolden('nftables/fra-1.nft', text)
  })

  it('starts with the shebang and header, and replaces only its own table', () => {
    const lines = text.split('\n')
    expect(lines[0]).toBe('#!/usr/sbin/nft -f')
    expect(lines[1]).toBe('# rendered by nexus -- do not edit')
    const create = lines.indexOf('table inet nexus')
    expect(create).toBeGreaterThan(1)
    expect(lines[create + 1]).toBe('delete table inet nexus')
    expect(lines.indexOf('table inet nexus {')).toBeGreaterThan(create + 1)
    expect(text).not.toMatch(/flush ruleset|destroy table/)
    expect(text.endsWith('}\n')).toBe(true)
    expect(text).not.toMatch(/^ +/m)
  })

  it('carries the preview notice when the state is a preview', () => {
    const preview = render(desired, {...state, preview: true})
    expect(preview.split('\n')[2]).toMatch(/^# PREVIEW: /)
  })

  it('uses policy accept on every base chain', () => {
    const policies = text.match(/policy \w+;/g) ?? []
    expect(policies).toEqual(['policy accept;', 'policy accept;', 'policy accept;'])
  })

  describe('input', () => {
    it('accepts SSH first, before any drop anywhere in the file', () => {
      const input = chain(text, 'nx_input')
      expect(input[0]).toBe('type filter hook input priority filter; policy accept;')
      const rules = input.slice(1).filter((line) => !line.startsWith('#'))
      expect(rules[0]).toMatch(/^tcp dport 22 accept comment /)
      const lines = text.split('\n')
      const ssh = lines.findIndex((line) => line.includes('tcp dport 22 accept'))
      const firstDrop = lines.findIndex((line) => !line.trim().startsWith('#') && /\bdrop\b/.test(line))
      expect(ssh).toBeGreaterThan(0)
      expect(firstDrop).toBeGreaterThan(ssh)
      // Every other chain is reached only by a jump after it; no second input hook could drop first.
      expect(text.match(/hook input/g)).toHaveLength(1)
    })

    it('uses the node SSH port', () => {
      const custom = render({...desired}, state, {...node, ssh: {...node.ssh, port: 2222}})
      expect(chain(custom, 'nx_input')[2]).toMatch(/^tcp dport 2222 accept/)
    })

    it('filters only tunnel traffic: conntrack, anti-spoofing, DNS, then the egress rules', () => {
      expect(chain(text, 'nx_input').slice(3)).toEqual([
        'iifname != "wg0" accept',
        'ct state established,related accept',
        'ct state invalid drop',
        'jump nx_antispoof',
        'udp dport 53 counter accept comment "nexus dns"',
        'tcp dport 53 counter accept comment "nexus dns"',
        'jump nx_egress',
      ])
    })

    it('does not open DNS when the node runs no resolver', () => {
      const noDns = render(desired, state, {...node, dns: {...node.dns, enabled: false}})
      expect(noDns).not.toContain('dport 53 counter accept')
      expect(chain(noDns, 'nx_input')).toContain('jump nx_egress')
    })
  })

  describe('forward', () => {
    it('leaves non-tunnel traffic alone and splits egress from ingress', () => {
      expect(chain(text, 'nx_forward')).toEqual([
        'type filter hook forward priority filter; policy accept;',
        'iifname != "wg0" oifname != "wg0" accept',
        'ct state established,related accept',
        'ct state invalid drop',
        'iifname "wg0" jump nx_antispoof',
        'iifname "wg0" jump nx_egress',
        'jump nx_ingress',
      ])
    })

    it('names every tunnel when the node has several interfaces', () => {
      const wg0 = node.interfaces[0]
      if (!wg0) throw new Error('fixture has wg0')
      const two: Node = {
        ...node,
        interfaces: [{...wg0, name: 'wg1', addresses: [cidr('10.67.0.1/24')], listenPort: 51821, nat: false}, wg0],
      }
      const d: Desired = {
        ...desired,
        nodes: [two],
        peers: [
          ...desired.peers,
          {...(desired.peers[0] as Peer), name: 'alice-tablet', interface: 'wg1', addresses: [ip('10.67.0.2')]},
        ],
      }
      const out = render(
        d,
        {...state, addresses: new Map([...state.addresses, ['alice-tablet', [ip('10.67.0.2')]]])},
        two,
      )
      expect(chain(out, 'nx_forward')[1]).toBe('iifname != { "wg0", "wg1" } oifname != { "wg0", "wg1" } accept')
      expect(set(out, 'nx_peers_v4')).toContain('10.67.0.2,')
      expect(set(out, 'g_admins_v4')).toEqual(expect.arrayContaining(['10.66.0.2,', '10.67.0.2,']))
      // Only wg0 has nat; its traffic is masqueraded when it leaves through a non-tunnel interface.
      expect(chain(out, 'nx_postrouting').slice(1)).toEqual([
        'ip saddr 10.66.0.0/24 oifname != { "wg0", "wg1" } masquerade comment "nat wg0"',
        'ip6 saddr fd66::/64 oifname != { "wg0", "wg1" } masquerade comment "nat wg0"',
      ])
    })
  })

  describe('anti-spoofing', () => {
    it('admits peer addresses and allowedIPs, logs and drops anything else', () => {
      expect(set(text, 'nx_peers_v4')).toEqual([
        'type ipv4_addr',
        'flags interval',
        'elements = {',
        '10.66.0.2,',
        '10.66.0.3,',
        '10.66.0.4,',
        '10.66.0.250,',
        '192.168.50.0/24,',
        '}',
      ])
      expect(chain(text, 'nx_antispoof')).toEqual([
        'ip saddr @nx_peers_v4 return',
        'ip6 saddr @nx_peers_v6 return',
        'counter log prefix "nexus unknown-peer: " level info drop',
      ])
    })

    it('merges overlapping networks so nft sees no conflicting intervals', () => {
      const d = withPeer('office-router', {
        allowedIPs: [cidr('192.168.50.0/24'), cidr('192.168.0.0/16'), cidr('10.66.0.250/32')],
      })
      const elements = set(render(d), 'nx_peers_v4')
      expect(elements).toContain('192.168.0.0/16,')
      expect(elements).not.toContain('192.168.50.0/24,')
      expect(elements.filter((line) => line === '10.66.0.250,')).toHaveLength(1)
    })
  })

  describe('peers that must not appear', () => {
    it('leaves out disabled peers and users without an active subscription', () => {
      const d = withPeer('alice-laptop', {enabled: false})
      const s: StateValues = {...state, activeUsers: new Set(['alice', 'bob'])}
      const out = render(d, s)
      for (const gone of ['10.66.0.2', 'fd66::2', '10.66.0.4', 'fd66::4']) {
        expect(out).not.toMatch(new RegExp(`[\\s{]${gone.replaceAll('.', '\\.')}[,\\s]`))
      }
      expect(set(out, 'nx_peers_v4')).toContain('10.66.0.3,')
    })

    it('leaves out users whose status is not active', () => {
      const out = render(withUser('carol', {status: 'disabled'}))
      expect(set(out, 'nx_peers_v4')).not.toContain('10.66.0.4,')
    })
  })

  describe('rules', () => {
    const egress = chain(text, 'nx_egress')

    it('keeps evaluation order: priority descending, then name', () => {
      const order = egress
        .map((line) => /comment "([^"]+)"$/.exec(line)?.[1])
        .filter((n) => n && !/^(service|nexus)/.test(n))
      expect([...new Set(order)]).toEqual([
        'block-smtp',
        'limit-dns',
        'log-admin-ssh',
        'admins-to-lan',
        'guests-no-lan',
        'icmp-ok',
      ])
      const shuffled = render({...desired, rules: [...desired.rules].reverse()})
      expect(shuffled).toBe(text)
    })

    it('renders an address-free rule once for both families', () => {
      expect(tagged(egress, 'block-smtp')).toEqual([
        'tcp dport { 25, 465 } counter log prefix "nexus r=block-smtp: " level info drop comment "block-smtp"',
      ])
    })

    it('splits CIDR matches per family and never mixes them in one line', () => {
      expect(tagged(egress, 'admins-to-lan')).toEqual([
        'ip saddr @g_admins_v4 ip daddr 192.168.0.0/16 counter accept comment "admins-to-lan"',
        'ip6 saddr @g_admins_v6 ip6 daddr fd00:1::/48 counter accept comment "admins-to-lan"',
      ])
      for (const line of text.split('\n')) {
        const v4 = /\bip (saddr|daddr)|nfproto ipv4|_v4\b/.test(line)
        const v6 = /\bip6 (saddr|daddr)|nfproto ipv6|_v6\b/.test(line)
        expect(v4 && v6, line).toBe(false)
      }
    })

    it('renders a v4-only destination in the v4 family only', () => {
      expect(tagged(egress, 'log-admin-ssh')).toEqual([
        'ip saddr @g_admins_v4 ip daddr 10.0.0.0/8 tcp dport 22 counter log prefix "nexus r=log-admin-ssh: " level info comment "log-admin-ssh"',
      ])
    })

    it('a log rule has no verdict, so the packet goes on to the next rule', () => {
      const [line] = tagged(egress, 'log-admin-ssh')
      expect(line).toContain('log prefix "nexus r=log-admin-ssh: " level info')
      expect(line?.replace(/comment "[^"]*"$/, '')).not.toMatch(VERDICT)
    })

    it('rate limits per source with a dynamic set and drops only what is over the rate', () => {
      expect(set(text, 'rl_limit_dns_v4')).toEqual([
        'type ipv4_addr',
        'size 65535',
        'flags dynamic,timeout',
        'timeout 1m',
      ])
      expect(set(text, 'rl_limit_dns_v6')[0]).toBe('type ipv6_addr')
      expect(tagged(egress, 'limit-dns')).toEqual([
        'ip saddr @g_guests_v4 udp dport 53 update @rl_limit_dns_v4 { ip saddr limit rate over 100/second burst 50 packets } counter drop comment "limit-dns"',
        'ip6 saddr @g_guests_v6 udp dport 53 update @rl_limit_dns_v6 { ip6 saddr limit rate over 100/second burst 50 packets } counter drop comment "limit-dns"',
      ])
      // No accept for the rule: traffic under the rate is decided by later rules.
      expect(tagged(egress, 'limit-dns').join('\n')).not.toContain('accept')
    })

    it('rate limits an address-free rule per family, with an explicit family match', () => {
      const rule: Rule = {...baseRule, action: 'rate_limit', protocol: 'udp', rate: {pps: 5, burst: 10}, log: true}
      expect(tagged(chain(render(onlyRule(rule)), 'nx_egress'), 'probe')).toEqual([
        'meta nfproto ipv4 meta l4proto udp update @rl_probe_v4 { ip saddr limit rate over 5/second burst 10 packets } counter log prefix "nexus r=probe: " level info drop comment "probe"',
        'meta nfproto ipv6 meta l4proto udp update @rl_probe_v6 { ip6 saddr limit rate over 5/second burst 10 packets } counter log prefix "nexus r=probe: " level info drop comment "probe"',
      ])
    })

    it('matches ICMP per family', () => {
      expect(tagged(egress, 'icmp-ok')).toEqual([
        'meta nfproto ipv4 meta l4proto icmp counter accept comment "icmp-ok"',
        'meta nfproto ipv6 meta l4proto ipv6-icmp counter accept comment "icmp-ok"',
      ])
    })

    it('matches a group mixed with other endpoints in a chain of the rule, once, without copying the group', () => {
      expect(tagged(egress, 'guests-no-lan')).toEqual([
        'ip daddr { 10.10.0.10, 192.168.0.0/16 } jump r_guests_no_lan_v4 comment "guests-no-lan"',
        'ip6 daddr fd10::10 jump r_guests_no_lan_v6 comment "guests-no-lan"',
      ])
      expect(chain(text, 'r_guests_no_lan_v4')).toEqual([
        'ip saddr != @g_guests_v4 ip saddr != 10.66.0.3 return',
        'counter drop comment "guests-no-lan"',
      ])
      expect(chain(text, 'r_guests_no_lan_v6')).toEqual([
        'ip6 saddr != @g_guests_v6 ip6 saddr != fd66::3 return',
        'counter drop comment "guests-no-lan"',
      ])
      expect(text).not.toMatch(/set r_/)
    })

    it('declares a rule chain once when egress and ingress both use it', () => {
      const out = render(withRule('guests-no-lan', {direction: 'both'}))
      expect(tagged(chain(out, 'nx_ingress'), 'guests-no-lan')).toHaveLength(2)
      expect(tagged(chain(out, 'nx_egress'), 'guests-no-lan')).toHaveLength(2)
      expect(out.split('\n').filter((line) => line === '\tchain r_guests_no_lan_v4 {')).toHaveLength(1)
    })

    it('logs a packet in two groups once: both sides with several parts share one chain', () => {
      const rule: Rule = {
        ...baseRule,
        action: 'log',
        sources: [
          {kind: 'group', name: 'guests'},
          {kind: 'group', name: 'admins'},
          {kind: 'group', name: 'guests'},
        ],
        destinations: [
          {kind: 'group', name: 'admins'},
          {kind: 'cidr', cidr: cidr('10.0.0.0/8')},
        ],
      }
      const out = render(onlyRule(rule))
      expect(tagged(chain(out, 'nx_egress'), 'probe')).toEqual([
        'meta nfproto ipv4 jump r_probe_v4 comment "probe"',
        'ip6 daddr @g_admins_v6 jump r_probe_v6 comment "probe"',
      ])
      expect(chain(out, 'r_probe_v4')).toEqual([
        'ip saddr != @g_admins_v4 ip saddr != @g_guests_v4 return',
        'ip daddr != @g_admins_v4 ip daddr != 10.0.0.0/8 return',
        'counter log prefix "nexus r=probe: " level info comment "probe"',
      ])
      expect(chain(out, 'r_probe_v6')).toEqual([
        'ip6 saddr != @g_admins_v6 ip6 saddr != @g_guests_v6 return',
        'counter log prefix "nexus r=probe: " level info comment "probe"',
      ])
    })

    it('matches inline when only one part of a mixed list resolves on the node', () => {
      const rule: Rule = {
        ...baseRule,
        sources: [
          {kind: 'group', name: 'guests'},
          {kind: 'user', name: 'dave'},
        ],
      }
      const out = render(onlyRule(rule))
      expect(tagged(chain(out, 'nx_egress'), 'probe')).toEqual([
        'ip saddr @g_guests_v4 counter accept comment "probe"',
        'ip6 saddr @g_guests_v6 counter accept comment "probe"',
      ])
      expect(hasBlock(out, 'chain r_probe_v4')).toBe(false)
    })

    it('skips a rule whose group has no peers on the node instead of widening it to any', () => {
      // bob is the only guest; without his peer the guests group is empty here.
      const out = render(withPeer('bob-phone', {enabled: false}))
      const lines = chain(out, 'nx_egress')
      expect(tagged(lines, 'limit-dns')).toEqual([])
      expect(tagged(lines, 'guests-no-lan')).toEqual([])
      expect(lines).toContain('# limit-dns: skipped, its endpoints have no address on this node')
      expect(lines).toContain('# guests-no-lan: skipped, its endpoints have no address on this node')
      expect(out).not.toMatch(/udp dport 53 update/)
      expect(hasBlock(out, 'set rl_limit_dns_v4')).toBe(false)
      expect(hasBlock(out, 'set g_guests_v4')).toBe(false)
    })

    it('skips only the family an endpoint has no address in', () => {
      const s: StateValues = {...state, addresses: new Map([...state.addresses, ['alice-laptop', [ip('10.66.0.2')]]])}
      const out = render(withPeer('alice-laptop', {addresses: [ip('10.66.0.2')]}), s)
      expect(tagged(chain(out, 'nx_egress'), 'admins-to-lan')).toEqual([
        'ip saddr @g_admins_v4 ip daddr 192.168.0.0/16 counter accept comment "admins-to-lan"',
      ])
      expect(hasBlock(out, 'set g_admins_v6')).toBe(false)
    })

    it('skips a rule naming an inactive user, and keeps a mixed list to what resolves', () => {
      const rule: Rule = {...baseRule, sources: [{kind: 'user', name: 'dave'}]}
      expect(tagged(chain(render(onlyRule(rule)), 'nx_egress'), 'probe')).toEqual([])
      const mixed: Rule = {
        ...baseRule,
        sources: [
          {kind: 'user', name: 'dave'},
          {kind: 'user', name: 'carol'},
        ],
      }
      expect(tagged(chain(render(onlyRule(mixed)), 'nx_egress'), 'probe')).toEqual([
        'ip saddr 10.66.0.4 counter accept comment "probe"',
        'ip6 saddr fd66::4 counter accept comment "probe"',
      ])
    })

    it('resolves a service endpoint to its target addresses, ports from the rule only', () => {
      const rule: Rule = {
        ...baseRule,
        action: 'deny',
        protocol: 'tcp',
        destinations: [{kind: 'service', name: 'git'}],
        ports: [{from: 8080, to: 8080}],
      }
      expect(tagged(chain(render(onlyRule(rule)), 'nx_egress'), 'probe')).toEqual([
        'ip daddr 10.10.0.10 tcp dport 8080 counter drop comment "probe"',
        'ip6 daddr fd10::10 tcp dport 8080 counter drop comment "probe"',
      ])
    })

    it('normalises CIDRs and ports: host bits cleared, overlaps merged, sorted', () => {
      const rule: Rule = {
        ...baseRule,
        protocol: 'tcp',
        destinations: [
          {kind: 'cidr', cidr: cidr('10.1.2.3/16')},
          {kind: 'cidr', cidr: cidr('10.0.0.0/8')},
        ],
        sourcePorts: [{from: 1024, to: 65535}],
        ports: [
          {from: 8000, to: 8080},
          {from: 443, to: 443},
          {from: 8050, to: 8090},
          {from: 22, to: 22},
        ],
      }
      expect(tagged(chain(render(onlyRule(rule)), 'nx_egress'), 'probe')).toEqual([
        'ip daddr 10.0.0.0/8 tcp sport 1024-65535 tcp dport { 22, 443, 8000-8090 } counter accept comment "probe"',
      ])
    })

    it('matches the protocol alone when a tcp or udp rule has no ports', () => {
      const rule: Rule = {...baseRule, protocol: 'udp', action: 'deny'}
      expect(tagged(chain(render(onlyRule(rule)), 'nx_egress'), 'probe')).toEqual([
        'meta l4proto udp counter drop comment "probe"',
      ])
    })

    it('refuses to drop ports silently from an any/icmp rule', () => {
      const rule: Rule = {...baseRule, ports: [{from: 22, to: 22}]}
      expect(() => render(onlyRule(rule))).toThrow(/ports with protocol any/)
    })

    it('refuses names nft cannot carry instead of escaping them', () => {
      expect(() => render(onlyRule({...baseRule, name: 'a"b'}))).toThrow(/cannot be an nft string/)
    })

    it('keeps log prefixes within 127 bytes for the longest rule name', () => {
      const name = `r${'x'.repeat(62)}`
      const out = render(onlyRule({...baseRule, name, action: 'log'}))
      const prefix = /log prefix "([^"]+)"/.exec(tagged(chain(out, 'nx_egress'), name)[0] ?? '')?.[1] ?? ''
      expect(Buffer.byteLength(prefix)).toBeLessThanOrEqual(127)
    })

    it('puts ingress and both rules in the ingress chain, which ends with drop', () => {
      const ingress = chain(text, 'nx_ingress')
      expect(ingress).toEqual([
        'ip saddr @g_admins_v4 ip daddr 192.168.0.0/16 counter accept comment "admins-to-lan"',
        'ip6 saddr @g_admins_v6 ip6 daddr fd00:1::/48 counter accept comment "admins-to-lan"',
        'counter drop comment "nexus ingress default deny"',
      ])
      const only = render(withRule('block-smtp', {direction: 'ingress'}))
      expect(tagged(chain(only, 'nx_ingress'), 'block-smtp')).toHaveLength(1)
      expect(tagged(chain(only, 'nx_egress'), 'block-smtp')).toHaveLength(0)
    })

    it('leaves out inactive rules and rules for other nodes', () => {
      const out = render(
        withRule('icmp-ok', {active: false}, withRule('block-smtp', {nodes: {kind: 'names', names: ['ams-1']}})),
      )
      expect(out).not.toContain('"icmp-ok"')
      expect(out).not.toContain('"block-smtp"')
    })
  })

  describe('service gate', () => {
    const egress = chain(text, 'nx_egress')
    const ruleIndexes = egress
      .map((line, i) => (/comment "(?!service|nexus)/.test(line) ? i : -1))
      .filter((i) => i >= 0)

    it('admits the service users (groups and users), not others', () => {
      expect(set(text, 's_git_v4')).toEqual([
        'type ipv4_addr',
        'flags interval',
        'elements = {',
        '10.66.0.2,',
        '10.66.0.4,',
        '}',
      ])
      expect(set(text, 's_git_v6')).toEqual([
        'type ipv6_addr',
        'flags interval',
        'elements = {',
        'fd66::2,',
        'fd66::4,',
        '}',
      ])
    })

    it('drops non-members before the rules and accepts members after them', () => {
      const deny = egress.findIndex((l) => l.endsWith('comment "service git not admitted"'))
      const allow = egress.findIndex((l) => l.endsWith('comment "service git"'))
      expect(egress[deny]).toBe(
        'ip daddr 10.10.0.10 tcp dport { 22, 443 } ip saddr != @s_git_v4 counter drop comment "service git not admitted"',
      )
      expect(egress[allow]).toBe(
        'ip daddr 10.10.0.10 tcp dport { 22, 443 } ip saddr @s_git_v4 counter accept comment "service git"',
      )
      expect(deny).toBeLessThan(Math.min(...ruleIndexes))
      expect(allow).toBeGreaterThan(Math.max(...ruleIndexes))
      expect(allow).toBeLessThan(egress.length - 1)
    })

    it('declares an empty set without an elements line when nobody is admitted', () => {
      const out = render(withService('git', {access: {groups: [], users: []}}))
      expect(set(out, 's_git_v4')).toEqual(['type ipv4_addr', 'flags interval'])
      expect(out).not.toMatch(/elements = \{\s*\}/)
      expect(chain(out, 'nx_egress')).toContain(
        'ip daddr 10.10.0.10 tcp dport { 22, 443 } ip saddr != @s_git_v4 counter drop comment "service git not admitted"',
      )
    })

    it('gates only the families the target has', () => {
      const git = desired.services[0] as Service
      const out = render(withService('git', {target: {...git.target, addresses: [ip('10.10.0.10')]}}))
      expect(hasBlock(out, 'set s_git_v6')).toBe(false)
      expect(out).not.toContain('ip6 daddr fd10::10 tcp')
    })
  })

  describe('default verdict', () => {
    it('accepts by default when the project default is allow', () => {
      expect(chain(text, 'nx_egress').at(-1)).toBe('counter accept comment "nexus default allow"')
    })

    it('drops by default when the project default is deny, after the service accepts', () => {
      const d: Desired = {
        ...desired,
        project: {...desired.project, defaults: {...desired.project.defaults, firewall: 'deny'}},
      }
      const egress = chain(render(d), 'nx_egress')
      expect(egress.at(-1)).toBe('counter drop comment "nexus default deny"')
      expect(egress.at(-2)).toBe(
        'ip6 daddr fd10::10 tcp dport { 22, 443 } ip6 saddr @s_git_v6 counter accept comment "service git"',
      )
      expect(render(d)).not.toContain('nexus default allow')
    })
  })

  describe('nat', () => {
    it('masquerades the interface networks leaving through a non-tunnel interface', () => {
      expect(chain(text, 'nx_postrouting')).toEqual([
        'type nat hook postrouting priority srcnat; policy accept;',
        'ip saddr 10.66.0.0/24 oifname != "wg0" masquerade comment "nat wg0"',
        'ip6 saddr fd66::/64 oifname != "wg0" masquerade comment "nat wg0"',
      ])
    })

    it('has no nat chain when no interface asks for it', () => {
      const out = render(desired, state, {...node, interfaces: node.interfaces.map((i) => ({...i, nat: false}))})
      expect(hasBlock(out, 'chain nx_postrouting')).toBe(false)
    })
  })

  it('renders only the SSH rule for a node without WireGuard interfaces', () => {
    const out = render(desired, state, {...node, interfaces: []})
    expect(out).not.toContain('\tset ')
    expect(chain(out, 'nx_input')).toEqual([
      'type filter hook input priority filter; policy accept;',
      '# SSH management is never locked out: this comes before any drop.',
      'tcp dport 22 accept comment "nexus ssh management"',
    ])
    expect(hasBlock(out, 'chain nx_forward')).toBe(false)
  })

  it('is deterministic: identical input, and any input order, give identical bytes', () => {
    expect(render()).toBe(text)
    const reversed: Desired = {
      ...desired,
      users: [...desired.users].reverse(),
      groups: [...desired.groups].reverse(),
      peers: [...desired.peers].reverse(),
      rules: [...desired.rules].reverse(),
      services: [...desired.services].reverse(),
    }
    const s: StateValues = {
      ...state,
      addresses: new Map([...state.addresses].reverse()),
      activeUsers: new Set([...state.activeUsers].reverse()),
    }
    expect(render(reversed, s)).toBe(text)
  })
})

describe('renderNftables: rules rendered once and reused', () => {
  // Rule lines are kept per rule and per which of its groups have addresses on the
  // node; a copy of every rule object starts with nothing kept.
  const fresh = (d: Desired): Desired => ({...d, rules: d.rules.map((rule) => ({...rule}))})
  const variants: Desired[] = [
    desired,
    ...desired.peers.map((peer) => withPeer(peer.name, {enabled: false})),
    {...desired, peers: desired.peers.map((peer) => ({...peer, enabled: false}))},
    desired,
  ]

  it('gives every node the table a render without kept rules gives it, as groups empty and fill', () => {
    const groupRules = desired.rules.filter((rule) => rule.sources.some((source) => source.kind === 'group'))
    expect(groupRules.length).toBeGreaterThan(0)
    const tables = variants.map((variant) => render(variant))
    variants.forEach((variant, i) => expect(tables[i]).toBe(render(fresh(variant))))
    // The cases differ: the kept lines are not one answer for all.
    expect(new Set(tables).size).toBeGreaterThan(2)
  })
})
