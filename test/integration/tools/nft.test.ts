/**
 * The rendered table checked by the real nft (`nft -c -f`), always inside a
 * private network namespace so the host's ruleset is never touched.
 */
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Desired, Node, Peer, Rule, RuleEndpoint, Service, User} from '../../../src/model/desired.js'
import {Fleet} from '../../../src/model/fleet.js'
import type {IpAddress} from '../../../src/model/ip.js'
import type {StateValues} from '../../../src/model/state-values.js'
import {missingNftables} from '../../../src/apply/node-apply.js'
import {renderNftables} from '../../../src/render/nftables.js'
import {cidr, desired, KEYS, node, state} from '../../helpers/fixture.js'
import {checkNft} from '../../helpers/real-tools.js'
import {inPrivateNetns, requireTool, shellQuote, tempDir, writeTemp} from '../../helpers/tools.js'

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'golden', 'nftables', 'fra-1.nft')

/** The element lines of a set declaration. */
function set(text: string, name: string): string[] {
  const lines = text.split('\n')
  const start = lines.indexOf(`\tset ${name} {`)
  const end = lines.indexOf('\t}', start)
  return lines.slice(start + 1, end).filter((line) => line.endsWith(','))
}

let work: {path: string; cleanup: () => void} | undefined

function workDir(): string {
  if (!work) throw new Error('beforeAll did not run')
  return work.path
}

async function nftCheck(content: string): Promise<void> {
  const result = await checkNft(workDir(), 'nexus.nft', content)
  expect(result.exitCode, `${result.stderr}\n${result.stdout}`).toBe(0)
}

function render(d: Desired, s: StateValues = state, n: Node = node): string {
  return renderNftables(new Fleet(d, s), n)
}

// ------------------------------------------------------------ a generated fleet

interface FleetSize {
  readonly users: number
  readonly peersPerUser: number
  readonly groups: number
  readonly rules: number
  readonly services: number
}

const v4 = (offset: number): IpAddress => ({family: 4, value: 0x0a800000n + BigInt(offset)}) // 10.128.0.0/9
const v6 = (offset: number): IpAddress => ({family: 6, value: 0xfd800000000000000000000000000000n + BigInt(offset)})
const pad = (i: number): string => String(i).padStart(5, '0')

/**
 * Deterministic, and shaped like a real fleet: some users inactive, some
 * peers disabled, site peers routing LANs (some overlapping), groups of
 * different sizes, and every kind of rule, endpoint and action.
 */
function largeFleet(size: FleetSize): {desired: Desired; state: StateValues; node: Node} {
  const wg0 = node.interfaces[0]
  if (!wg0) throw new Error('fixture node has wg0')
  const bigNode: Node = {...node, interfaces: [{...wg0, addresses: [cidr('10.128.0.1/9'), cidr('fd80::1/64')]}]}
  const groups = Array.from({length: size.groups}, (_, g) => ({name: `team-${g}`}))
  const users: User[] = []
  const peers: Peer[] = []
  const addresses = new Map<string, readonly IpAddress[]>()
  const active = new Set<string>()
  for (let u = 0; u < size.users; u++) {
    const name = `user-${pad(u)}`
    const memberOf = [...new Set([`team-${u % size.groups}`, `team-${(u * 7) % Math.max(1, size.groups - 1)}`])].sort()
    users.push({
      name,
      status: 'active',
      tariff: 'std',
      groups: memberOf,
      subscription: {cancelled: false},
      links: ['default'],
    })
    if (u % 10 !== 9) active.add(name)
    for (let p = 0; p < size.peersPerUser; p++) {
      const index = u * size.peersPerUser + p
      const peer: Peer = {
        name: `${name}-d${p}`,
        user: name,
        node: bigNode.name,
        interface: 'wg0',
        publicKey: KEYS.alice.publicKey,
        addresses: [],
        allowedIPs: [],
        keepalive: 25,
        tunnel: 'full',
        enabled: index % 13 !== 0,
      }
      peers.push(peer)
      // Every third peer is IPv4-only, so some groups have fewer v6 addresses.
      addresses.set(peer.name, index % 3 === 0 ? [v4(index + 2)] : [v4(index + 2), v6(index + 2)])
    }
  }
  for (let site = 0; site < 20; site++) {
    const name = `site-${pad(site)}`
    const lan = site % 5 === 0 ? cidr(`172.16.0.0/16`) : cidr(`172.16.${site}.0/24`)
    peers.push({
      name,
      node: bigNode.name,
      interface: 'wg0',
      publicKey: KEYS.site.publicKey,
      addresses: [],
      allowedIPs: [lan, cidr(`fd99:${site}::/48`)],
      keepalive: 25,
      tunnel: 'split',
      enabled: true,
    })
    addresses.set(name, [v4(size.users * size.peersPerUser + 10 + site)])
  }
  const services: Service[] = Array.from({length: size.services}, (_, s) => ({
    name: `svc-${s}`,
    domains: [`svc-${s}.corp.example`],
    target: {
      addresses:
        s % 2 === 0
          ? [{family: 4, value: 0x0a0a0000n + BigInt(s)}]
          : [{family: 4, value: 0x0a0a0000n + BigInt(s)}, v6(0xffff00 + s)],
      ports: [
        {from: 443, to: 443},
        {from: 8000 + s, to: 8100 + s},
      ],
      protocol: s % 3 === 0 ? 'udp' : 'tcp',
    },
    access: {groups: [`team-${s % size.groups}`], users: s % 4 === 0 ? [] : [`user-${pad(s)}`]},
    nodes: {kind: 'all'},
  }))
  return {
    desired: {
      ...desired,
      tariffs: [{...(desired.tariffs[0] as Desired['tariffs'][number]), name: 'std', protocols: ['wireguard']}],
      users,
      groups,
      peers,
      nodes: [bigNode],
      rules: Array.from({length: size.rules}, (_, r) => generatedRule(r, size)),
      services,
    },
    state: {...state, addresses, activeUsers: active},
    node: bigNode,
  }
}

