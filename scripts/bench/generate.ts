/**
 * Deterministic fleets for the benchmark: the same seed and size give the
 * same repo, byte for byte. Generated into a temp dir, never committed.
 *
 * The shape follows a commercial fleet: most users on a WireGuard-only
 * tariff, some with VLESS too, five devices each spread over the nodes, a
 * tenth with a subscription link, users in one or two of many groups,
 * services reachable by some groups, and many group-scoped firewall rules.
 */
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

export interface FleetSize {
  readonly name: string
  readonly users: number
  readonly peers: number
  readonly nodes: number
  readonly rules: number
  readonly groups: number
  readonly services: number
  /** Every peer on the first node's wg0 (the "hot gateway"). */
  readonly hot?: boolean
}

export const SIZES: Readonly<Record<'S' | 'M' | 'L' | 'hot', FleetSize>> = {
  S: {name: 'S', users: 100, peers: 500, nodes: 3, rules: 50, groups: 10, services: 5},
  M: {name: 'M', users: 1_000, peers: 5_000, nodes: 10, rules: 500, groups: 30, services: 20},
  L: {name: 'L', users: 10_000, peers: 50_000, nodes: 100, rules: 5_000, groups: 100, services: 50},
  hot: {name: 'hot', users: 10_000, peers: 50_000, nodes: 1, rules: 500, groups: 100, services: 50, hot: true},
}

/** Users per file and peers per file: a big fleet splits its declarations, as operators do. */
const USERS_PER_FILE = 500
const RULES_PER_FILE = 250

/** mulberry32: small, fast, and the same on every machine. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const pad = (n: number, width: number) => String(n).padStart(width, '0')
const nodeName = (i: number) => `node-${pad(i, 3)}`
const userName = (i: number) => `user-${pad(i, 5)}`
const groupName = (i: number) => `team-${pad(i, 3)}`
const serviceName = (i: number) => `svc-${pad(i, 3)}`

/** The node's wg0: a /22 each (1022 peers), or a /16 for the hot gateway. */
function wg0(size: FleetSize, node: number): {v4: string; v6: string} {
  if (size.hot) return {v4: '10.64.0.1/16', v6: 'fd64::1/64'}
  const block = node * 4
  return {v4: `10.${64 + (block >> 8)}.${block & 255}.1/22`, v6: `fd64:${node.toString(16)}::1/64`}
}

export interface GeneratedFleet {
  readonly dir: string
  readonly size: FleetSize
  /** A file holding one node's peers: what "one changed file" edits. */
  readonly peerFile: string
  /** Every user file, for the "1% changed" edit. */
  readonly userFiles: readonly string[]
}

