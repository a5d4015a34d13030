/**
 * The request side of `nexus sub serve` (design.md §5, formats.md §10), kept
 * pure: a request and a loaded catalog in, a response out. The HTTP server
 * (src/transport/http-server.ts) only moves bytes; the clock, the rate
 * limiter and the metrics are passed in, so every answer is testable without
 * a socket.
 *
 * Routes: `GET /sub/:uuid` (the subscription, its format from `?format=`,
 * else the User-Agent; a browser gets an HTML page), `GET /sub/:uuid/info`
 * (user-facing metadata as JSON), `GET /health`, `GET /metrics`.
 *
 * An unknown, revoked, disabled or expired UUID, and any unknown path, get
 * the same 404: same status, headers and body, decided by one map lookup and
 * one status check before anything is rendered.
 */
import {createHash} from 'node:crypto'

import type {Desired, Node} from '../model/desired.js'
import {Fleet} from '../model/fleet.js'
import {linkKey, type StateValues} from '../model/state-values.js'
import type {SubscriptionStatus} from '../model/subscription.js'
import {
  parseFormat,
  type RenderedSubscription,
  renderSubscription,
  selectFormat,
  shareLink,
  SUBSCRIPTION_FORMATS,
  type SubscriptionFormat,
  subscriptionHeaders,
  type SubscriptionUsage,
  usageFromStatus,
} from '../render/subscription/index.js'
import {subscriptionPage} from '../views/subscription-page.js'

// ---------------------------------------------------------------------------
// Catalog: what one load of repo + state can serve

export interface SubscriptionLink {
  readonly user: string
  readonly link: string
  readonly uuid: string
}

export interface SubscriptionCatalog {
  /** The fleet subscriptions are rendered from: only inbounds whose keys the state holds. */
  readonly fleet: Fleet
  /** Subscription status per user, as of `loadedAt`. */
  readonly statuses: ReadonlyMap<string, SubscriptionStatus>
  /** Declared links whose UUID the state holds, by `uuidKey(uuid)`. */
  readonly links: ReadonlyMap<string, SubscriptionLink>
  readonly loadedAt: Date
}

export interface CatalogInput {
  readonly desired: Desired
  /** State values; `links` must hold only UUIDs the state really has. */
  readonly values: StateValues
  readonly statuses: ReadonlyMap<string, SubscriptionStatus>
  /** `node/tag` of inbounds whose keys the state does not hold yet: left out. */
  readonly unready?: ReadonlySet<string>
  readonly loadedAt: Date
}

export function buildCatalog(input: CatalogInput): SubscriptionCatalog {
  const unready = input.unready ?? new Set<string>()
  const nodes = input.desired.nodes.map((node) => withoutUnready(node, unready))
  const fleet = new Fleet({...input.desired, nodes}, {...input.values, preview: false})
  const links = new Map<string, SubscriptionLink>()
  for (const user of input.desired.users) {
    for (const link of user.links) {
      const uuid = input.values.links.get(linkKey(user.name, link))
      if (uuid !== undefined) links.set(uuidKey(uuid), {user: user.name, link, uuid})
    }
  }
  return {fleet, statuses: input.statuses, links, loadedAt: input.loadedAt}
}

function withoutUnready(node: Node, unready: ReadonlySet<string>): Node {
  if (!node.xray || !node.xray.inbounds.some((inbound) => unready.has(`${node.name}/${inbound.tag}`))) return node
  const inbounds = node.xray.inbounds.filter((inbound) => !unready.has(`${node.name}/${inbound.tag}`))
  return {...node, xray: {...node.xray, inbounds}}
}

/**
 * The map key of a UUID: a digest, so a lookup never compares the secret
 * itself character by character. UUIDs are case-insensitive.
 */
export function uuidKey(uuid: string): string {
  return createHash('sha256').update(uuid.trim().toLowerCase()).digest('hex')
}

/** The link a UUID belongs to, when the catalog serves it at `now`; undefined whatever the reason. */
export function servedLink(
  catalog: SubscriptionCatalog,
  uuid: string,
  now: Date,
): {link: SubscriptionLink; status: SubscriptionStatus} | undefined {
  const link = catalog.links.get(uuidKey(uuid))
  const status = link && catalog.statuses.get(link.user)
  if (!link || !status || !serves(status, now)) return undefined
  return {link, status}
}

