/**
 * A node's Xray server `config.json` (formats.md §5). Written for Xray v26 in
 * the subset v2ray 4.34 also parses, so CI can smoke-test it with Debian's
 * v2ray (§5.8): classic-mode API, `clients`, `tcp`, rules with `type: field`.
 */
import type {Node, Service, XrayOutbound} from '../model/desired.js'
import type {Fleet} from '../model/fleet.js'
import type {NodeSecrets} from '../model/state-values.js'
import {PREVIEW_NOTICE} from './header.js'
import {apiInbound, renderInbound} from './xray-inbounds.js'
import {formatXrayJson} from './xray-json.js'
import {
  API_TAG,
  BLOCK_TAG,
  DIRECT_TAG,
  formatHostPort,
  NodeEmails,
  routingRules,
  serviceAddresses,
  serviceOutboundTag,
} from './xray-routing.js'
import type {XrayOutboundJson, XrayServerConfig} from './xray-types.js'

export {formatHostPort, formatPortList, serviceOutboundTag, xrayDomainPattern} from './xray-routing.js'
export type {XrayServerConfig} from './xray-types.js'

/**
 * JSON has no comments, and formats.md §5.1 lists the top-level keys Xray
 * knows without promising that others are ignored (a legacy key such as
 * `transport` is an error), so a preview render carries no marker inside the
 * file. Callers that render from preview state show this note next to it.
 */
export const XRAY_PREVIEW_NOTE = PREVIEW_NOTICE

/** The node's xray config, or undefined when the node runs no xray. */
export function renderXray(fleet: Fleet, node: Node): string | undefined {
  const config = xrayConfig(fleet, node)
  return config === undefined ? undefined : formatXrayJson(config)
}

export function xrayConfig(fleet: Fleet, node: Node): XrayServerConfig | undefined {
  const xray = node.xray
  if (!xray) return undefined
  const context = {node, secrets: () => secretsOf(fleet, node)}
  const clientLists = xray.inbounds.map((inbound) => fleet.clientsOf(node, inbound))
  const services = fleet.servicesOn(node)
  return {
    log: {loglevel: 'warning'},
    api: {tag: API_TAG, services: ['HandlerService', 'StatsService']},
    stats: {},
    // Per-user counters need an email and these level flags (formats.md §5.5).
    policy: {
      levels: {'0': {statsUserUplink: true, statsUserDownlink: true}},
      system: {statsInboundUplink: true, statsInboundDownlink: true},
    },
    inbounds: [
      apiInbound(xray.apiPort),
      ...xray.inbounds.map((inbound, i) => renderInbound(inbound, clientLists[i] ?? [], context)),
    ],
    outbounds: [
      // First, because unmatched traffic goes to the first outbound.
      {tag: DIRECT_TAG, protocol: 'freedom'},
      {tag: BLOCK_TAG, protocol: 'blackhole'},
      ...services.map(serviceOutbound),
      ...xray.outbounds.map(declaredOutbound),
    ],
    routing: {
      domainStrategy: xray.routing.domainStrategy,
      rules: routingRules({
        fleet,
        node,
        emails: new NodeEmails(fleet, clientLists),
        services,
        declared: xray.routing.rules,
      }),
    },
  }
}

/** Steers a service's domains to its target; port 0 keeps the port the client asked for. */
function serviceOutbound(service: Service): XrayOutboundJson {
  const [first = ''] = serviceAddresses(service)
  return {tag: serviceOutboundTag(service.name), protocol: 'freedom', settings: {redirect: formatHostPort(first, 0)}}
}

function declaredOutbound(outbound: XrayOutbound): XrayOutboundJson {
  return {
    tag: outbound.tag,
    protocol: outbound.protocol,
    ...(outbound.settings !== undefined ? {settings: outbound.settings} : {}),
    ...(outbound.streamSettings !== undefined ? {streamSettings: outbound.streamSettings} : {}),
  }
}

function secretsOf(fleet: Fleet, node: Node): NodeSecrets {
  const secrets = fleet.state.nodes.get(node.name)
  if (!secrets) throw new Error(`xray: no secrets in state for node ${node.name}`)
  return secrets
}
