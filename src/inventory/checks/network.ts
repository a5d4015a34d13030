/**
 * Addresses, prefixes, ports and keys: everything WireGuard or the kernel
 * would reject, or worse, silently accept and mis-route (formats.md §2.4).
 */
import type {Node, Peer, WireguardInterface} from '../../model/desired.js'
import {
  type Cidr,
  cidrContains,
  cidrKey,
  cidrSize,
  cidrsOverlap,
  formatAddress,
  formatInterfaceAddress,
  formatNetwork,
  ipKey,
  isReservedHost,
} from '../../model/ip.js'
import type {Declared} from '../declared.js'
import type {Check, CheckContext} from './context.js'

export const checkInterfaces: Check = ({set, desired, reporter}) => {
  for (const declared of set.Node) {
    const node = desired.nodes.find((n) => n.name === declared.name)
    if (!node) continue
    const seen = new Map<string, number>()
    for (const [index, iface] of node.interfaces.entries()) {
      const path = ['wireguard', 'interfaces', index]
      const first = seen.get(iface.name)
      if (first !== undefined) {
        reporter.report(declared, {
          path: [...path, 'name'],
          code: 'duplicate_name',
          message: `interface ${iface.name} is declared twice (also at interfaces[${first}])`,
          hint: 'rename one of them or merge the two; wg-quick names the device and its file after the interface',
        })
      }
      seen.set(iface.name, index)
      const families = iface.addresses.map((c) => c.family)
      if (new Set(families).size !== families.length) {
        reporter.report(declared, {
          path: [...path, 'address'],
          code: 'invalid_value',
          message: `interface ${iface.name} has two addresses of the same family`,
          hint: 'give at most one IPv4 and one IPv6 prefix',
        })
      }
      for (const cidr of iface.addresses) {
        if (cidr.address === cidr.network && cidrSize(cidr) > 1n) {
          reporter.report(declared, {
            path: [...path, 'address'],
            code: 'invalid_value',
            message: `interface ${iface.name} address ${formatNetwork(cidr)} is the network address`,
            hint: `give the gateway's own address with the prefix, e.g. ${formatAddressPlusOne(cidr)}`,
          })
        }
        if (cidrSize(cidr) < 4n) {
          reporter.report(declared, {
            path: [...path, 'address'],
            code: 'prefix_too_small',
            message: `interface ${iface.name} prefix ${formatNetwork(cidr)} leaves no room for peers`,
            hint: `use a shorter prefix, e.g. ${formatInterfaceAddress({...cidr, prefix: cidr.family === 4 ? 24 : 64})}`,
          })
        }
      }
      for (const [otherIndex, other] of node.interfaces.entries()) {
        if (otherIndex >= index) break
        for (const a of iface.addresses) {
          for (const b of other.addresses) {
            if (cidrsOverlap(a, b)) {
              reporter.report(declared, {
                path: [...path, 'address'],
                code: 'overlapping_cidr',
                message: `interface ${iface.name} (${formatNetwork(a)}) overlaps ${other.name} (${formatNetwork(b)})`,
                hint: 'give every interface of a node its own prefix',
              })
            }
          }
        }
      }
    }
  }
}

function formatAddressPlusOne(cidr: {family: 4 | 6; network: bigint; prefix: number; address: bigint}): string {
  return formatInterfaceAddress({...cidr, address: cidr.network + 1n})
}

interface Listener {
  readonly proto: 'tcp' | 'udp'
  readonly port: number
  readonly listen: string
  readonly what: string
  readonly path: (string | number)[]
}

/** WireGuard (UDP), xray (TCP, Shadowsocks also UDP), the xray API, DNS and SSH on one node. */
export const checkPorts: Check = ({set, desired, reporter}) => {
  for (const declared of set.Node) {
    const node = desired.nodes.find((n) => n.name === declared.name)
    if (!node) continue
    const listeners: Listener[] = [
      {proto: 'tcp', port: node.ssh.port, listen: 'any', what: 'SSH', path: ['ssh', 'port']},
    ]
    for (const [i, iface] of node.interfaces.entries()) {
      listeners.push({
        proto: 'udp',
        port: iface.listenPort,
        listen: 'any',
        what: `WireGuard ${iface.name}`,
        path: ['wireguard', 'interfaces', i, 'listenPort'],
      })
    }
    if (node.dns.enabled) {
      for (const proto of ['udp', 'tcp'] as const) {
        listeners.push({proto, port: 53, listen: 'any', what: 'DNS (dnsmasq)', path: ['dns']})
      }
    }
    if (node.xray) {
      listeners.push({
        proto: 'tcp',
        port: node.xray.apiPort,
        listen: '127.0.0.1',
        what: 'xray API',
        path: ['xray', 'apiPort'],
      })
      for (const [i, inbound] of node.xray.inbounds.entries()) {
        const listen = inbound.listen === '0.0.0.0' || inbound.listen === '::' ? 'any' : inbound.listen
        const path = ['xray', 'inbounds', i, 'port']
        listeners.push({proto: 'tcp', port: inbound.port, listen, what: `xray inbound ${inbound.tag}`, path})
        if (inbound.protocol === 'shadowsocks') {
          listeners.push({proto: 'udp', port: inbound.port, listen, what: `xray inbound ${inbound.tag}`, path})
        }
      }
    }
    const reported = new Set<string>()
    for (const [i, a] of listeners.entries()) {
      for (const b of listeners.slice(0, i)) {
        if (a.proto !== b.proto || a.port !== b.port || a.what === b.what) continue
        if (a.listen !== 'any' && b.listen !== 'any' && a.listen !== b.listen) continue
        const key = `${a.what}|${b.what}|${a.proto}`
        if (reported.has(key)) continue
        reported.add(key)
        reporter.report(declared, {
          path: a.path,
          code: 'port_collision',
          message: `${a.what} and ${b.what} both use ${a.proto}/${a.port}`,
          hint: 'give each listener on a node its own port',
        })
      }
    }
  }
}

