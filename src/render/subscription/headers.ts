/**
 * The HTTP side of a subscription (formats.md §10): which format a client
 * gets, and the metadata headers clients read (usage, refresh interval,
 * profile name). Pure: the caller supplies usage and the clock-free facts.
 *
 * Node refuses header values outside latin-1 (ERR_INVALID_CHAR), so the
 * title goes out as `base64:` and a non-ASCII file name as RFC 6266
 * `filename*` next to an ASCII `filename`.
 */
import type {SubscriptionStatus} from '../../model/subscription.js'

export const SUBSCRIPTION_FORMATS = ['v2ray', 'clash', 'singbox'] as const
export type SubscriptionFormat = (typeof SUBSCRIPTION_FORMATS)[number]

export const CONTENT_TYPES: Readonly<Record<SubscriptionFormat, string>> = {
  v2ray: 'text/plain; charset=utf-8',
  clash: 'text/yaml; charset=utf-8',
  singbox: 'application/json; charset=utf-8',
}

export const FILE_EXTENSIONS: Readonly<Record<SubscriptionFormat, string>> = {
  v2ray: 'txt',
  clash: 'yaml',
  singbox: 'json',
}

const CLASH_AGENTS = /^(clash-verge|clash[-.]?meta|flclash|mihomo)/i
const SINGBOX_AGENTS = /^(SFA|SFI|SFM|SFT|karing|hiddify-?next)/i

/**
 * The format a client asks for by its User-Agent (Marzban's table, formats.md
 * §10): Clash Meta family → clash, sing-box family → singbox, else v2ray.
 */
export function formatForUserAgent(userAgent: string | undefined): SubscriptionFormat {
  const agent = (userAgent ?? '').trim()
  if (CLASH_AGENTS.test(agent)) return 'clash'
  if (SINGBOX_AGENTS.test(agent)) return 'singbox'
  return 'v2ray'
}

const FORMAT_ALIASES: Readonly<Record<string, SubscriptionFormat>> = {
  v2ray: 'v2ray',
  base64: 'v2ray',
  links: 'v2ray',
  clash: 'clash',
  'clash-meta': 'clash',
  mihomo: 'clash',
  singbox: 'singbox',
  'sing-box': 'singbox',
}

/** A `?format=` value, or undefined when it names no format. */
export function parseFormat(text: string | undefined): SubscriptionFormat | undefined {
  return text === undefined ? undefined : FORMAT_ALIASES[text.trim().toLowerCase()]
}

/**
 * What to serve (design.md §5): a known `format` wins; an unknown one falls
 * back to v2ray (the client asked for something, just not for what its
 * User-Agent suggests); only a missing (or empty) format lets the User-Agent
 * choose, v2ray when it says nothing either.
 */
export function selectFormat(request: {readonly format?: string; readonly userAgent?: string}): SubscriptionFormat {
  if (request.format === undefined || request.format.trim() === '') return formatForUserAgent(request.userAgent)
  return parseFormat(request.format) ?? 'v2ray'
}

/** Bytes and the end of access; null means unlimited / never. */
export interface SubscriptionUsage {
  readonly upload: number
  readonly download: number
  readonly total: number | null
  /** ISO 8601 instant. */
  readonly expire: string | null
}

/**
 * Usage as Marzban and Remnawave report it: the state counts upload and
 * download together, so all of it goes under download (formats.md §6).
 * `total` is the tariff's per-period limit, `expire` when access ends for good.
 */
export function usageFromStatus(
  status: Pick<SubscriptionStatus, 'trafficUsed' | 'trafficLimit' | 'endsAt'>,
): SubscriptionUsage {
  return {upload: 0, download: status.trafficUsed, total: status.trafficLimit, expire: status.endsAt}
}

/** `upload=…; download=…; total=…; expire=…`, all four always, 0 = unlimited / never. */
export function subscriptionUserinfo(usage: SubscriptionUsage): string {
  const expire = usage.expire === null ? 0 : unixSeconds(usage.expire)
  return [
    `upload=${bytes(usage.upload)}`,
    `download=${bytes(usage.download)}`,
    `total=${usage.total === null ? 0 : bytes(usage.total)}`,
    `expire=${expire}`,
  ].join('; ')
}

/** `base64:` + standard base64 of the UTF-8 text. */
export function profileTitle(title: string): string {
  return `base64:${Buffer.from(title, 'utf8').toString('base64')}`
}

/**
 * `attachment; filename="…"` with an ASCII stand-in, plus RFC 6266 / RFC 8187
 * `filename*=UTF-8''…` whenever the stand-in had to differ from the name.
 */
export function contentDisposition(fileName: string): string {
  const ascii = asciiFileName(fileName)
  const header = `attachment; filename="${ascii}"`
  return ascii === fileName ? header : `${header}; filename*=UTF-8''${rfc8187(fileName)}`
}

export interface SubscriptionHeaderInput {
  readonly format: SubscriptionFormat
  /** The profile name clients show: the project's subscription title. */
  readonly title: string
  readonly updateIntervalHours: number
  readonly usage: SubscriptionUsage
  /** Defaults to the title. */
  readonly fileName?: string
  readonly webPageUrl?: string
  readonly supportUrl?: string
}

/** Response headers, lower-case names, in a fixed order. */
export function subscriptionHeaders(input: SubscriptionHeaderInput): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': CONTENT_TYPES[input.format],
    'content-disposition': contentDisposition(input.fileName ?? input.title),
    'profile-title': profileTitle(input.title),
    'profile-update-interval': String(Math.max(1, Math.trunc(input.updateIntervalHours))),
    'subscription-userinfo': subscriptionUserinfo(input.usage),
  }
  if (input.webPageUrl !== undefined) headers['profile-web-page-url'] = latin1Url(input.webPageUrl)
  if (input.supportUrl !== undefined) headers['support-url'] = latin1Url(input.supportUrl)
  return headers
}

function bytes(value: number): number {
  if (!Number.isFinite(value)) throw new Error(`subscription: ${value} is not a byte count`)
  return Math.max(0, Math.trunc(value))
}

function unixSeconds(instant: string): number {
  const time = Date.parse(instant)
  if (Number.isNaN(time)) throw new Error(`subscription: ${instant} is not an instant`)
  return Math.max(0, Math.floor(time / 1000))
}

/**
 * Printable ASCII without the quoted-string specials and path separators;
 * anything else becomes `_`. A name with no letter or digit left is useless
 * as a profile name, so it falls back to `subscription`.
 */
function asciiFileName(name: string): string {
  const ascii = name
    .replace(/\s+/g, ' ')
    .replace(/[^\x20-\x7e]|["\\/:*?<>|]/g, '_')
    .trim()
  return /[A-Za-z0-9]/.test(ascii) ? ascii : 'subscription'
}

/** RFC 8187 attr-char: encodeURIComponent also leaves `'()*` alone, which attr-char does not allow. */
function rfc8187(text: string): string {
  return encodeURIComponent(text).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** A URL header must stay within latin-1 and on one line; encodeURI turns anything else into `%XX`. */
function latin1Url(url: string): string {
  return /^[\x21-\x7e]*$/.test(url) ? url : encodeURI(url.replace(/[\u0000-\u0020\u007f]/g, ''))
}
