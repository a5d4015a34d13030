import {Flags} from '@oclif/core'

import {SERVE_PREFIX, startSubscriptionServer} from '../../app/subscription.js'
import {NexusCommand} from '../../cli/base-command.js'

export interface SubscriptionServeResult {
  readonly url: string
  readonly requests: number
  readonly uptimeSeconds: number
}

export default class SubServe extends NexusCommand<typeof SubServe> {
  static override summary = 'Serve subscriptions over HTTP from the repo and the state.'
  static override description = `Routes: GET /sub/UUID (the subscription; ?format=v2ray|clash|singbox, else chosen by the client's User-Agent; a browser gets a page with usage, expiry and QR codes), GET /sub/UUID/info (JSON), GET /health, GET /metrics (Prometheus). Unknown, revoked, disabled and expired UUIDs all get the same 404. The repo and state are read at start, every --reload-interval seconds and on SIGHUP, so a link reset or an expiry takes effect without a restart. Requests are rate-limited per client address. One log line per request goes to stderr, UUIDs masked. SIGINT or SIGTERM stops it gracefully.`
  static override examples = [
    '<%= config.bin %> sub serve',
    '<%= config.bin %> sub serve --host 0.0.0.0 --port 8080 --reload-interval 30',
    'curl -H "User-Agent: clash-verge/v2" http://127.0.0.1:3000/sub/UUID',
  ]
  static override flags = {
    port: Flags.integer({description: 'TCP port; 0 picks a free one', default: 3000, min: 0, max: 65_535}),
    host: Flags.string({description: 'address to listen on', default: '127.0.0.1'}),
    'reload-interval': Flags.integer({
      description: 'seconds between reloads of repo and state; 0: only on SIGHUP',
      default: 60,
      min: 0,
    }),
    'rate-limit': Flags.integer({
      description: 'requests per minute per client address (also the burst); 0: no limit',
      default: 30,
      min: 0,
    }),
    'trust-proxy': Flags.boolean({
      description:
        'behind a reverse proxy: take the client address from X-Forwarded-For and the scheme from X-Forwarded-Proto',
    }),
  }

  async run(): Promise<SubscriptionServeResult> {
    const log = (line: string) => process.stderr.write(`${line}\n`)
    const server = await startSubscriptionServer(this.repoPath, {
      location: this.stateLocation,
      env: process.env,
      host: this.flags.host,
      port: this.flags.port,
      reloadIntervalMs: this.flags['reload-interval'] * 1000,
      rateLimitPerMinute: this.flags['rate-limit'],
      trustProxy: this.flags['trust-proxy'],
      log,
    })
    log(`${SERVE_PREFIX} listening on ${server.url}`)
    const started = Date.now()
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      const onHup = () => {
        log(`${SERVE_PREFIX} SIGHUP: reloading`)
        void server.reload()
      }
      const stop = (name: NodeJS.Signals) => {
        process.off('SIGHUP', onHup)
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        resolve(name)
      }
      process.on('SIGHUP', onHup)
      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
    })
    log(`${SERVE_PREFIX} ${signal}: shutting down`)
    await server.close()
    const result = {
      url: server.url,
      requests: server.metrics.requestCount,
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
    }
    log(`${SERVE_PREFIX} stopped after ${result.requests} request${result.requests === 1 ? '' : 's'}`)
    return result
  }
}