export const checkPeers: Check = (context) => {
  const {set, desired, reporter, serverKeys} = context
  const nodes = new Map(desired.nodes.map((n) => [n.name, n]))
  const peers = new Map(desired.peers.map((p) => [p.name, p]))
  const addressOwners = new Map<string, string>()
  const routes = new Map<string, NodeRoutes>()
  const keyOwners = new Map<string, Declared<'Peer'>>()
  const capacity = new Map<string, {count: number; declared: Declared<'Peer'>}>()

  for (const declared of set.Peer) {
    const peer = peers.get(declared.name)
    if (!peer) continue
    if (!declared.spec.node) {
      const candidates = desired.nodes.filter((n) => n.interfaces.some((i) => i.name === peer.interface))
      // A node that failed its schema may be the one meant; it is reported already.
      if (candidates.length !== 1 && set.invalid.Node.size === 0) {
        reporter.report(declared, {
          path: ['interface'],
          code: candidates.length === 0 ? 'unresolved_reference' : 'ambiguous_interface',
          message:
            candidates.length === 0
              ? `no node has an interface named ${peer.interface}`
              : `interface ${peer.interface} exists on several nodes (${candidates.map((n) => n.name).join(', ')})`,
          hint: 'add `node: NAME` to say which one',
        })
      }
      if (candidates.length !== 1) continue
    }
    const node = nodes.get(peer.node)
    if (!node) continue
    const iface = node.interfaces.find((i) => i.name === peer.interface)
    if (!iface) {
      reporter.report(declared, {
        path: ['interface'],
        code: 'unresolved_reference',
        message: `node ${node.name} has no interface ${peer.interface}`,
        hint: `use one of: ${node.interfaces.map((i) => i.name).join(', ') || '(the node declares no WireGuard interfaces)'}`,
      })
      continue
    }
    const where = `${node.name}/${iface.name}`

    for (const [i, address] of peer.addresses.entries()) {
      const path = Array.isArray(declared.spec.address) ? ['address', i] : ['address']
      const cidr = iface.addresses.find((c) => cidrContains(c, address))
      if (!cidr) {
        reporter.report(declared, {
          path,
          code: 'address_outside_cidr',
          message: `address ${formatAddress(address)} is outside ${iface.name} (${iface.addresses.map(formatNetwork).join(', ')})`,
          hint: 'pick an address inside the interface prefix, or omit address to have one allocated',
        })
        continue
      }
      if (isReservedHost(cidr, address.value)) {
        reporter.report(declared, {
          path,
          code: 'address_reserved',
          message: `address ${formatAddress(address)} is the ${address.value === cidr.address ? "gateway's own" : 'network or broadcast'} address of ${iface.name}`,
          hint: 'pick another address inside the prefix, or omit address to have one allocated',
        })
        continue
      }
      const key = `${where}|${ipKey(address)}`
      const owner = addressOwners.get(key)
      if (owner) {
        reporter.report(declared, {
          path,
          code: 'address_reused',
          message: `address ${formatAddress(address)} is already used by peer ${owner} on ${where}`,
          hint: 'give each peer of an interface its own address, or omit address to have a free one allocated',
        })
      } else {
        addressOwners.set(key, peer.name)
      }
    }

    checkAllowedIPs(context, declared, peer, node, iface, routes)

    const sameKey = keyOwners.get(peer.publicKey)
    if (sameKey) {
      const other = peers.get(sameKey.name)
      const sameInterface = other && other.node === peer.node && other.interface === peer.interface
      reporter.report(declared, {
        path: ['publicKey'],
        code: 'duplicate_public_key',
        severity: sameInterface ? 'error' : 'warning',
        message: `publicKey is also used by peer ${sameKey.name}${sameInterface ? ` on ${where}` : ''}`,
        hint: 'every device needs its own key pair (wg genkey | tee private | wg pubkey)',
      })
    } else {
      keyOwners.set(peer.publicKey, declared)
    }
    const serverKey = serverKeys.get(where)
    if (serverKey !== undefined && serverKey === peer.publicKey) {
      reporter.report(declared, {
        path: ['publicKey'],
        code: 'peer_key_is_server_key',
        message: `publicKey is the public key of ${where} itself`,
        hint: 'WireGuard silently drops such a peer; use the key of the device',
      })
    }
    if (peer.enabled) {
      const entry = capacity.get(where)
      capacity.set(where, {count: (entry?.count ?? 0) + 1, declared: entry?.declared ?? declared})
    }
  }

  for (const [where, {count, declared}] of capacity) {
    const [nodeName, ifaceName] = where.split('/')
    const iface = nodes.get(nodeName ?? '')?.interfaces.find((i) => i.name === ifaceName)
    for (const cidr of iface?.addresses ?? []) {
      // network, gateway and (IPv4) broadcast are never handed out
      const usable = cidrSize(cidr) - (cidr.family === 4 ? 3n : 2n)
      if (BigInt(count) > usable) {
        reporter.report(declared, {
          path: ['interface'],
          code: 'address_pool_exhausted',
          message: `${where} has ${count} peers but ${formatNetwork(cidr)} holds only ${usable} peer addresses`,
          hint: 'use a larger prefix for the interface or spread peers over more interfaces',
        })
      }
    }
  }
}