function generatedRule(r: number, size: FleetSize): Rule {
  const actions: Rule['action'][] = ['allow', 'deny', 'allow', 'log']
  const protocols: Rule['protocol'][] = ['tcp', 'udp', 'icmp', 'any']
  const directions: Rule['direction'][] = ['egress', 'egress', 'both', 'ingress']
  const group = (i: number): RuleEndpoint => ({kind: 'group', name: `team-${i % size.groups}`})
  const user = (i: number): RuleEndpoint => ({kind: 'user', name: `user-${pad(i % size.users)}`})
  const net = (i: number): RuleEndpoint => ({
    kind: 'cidr',
    cidr: cidr(i % 2 ? `192.168.${i % 256}.0/24` : `fd00:${i}::/64`),
  })
  const sourceShapes: RuleEndpoint[][] = [[], [group(r)], [group(r), user(r + 1)], [user(r), user(r + 3)], [net(r)]]
  const destinationShapes: RuleEndpoint[][] = [
    [],
    [net(r), net(r + 1), {kind: 'cidr', cidr: cidr('192.168.0.0/16')}],
    [{kind: 'service', name: `svc-${r % size.services}`}],
    [group(r + 5)],
  ]
  const protocol = protocols[r % protocols.length] ?? 'any'
  // Rate limits are rare in real fleets, and each meter set costs kernel memory (see renderSet).
  const action = r % 40 === 8 ? 'rate_limit' : (actions[Math.floor(r / 4) % actions.length] ?? 'allow')
  const withPorts = protocol === 'tcp' || protocol === 'udp'
  // Port lists become anonymous sets, which the kernel creates in time quadratic in their number: keep most single.
  const ports =
    r % 4 === 0
      ? [
          {from: 22, to: 22},
          {from: 1000 + r, to: 1010 + r},
          {from: 1005 + r, to: 1020 + r},
        ]
      : [{from: 1000 + r, to: 1000 + r}]
  return {
    name: `rule-${pad(r)}`,
    action,
    direction: directions[r % directions.length] ?? 'egress',
    protocol,
    sources: sourceShapes[r % sourceShapes.length] ?? [],
    destinations: destinationShapes[Math.floor(r / 5) % destinationShapes.length] ?? [],
    sourcePorts: withPorts && r % 7 === 0 ? [{from: 1024, to: 65535}] : [],
    ports: withPorts ? ports : [],
    ...(action === 'rate_limit' ? {rate: {pps: 10 + r, burst: 5 + (r % 50)}} : {}),
    priority: 10_000 - r,
    active: r % 17 !== 0,
    log: r % 3 === 0,
    nodes: {kind: 'all'},
  }
}

// ------------------------------------------------------------------ tests