/** Let in (active, or waiting for a first use), and not past its end, which may have come since the load. */
export function serves(status: SubscriptionStatus, now: Date): boolean {
  if (!status.letIn) return false
  return status.endsAt === null || now.getTime() < Date.parse(status.endsAt)
}

export function renderLink(
  catalog: SubscriptionCatalog,
  link: SubscriptionLink,
  format: SubscriptionFormat,
): RenderedSubscription {
  return renderSubscription(catalog.fleet, link.user, link.link, format)
}

// ---------------------------------------------------------------------------
// Requests and responses

export type RouteName = 'sub' | 'info' | 'health' | 'metrics' | 'other'

/** Route labels for logs and metrics: templates, never a UUID. */
export const ROUTE_LABELS: Readonly<Record<RouteName, string>> = {
  sub: '/sub/:uuid',
  info: '/sub/:uuid/info',
  health: '/health',
  metrics: '/metrics',
  other: 'other',
}

export interface SubscriptionRequest {
  readonly method: string
  /** Path and query as received. */
  readonly url: string
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | undefined>>
  /** The client's address, as the rate limiter keys it (see `clientAddress`). */
  readonly client: string
}

export interface SubscriptionResponse {
  readonly status: number
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  readonly route: RouteName
  /** What was served on a 200 of `/sub/:uuid`. */
  readonly served?: SubscriptionFormat | 'html'
}

export interface RouteContext {
  readonly catalog: SubscriptionCatalog
  readonly now: Date
  readonly limiter?: RateLimiter
  readonly metrics?: ServerMetrics
  /** Believe X-Forwarded-Proto (for the page's subscription URL) from a reverse proxy in front. */
  readonly trustProxy?: boolean
}

/** Headers on every response. */
const BASE_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

const PAGE_POLICY =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/** The one 404: for unknown paths and for every UUID that is not served, whatever the reason. */
export const NOT_FOUND_BODY = 'not found\n'

const UUID_SEGMENT = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/

export function handleSubscriptionRequest(request: SubscriptionRequest, context: RouteContext): SubscriptionResponse {
  const response = respond(request, context)
  context.metrics?.recordRequest(response.route, response.status)
  if (response.served !== undefined) context.metrics?.recordServed(response.served)
  return response
}

function respond(request: SubscriptionRequest, context: RouteContext): SubscriptionResponse {
  const url = parseUrl(request.url)
  const match = url ? matchRoute(url.pathname) : {route: 'other' as const}
  const {route} = match
  if (context.limiter) {
    const verdict = context.limiter.take(request.client, context.now.getTime())
    if (!verdict.allowed) {
      return text(429, 'too many requests\n', route, {'retry-after': String(verdict.retryAfterSeconds)})
    }
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return text(405, 'method not allowed\n', route, {allow: 'GET, HEAD'})
  }
  if (!url) return notFound('other')
  switch (match.route) {
    case 'health':
      return json(200, {status: 'ok', loadedAt: context.catalog.loadedAt.toISOString()}, 'health')
    case 'metrics':
      return {
        status: 200,
        headers: {...BASE_HEADERS, 'content-type': 'text/plain; version=0.0.4; charset=utf-8'},
        body: context.metrics?.render(context.now.getTime(), context) ?? '',
        route: 'metrics',
      }
    case 'sub':
    case 'info': {
      const found = UUID_SEGMENT.test(match.uuid) ? servedLink(context.catalog, match.uuid, context.now) : undefined
      if (!found) return notFound(match.route)
      return match.route === 'info'
        ? info(context.catalog, found.link, found.status)
        : subscription(request, url, context, found.link, found.status)
    }
    case 'other':
      return notFound('other')
  }
}

type RouteMatch =
  {readonly route: 'health' | 'metrics' | 'other'} | {readonly route: 'sub' | 'info'; readonly uuid: string}

function matchRoute(pathname: string): RouteMatch {
  if (pathname === '/health') return {route: 'health'}
  if (pathname === '/metrics') return {route: 'metrics'}
  const sub = /^\/sub\/([^/]+)(\/info)?$/.exec(pathname)
  if (sub?.[1] !== undefined) return {route: sub[2] ? 'info' : 'sub', uuid: sub[1]}
  return {route: 'other'}
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text, 'http://localhost')
  } catch {
    return undefined
  }
}

