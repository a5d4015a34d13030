/**
 * `nexus sub export` and `nexus sub serve` (design.md §5): a user link's
 * subscription from the repo plus the state's link UUIDs and node keys.
 *
 * Both read the same way: the validated repo, one state snapshot (read only),
 * and the state values and subscription statuses the planner derives from
 * them (plan/state-plan.ts), as `nexus render` does. Unlike render, nothing
 * made up for a preview is ever handed out: export refuses a link whose UUID
 * or keys the state does not hold yet, and serve leaves such inbounds out and
 * knows only the UUIDs the state holds.
 */

import {generateRequested} from '../crypto/keys.js'
import {NexusError} from '../errors.js'
import type {Desired} from '../model/desired.js'
import {Fleet} from '../model/fleet.js'
import {closest} from '../model/names.js'
import {linkKey} from '../model/state-values.js'
import {missingValues, planState, type ValueRequests} from '../plan/state-plan.js'
import {type SubscriptionFormat, subscriptionProxies} from '../render/subscription/index.js'
import {openState, type StateLocation} from '../state/open.js'
import type {StateSnapshot} from '../state/store.js'
import {type HttpServer, startHttpServer} from '../transport/http-server.js'
import {loadRepo} from './load-repo.js'
import {serverKeys, snapshotPublicValues} from './server-keys.js'
import {
  buildCatalog,
  clientAddress,
  handleSubscriptionRequest,
  RateLimiter,
  renderLink,
  requestLogLine,
  ServerMetrics,
  serves,
  type SubscriptionCatalog,
  type SubscriptionResponse,
} from './subscription-routes.js'

export interface SubscriptionReadOptions {
  readonly location: StateLocation
  readonly env: NodeJS.ProcessEnv
  readonly now: Date
}

/** One load of repo + state, ready to serve. */
export interface LoadedSubscriptions {
  readonly catalog: SubscriptionCatalog
  readonly desired: Desired
  /** What the state lacks: links without a UUID, node keys not generated yet. */
  readonly missing: ValueRequests
  /** `node/tag` of inbounds left out because the state holds no keys for them yet. */
  readonly unready: ReadonlySet<string>
  readonly serial: number
}

export async function loadSubscriptions(root: string, options: SubscriptionReadOptions): Promise<LoadedSubscriptions> {
  const store = await openState(options.location, {mode: 'read', env: options.env})
  if (!store) {
    throw new NexusError(
      'no_state',
      `there is no state at ${stateWhere(options.location)}, so no link has a UUID yet`,
      'run nexus apply first: it stores the link UUIDs and node keys subscriptions are made of',
    )
  }
  let snapshot: StateSnapshot
  try {
    snapshot = await store.snapshot()
  } finally {
    await store.close()
  }
  const inventory = await loadRepo(root, {serverKeys: serverKeys(snapshotPublicValues(snapshot.secrets))})
  if (!inventory.desired) {
    const errors = inventory.diagnostics.filter((d) => d.severity === 'error').length
    throw new NexusError(
      'invalid_declarations',
      `the declarations have ${errors} error${errors === 1 ? '' : 's'}`,
      'run nexus validate to see them',
    )
  }
  return subscriptionsFrom(inventory.desired, snapshot, options.now)
}

/**
 * The catalog of a repo and a snapshot at `now`. The planner needs a value
 * for everything; what the state lacks is generated here only to be left out.
 */
export function subscriptionsFrom(desired: Desired, snapshot: StateSnapshot, now: Date): LoadedSubscriptions {
  const missing = missingValues(desired, snapshot)
  const planned = planState({desired, snapshot, generated: generateRequested(missing), now})
  const active = new Set(desired.nodes.filter((node) => node.status === 'active').map((node) => node.name))
  const unready = new Set<string>()
  for (const request of missing.secrets) {
    const node = request.scope.slice('node/'.length)
    const [kind, ...tag] = request.name.split('/')
    if ((kind === 'reality' || kind === 'shadowsocks') && active.has(node)) unready.add(`${node}/${tag.join('/')}`)
  }
  const absent = new Set(missing.links)
  const links = new Map([...planned.values.links].filter(([key]) => !absent.has(key)))
  const catalog = buildCatalog({
    desired,
    values: {...planned.values, links},
    statuses: planned.subscriptions,
    unready,
    loadedAt: now,
  })
  return {catalog, desired, missing, unready, serial: snapshot.serial}
}

