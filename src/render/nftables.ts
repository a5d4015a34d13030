/**
 * A node's `table inet nexus`, loadable with `nft -f` (formats.md §3).
 *
 * Only traffic entering or leaving the node's WireGuard interfaces (the
 * "tunnels") is filtered, and every base chain has `policy accept`, so other
 * software's traffic (Docker, other firewalls) is never decided here: an
 * `accept` in this table ends only this table's chains.
 *
 *   nx_input        SSH first; then packets from the tunnels to the gateway
 *                   itself: conntrack, anti-spoofing, DNS, nx_egress
 *   nx_forward      packets from the tunnels (nx_egress) and new connections
 *                   from the world to the peers (nx_ingress)
 *   nx_egress       service gates, egress Rules, default verdict
 *   nx_ingress      ingress Rules, then drop
 *   nx_postrouting  masquerade for interfaces with `nat`
 *   r_<rule>_v4/6   a Rule whose sources or destinations need several matches
 */

import {compareText} from '../model/compare.js'
import type {Node, Rule, Service} from '../model/desired.js'
import type {Fleet} from '../model/fleet.js'
import {formatNetwork} from '../model/ip.js'
import {headerLines} from './header.js'
import {NftAddressBook} from './nft-addresses.js'
import {type NftRuleContext, newRuleContext, renderRule, renderServiceGate} from './nft-rules.js'
import {FAMILIES, familySetName, ipKeyword, nftComment, nftInterfaces, nftLog, renderSet} from './nft-syntax.js'

const PEER_SOURCES = 'nx_peers'

interface Chain {
  readonly name: string
  /** The `type … hook … priority …; policy …;` line of a base chain. */
  readonly hook?: string
  readonly body: readonly string[]
}

export function renderNftables(fleet: Fleet, node: Node): string {
  const book = new NftAddressBook(fleet, node)
  const ctx = newRuleContext(book)
  const chains = book.tunnels.length === 0 ? [inputChain(node, undefined)] : tunnelChains(fleet, node, ctx)
  const ruleChains = [...ctx.chains.values()].sort((a, b) => compareText(a.name, b.name))
  const blocks = [...ctx.sets.declarations().map(renderSet), ...[...chains, ...ruleChains].map(renderChain)]
  const lines = [
    '#!/usr/sbin/nft -f',
    ...headerLines(fleet.state).map((line) => `# ${line}`),
    `# node ${node.name}`,
    '# Xray users are not visible to nftables (their traffic leaves from the xray',
    '# process); their ACLs are xray routing rules.',
    '',
    // Declaring the table first makes the delete succeed on a fresh host, and
    // the file is one transaction: Nexus's table, sets included, is replaced
    // atomically and nobody else's is touched (formats.md §3.1).
    'table inet nexus',
    'delete table inet nexus',
    '',
    'table inet nexus {',
    blocks.map((block) => block.map(indent).join('\n')).join('\n\n'),
    '}',
  ]
  return `${lines.join('\n')}\n`
}

function tunnelChains(fleet: Fleet, node: Node, ctx: NftRuleContext): Chain[] {
  const tunnels = nftInterfaces(ctx.book.tunnels)
  const rules = sortRules(fleet.rulesOn(node))
  const services = [...fleet.servicesOn(node)].sort((a, b) => compareText(a.name, b.name))
  const chains = [
    inputChain(node, tunnels),
    forwardChain(tunnels),
    antispoofChain(ctx),
    egressChain(fleet, rules, services, ctx),
    ingressChain(rules, ctx),
  ]
  const nat = natChain(node, tunnels)
  if (nat) chains.push(nat)
  return chains
}

/** Evaluation order, first match wins: priority descending, then name (as the Desired model keeps them). */
function sortRules(rules: readonly Rule[]): Rule[] {
  return [...rules].sort((a, b) => b.priority - a.priority || compareText(a.name, b.name))
}

