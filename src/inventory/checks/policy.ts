/** Tariffs, devices, rules and services: policy that must make sense before it is rendered. */
import type {Protocol} from '../../model/declarations.js'
import type {Node} from '../../model/desired.js'
import {nodeMatches} from '../../model/selectors.js'
import type {Check} from './context.js'

/** Whether a node that is not disabled serves a protocol. */
function offers(node: Node, protocol: Protocol): boolean {
  if (node.status === 'disabled') return false
  if (protocol === 'wireguard') return node.interfaces.length > 0
  return node.xray?.inbounds.some((inbound) => inbound.protocol === protocol) ?? false
}

export const checkTariffs: Check = ({set, desired, reporter}) => {
  for (const declared of set.Tariff) {
    const tariff = desired.tariffs.find((t) => t.name === declared.name)
    if (!tariff) continue
    if (declared.spec.durationDays != null && declared.spec.durationMonths != null) {
      reporter.report(declared, {
        path: ['durationMonths'],
        code: 'invalid_combination',
        message: 'durationDays and durationMonths are both set',
        hint: 'keep one of them (or neither, for a tariff that only ends by traffic or cancellation)',
      })
    }
    if (tariff.trafficReset !== 'none' && tariff.trafficLimit === null) {
      reporter.report(declared, {
        path: ['trafficReset'],
        code: 'ignored_field',
        severity: 'warning',
        message: 'trafficReset has no effect without a trafficLimit',
        hint: 'add a trafficLimit (e.g. 200GiB), or remove trafficReset',
      })
    }
    // With a node that failed its schema, what the tariff reaches is unknown; that node is reported already.
    if (set.invalid.Node.size > 0) continue
    const nodes = desired.nodes.filter((node) => nodeMatches(tariff.nodes, node))
    if (nodes.length === 0) {
      reporter.report(declared, {
        path: ['nodes'],
        code: 'selector_matches_nothing',
        severity: 'warning',
        message: 'its node selector matches no node',
        hint: 'name declared nodes, use labels that a node has, or `nodes: all`',
      })
      continue
    }
    for (const [i, protocol] of (declared.spec.protocols ?? []).entries()) {
      if (!nodes.some((node) => offers(node, protocol))) {
        reporter.report(declared, {
          path: ['protocols', i],
          code: 'protocol_unavailable',
          message: `no node it allows offers ${protocol}`,
          hint:
            protocol === 'wireguard'
              ? 'add a WireGuard interface to one of its nodes, or drop the protocol'
              : `add a ${protocol} inbound to one of its nodes, or drop the protocol`,
        })
      }
    }
  }
}

/**
 * Devices are a user's enabled WireGuard peers plus, when the tariff allows an
 * xray protocol, each subscription link (declared, or the implicit "default").
 */
export const checkDeviceQuota: Check = ({set, desired, reporter}) => {
  const tariffs = new Map(desired.tariffs.map((t) => [t.name, t]))
  const users = new Map(desired.users.map((u) => [u.name, u]))
  const peerCounts = new Map<string, number>()
  for (const peer of desired.peers) {
    if (peer.user && peer.enabled) peerCounts.set(peer.user, (peerCounts.get(peer.user) ?? 0) + 1)
  }
  for (const declared of set.User) {
    const tariff = declared.spec.tariff ? tariffs.get(declared.spec.tariff) : undefined
    if (!tariff || tariff.maxDevices === null) continue
    const peers = peerCounts.get(declared.name) ?? 0
    const usesLinks = tariff.protocols.some((protocol) => protocol !== 'wireguard')
    const links = usesLinks ? (users.get(declared.name)?.links.length ?? 0) : 0
    if (peers + links > tariff.maxDevices) {
      reporter.report(declared, {
        path: ['tariff'],
        code: 'device_quota_exceeded',
        message: `has ${peers} peer(s) and ${links} link(s), more than the ${tariff.maxDevices} devices tariff ${tariff.name} allows`,
        hint: 'disable or remove devices, or move the user to a tariff with a larger maxDevices',
      })
    }
  }
}