// ---------------------------------------------------------------------------
// nexus sub export

export interface SubscriptionExportOptions extends SubscriptionReadOptions {
  readonly user: string
  readonly link: string
  readonly format: SubscriptionFormat
}

/** The `--json` document of `nexus sub export`. */
export interface SubscriptionExport {
  readonly user: string
  readonly link: string
  readonly format: SubscriptionFormat
  readonly contentType: string
  /** Names of the proxies the body carries. */
  readonly proxies: readonly string[]
  readonly body: string
}

export async function exportSubscription(
  root: string,
  options: SubscriptionExportOptions,
): Promise<SubscriptionExport> {
  const loaded = await loadSubscriptions(root, options)
  return exportFrom(loaded, options)
}

/** The body `nexus sub serve` would give this link, or a NexusError saying why there is none. */
export function exportFrom(
  loaded: LoadedSubscriptions,
  request: {readonly user: string; readonly link: string; readonly format: SubscriptionFormat; readonly now: Date},
): SubscriptionExport {
  const {desired, catalog, missing} = loaded
  const user = desired.users.find((u) => u.name === request.user)
  if (!user) {
    const suggestion = closest(
      request.user,
      desired.users.map((u) => u.name),
    )
    throw new NexusError(
      'unknown_user',
      `no user named ${request.user}`,
      suggestion ? `did you mean ${suggestion}?` : 'see the users/ folder of the repo',
    )
  }
  if (!user.links.includes(request.link)) {
    throw new NexusError(
      'unknown_link',
      `user ${user.name} has no link named ${request.link}`,
      `links of ${user.name}: ${user.links.join(', ')}`,
    )
  }
  const key = linkKey(user.name, request.link)
  if (missing.links.includes(key)) {
    throw new NexusError(
      'not_applied',
      `the state holds no UUID for ${key} yet, so its subscription would be a preview that no node accepts`,
      'run nexus apply first',
    )
  }
  const status = catalog.statuses.get(user.name)
  if (!status || !serves(status, request.now)) {
    const state = status ? `${status.status} (${status.reason.replaceAll('_', ' ')})` : 'unknown'
    throw new NexusError(
      'subscription_inactive',
      `the subscription of ${user.name} is ${state}, so it lists no proxies`,
      'nexus sub serve answers 404 for its links as well; nexus plan shows the subscription changes',
    )
  }
  if (loaded.unready.size > 0) {
    // The same link on the fleet that still has the inbounds the state holds no keys for.
    const full = new Fleet(desired, catalog.fleet.state)
    const pending = subscriptionProxies(full, user.name, request.link)
      .map((proxy) => `${proxy.node}/${proxy.tag}`)
      .filter((id) => loaded.unready.has(id))
    if (pending.length > 0) {
      throw new NexusError(
        'not_applied',
        `the state holds no keys yet for ${pending.join(', ')}, so ${key}'s subscription would be a preview`,
        'run nexus apply first',
      )
    }
  }
  const link = {user: user.name, link: request.link, uuid: catalog.fleet.state.links.get(key) ?? ''}
  const rendered = renderLink(catalog, link, request.format)
  return {
    user: user.name,
    link: request.link,
    format: rendered.format,
    contentType: rendered.contentType,
    proxies: rendered.proxies.map((proxy) => proxy.name),
    body: rendered.body,
  }
}

// ---------------------------------------------------------------------------
// nexus sub serve

export interface SubscriptionServerOptions {
  readonly location: StateLocation
  readonly env: NodeJS.ProcessEnv
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  /** Reload repo and state this often; 0: only on reload(). */
  readonly reloadIntervalMs: number
  /** Requests per minute per client address (also the burst); 0: unlimited. */
  readonly rateLimitPerMinute: number
  /** Take the client address from X-Forwarded-For (and the scheme from X-Forwarded-Proto). */
  readonly trustProxy?: boolean
  /** One line per request and per event, for stderr. */
  readonly log: (line: string) => void
  readonly clock?: () => Date
}

