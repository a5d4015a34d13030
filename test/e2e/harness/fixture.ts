/**
 * The repo under test, built like the examples: users in two groups
 * (staff, guests), an internal wiki only staff may reach, a deny rule, a
 * rate limit and a log rule, and two gateways whose Node declarations point
 * their paths and reload commands at the namespace setup (no systemd).
 *
 *   alice  staff   pro (wireguard, vmess)  alice-laptop on gw1  (client c1)
 *   bob    guests  basic (wireguard)       bob-laptop on gw1    (client c2)
 *   carol  staff   basic                   carol-laptop on gw2  (client c3)
 *   dave   guests  pro                     no peer: VMess only  (client c2's namespace)
 *
 *   svc 10.231.1.10: :80 the wiki (service, staff only), :8080 (rule no-admin
 *   denies it), :8081 (rule log-web logs it), udp :9999 (rule limit-udp: 5/s)
 */
import {mkdirSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'

import type {Gateway} from './gateway.js'
import {VMESS_PORT, WG_PORT} from './gateway.js'
import {ADDR, type ClientName, type GatewayName} from './topology.js'

export const WIKI_DOMAIN = 'wiki.corp.test'

export interface PeerSpec {
  readonly name: string
  readonly user: string
  readonly node: GatewayName
  readonly client: ClientName
}

export const PEERS: readonly PeerSpec[] = [
  {name: 'alice-laptop', user: 'alice', node: 'gw1', client: 'c1'},
  {name: 'bob-laptop', user: 'bob', node: 'gw1', client: 'c2'},
  {name: 'carol-laptop', user: 'carol', node: 'gw2', client: 'c3'},
]

export function peerOf(client: ClientName): PeerSpec {
  const peer = PEERS.find((p) => p.client === client)
  if (!peer) throw new Error(`no peer for ${client}`)
  return peer
}

export interface NodeOptions {
  /** reload.nftables (default: nexus's own `nft -f {file}`). */
  readonly nftablesReload?: string
}

export function writeFile(repo: string, path: string, text: string): void {
  mkdirSync(dirname(join(repo, path)), {recursive: true})
  writeFileSync(join(repo, path), text)
}

const doc = (kind: string, name: string, body: readonly string[]) =>
  ['apiVersion: nexus/v1', `kind: ${kind}`, `name: ${name}`, ...body, ''].join('\n')

export function nodeYaml(gw: Gateway, identityFile: string, options: NodeOptions = {}): string {
  const a = ADDR[gw.name]
  const second = gw.name === 'gw2'
  return doc('Node', gw.name, [
    `description: e2e gateway in network namespace ${gw.name}`,
    'ssh:',
    `  host: ${a.wan}`,
    '  port: 22',
    '  user: root',
    `  identityFile: ${identityFile}`,
    `  hostKey: "${gw.hostKey}"`,
    `endpoint: ${a.wan}`,
    'wireguard:',
    '  interfaces:',
    '    - name: wg0',
    `      address: [${a.tunnel}/24, "${a.tunnel6}/64"]`,
    `      listenPort: ${WG_PORT}`,
    ...(second
      ? []
      : ['xray:', '  inbounds:', '    - tag: vmess-tcp', '      protocol: vmess', `      port: ${VMESS_PORT}`]),
    'dns:',
    `  upstreams: ["${ADDR.svc.lan}#5353"]`,
    'paths:',
    ...Object.entries(gw.paths).map(([key, value]) => `  ${key}: ${value}`),
    'reload:',
    ...Object.entries({...gw.reload, ...(options.nftablesReload ? {nftables: options.nftablesReload} : {})}).map(
      ([key, value]) => `  ${key}: "${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`,
    ),
  ])
}

export function peerYaml(peer: PeerSpec, publicKey: string): string {
  return doc('Peer', peer.name, [
    `user: ${peer.user}`,
    `node: ${peer.node}`,
    'interface: wg0',
    `publicKey: ${publicKey}`,
  ])
}

export function writeFixture(
  repo: string,
  input: {
    readonly gateways: readonly Gateway[]
    readonly identityFile: string
    readonly publicKeys: Readonly<Record<string, string>>
  },
): void {
  writeFile(
    repo,
    'nexus.yaml',
    doc('Project', 'e2e', [
      'description: Two gateways and three clients in network namespaces.',
      'defaults:',
      '  keepalive: 25',
      '  firewall: allow',
      'subscription:',
      '  title: E2E VPN',
    ]),
  )
  writeFile(
    repo,
    'tariffs/pro.yaml',
    doc('Tariff', 'pro', ['price: { amount: 8, currency: EUR }', 'maxDevices: 3', 'protocols: [wireguard, vmess]']),
  )
  writeFile(
    repo,
    'tariffs/basic.yaml',
    doc('Tariff', 'basic', ['price: { amount: 3, currency: EUR }', 'maxDevices: 2', 'protocols: [wireguard]']),
  )
  writeFile(repo, 'groups/staff.yaml', doc('Group', 'staff', ['description: May reach the wiki.']))
  writeFile(repo, 'groups/guests.yaml', doc('Group', 'guests', ['description: May not.']))
  writeFile(
    repo,
    'users/alice.yaml',
    doc('User', 'alice', ['email: alice@example.com', 'tariff: pro', 'groups: [staff]']),
  )
  writeFile(repo, 'users/bob.yaml', doc('User', 'bob', ['email: bob@example.com', 'tariff: basic', 'groups: [guests]']))
  writeFile(
    repo,
    'users/dave.yaml',
    doc('User', 'dave', ['email: dave@example.com', 'tariff: pro', 'groups: [guests]']),
  )
  writeFile(
    repo,
    'users/carol.yaml',
    doc('User', 'carol', ['email: carol@example.com', 'tariff: basic', 'groups: [staff]']),
  )
  for (const peer of PEERS) {
    const key = input.publicKeys[peer.name]
    if (!key) throw new Error(`no key for ${peer.name}`)
    writeFile(repo, `peers/${peer.name}.yaml`, peerYaml(peer, key))
  }
  writeFile(
    repo,
    'services/wiki.yaml',
    doc('Service', 'wiki', [
      'description: The internal wiki, for staff only.',
      `domains: [${WIKI_DOMAIN}]`,
      'target:',
      `  address: ${ADDR.svc.lan}`,
      '  ports: [80]',
      'access:',
      '  groups: [staff]',
    ]),
  )
  writeFile(
    repo,
    'rules/no-admin.yaml',
    doc('Rule', 'no-admin', [
      'description: Nobody reaches the admin console through the VPN.',
      'action: deny',
      'protocol: tcp',
      `destination: ${ADDR.svc.lan}`,
      'ports: 8080',
      'priority: 900',
      'log: true',
    ]),
  )
  writeFile(
    repo,
    'rules/limit-udp.yaml',
    doc('Rule', 'limit-udp', [
      'action: rate_limit',
      'protocol: udp',
      'ports: 9999',
      'rate: { pps: 5, burst: 5 }',
      'priority: 500',
    ]),
  )
  writeFile(
    repo,
    'rules/log-web.yaml',
    doc('Rule', 'log-web', [
      'action: log',
      'protocol: tcp',
      `destination: ${ADDR.svc.lan}`,
      'ports: 8081',
      'priority: 800',
    ]),
  )
  for (const gw of input.gateways) writeFile(repo, `nodes/${gw.name}.yaml`, nodeYaml(gw, input.identityFile))
}
