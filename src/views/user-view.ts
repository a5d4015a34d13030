/**
 * `nexus user ...` and `nexus link reset` for people: what was written, the
 * user table with each subscription as state records it, and one user in
 * detail. Link UUIDs are credentials and never shown.
 */
import type {ChalkInstance} from 'chalk'

import type {LinkReset} from '../app/link.js'
import type {SubscriptionView, UserCreated, UserDisabled, UserEntry, UserListResult, UserShown} from '../app/user.js'
import {formatBytes} from './peer-view.js'
import {type Cell, table} from './status-view.js'

export function formatUserCreated(result: UserCreated, s: ChalkInstance): string {
  const user = result.user
  const lines = [
    `${s.green('✔')} Created user ${s.bold(String(user.name))}`,
    ...fields([
      ['tariff', String(user.tariff)],
      ...(user.email ? ([['email', String(user.email)]] as const) : []),
      ...(user.status ? ([['status', String(user.status)]] as const) : []),
      ...(Array.isArray(user.groups) ? ([['groups', user.groups.join(', ')]] as const) : []),
      ...(Array.isArray(user.links) ? ([['links', user.links.join(', ')]] as const) : []),
      ['file', `${result.file} (${result.appended ? 'appended to the file' : 'new file'})`],
      ...(result.committed
        ? ([['commit', `${result.committed.commit.slice(0, 8)} ${result.committed.message}`]] as const)
        : []),
    ]),
  ]
  return `${lines.join('\n')}\n`
}

export function formatUserDisabled(result: UserDisabled, s: ChalkInstance): string {
  if (!result.changed) return `User ${s.bold(result.user)} is disabled already; nothing was written.\n`
  const lines = [
    `${s.green('✔')} Disabled user ${s.bold(result.user)} (status: disabled in ${result.file})`,
    ...fields([
      ['devices', result.peers.length > 0 ? `${result.peers.join(', ')}: leave the nodes on the next apply` : 'none'],
      ...(result.committed
        ? ([['commit', `${result.committed.commit.slice(0, 8)} ${result.committed.message}`]] as const)
        : []),
    ]),
  ]
  return `${lines.join('\n')}\n`
}

export function formatUserList(result: UserListResult, s: ChalkInstance): string {
  if (result.users.length === 0) return 'no users are declared\n'
  const rows = result.users.map((user): Cell[] => [
    {text: user.name},
    {text: user.email ?? '-'},
    statusCell(user, s),
    {text: user.tariff ?? '-'},
    {text: String(user.devices)},
    ...subscriptionCells(user.subscription, s),
  ])
  const lines = table(
    ['NAME', 'EMAIL', 'STATUS', 'TARIFF', 'DEVICES', 'SUBSCRIPTION', 'IN EFFECT', 'EXPIRES', 'TRAFFIC'],
    rows,
    s,
  )
  const note = result.fromState ? [] : ['', s.dim('no state yet: subscriptions start with the first apply')]
  return `${[...lines, ...note].join('\n')}\n`
}

export function formatUserShown(result: UserShown, s: ChalkInstance): string {
  const sub = result.subscription
  const lines = [
    `${s.bold('User')} ${s.bold(result.name)}`,
    ...fields([
      ['email', result.email ?? '-'],
      ['status', result.status],
      ['tariff', result.tariff ?? '-'],
      ['groups', result.groups.join(', ') || '-'],
      [
        'links',
        result.linkStates.map((link) => `${link.name}${link.issued ? '' : ' (issued by the next apply)'}`).join(', '),
      ],
      ['on the nodes', result.letIn ? 'yes' : 'no'],
      ['file', result.file],
    ]),
    '',
    s.bold('Subscription'),
    ...(sub
      ? fields([
          ['status', `${sub.status}${sub.reason === sub.status ? '' : ` (${sub.reason.replaceAll('_', ' ')})`}`],
          ['in effect', sub.tariff ?? '-'],
          ['term', `${day(sub.termStart)} → ${sub.termEnd ? day(sub.termEnd) : 'open-ended'}`],
          ['expires', sub.expires ? day(sub.expires) : 'never'],
          ['traffic', trafficText(sub)],
        ])
      : ['  not recorded yet (the first apply activates it)']),
    '',
    s.bold('Devices'),
    ...(result.peers.length > 0
      ? table(
          ['NAME', 'NODE', 'IFACE', 'ADDRESS', 'ENABLED'],
          result.peers.map((peer) => [
            {text: peer.name},
            {text: peer.node},
            {text: peer.interface},
            {text: peer.addresses.join(', ') || '(allocated by the next apply)'},
            {text: peer.enabled ? 'yes' : 'no'},
          ]),
          s,
        ).map((line) => `  ${line}`)
      : ['  none']),
  ]
  return `${lines.join('\n')}\n`
}

export function formatLinkReset(result: LinkReset, s: ChalkInstance): string {
  return `${s.green('✔')} Rotated the UUID of link ${s.bold(`${result.user}/${result.link}`)} (state serial ${result.serial}); the old one is revoked.\n`
}

function fields(entries: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...entries.map(([label]) => label.length))
  return entries.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`)
}

function statusCell(user: UserEntry, s: ChalkInstance): Cell {
  return {text: user.status, color: user.status === 'active' ? s.green : user.status === 'pending' ? s.yellow : s.dim}
}

function subscriptionCells(sub: SubscriptionView | null, s: ChalkInstance): Cell[] {
  if (!sub) return [{text: '-', color: s.dim}, {text: '-'}, {text: '-'}, {text: '-'}]
  const color = sub.status === 'active' ? s.green : sub.status === 'pending' ? s.yellow : s.red
  return [
    {text: sub.status, color},
    {text: sub.tariff ?? '-'},
    {text: sub.expires ? day(sub.expires) : 'never'},
    {text: trafficText(sub)},
  ]
}

function trafficText(sub: SubscriptionView): string {
  return `${formatBytes(sub.trafficUsed)} / ${sub.trafficLimit === null ? 'unlimited' : formatBytes(sub.trafficLimit)}`
}

function day(iso: string | null): string {
  return iso ? iso.slice(0, 10) : '-'
}