function inputChain(node: Node, tunnels: string | undefined): Chain {
  const body = [
    '# SSH management is never locked out: this comes before any drop.',
    `tcp dport ${node.ssh.port} accept ${nftComment('nexus ssh management')}`,
  ]
  if (tunnels !== undefined) {
    body.push(
      `iifname != ${tunnels} accept`,
      'ct state established,related accept',
      'ct state invalid drop',
      'jump nx_antispoof',
    )
    if (node.dns.enabled) {
      body.push(
        `udp dport 53 counter accept ${nftComment('nexus dns')}`,
        `tcp dport 53 counter accept ${nftComment('nexus dns')}`,
      )
    }
    // Rules apply to peers reaching the gateway itself as they do to forwarded traffic.
    body.push('jump nx_egress')
  }
  return {name: 'nx_input', hook: 'type filter hook input priority filter; policy accept;', body}
}

function forwardChain(tunnels: string): Chain {
  return {
    name: 'nx_forward',
    hook: 'type filter hook forward priority filter; policy accept;',
    body: [
      `iifname != ${tunnels} oifname != ${tunnels} accept`,
      'ct state established,related accept',
      'ct state invalid drop',
      `iifname ${tunnels} jump nx_antispoof`,
      `iifname ${tunnels} jump nx_egress`,
      // What is left leaves through a tunnel from elsewhere: a new connection from the world to a peer.
      'jump nx_ingress',
    ],
  }
}

/**
 * A tunnel packet must come from a known peer address or a network a peer
 * routes (its allowedIPs). WireGuard checks this per peer already; this also
 * covers peers Nexus does not know (disabled, or added by hand).
 */
function antispoofChain(ctx: NftRuleContext): Chain {
  const body: string[] = []
  for (const family of FAMILIES) {
    const name = familySetName(PEER_SOURCES, family)
    const elements = ctx.book.peerSources.filter((cidr) => cidr.family === family)
    const set = ctx.sets.use({kind: 'interval', name, family, elements})
    body.push(`${ipKeyword(family)} saddr ${set} return`)
  }
  body.push(`counter ${nftLog('nexus unknown-peer: ')} drop`)
  return {name: 'nx_antispoof', body}
}

function egressChain(fleet: Fleet, rules: readonly Rule[], services: readonly Service[], ctx: NftRuleContext): Chain {
  const gates = services.map((service) => renderServiceGate(service, ctx))
  const egress = rules.filter((rule) => rule.direction !== 'ingress').flatMap((rule) => renderRule(rule, ctx))
  const allowByDefault = fleet.desired.project.defaults.firewall === 'allow'
  return {
    name: 'nx_egress',
    body: [
      ...gates.flatMap((gate) => gate.deny),
      ...egress,
      ...gates.flatMap((gate) => gate.allow),
      allowByDefault
        ? `counter accept ${nftComment('nexus default allow')}`
        : `counter drop ${nftComment('nexus default deny')}`,
    ],
  }
}

function ingressChain(rules: readonly Rule[], ctx: NftRuleContext): Chain {
  const ingress = rules.filter((rule) => rule.direction !== 'egress').flatMap((rule) => renderRule(rule, ctx))
  return {name: 'nx_ingress', body: [...ingress, `counter drop ${nftComment('nexus ingress default deny')}`]}
}

function natChain(node: Node, tunnels: string): Chain | undefined {
  const body: string[] = []
  const interfaces = [...node.interfaces].sort((a, b) => compareText(a.name, b.name))
  for (const iface of interfaces) {
    if (!iface.nat) continue
    for (const family of FAMILIES) {
      for (const network of iface.addresses.filter((cidr) => cidr.family === family)) {
        const source = `${ipKeyword(family)} saddr ${formatNetwork(network)}`
        body.push(`${source} oifname != ${tunnels} masquerade ${nftComment(`nat ${iface.name}`)}`)
      }
    }
  }
  if (body.length === 0) return undefined
  return {name: 'nx_postrouting', hook: 'type nat hook postrouting priority srcnat; policy accept;', body}
}

function renderChain(chain: Chain): string[] {
  const lines = [`chain ${chain.name} {`]
  if (chain.hook) lines.push(`\t${chain.hook}`)
  for (const line of chain.body) lines.push(`\t${line}`)
  lines.push('}')
  return lines
}

function indent(line: string): string {
  return `\t${line}`
}