export function generateFleet(dir: string, size: FleetSize, seed = 1): GeneratedFleet {
  const rnd = random(seed)
  const pick = (n: number) => Math.floor(rnd() * n)
  const key = () => {
    const bytes = new Uint8Array(32)
    for (let i = 0; i < 32; i++) bytes[i] = pick(256)
    return Buffer.from(bytes).toString('base64')
  }
  const write = (path: string, docs: readonly string[]) => {
    mkdirSync(join(dir, path, '..'), {recursive: true})
    writeFileSync(join(dir, path), docs.map((d) => `apiVersion: nexus/v1\n${d}`).join('---\n'))
  }

  write('nexus.yaml', [
    [
      'kind: Project',
      `name: bench-${size.name.toLowerCase()}`,
      'defaults: {mtu: 1420, keepalive: 25, tunnel: full, firewall: allow}',
      'subscription: {baseUrl: https://sub.example.net, title: Bench VPN, updateIntervalHours: 6}',
      '',
    ].join('\n'),
  ])
  write('tariffs/tariffs.yaml', [
    'kind: Tariff\nname: wg\nprice: {amount: 3, currency: EUR}\ndurationMonths: null\ntrafficLimit: 200GiB\ntrafficReset: monthly\nmaxDevices: 6\nprotocols: [wireguard]\n',
    'kind: Tariff\nname: pro\nprice: {amount: 8, currency: EUR}\ndurationMonths: null\ntrafficLimit: null\nmaxDevices: 6\nprotocols: [wireguard, vless]\n',
  ])
  write(
    'groups/groups.yaml',
    Array.from({length: size.groups}, (_, g) => `kind: Group\nname: ${groupName(g)}\n`),
  )

  for (let n = 0; n < size.nodes; n++) {
    const net = wg0(size, n)
    write(`nodes/${nodeName(n)}.yaml`, [
      [
        'kind: Node',
        `name: ${nodeName(n)}`,
        `labels: {region: r${n % 5}, tier: edge}`,
        `ssh: {host: 192.0.2.${(n % 250) + 1}, port: ${2200 + n}, user: root}`,
        `endpoint: ${nodeName(n)}.vpn.example.net`,
        'wireguard:',
        '  interfaces:',
        `    - {name: wg0, address: [${net.v4}, "${net.v6}"], listenPort: 51820}`,
        'xray:',
        '  inbounds:',
        '    - tag: vless-reality',
        '      protocol: vless',
        '      port: 443',
        '      security: reality',
        '      flow: xtls-rprx-vision',
        '      reality: {target: "www.example.com:443", serverNames: [www.example.com], shortIds: ["6d44678d93a3b4f6"]}',
        'dns:',
        '  upstreams: [1.1.1.1]',
        '',
      ].join('\n'),
    ])
  }

  const userFiles: string[] = []
  const peersOfUser = Math.max(1, Math.round(size.peers / size.users))
  const peersByNode: string[][] = Array.from({length: size.nodes}, () => [])
  for (let start = 0; start < size.users; start += USERS_PER_FILE) {
    const docs: string[] = []
    for (let u = start; u < Math.min(size.users, start + USERS_PER_FILE); u++) {
      const first = pick(size.groups)
      const groups = pick(3) === 0 ? [first, (first + 1 + pick(size.groups - 1)) % size.groups] : [first]
      docs.push(
        [
          'kind: User',
          `name: ${userName(u)}`,
          `email: ${userName(u)}@example.net`,
          `tariff: ${pick(10) < 3 ? 'pro' : 'wg'}`,
          `groups: [${groups.map(groupName).join(', ')}]`,
          ...(pick(10) === 0 ? ['links: [phone]'] : []),
          '',
        ].join('\n'),
      )
      for (let d = 0; d < peersOfUser; d++) {
        const node = size.hot ? 0 : (u * peersOfUser + d) % size.nodes
        peersByNode[node]?.push(
          [
            'kind: Peer',
            `name: ${userName(u)}-d${d}`,
            `user: ${userName(u)}`,
            `node: ${nodeName(node)}`,
            'interface: wg0',
            `publicKey: ${key()}`,
            '',
          ].join('\n'),
        )
      }
    }
    const file = `users/users-${pad(start / USERS_PER_FILE, 3)}.yaml`
    write(file, docs)
    userFiles.push(file)
  }
  const peerFiles = peersByNode.map((docs, n) => {
    const file = `peers/${nodeName(n)}-wg0.yaml`
    write(file, docs)
    return file
  })

  write(
    'services/services.yaml',
    Array.from({length: size.services}, (_, s) =>
      [
        'kind: Service',
        `name: ${serviceName(s)}`,
        `domains: [${serviceName(s)}.corp.example]`,
        `target: {address: 10.250.${s >> 8}.${(s & 255) + 1}, ports: [443]}`,
        `access: {groups: [${groupName(pick(size.groups))}, ${groupName(pick(size.groups))}]}`,
        '',
      ].join('\n'),
    ),
  )

  for (let start = 0; start < size.rules; start += RULES_PER_FILE) {
    const docs: string[] = []
    for (let r = start; r < Math.min(size.rules, start + RULES_PER_FILE); r++) {
      const kind = pick(20)
      const action = kind === 0 ? 'rate_limit' : kind === 1 ? 'log' : kind < 8 ? 'deny' : 'allow'
      const port = 1024 + pick(60000)
      docs.push(
        [
          'kind: Rule',
          `name: rule-${pad(r, 5)}`,
          `action: ${action}`,
          'direction: egress',
          `protocol: ${pick(4) === 0 ? 'udp' : 'tcp'}`,
          `source: group:${groupName(pick(size.groups))}`,
          `destination: [172.${16 + pick(16)}.${pick(256)}.0/24]`,
          pick(2) === 0 ? `ports: ${port}` : `ports: "${port}-${port + pick(100)}"`,
          ...(action === 'rate_limit' ? ['rate: {pps: 100, burst: 50}'] : []),
          `priority: ${100 + pick(800)}`,
          ...(pick(4) === 0 ? [`nodes: {labels: {region: r${pick(Math.min(5, size.nodes))}}}`] : []),
          '',
        ].join('\n'),
      )
    }
    write(`rules/rules-${pad(start / RULES_PER_FILE, 3)}.yaml`, docs)
  }

  return {dir, size, peerFile: peerFiles[0] ?? '', userFiles}
}

/** "One changed file": one peer of the first node's file is disabled, a different one for each variant. */
export function changeOneFile(fleet: GeneratedFleet, variant = 0): void {
  const path = join(fleet.dir, fleet.peerFile)
  const docs = readFileSync(path, 'utf8').split('---\n')
  const index = variant % docs.length
  docs[index] = (docs[index] ?? '').replace('interface: wg0\n', 'interface: wg0\nenabled: false\n')
  writeFileSync(path, docs.join('---\n'))
}

/** "1% changed": one user in a hundred (a different hundredth for each variant) moves to another group. */
export function changeOnePercent(fleet: GeneratedFleet, variant = 0): void {
  let seen = 0
  for (const file of fleet.userFiles) {
    const path = join(fleet.dir, file)
    const text = readFileSync(path, 'utf8').replace(/^groups: \[team-(\d+)\]$/gm, (line, group: string) =>
      seen++ % 100 === variant % 100 ? `groups: [team-${pad((Number(group) + 1) % fleet.size.groups, 3)}]` : line,
    )
    writeFileSync(path, text)
  }
}
