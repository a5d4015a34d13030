/**
 * xray inbound combinations that Xray-core refuses at start or that silently
 * break clients (formats.md §5.2–§5.4): Nexus checks them itself because
 * Debian's v2ray cannot, and xray is only on the gateway.
 */
import {closest} from '../../model/names.js'
import type {Check} from './context.js'

/** Tags Nexus generates itself. */
const RESERVED_TAGS = new Set(['api', 'api-in', 'direct', 'block'])
const isReservedTag = (tag: string) => RESERVED_TAGS.has(tag) || tag.startsWith('svc-')

export const checkXray: Check = ({set, desired, reporter}) => {
  for (const declared of set.Node) {
    const node = desired.nodes.find((n) => n.name === declared.name)
    const xray = node?.xray
    if (!xray) continue
    const problem = (path: (string | number)[], code: string, message: string, hint?: string, warning = false) =>
      reporter.report(declared, {
        path,
        code,
        message,
        ...(hint ? {hint} : {}),
        ...(warning ? {severity: 'warning'} : {}),
      })

    const tags = new Set<string>()
    for (const [i, inbound] of xray.inbounds.entries()) {
      const at = (field?: string) => (field ? ['xray', 'inbounds', i, field] : ['xray', 'inbounds', i])
      if (tags.has(inbound.tag)) problem(at('tag'), 'duplicate_name', `inbound tag ${inbound.tag} is used twice`)
      if (isReservedTag(inbound.tag)) {
        problem(
          at('tag'),
          'reserved_name',
          `inbound tag ${inbound.tag} is reserved for what Nexus generates`,
          'pick another tag',
        )
      }
      tags.add(inbound.tag)

      if (inbound.security === 'tls' && !inbound.tls) {
        problem(at('security'), 'missing_field', 'security: tls needs a `tls` block with certificateFile and keyFile')
      }
      if (inbound.security !== 'tls' && inbound.tls) {
        problem(
          at('tls'),
          'invalid_combination',
          '`tls` is set but security is not tls',
          'set `security: tls` or remove the block',
        )
      }
      if (inbound.security === 'reality' && !inbound.reality) {
        problem(
          at('security'),
          'missing_field',
          'security: reality needs a `reality` block (target, serverNames, shortIds)',
        )
      }
      if (inbound.security !== 'reality' && inbound.reality) {
        problem(
          at('reality'),
          'invalid_combination',
          '`reality` is set but security is not reality',
          'set `security: reality` or remove the block',
        )
      }
      if (inbound.security === 'reality') {
        if (inbound.protocol !== 'vless') {
          problem(at('protocol'), 'invalid_combination', `REALITY carries VLESS only, not ${inbound.protocol}`)
        }
        if (!['tcp', 'grpc', 'xhttp'].includes(inbound.transport.type)) {
          problem(
            at('transport'),
            'invalid_combination',
            `REALITY works with tcp, grpc and xhttp transports, not ${inbound.transport.type}`,
          )
        }
      }
      if (inbound.flow) {
        if (inbound.protocol !== 'vless') problem(at('flow'), 'invalid_combination', 'flow is a VLESS setting')
        else if (inbound.transport.type !== 'tcp' || inbound.security === 'none') {
          problem(
            at('flow'),
            'invalid_combination',
            'xtls-rprx-vision needs the tcp transport with tls or reality security',
          )
        }
      }
      if (inbound.protocol === 'shadowsocks') {
        if (!inbound.method) {
          problem(
            at('method'),
            'missing_field',
            'a shadowsocks inbound needs a method',
            'e.g. method: 2022-blake3-aes-128-gcm',
          )
        } else if (inbound.method === '2022-blake3-chacha20-poly1305') {
          problem(
            at('method'),
            'invalid_value',
            '2022-blake3-chacha20-poly1305 has no multi-user mode in Xray',
            'use 2022-blake3-aes-128-gcm or 2022-blake3-aes-256-gcm',
          )
        }
        if (inbound.security !== 'none')
          problem(at('security'), 'invalid_combination', 'shadowsocks takes no tls or reality security')
        if (inbound.transport.type !== 'tcp')
          problem(at('transport'), 'invalid_combination', 'shadowsocks uses the plain tcp transport')
      } else if (inbound.method) {
        problem(at('method'), 'invalid_combination', 'method is a shadowsocks setting')
      }
      // A publicPort other than the listening port says a TLS-terminating proxy sits in front.
      if (inbound.protocol === 'trojan' && inbound.security === 'none' && inbound.publicPort === inbound.port) {
        problem(
          at('security'),
          'insecure_inbound',
          'trojan without TLS only works behind a TLS-terminating proxy',
          'set security: tls, or put a TLS proxy in front and set publicPort to its port',
          true,
        )
      }
      const {type, path, serviceName} = inbound.transport
      if (path && !['ws', 'httpupgrade', 'xhttp'].includes(type)) {
        problem(
          at('transport'),
          'invalid_combination',
          `transport path is used by ws, httpupgrade and xhttp, not ${type}`,
        )
      }
      if (type === 'grpc' && !serviceName)
        problem(at('transport'), 'missing_field', 'the grpc transport needs a serviceName')
      if (serviceName && type !== 'grpc')
        problem(at('transport'), 'invalid_combination', 'serviceName is a grpc setting')
    }

    const outboundTags = new Set<string>()
    for (const [i, outbound] of xray.outbounds.entries()) {
      if (outboundTags.has(outbound.tag) || tags.has(outbound.tag)) {
        problem(['xray', 'outbounds', i, 'tag'], 'duplicate_name', `tag ${outbound.tag} is used twice`)
      }
      if (isReservedTag(outbound.tag)) {
        problem(
          ['xray', 'outbounds', i, 'tag'],
          'reserved_name',
          `outbound tag ${outbound.tag} is reserved for what Nexus generates`,
        )
      }
      outboundTags.add(outbound.tag)
    }
    for (const [i, rule] of xray.routing.rules.entries()) {
      const known = ['direct', 'block', ...outboundTags]
      if (!known.includes(rule.outbound)) {
        const suggestion = closest(rule.outbound, known)
        problem(
          ['xray', 'routing', 'rules', i, 'outbound'],
          'unresolved_reference',
          `outbound ${rule.outbound} is not declared`,
          suggestion ? `did you mean ${suggestion}?` : `use one of: ${known.join(', ')}`,
        )
      }
      if (rule.domains.length === 0 && rule.ips.length === 0 && rule.ports.length === 0 && !rule.network) {
        problem(
          ['xray', 'routing', 'rules', i],
          'empty_rule',
          'a routing rule needs at least one of domains, ips, ports or network',
        )
      }
    }
  }
}