export const checkRules: Check = ({set, desired, reporter}) => {
  for (const declared of set.Rule) {
    const rule = desired.rules.find((r) => r.name === declared.name)
    if (!rule) continue
    if (rule.action === 'rate_limit' && !rule.rate) {
      reporter.report(declared, {
        path: ['action'],
        code: 'missing_rate',
        message: 'a rate_limit rule needs a rate',
        hint: 'add `rate: {pps: 100, burst: 50}`',
      })
    }
    if (rule.action !== 'rate_limit' && declared.spec.rate) {
      reporter.report(declared, {
        path: ['rate'],
        code: 'ignored_field',
        severity: 'warning',
        message: `rate has no effect on a ${rule.action} rule`,
        hint: 'remove rate, or set `action: rate_limit`',
      })
    }
    for (const field of ['ports', 'sourcePorts'] as const) {
      if (declared.spec[field] !== undefined && (rule.protocol === 'any' || rule.protocol === 'icmp')) {
        reporter.report(declared, {
          path: [field],
          code: 'ports_without_protocol',
          message: `${field} need protocol tcp or udp (protocol is ${rule.protocol})`,
          hint: 'set `protocol: tcp` or `protocol: udp`; write two rules for both',
        })
      }
    }
    if (
      rule.nodes.kind !== 'all' &&
      set.invalid.Node.size === 0 &&
      !desired.nodes.some((node) => nodeMatches(rule.nodes, node))
    ) {
      reporter.report(declared, {
        path: ['nodes'],
        code: 'selector_matches_nothing',
        severity: 'warning',
        message: 'its node selector matches no node',
        hint: 'name declared nodes, use labels that a node has, or remove `nodes` to apply it everywhere',
      })
    }
  }
}

export const checkServices: Check = ({set, desired, reporter}) => {
  const domainOwners = new Map<string, string>()
  for (const declared of set.Service) {
    const service = desired.services.find((s) => s.name === declared.name)
    if (!service) continue
    for (const [i, domain] of declared.spec.domains.entries()) {
      const key = domain.toLowerCase()
      const owner = domainOwners.get(key)
      if (owner && owner !== service.name) {
        reporter.report(declared, {
          path: ['domains', i],
          code: 'duplicate_domain',
          message: `domain ${domain} is also declared by service ${owner}`,
          hint: 'a domain can point at one service only',
        })
      } else {
        domainOwners.set(key, service.name)
      }
    }
    const families = service.target.addresses.map((a) => a.family)
    if (new Set(families).size !== families.length) {
      reporter.report(declared, {
        path: ['target', 'address'],
        code: 'invalid_value',
        message: 'target has two addresses of the same family',
        hint: 'give at most one IPv4 and one IPv6 address',
      })
    }
    if (
      service.nodes.kind !== 'all' &&
      set.invalid.Node.size === 0 &&
      !desired.nodes.some((node) => nodeMatches(service.nodes, node))
    ) {
      reporter.report(declared, {
        path: ['nodes'],
        code: 'selector_matches_nothing',
        severity: 'warning',
        message: 'its node selector matches no node, so no gateway serves it',
        hint: 'name declared nodes, use labels that a node has, or remove `nodes` to offer it everywhere',
      })
    }
    if (service.access.groups.length === 0 && service.access.users.length === 0) {
      reporter.report(declared, {
        path: ['access'],
        code: 'unreachable_service',
        severity: 'warning',
        message: 'nobody is granted access, so every VPN client is blocked from it',
        hint: 'add access.groups or access.users',
      })
    }
  }
}

/** A peer its owner's tariff does not allow on its node is silently left out of renders: say so. */
export const checkPeerAccess: Check = ({set, desired, reporter}) => {
  const users = new Map(desired.users.map((u) => [u.name, u]))
  const tariffs = new Map(desired.tariffs.map((t) => [t.name, t]))
  const nodes = new Map(desired.nodes.map((n) => [n.name, n]))
  const peers = new Map(desired.peers.map((p) => [p.name, p]))
  for (const declared of set.Peer) {
    const peer = peers.get(declared.name)
    const user = peer?.user === undefined ? undefined : users.get(peer.user)
    const tariff = user?.tariff === undefined ? undefined : tariffs.get(user.tariff)
    const node = peer ? nodes.get(peer.node) : undefined
    if (!peer?.enabled || !user || user.status !== 'active' || !tariff || !node) continue
    const reason = !tariff.protocols.includes('wireguard')
      ? `tariff ${tariff.name} does not include wireguard`
      : !nodeMatches(tariff.nodes, node)
        ? `tariff ${tariff.name} does not allow node ${node.name}`
        : undefined
    if (reason) {
      reporter.report(declared, {
        path: ['node' in declared.spec && declared.spec.node ? 'node' : 'interface'],
        code: 'peer_not_allowed',
        severity: 'warning',
        message: `is not carried: ${reason}`,
        hint: 'move the peer to a node the tariff allows, or change the tariff',
      })
    }
  }
}