function subscription(
  request: SubscriptionRequest,
  url: URL,
  context: RouteContext,
  link: SubscriptionLink,
  status: SubscriptionStatus,
): SubscriptionResponse {
  const {catalog} = context
  const project = catalog.fleet.desired.project
  const usage = usageFromStatus(status)
  const asked = url.searchParams.get('format') ?? undefined
  if (asked === undefined && wantsHtml(request.headers.accept)) {
    const rendered = renderLink(catalog, link, 'v2ray')
    const body = subscriptionPage({
      title: rendered.title,
      status: status.status,
      usage,
      nextReset: status.nextReset,
      subscriptionUrl: subscriptionUrl(request, context, link),
      formats: SUBSCRIPTION_FORMATS.map((format) => ({format, href: `?format=${format}`})),
      proxies: rendered.proxies.map((proxy) => ({name: proxy.name, shareLink: shareLink(proxy)})),
    })
    return {
      status: 200,
      headers: {
        ...BASE_HEADERS,
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': PAGE_POLICY,
        'x-frame-options': 'DENY',
      },
      body,
      route: 'sub',
      served: 'html',
    }
  }
  const format = selectFormat({
    ...(asked === undefined ? {} : {format: asked}),
    ...(request.headers['user-agent'] === undefined ? {} : {userAgent: request.headers['user-agent']}),
  })
  const rendered = renderLink(catalog, link, format)
  const headers = subscriptionHeaders({
    format,
    title: rendered.title,
    updateIntervalHours: project.subscription.updateIntervalHours,
    usage,
    fileName: rendered.fileName,
    ...(project.subscription.baseUrl === undefined ? {} : {webPageUrl: pageUrl(project.subscription.baseUrl, link)}),
  })
  return {status: 200, headers: {...headers, ...BASE_HEADERS}, body: rendered.body, route: 'sub', served: format}
}

/** What `/sub/:uuid/info` returns: user-facing fields only, never a user name or another link. */
export interface SubscriptionInfo {
  readonly title: string
  readonly status: SubscriptionStatus['status']
  /** When access ends for good (ISO 8601); null when nothing ends it. */
  readonly expires: string | null
  /** Bytes; total null = unlimited. */
  readonly usage: {readonly upload: number; readonly download: number; readonly total: number | null}
  readonly proxies: readonly string[]
}

function info(catalog: SubscriptionCatalog, link: SubscriptionLink, status: SubscriptionStatus): SubscriptionResponse {
  const rendered = renderLink(catalog, link, 'v2ray')
  const usage: SubscriptionUsage = usageFromStatus(status)
  const body: SubscriptionInfo = {
    title: rendered.title,
    status: status.status,
    expires: status.endsAt,
    usage: {upload: usage.upload, download: usage.download, total: usage.total},
    proxies: rendered.proxies.map((proxy) => proxy.name),
  }
  return json(200, body, 'info')
}

/** A browser asks for HTML first; subscription clients send `*\/*` or nothing. */
export function wantsHtml(accept: string | undefined): boolean {
  if (accept === undefined) return false
  return accept
    .split(',')
    .map((part) => part.split(';')[0]?.trim().toLowerCase())
    .some((type) => type === 'text/html' || type === 'application/xhtml+xml')
}

function pageUrl(baseUrl: string, link: SubscriptionLink): string {
  return `${baseUrl.replace(/\/+$/, '')}/sub/${link.uuid}`
}

/** The URL to put in a client: the project's baseUrl, else where the browser reached us. */
function subscriptionUrl(request: SubscriptionRequest, context: RouteContext, link: SubscriptionLink): string {
  const baseUrl = context.catalog.fleet.desired.project.subscription.baseUrl
  if (baseUrl !== undefined) return pageUrl(baseUrl, link)
  const host = request.headers.host
  const safeHost = host !== undefined && /^[A-Za-z0-9.:[\]-]{1,255}$/.test(host) ? host : 'localhost'
  const proto = context.trustProxy && request.headers['x-forwarded-proto']?.trim() === 'https' ? 'https' : 'http'
  return `${proto}://${safeHost}/sub/${link.uuid}`
}