export interface SubscriptionServer {
  readonly url: string
  readonly host: string
  readonly port: number
  readonly metrics: ServerMetrics
  /** The load in use. */
  readonly loaded: LoadedSubscriptions
  /** Loads repo and state again; on failure keeps the previous load and returns false. */
  reload(): Promise<boolean>
  /** Stops the timer, waits for a running reload, and shuts the HTTP server down gracefully. */
  close(): Promise<void>
}

export const SERVE_PREFIX = 'nexus sub serve:'

export async function startSubscriptionServer(
  root: string,
  options: SubscriptionServerOptions,
): Promise<SubscriptionServer> {
  const clock = options.clock ?? (() => new Date())
  const read = () => loadSubscriptions(root, {location: options.location, env: options.env, now: clock()})
  let loaded = await read()
  reportLoad(loaded, options.log)
  const metrics = new ServerMetrics(clock().getTime())
  const limiter = options.rateLimitPerMinute > 0 ? new RateLimiter({perMinute: options.rateLimitPerMinute}) : undefined

  const http: HttpServer = await startHttpServer<SubscriptionResponse & {client: string}>({
    host: options.host,
    port: options.port,
    handle(request) {
      const client = clientAddress(request.remoteAddress, request.headers['x-forwarded-for'], options.trustProxy)
      const response = handleSubscriptionRequest(
        {method: request.method, url: request.url, headers: request.headers, client},
        {
          catalog: loaded.catalog,
          now: clock(),
          metrics,
          ...(limiter ? {limiter} : {}),
          ...(options.trustProxy ? {trustProxy: true} : {}),
        },
      )
      return {...response, client}
    },
    onReply(request, reply, sent) {
      options.log(
        requestLogLine({
          at: clock(),
          client: reply.client,
          method: request.method,
          url: request.url,
          status: reply.status,
          bytes: sent.bytes,
          ms: sent.ms,
          ...(reply.served === undefined ? {} : {served: reply.served}),
        }),
      )
    },
    onError(error) {
      options.log(`${SERVE_PREFIX} request failed: ${(error as Error).stack ?? String(error)}`)
    },
  })

  let running: Promise<boolean> | undefined
  let queued: Promise<boolean> | undefined
  /** Timer reloads say nothing unless the state changed; asked-for ones always report. */
  const runReload = (quiet: boolean): Promise<boolean> => {
    running = read()
      .then((next) => {
        const changed = next.serial !== loaded.serial
        loaded = next
        metrics.recordReload('ok')
        if (!quiet || changed) reportLoad(next, options.log, 'reloaded')
        return true
      })
      .catch((error: unknown) => {
        metrics.recordReload('error')
        const message = error instanceof NexusError ? error.message : String((error as Error).message ?? error)
        options.log(`${SERVE_PREFIX} reload failed, still serving the previous load: ${message}`)
        return false
      })
      .finally(() => {
        running = undefined
      })
    return running
  }
  // A reload asked for while one runs happens once more after it, since the state may have changed meanwhile.
  const reload = (quiet = false): Promise<boolean> => {
    if (queued) return queued
    if (!running) return runReload(quiet)
    queued = running.then(() => {
      queued = undefined
      return runReload(quiet)
    })
    return queued
  }
  const timer =
    options.reloadIntervalMs > 0 ? setInterval(() => void reload(true), options.reloadIntervalMs) : undefined
  timer?.unref()

  return {
    url: http.url,
    host: http.host,
    port: http.port,
    metrics,
    get loaded() {
      return loaded
    },
    reload: () => reload(),
    async close() {
      if (timer) clearInterval(timer)
      await http.close()
      await (queued ?? running)
    },
  }
}

function reportLoad(loaded: LoadedSubscriptions, log: (line: string) => void, verb = 'loaded'): void {
  const links = loaded.catalog.links.size
  log(`${SERVE_PREFIX} ${verb} repo and state (serial ${loaded.serial}): ${links} link${links === 1 ? '' : 's'}`)
  if (loaded.unready.size > 0) {
    log(
      `${SERVE_PREFIX} the state holds no keys yet for ${[...loaded.unready].sort().join(', ')}; left out until nexus apply`,
    )
  }
  if (loaded.missing.links.length > 0) {
    log(`${SERVE_PREFIX} ${loaded.missing.links.length} declared link(s) have no UUID in the state yet`)
  }
}

function stateWhere(location: StateLocation): string {
  return location.kind === 'pglite' ? location.dataDir : `schema ${location.schema} of the Postgres database`
}
