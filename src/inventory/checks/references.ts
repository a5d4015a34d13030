/** Every name a declaration mentions must be declared. */
import type {Kind} from '../../model/declarations.js'
import {closest} from '../../model/names.js'
import type {Declared} from '../declared.js'
import type {PathSegment} from '../parse-yaml.js'
import type {Check, CheckContext} from './context.js'

function expectDeclared(context: CheckContext, from: Declared, path: PathSegment[], kind: Kind, name: string): void {
  const names = context.names(kind)
  if (names.has(name) || context.set.invalid[kind].has(name)) return
  const suggestion = closest(name, names)
  context.reporter.report(from, {
    path,
    code: 'unresolved_reference',
    message: `${kind} "${name}" is not declared`,
    hint: suggestion
      ? `did you mean "${suggestion}"?`
      : names.size > 0
        ? `declare a ${kind} named ${name}, or use one of: ${[...names].sort().slice(0, 10).join(', ')}`
        : `declare a ${kind} named ${name}`,
  })
}

function selectorNames(context: CheckContext, from: Declared, field: PathSegment[], selector: unknown): void {
  if (!Array.isArray(selector)) return
  for (const [i, name] of selector.entries()) {
    if (typeof name === 'string') expectDeclared(context, from, [...field, i], 'Node', name)
  }
}

export const checkReferences: Check = (context) => {
  const {set} = context
  for (const tariff of set.Tariff) {
    if (tariff.spec.nextTariff) expectDeclared(context, tariff, ['nextTariff'], 'Tariff', tariff.spec.nextTariff)
    selectorNames(context, tariff, ['nodes'], tariff.spec.nodes)
  }
  for (const user of set.User) {
    if (user.spec.tariff) expectDeclared(context, user, ['tariff'], 'Tariff', user.spec.tariff)
    for (const [i, group] of (user.spec.groups ?? []).entries()) {
      expectDeclared(context, user, ['groups', i], 'Group', group)
    }
  }
  for (const peer of set.Peer) {
    if (peer.spec.user) expectDeclared(context, peer, ['user'], 'User', peer.spec.user)
    if (peer.spec.node) expectDeclared(context, peer, ['node'], 'Node', peer.spec.node)
  }
  for (const rule of set.Rule) {
    for (const field of ['source', 'destination'] as const) {
      const value = rule.spec[field]
      const list = value === undefined ? [] : typeof value === 'string' ? [value] : value
      for (const [i, text] of list.entries()) {
        const match = /^(group|user|service):(.+)$/.exec(text)
        if (!match?.[1] || !match[2]) continue
        const kind = ({group: 'Group', user: 'User', service: 'Service'} as const)[
          match[1] as 'group' | 'user' | 'service'
        ]
        expectDeclared(context, rule, typeof value === 'string' ? [field] : [field, i], kind, match[2])
      }
    }
    selectorNames(context, rule, ['nodes'], rule.spec.nodes)
  }
  for (const service of set.Service) {
    for (const [i, group] of (service.spec.access?.groups ?? []).entries()) {
      expectDeclared(context, service, ['access', 'groups', i], 'Group', group)
    }
    for (const [i, user] of (service.spec.access?.users ?? []).entries()) {
      expectDeclared(context, service, ['access', 'users', i], 'User', user)
    }
    selectorNames(context, service, ['nodes'], service.spec.nodes)
  }
}

/** A user that is active needs a tariff: it decides what the user may use. */
export const checkUsers: Check = ({set, reporter}) => {
  for (const user of set.User) {
    const status = user.spec.status ?? 'active'
    if (status === 'active' && !user.spec.tariff) {
      reporter.report(user, {
        path: ['status'],
        code: 'missing_tariff',
        message: 'an active user needs a tariff',
        hint: 'add `tariff: NAME`, or set `status: pending` until one is chosen',
      })
    }
    const {start, expires} = user.spec.subscription ?? {}
    if (start && expires && Date.parse(expires) <= Date.parse(start)) {
      reporter.report(user, {
        path: ['subscription', 'expires'],
        code: 'invalid_dates',
        message: `subscription expires (${expires}) before it starts (${start})`,
        hint: 'set subscription.expires to a date after subscription.start, or remove one of them',
      })
    }
    const links = (user.spec.links ?? []).map((l) => (typeof l === 'string' ? l : l.name))
    const seen = new Set<string>()
    for (const [i, link] of links.entries()) {
      if (seen.has(link)) {
        reporter.report(user, {
          path: ['links', i],
          code: 'duplicate_name',
          message: `link "${link}" is listed twice`,
          hint: 'remove the second entry; each link name gives one subscription URL and credential',
        })
      }
      seen.add(link)
    }
  }
}