function notFound(route: RouteName): SubscriptionResponse {
  return text(404, NOT_FOUND_BODY, route)
}

function text(
  status: number,
  body: string,
  route: RouteName,
  extra: Record<string, string> = {},
): SubscriptionResponse {
  return {
    status,
    headers: {'content-type': 'text/plain; charset=utf-8', ...BASE_HEADERS, ...extra},
    body,
    route,
  }
}

function json(status: number, value: unknown, route: RouteName): SubscriptionResponse {
  return {
    status,
    headers: {'content-type': 'application/json; charset=utf-8', ...BASE_HEADERS},
    body: `${JSON.stringify(value, null, 2)}\n`,
    route,
  }
}

// ---------------------------------------------------------------------------
// Client addresses and rate limiting

/**
 * The address a request is limited by: the peer's, or behind a trusted
 * reverse proxy the last X-Forwarded-For entry (the one that proxy added).
 * IPv4-mapped IPv6 is shown as IPv4, and IPv6 is grouped by /64, since one
 * host usually holds a whole /64.
 */
export function clientAddress(
  remote: string | undefined,
  forwardedFor: string | undefined,
  trustProxy = false,
): string {
  const forwarded = trustProxy ? forwardedFor?.split(',').at(-1)?.trim() : undefined
  const address = (forwarded || remote || 'unknown').trim()
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped?.[1]) return mapped[1]
  if (!address.includes(':')) return address
  return `${ipv6Prefix64(address)}::/64`
}

function ipv6Prefix64(address: string): string {
  const bare = address.replace(/^\[|\]$/g, '').split('%')[0] ?? ''
  const [head = '', tail] = bare.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return groups
    .slice(0, 4)
    .map((group) => (Number.parseInt(group, 16) || 0).toString(16))
    .join(':')
}

export interface RateLimitOptions {
  /** Tokens added per minute. */
  readonly perMinute: number
  /** Bucket size; defaults to perMinute. */
  readonly burst?: number
  /** Clients remembered at most; the least recently seen is forgotten first. */
  readonly maxClients?: number
}

export type RateVerdict = {readonly allowed: true} | {readonly allowed: false; readonly retryAfterSeconds: number}

/**
 * A token bucket per client address. Memory is bounded: at most `maxClients`
 * buckets, kept in least-recently-seen order, and a bucket that has refilled
 * completely is the same as none, so forgetting it loses nothing.
 */
export class RateLimiter {
  readonly perMinute: number
  readonly burst: number
  readonly maxClients: number
  private readonly buckets = new Map<string, {tokens: number; at: number}>()

  constructor(options: RateLimitOptions) {
    if (!(options.perMinute > 0)) throw new Error('rate limit: perMinute must be positive')
    this.perMinute = options.perMinute
    this.burst = Math.max(1, options.burst ?? options.perMinute)
    this.maxClients = Math.max(1, options.maxClients ?? 10_000)
  }

  get size(): number {
    return this.buckets.size
  }

  take(client: string, nowMs: number): RateVerdict {
    const ratePerMs = this.perMinute / 60_000
    const bucket = this.buckets.get(client)
    let tokens = this.burst
    if (bucket) {
      tokens = Math.min(this.burst, bucket.tokens + Math.max(0, nowMs - bucket.at) * ratePerMs)
      this.buckets.delete(client)
    }
    if (tokens < 1) {
      this.buckets.set(client, {tokens, at: nowMs})
      return {allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / ratePerMs / 1000))}
    }
    this.buckets.set(client, {tokens: tokens - 1, at: nowMs})
    while (this.buckets.size > this.maxClients) {
      const oldest = this.buckets.keys().next().value
      if (oldest === undefined) break
      this.buckets.delete(oldest)
    }
    return {allowed: true}
  }
}

// ---------------------------------------------------------------------------
// Metrics (Prometheus text format 0.0.4): no user names, links or UUIDs

export class ServerMetrics {
  private readonly requests = new Map<string, number>()
  private readonly served = new Map<SubscriptionFormat | 'html', number>([
    ['v2ray', 0],
    ['clash', 0],
    ['singbox', 0],
    ['html', 0],
  ])
  private readonly reloads = new Map<'ok' | 'error', number>([
    ['ok', 0],
    ['error', 0],
  ])

