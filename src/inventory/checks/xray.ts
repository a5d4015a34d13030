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
    const problem = (path: (string | number)[], code: string, message: string, hint: string, warning = false) =>
      reporter.report(declared, {path, code, message, hint, ...(warning ? {severity: 'warning'} : {})})

    const tags = new Set<string>()
    for (const [i, inbound] of xray.inbounds.entries()) {
      const at = (field?: string) => (field ? ['xray', 'inbounds', i, field] : ['xray', 'inbounds', i])
      if (tags.has(inbound.tag)) {
        problem(
          at('tag'),
          'duplicate_name',
          `inbound tag ${inbound.tag} is used twice`,
          'give each inbound its own tag',
        )
      }
      if (isReservedTag(inbound.tag)) {
        problem(
          at('tag'),
          'reserved_name',
          `inbound tag ${inbound.tag} is reserved for what Nexus generates`,
          'pick another tag (not api, api-in, direct, block or svc-*)',
        )
      }
      tags.add(inbound.tag)

      if (inbound.security === 'tls' && !inbound.tls) {
        problem(
          at('security'),
          'missing_field',
          'security: tls needs a `tls` block with certificateFile and keyFile',
          'add `tls: {certificateFile: /etc/…/fullchain.pem, keyFile: /etc/…/privkey.pem}`',
        )
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
          'add `reality: {target: www.example.com:443, serverNames: [www.example.com], shortIds: ["6ba85179e30d4fc2"]}`',
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
          problem(
            at('protocol'),
            'invalid_combination',
            `REALITY carries VLESS only, not ${inbound.protocol}`,
            'use `protocol: vless`, or `security: tls` for this protocol',
          )
        }
        if (!['tcp', 'grpc', 'xhttp'].includes(inbound.transport.type)) {
          problem(
            at('transport'),
            'invalid_combination',
            `REALITY works with tcp, grpc and xhttp transports, not ${inbound.transport.type}`,
            'use `transport: {type: tcp}` (or grpc, xhttp), or `security: tls` for this transport',
          )
        }
      }
      if (inbound.flow) {
        if (inbound.protocol !== 'vless') {
          problem(at('flow'), 'invalid_combination', 'flow is a VLESS setting', 'remove `flow` from this inbound')
        } else if (inbound.transport.type !== 'tcp' || inbound.security === 'none') {
          problem(
            at('flow'),
            'invalid_combination',
            'xtls-rprx-vision needs the tcp transport with tls or reality security',
            'remove `flow`, or use the tcp transport with `security: tls` or `reality`',
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
        if (inbound.security !== 'none') {
          problem(
            at('security'),
            'invalid_combination',
            'shadowsocks takes no tls or reality security',
            'remove `security` (shadowsocks encrypts by itself), or use trojan or vless for TLS',
          )
        }
        if (inbound.transport.type !== 'tcp') {
          problem(
            at('transport'),
            'invalid_combination',
            'shadowsocks uses the plain tcp transport',
            'remove `transport`, or use vless, vmess or trojan for this transport',
          )
        }
      } else if (inbound.method) {
        problem(
          at('method'),
          'invalid_combination',
          'method is a shadowsocks setting',
          'remove `method` from this inbound',
        )
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
          'remove `path`, or use a ws, httpupgrade or xhttp transport',
        )
      }
      if (type === 'grpc' && !serviceName) {
        problem(
          at('transport'),
          'missing_field',
          'the grpc transport needs a serviceName',
          'add `serviceName: NAME` to the transport (clients use the same name)',
        )
      }
      if (serviceName && type !== 'grpc') {
        problem(
          at('transport'),
          'invalid_combination',
          'serviceName is a grpc setting',
          'remove `serviceName`, or use `type: grpc`',
        )
      }
    }

    const outboundTags = new Set<string>()
    for (const [i, outbound] of xray.outbounds.entries()) {
      if (outboundTags.has(outbound.tag) || tags.has(outbound.tag)) {
        problem(
          ['xray', 'outbounds', i, 'tag'],
          'duplicate_name',
          `tag ${outbound.tag} is used twice`,
          'give each inbound and outbound of a node its own tag',
        )
      }
      if (isReservedTag(outbound.tag)) {
        problem(
          ['xray', 'outbounds', i, 'tag'],
          'reserved_name',
          `outbound tag ${outbound.tag} is reserved for what Nexus generates`,
          'pick another tag (not api, api-in, direct, block or svc-*)',
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
          'add a condition, e.g. `domains: ["domain:example.com"]`, or remove the rule',
        )
      }
    }
  }
}
