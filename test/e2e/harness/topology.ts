/**
 * The end-to-end topology, in namespaces of one World:
 *
 *                       wan (a bridge, 10.231.0.0/24, fd31::/64)
 *      ┌──────────┬──────────┼──────────┬──────────┬──────────┐
 *     ctl        gw1        gw2         c1         c2         c3
 *   (nexus)   .11 │wg0     .12 │wg0     .21        .22        .23
 *                 │            │
 *                 └── svc ─────┘        lan (a bridge in svc, 10.231.1.0/24)
 *                   .10 (gw1 .11, gw2 .12)
 *
 * - ctl runs the nexus CLI and reaches the gateways' sshd over the wan.
 * - gw1 and gw2 are the gateways: sshd, wireguard-go (wg0, started by
 *   wg-quick through nexus's reload commands), nftables, dnsmasq; gw1 also
 *   v2ray. They forward between their tunnels and the lan.
 * - c1..c3 are clients: only a wan address, no default route; their tunnels
 *   (full: 0.0.0.0/0, ::/0) are the only way to the lan.
 * - svc is the internal service host and the gateways' DNS upstream.
 *
 * No namespace has a route out of this topology, so nothing can reach
 * anything else.
 */
import type {World} from './world.js'

export const WAN = {prefix: 24, prefix6: 64}

export const ADDR = {
  ctl: {wan: '10.231.0.2', wan6: 'fd31::2'},
  gw1: {wan: '10.231.0.11', wan6: 'fd31::11', lan: '10.231.1.11', tunnel: '10.231.64.1', tunnel6: 'fd31:64::1'},
  gw2: {wan: '10.231.0.12', wan6: 'fd31::12', lan: '10.231.1.12', tunnel: '10.231.65.1', tunnel6: 'fd31:65::1'},
  c1: {wan: '10.231.0.21', wan6: 'fd31::21'},
  c2: {wan: '10.231.0.22', wan6: 'fd31::22'},
  c3: {wan: '10.231.0.23', wan6: 'fd31::23'},
  svc: {lan: '10.231.1.10', lan6: 'fd31:1::10'},
} as const

export type GatewayName = 'gw1' | 'gw2'
export type ClientName = 'c1' | 'c2' | 'c3'

export const GATEWAYS: readonly GatewayName[] = ['gw1', 'gw2']
export const CLIENTS: readonly ClientName[] = ['c1', 'c2', 'c3']

/** Creates every namespace and link, addresses them, and turns forwarding on in the gateways. */
export async function buildTopology(world: World): Promise<void> {
  for (const name of ['wan', 'ctl', ...GATEWAYS, ...CLIENTS, 'svc']) await world.addHost(name)

  // The wan: a bridge in its own namespace, one port per member.
  await world.ip('wan', ['link', 'add', 'br0', 'type', 'bridge'])
  await world.ip('wan', ['link', 'set', 'br0', 'up'])
  for (const member of ['ctl', ...GATEWAYS, ...CLIENTS] as const) {
    await world.link('wan', `p-${member}`, member, 'wan0')
    await world.ip('wan', ['link', 'set', `p-${member}`, 'master', 'br0'])
    await world.ip(member, ['addr', 'add', `${ADDR[member].wan}/${WAN.prefix}`, 'dev', 'wan0'])
    await world.ip(member, ['addr', 'add', `${ADDR[member].wan6}/${WAN.prefix6}`, 'dev', 'wan0', 'nodad'])
  }

  // The lan: a bridge in svc, which also holds the service address.
  await world.ip('svc', ['link', 'add', 'br1', 'type', 'bridge'])
  await world.ip('svc', ['link', 'set', 'br1', 'up'])
  await world.ip('svc', ['addr', 'add', `${ADDR.svc.lan}/24`, 'dev', 'br1'])
  await world.ip('svc', ['addr', 'add', `${ADDR.svc.lan6}/64`, 'dev', 'br1', 'nodad'])
  for (const gw of GATEWAYS) {
    await world.link('svc', `p-${gw}`, gw, 'lan0')
    await world.ip('svc', ['link', 'set', `p-${gw}`, 'master', 'br1'])
    await world.ip(gw, ['addr', 'add', `${ADDR[gw].lan}/24`, 'dev', 'lan0'])
    // Per-namespace sysctls: forwarding between the tunnel and the lan.
    await world.sh(gw, 'sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1')
  }
}