  constructor(readonly startedAtMs: number) {}

  get requestCount(): number {
    let total = 0
    for (const count of this.requests.values()) total += count
    return total
  }

  recordRequest(route: RouteName, status: number): void {
    const key = `${ROUTE_LABELS[route]}\u0000${status}`
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1)
  }

  recordServed(format: SubscriptionFormat | 'html'): void {
    this.served.set(format, (this.served.get(format) ?? 0) + 1)
  }

  recordReload(result: 'ok' | 'error'): void {
    this.reloads.set(result, (this.reloads.get(result) ?? 0) + 1)
  }

  render(nowMs: number, context: {readonly catalog: SubscriptionCatalog; readonly limiter?: RateLimiter}): string {
    const lines: string[] = []
    const family = (name: string, type: 'counter' | 'gauge', help: string, samples: readonly string[]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples)
    }
    const requests = [...this.requests].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    family(
      'nexus_sub_http_requests_total',
      'counter',
      'HTTP requests by route and status.',
      requests.map(([key, count]) => {
        const [route = '', status = ''] = key.split('\u0000')
        return `nexus_sub_http_requests_total{route="${labelValue(route)}",status="${labelValue(status)}"} ${count}`
      }),
    )
    family(
      'nexus_sub_subscriptions_served_total',
      'counter',
      'Subscriptions served, by format (html: the browser page).',
      [...this.served].map(([format, count]) => `nexus_sub_subscriptions_served_total{format="${format}"} ${count}`),
    )
    family(
      'nexus_sub_reloads_total',
      'counter',
      'Loads of the repo and state after the first, by result.',
      [...this.reloads].map(([result, count]) => `nexus_sub_reloads_total{result="${result}"} ${count}`),
    )
    family('nexus_sub_links', 'gauge', 'Links whose UUID the loaded state holds.', [
      `nexus_sub_links ${context.catalog.links.size}`,
    ])
    family('nexus_sub_loaded_timestamp_seconds', 'gauge', 'When the repo and state in use were loaded.', [
      `nexus_sub_loaded_timestamp_seconds ${context.catalog.loadedAt.getTime() / 1000}`,
    ])
    if (context.limiter) {
      family('nexus_sub_rate_limiter_clients', 'gauge', 'Client addresses the rate limiter remembers.', [
        `nexus_sub_rate_limiter_clients ${context.limiter.size}`,
      ])
    }
    family('process_uptime_seconds', 'gauge', 'Seconds since the server started.', [
      `process_uptime_seconds ${Math.max(0, (nowMs - this.startedAtMs) / 1000)}`,
    ])
    return `${lines.join('\n')}\n`
  }
}

function labelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

// ---------------------------------------------------------------------------
// Request log

export interface RequestLogEntry {
  readonly at: Date
  readonly client: string
  readonly method: string
  readonly url: string
  readonly status: number
  readonly bytes: number
  readonly ms: number
  readonly served?: SubscriptionFormat | 'html'
}

/** One line per request, for stderr: no UUID (masked wherever it appears), no query but a valid format. */
export function requestLogLine(entry: RequestLogEntry): string {
  const parts = [
    entry.at.toISOString(),
    printable(entry.client, 64),
    printable(entry.method, 16),
    maskUrl(entry.url),
    String(entry.status),
    `${entry.bytes}B`,
    `${Math.round(entry.ms)}ms`,
  ]
  if (entry.served !== undefined) parts.push(`format=${entry.served}`)
  return parts.join(' ')
}

const UUID_ANYWHERE = /[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}/g

export function maskUrl(url: string): string {
  const [path = '', query] = url.split('?', 2)
  const masked = path.replace(/^\/sub\/[^/]*/, '/sub/<uuid>').replace(UUID_ANYWHERE, '<uuid>')
  const format = query === undefined ? undefined : parseFormat(new URLSearchParams(query).get('format') ?? undefined)
  return `${printable(masked, 200)}${format === undefined ? '' : `?format=${format}`}`
}

function printable(text: string, max: number): string {
  const clean = text.replace(/[^\x21-\x7e]/g, '?')
  return clean.length > max ? `${clean.slice(0, max)}…` : clean
}
