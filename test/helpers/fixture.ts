/**
 * A small hand-built fleet for renderer unit tests: one node with a dual-stack
 * WireGuard interface and one xray inbound of every protocol, three users in
 * two groups, a service, and one rule of every action. Keys are throw-away
 * test keys, fixed so golden files are stable.
 */
import type {Desired, Node, Rule, Service} from '../../src/model/desired.js'
import {type IpAddress, parseCidr, parseIp} from '../../src/model/ip.js'
import type {NodeSecrets, StateValues} from '../../src/model/state-values.js'

export function ip(text: string): IpAddress {
  const parsed = parseIp(text)
  if (!parsed) throw new Error(`bad ip ${text}`)
  return parsed
}

export function cidr(text: string) {
  const parsed = parseCidr(text)
  if (!parsed) throw new Error(`bad cidr ${text}`)
  return parsed
}

export const KEYS = {
  gatewayWg0: {
    privateKey: '6BvFgM2TOiDSJxXJ0mLV1HBqiDlZ8HSh6mpf2naTsFg=',
    publicKey: '6l1bgedov3S76wCzgwMD86xd632xeppK1YE2y3UxoS0=',
  },
  alice: {
    privateKey: '8Mm7pFH8xM98LjDOFekqLAf3wmiuEAGj3PfJql8J7lM=',
    publicKey: 'aCGS/vw7L4vmZ0MB12QSu2VY7GulOcGsFxD1ffCiGjg=',
  },
  bob: {
    privateKey: 'qDwU+bEwIG3cuxFjFBWBoet3p7YCoGop3YibBeUgBWY=',
    publicKey: 'IovdpE/Nss3bJih1SBUj3dxoYWPEcKLNoMbnsmZsh3g=',
  },
  carol: {
    privateKey: 'eDGwtXiwSKsya8Tlm41iXdVat1td/3jjy5rHJRTOxWk=',
    publicKey: 'G/FL2Zclo72PKVVeTcwIASObeYWtQKG1l+HdHYylzTg=',
  },
  site: {
    privateKey: 'sGtUY772AuoCwrGlEzmt7nzFfvRGhRnARsqiwEwzFmA=',
    publicKey: 'mySxEHpckw22EO9fDZtHsNhmArHDmklG0mva+cSvZ3s=',
  },
  reality: {
    privateKey: 'uAqaj7Bh1XPHd1AvueKOd7XKSPqkJP3EdwU0VAgzFl8',
    publicKey: '0DaHbrlGINpPLJNSkbBEB8TW182n_uzlK3104OM9PS0',
  },
  shadowsocks: 'vSVJtGsM3g+Cy8iMXL8r/Q==',
} as const

export const UUIDS = {
  'alice/default': '0b5b50b9-f194-4fa8-ba9b-f7d2dee211f8',
  'alice/phone': '2b48ba2e-458e-41d6-a536-52f5fa8275f9',
  'bob/default': 'e37a47af-976b-4fe3-9bd6-3fb5250640e2',
  'carol/default': 'cf298f12-a097-4f63-9f37-ed5f0f1bcc20',
} as const