/** A network a node routes to one of its peers (an allowedIPs entry). */
interface Route {
  readonly cidr: Cidr
  readonly peer: string
  readonly iface: string
}

/** A node's routes so far: by network (the first owner), and all of them. */
interface NodeRoutes {
  readonly byKey: Map<string, Route>
  readonly list: Route[]
}

/**
 * A peer's allowedIPs become routes on its node: within one interface
 * WireGuard picks the peer by longest prefix (and silently moves a duplicated
 * entry to the later peer, formats.md §2.4), and across the node's interfaces
 * wg-quick adds one kernel route per entry. So per node: the same network
 * twice is an error wherever it is, an overlap across two interfaces is an
 * error (the second route fails, or the longer prefix takes the traffic), and
 * no entry may overlap a tunnel prefix of any of the node's interfaces.
 */
function checkAllowedIPs(
  {reporter}: CheckContext,
  declared: Declared<'Peer'>,
  peer: Peer,
  node: Node,
  iface: WireguardInterface,
  routes: Map<string, NodeRoutes>,
): void {
  let nodeRoutes = routes.get(node.name)
  if (!nodeRoutes) routes.set(node.name, (nodeRoutes = {byKey: new Map(), list: []}))
  const where = `${node.name}/${iface.name}`
  for (const [i, cidr] of peer.allowedIPs.entries()) {
    const path = ['allowedIPs', i]
    const key = cidrKey(cidr)
    const same = nodeRoutes.byKey.get(key)
    const overlapping = same
      ? undefined
      : nodeRoutes.list.find((route) => route.iface !== iface.name && cidrsOverlap(route.cidr, cidr))
    if (same) {
      const sameInterface = same.iface === iface.name
      reporter.report(declared, {
        path,
        code: 'duplicate_allowed_ips',
        message: `allowedIPs ${formatNetwork(cidr)} is also routed to peer ${same.peer} on ${node.name}/${same.iface}`,
        hint: sameInterface
          ? 'WireGuard would silently give it to only one of them; route each network to one peer'
          : `wg-quick would fail to add the second route for it; route each network to one peer, or move one of the peers to another node`,
      })
    } else if (overlapping) {
      reporter.report(declared, {
        path,
        code: 'overlapping_allowed_ips',
        message: `allowedIPs ${formatNetwork(cidr)} on ${where} overlaps ${formatNetwork(overlapping.cidr)} of peer ${overlapping.peer} on ${node.name}/${overlapping.iface}`,
        hint: 'the kernel would send the common addresses to whichever interface has the longer prefix; route each network through one interface of the node',
      })
    }
    if (!same) {
      const route = {cidr, peer: peer.name, iface: iface.name}
      nodeRoutes.byKey.set(key, route)
      nodeRoutes.list.push(route)
    }
    for (const other of node.interfaces) {
      for (const tunnel of other.addresses) {
        if (!cidrsOverlap(tunnel, cidr)) continue
        reporter.report(declared, {
          path,
          code: 'overlapping_cidr',
          message: `allowedIPs ${formatNetwork(cidr)} overlaps the tunnel prefix ${formatNetwork(tunnel)} of ${other.name}`,
          hint:
            other.name === iface.name
              ? `list only networks behind the peer; its own tunnel address is routed already, so drop ${formatNetwork(cidr)} or narrow it to exclude ${formatNetwork(tunnel)}`
              : `the node routes ${formatNetwork(tunnel)} to ${other.name}; drop ${formatNetwork(cidr)} or narrow it to exclude that prefix`,
        })
      }
    }
  }
}