describe('nft -c accepts the rendered table (private network namespace)', () => {
  beforeAll(async () => {
    await requireTool('nft')
    await requireTool('unshare')
    work = tempDir('nexus-nft-')
  })

  afterAll(() => work?.cleanup())

  it('rejects a broken file (the check is not vacuous)', async () => {
    const broken = render(desired).replace('policy accept;', 'policy maybe;')
    const result = await checkNft(workDir(), 'broken.nft', broken)
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(/syntax error/)
  })

  it('accepts the fixture render and the golden file', async () => {
    await nftCheck(render(desired))
    await nftCheck(readFileSync(GOLDEN, 'utf8'))
  })

  it('accepts the default-deny variant', async () => {
    const deny: Desired = {
      ...desired,
      project: {...desired.project, defaults: {...desired.project.defaults, firewall: 'deny'}},
    }
    const text = render(deny)
    expect(text).toContain('counter drop comment "nexus default deny"')
    await nftCheck(text)
  })

  it('accepts edge cases: empty sets, skipped rules, no v6 peers, no interfaces, no nat', async () => {
    const nobody: Desired = {
      ...desired,
      services: desired.services.map((s) => ({...s, access: {groups: [], users: []}})),
      peers: desired.peers.map((p) => (p.name === 'bob-phone' ? {...p, enabled: false} : p)),
    }
    await nftCheck(render(nobody))
    const v4Only: StateValues = {
      ...state,
      addresses: new Map([...state.addresses].map(([name, list]) => [name, list.filter((a) => a.family === 4)])),
    }
    await nftCheck(render(desired, v4Only))
    await nftCheck(render(desired, state, {...node, interfaces: []}))
    await nftCheck(render(desired, state, {...node, interfaces: node.interfaces.map((i) => ({...i, nat: false}))}))
    const wg0 = node.interfaces[0]
    if (!wg0) throw new Error('fixture has wg0')
    const wg1 = {...wg0, name: 'wg1', addresses: [cidr('10.67.0.1/24'), cidr('fd67::1/64')], listenPort: 51821}
    const text = render(desired, state, {...node, interfaces: [wg0, wg1]})
    expect(text).toContain('oifname != { "wg0", "wg1" } masquerade')
    await nftCheck(text)
  })

  it('replaces the table on reload instead of adding to it', async () => {
    const quotedFile = shellQuote(writeTemp(workDir(), 'reload.nft', render(desired)))
    const result = await inPrivateNetns(
      `nft -f ${quotedFile}; first=$(nft -a list table inet nexus | grep -c handle); ` +
        `nft -f ${quotedFile}; second=$(nft -a list table inet nexus | grep -c handle); echo "$first $second"`,
    )
    expect(result.exitCode, result.stderr).toBe(0)
    const [first, second] = result.stdout.trim().split(' ').map(Number)
    expect(first).toBeGreaterThan(20)
    expect(second).toBe(first)
  })

  it("finds every rendered set, chain and rule comment in the real kernel's listing, and misses a hand-deleted rule", async () => {
    const rendered = readFileSync(GOLDEN, 'utf8')
    const quotedFile = shellQuote(writeTemp(workDir(), 'verify.nft', rendered))
    const result = await inPrivateNetns(
      `nft -f ${quotedFile}; nft -s list table inet nexus; echo ---; ` +
        `nft delete rule inet nexus nx_egress handle $(nft -a list chain inet nexus nx_egress | grep 'comment "block-smtp"' | grep -o 'handle [0-9]*' | cut -d' ' -f2); ` +
        `nft -s list table inet nexus`,
    )
    expect(result.exitCode, result.stderr).toBe(0)
    const [loaded = '', edited = ''] = result.stdout.split('---\n')
    expect(missingNftables(rendered, loaded)).toEqual([])
    expect(missingNftables(rendered, edited)).toEqual(['table inet nexus: rule comment "block-smtp" not loaded'])
  })

  it('accepts a generated fleet: 2,000 peers, 50 groups, 200 rules', async () => {
    const fleet = largeFleet({users: 1000, peersPerUser: 2, groups: 50, rules: 200, services: 10})
    const text = render(fleet.desired, fleet.state, fleet.node)
    // Every shape is exercised: group sets, per-source meters, rule chains, skipped rules.
    expect(text).toMatch(/set g_team_\d+_v6 \{/)
    expect(text).toContain('update @rl_rule_00008_v4')
    expect(text).toMatch(/chain r_rule_\d+_v4 \{/)
    expect(text).toMatch(/# rule-\d+: skipped/)
    await nftCheck(text)
  })

  it('accepts 50k peers in large sets (10k users, 100 groups, 200 rules)', async () => {
    const fleet = largeFleet({users: 10_000, peersPerUser: 5, groups: 100, rules: 200, services: 50})
    const text = render(fleet.desired, fleet.state, fleet.node)
    expect(set(text, 'nx_peers_v4').length).toBeGreaterThan(40_000)
    await nftCheck(text)
  })

  it('renders 50k peers / 10k users / 5k rules in a table that grows with rules, not users', () => {
    const fleet = largeFleet({users: 10_000, peersPerUser: 5, groups: 100, rules: 5_000, services: 50})
    const f = new Fleet(fleet.desired, fleet.state)
    const text = renderNftables(f, fleet.node)
    const lines = text.split('\n')
    const ruleLines = lines.filter((line) => /^\t\t[^#].*comment "rule-\d+"$/.test(line)).length
    // At most two lines per rule and family (a jump and the action of a rule chain), times two for `both`.
    expect(ruleLines).toBeLessThanOrEqual(5_000 * 2 * 2 * 2)
    expect(lines.filter((line) => line.startsWith('\tchain u_'))).toEqual([])
  })
})