export const node: Node = {
  name: 'fra-1',
  status: 'active',
  labels: {region: 'eu'},
  transport: 'ssh',
  ssh: {host: '203.0.113.10', port: 22, user: 'root'},
  endpoint: 'fra-1.vpn.example.com',
  interfaces: [
    {
      name: 'wg0',
      addresses: [cidr('10.66.0.1/24'), cidr('fd66::1/64')],
      listenPort: 51820,
      dns: [ip('10.66.0.1'), ip('fd66::1')],
      mtu: 1420,
      endpoint: {host: 'fra-1.vpn.example.com', port: 51820},
      nat: true,
    },
  ],
  xray: {
    inbounds: [
      {
        tag: 'vless-reality',
        protocol: 'vless',
        port: 443,
        listen: '0.0.0.0',
        security: 'reality',
        reality: {
          target: 'www.example.com:443',
          serverNames: ['www.example.com'],
          shortIds: ['6d44678d93a3b4f6', '0123'],
          fingerprint: 'chrome',
          spiderX: '/',
          minClientVer: '1.8.0',
        },
        flow: 'xtls-rprx-vision',
        transport: {type: 'tcp'},
        publicHost: 'fra-1.vpn.example.com',
        publicPort: 443,
      },
      {
        tag: 'vmess-ws',
        protocol: 'vmess',
        port: 10001,
        listen: '127.0.0.1',
        security: 'none',
        transport: {type: 'ws', path: '/vm'},
        publicHost: 'fra-1.vpn.example.com',
        publicPort: 443,
      },
      {
        tag: 'trojan-tls',
        protocol: 'trojan',
        port: 2083,
        listen: '0.0.0.0',
        security: 'tls',
        tls: {
          serverName: 'fra-1.vpn.example.com',
          certificateFile: '/etc/nexus/tls/fullchain.pem',
          keyFile: '/etc/nexus/tls/privkey.pem',
          alpn: ['h2', 'http/1.1'],
        },
        transport: {type: 'tcp'},
        publicHost: 'fra-1.vpn.example.com',
        publicPort: 2083,
      },
      {
        tag: 'ss2022',
        protocol: 'shadowsocks',
        port: 8388,
        listen: '0.0.0.0',
        security: 'none',
        transport: {type: 'tcp'},
        method: '2022-blake3-aes-128-gcm',
        publicHost: 'fra-1.vpn.example.com',
        publicPort: 8388,
      },
    ],
    outbounds: [],
    routing: {domainStrategy: 'AsIs', rules: []},
    apiPort: 10085,
  },
  dns: {enabled: true, listen: [ip('10.66.0.1'), ip('fd66::1')], upstreams: ['1.1.1.1', '9.9.9.9#9953']},
  paths: {
    wireguard: '/etc/wireguard',
    nftables: '/etc/nexus/nexus.nft',
    xray: '/usr/local/etc/xray/config.json',
    dnsmasq: '/etc/dnsmasq.d/nexus.conf',
    state: '/var/lib/nexus',
  },
  reload: {
    wireguard: 'wg syncconf {iface} {file}',
    wireguardRestart: 'systemctl restart wg-quick@{iface}',
    wireguardDown: 'systemctl stop wg-quick@{iface}',
    nftables: 'nft -f {file}',
    xray: 'systemctl restart xray',
    dnsmasq: 'systemctl restart dnsmasq',
  },
}

const gitService: Service = {
  name: 'git',
  domains: ['git.corp.example', '*.wiki.corp.example'],
  target: {
    addresses: [ip('10.10.0.10'), ip('fd10::10')],
    ports: [
      {from: 443, to: 443},
      {from: 22, to: 22},
    ],
    protocol: 'tcp',
  },
  access: {groups: ['admins'], users: ['carol']},
  nodes: {kind: 'all'},
}

const rules: Rule[] = [
  {
    name: 'block-smtp',
    action: 'deny',
    direction: 'egress',
    protocol: 'tcp',
    sources: [],
    destinations: [],
    sourcePorts: [],
    ports: [
      {from: 25, to: 25},
      {from: 465, to: 465},
    ],
    priority: 900,
    active: true,
    log: true,
    nodes: {kind: 'all'},
  },
  {
    name: 'limit-dns',
    action: 'rate_limit',
    direction: 'egress',
    protocol: 'udp',
    sources: [{kind: 'group', name: 'guests'}],
    destinations: [],
    sourcePorts: [],
    ports: [{from: 53, to: 53}],
    rate: {pps: 100, burst: 50},
    priority: 500,
    active: true,
    log: false,
    nodes: {kind: 'all'},
  },
  {
    name: 'log-admin-ssh',
    action: 'log',
    direction: 'egress',
    protocol: 'tcp',
    sources: [{kind: 'group', name: 'admins'}],
    destinations: [{kind: 'cidr', cidr: cidr('10.0.0.0/8')}],
    sourcePorts: [],
    ports: [{from: 22, to: 22}],
    priority: 400,
    active: true,
    log: false,
    nodes: {kind: 'all'},
  },
  {
    name: 'admins-to-lan',
    action: 'allow',
    direction: 'both',
    protocol: 'any',
    sources: [{kind: 'group', name: 'admins'}],
    destinations: [
      {kind: 'cidr', cidr: cidr('192.168.0.0/16')},
      {kind: 'cidr', cidr: cidr('fd00:1::/48')},
    ],
    sourcePorts: [],
    ports: [],
    priority: 300,
    active: true,
    log: false,
    nodes: {kind: 'labels', labels: {region: 'eu'}},
  },
  {
    name: 'guests-no-lan',
    action: 'deny',
    direction: 'egress',
    protocol: 'any',
    sources: [
      {kind: 'group', name: 'guests'},
      {kind: 'user', name: 'bob'},
    ],
    destinations: [
      {kind: 'cidr', cidr: cidr('192.168.0.0/16')},
      {kind: 'service', name: 'git'},
    ],
    sourcePorts: [],
    ports: [],
    priority: 200,
    active: true,
    log: false,
    nodes: {kind: 'all'},
  },
  {
    name: 'icmp-ok',
    action: 'allow',
    direction: 'egress',
    protocol: 'icmp',
    sources: [],
    destinations: [],
    sourcePorts: [],
    ports: [],
    priority: 100,
    active: true,
    log: false,
    nodes: {kind: 'all'},
  },
]

export const desired: Desired = {
  project: {
    name: 'acme',
    defaults: {mtu: 1420, keepalive: 25, dns: [ip('1.1.1.1')], tunnel: 'full', firewall: 'allow'},
    subscription: {title: 'Acme VPN', updateIntervalHours: 12},
    state: {quarantineDays: 30},
  },
  tariffs: [
    {
      name: 'basic',
      durationDays: null,
      durationMonths: 1,
      trafficLimit: 100 * 2 ** 30,
      trafficReset: 'monthly',
      startOnFirstUse: false,
      maxDevices: 2,
      protocols: ['wireguard', 'vmess'],
      nodes: {kind: 'all'},
    },
    {
      name: 'pro',
      durationDays: null,
      durationMonths: null,
      trafficLimit: null,
      trafficReset: 'none',
      startOnFirstUse: false,
      maxDevices: 5,
      protocols: ['wireguard', 'vless', 'vmess', 'trojan', 'shadowsocks'],
      nodes: {kind: 'labels', labels: {region: 'eu'}},
    },
  ],
  users: [
    {
      name: 'alice',
      status: 'active',
      tariff: 'pro',
      groups: ['admins'],
      subscription: {cancelled: false},
      links: ['default', 'phone'],
    },
    {
      name: 'bob',
      status: 'active',
      tariff: 'basic',
      groups: ['guests'],
      subscription: {cancelled: false},
      links: ['default'],
    },
    {
      name: 'carol',
      status: 'active',
      tariff: 'basic',
      groups: [],
      subscription: {cancelled: false},
      links: ['default'],
    },
    {
      name: 'dave',
      status: 'disabled',
      tariff: 'pro',
      groups: ['admins'],
      subscription: {cancelled: false},
      links: ['default'],
    },
  ],
  groups: [{name: 'admins'}, {name: 'guests'}],
  peers: [
    {
      name: 'alice-laptop',
      user: 'alice',
      node: 'fra-1',
      interface: 'wg0',
      publicKey: KEYS.alice.publicKey,
      addresses: [ip('10.66.0.2'), ip('fd66::2')],
      allowedIPs: [],
      keepalive: 25,
      tunnel: 'full',
      enabled: true,
    },
    {
      name: 'bob-phone',
      user: 'bob',
      node: 'fra-1',
      interface: 'wg0',
      publicKey: KEYS.bob.publicKey,
      addresses: [],
      allowedIPs: [],
      keepalive: 25,
      tunnel: 'split',
      enabled: true,
    },
    {
      name: 'carol-laptop',
      user: 'carol',
      node: 'fra-1',
      interface: 'wg0',
      publicKey: KEYS.carol.publicKey,
      addresses: [],
      allowedIPs: [],
      keepalive: 0,
      tunnel: 'split',
      enabled: true,
    },
    {
      name: 'office-router',
      node: 'fra-1',
      interface: 'wg0',
      publicKey: KEYS.site.publicKey,
      addresses: [ip('10.66.0.250')],
      allowedIPs: [cidr('192.168.50.0/24')],
      keepalive: 25,
      tunnel: 'split',
      enabled: true,
    },
  ],
  nodes: [node],
  rules,
  services: [gitService],
}

export const nodeSecrets: NodeSecrets = {
  wireguard: new Map([['wg0', KEYS.gatewayWg0]]),
  reality: new Map([['vless-reality', KEYS.reality]]),
  shadowsocks: new Map([['ss2022', KEYS.shadowsocks]]),
}

export const state: StateValues = {
  preview: false,
  nodes: new Map([['fra-1', nodeSecrets]]),
  links: new Map(Object.entries(UUIDS)),
  addresses: new Map([
    ['alice-laptop', [ip('10.66.0.2'), ip('fd66::2')]],
    ['bob-phone', [ip('10.66.0.3'), ip('fd66::3')]],
    ['carol-laptop', [ip('10.66.0.4'), ip('fd66::4')]],
    ['office-router', [ip('10.66.0.250')]],
  ]),
  activeUsers: new Set(['alice', 'bob', 'carol']),
}
