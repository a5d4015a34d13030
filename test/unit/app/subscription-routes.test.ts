/**
 * The pure side of `nexus sub serve`: routing, format choice, the HTML page,
 * the uniform 404, the rate limiter, metrics and the request log, over the
 * fixture fleet with a fixed clock.
 */
import QRCode from 'qrcode'
import {describe, expect, it} from 'vitest'

import {
  buildCatalog,
  clientAddress,
  handleSubscriptionRequest,
  maskUrl,
  NOT_FOUND_BODY,
  RateLimiter,
  requestLogLine,
  ServerMetrics,
  type SubscriptionCatalog,
  type SubscriptionRequest,
  uuidKey,
  wantsHtml,
} from '../../../src/app/subscription-routes.js'
import type {Desired} from '../../../src/model/desired.js'
import type {SubscriptionStatus} from '../../../src/model/subscription.js'
import {renderSubscription} from '../../../src/render/subscription/index.js'
import {escapeHtml, formatBytes, qrSvg} from '../../../src/views/subscription-page.js'
import {desired, state, UUIDS} from '../../helpers/fixture.js'
import {expectGolden} from '../../helpers/golden.js'

const NOW = new Date('2026-05-01T12:00:00Z')
const GIB = 1024 ** 3
const ALICE = UUIDS['alice/default']

function status(overrides: Partial<SubscriptionStatus> = {}): SubscriptionStatus {
  return {
    status: 'active',
    reason: 'active',
    letIn: true,
    tariff: 'pro',
    termStart: '2026-01-01T00:00:00.000Z',
    termEnd: null,
    endsAt: null,
    periodStart: '2026-01-01T00:00:00.000Z',
    periodEnd: null,
    trafficLimit: null,
    trafficUsed: 0,
    nextReset: null,
    ...overrides,
  }
}

const STATUSES = new Map<string, SubscriptionStatus>([
  ['alice', status({trafficUsed: 3 * GIB, endsAt: '2026-12-31T00:00:00.000Z'})],
  [
    'bob',
    status({
      tariff: 'basic',
      trafficLimit: 100 * GIB,
      trafficUsed: 100 * GIB,
      status: 'expired',
      reason: 'traffic_exhausted',
      letIn: false,
    }),
  ],
  ['carol', status({tariff: 'basic', trafficLimit: 100 * GIB, endsAt: '2026-05-01T11:00:00.000Z'})],
  ['dave', status({status: 'disabled', reason: 'user_disabled', letIn: false})],
])

function catalog(patch: Partial<Desired> = {}): SubscriptionCatalog {
  return buildCatalog({desired: {...desired, ...patch}, values: state, statuses: STATUSES, loadedAt: NOW})
}

function request(url: string, headers: Record<string, string> = {}, method = 'GET'): SubscriptionRequest {
  return {method, url, headers, client: '192.0.2.1'}
}

function respond(url: string, headers: Record<string, string> = {}, c = catalog(), now = NOW) {
  return handleSubscriptionRequest(request(url, headers), {catalog: c, now})
}

describe('routes', () => {
  it('serves the fixture subscription as renderSubscription renders it', () => {
    const response = respond(`/sub/${ALICE}?format=clash`)
    expect(response.status).toBe(200)
    expect(response.served).toBe('clash')
    expect(response.body).toBe(renderSubscription(catalog().fleet, 'alice', 'default', 'clash').body)
    expect(response.headers).toEqual({
      'content-type': 'text/yaml; charset=utf-8',
      'content-disposition': 'attachment; filename="Acme VPN.yaml"',
      'profile-title': 'base64:QWNtZSBWUE4=',
      'profile-update-interval': '12',
      'subscription-userinfo': `upload=0; download=${3 * GIB}; total=0; expire=1798675200`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    })
  })

  it('adds profile-web-page-url when the project has a baseUrl', () => {
    const project = {
      ...desired.project,
      subscription: {...desired.project.subscription, baseUrl: 'https://sub.example.net/'},
    }
    const response = respond(`/sub/${ALICE}`, {}, catalog({project}))
    expect(response.headers['profile-web-page-url']).toBe(`https://sub.example.net/sub/${ALICE}`)
  })

  it('takes the format from ?format=, then the User-Agent, then v2ray', () => {
    expect(respond(`/sub/${ALICE}?format=singbox`, {'user-agent': 'clash-verge/v2'}).served).toBe('singbox')
    expect(respond(`/sub/${ALICE}?format=sing-box`).served).toBe('singbox')
    expect(respond(`/sub/${ALICE}`, {'user-agent': 'clash-verge/v2'}).served).toBe('clash')
    expect(respond(`/sub/${ALICE}`, {'user-agent': 'SFA/1.11'}).served).toBe('singbox')
    expect(respond(`/sub/${ALICE}`, {'user-agent': 'v2rayN/7'}).served).toBe('v2ray')
    expect(respond(`/sub/${ALICE}`).served).toBe('v2ray')
    expect(respond(`/sub/${ALICE}?format=nonsense`).served).toBe('v2ray')
    expect(respond(`/sub/${ALICE.toUpperCase()}?format=clash`).served).toBe('clash')
  })

  it('gives one 404 for unknown, malformed, disabled, used-up and expired UUIDs and unknown paths', () => {
    const answers = [
      `/sub/${UUIDS['bob/default']}`,
      `/sub/${UUIDS['carol/default']}`,
      `/sub/${UUIDS['bob/default']}/info`,
      '/sub/00000000-0000-4000-8000-000000000000',
      '/sub/../../etc/passwd',
      `/sub/${ALICE}/extra`,
      '/',
      '/favicon.ico',
    ].map((url) => respond(url, {accept: 'text/html'}))
    for (const answer of answers) {
      expect(answer).toMatchObject({status: 404, body: NOT_FOUND_BODY})
      expect(answer.headers).toEqual(answers[0]?.headers)
      expect(answer.served).toBeUndefined()
    }
    expect(answers[0]?.headers).toEqual({
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    })
  })

  it('lets an end pass without a reload: the same UUID is 404 from that instant', () => {
    const ends = new Date('2026-12-31T00:00:00Z')
    expect(respond(`/sub/${ALICE}`, {}, catalog(), new Date(ends.getTime() - 1)).status).toBe(200)
    expect(respond(`/sub/${ALICE}`, {}, catalog(), ends).status).toBe(404)
    expect(respond(`/sub/${ALICE}/info`, {}, catalog(), ends).status).toBe(404)
  })

  it('answers /info with user-facing fields only', () => {
    const response = respond(`/sub/${UUIDS['alice/phone']}/info`)
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(JSON.parse(response.body)).toEqual({
      title: 'Acme VPN',
      status: 'active',
      expires: '2026-12-31T00:00:00.000Z',
      usage: {upload: 0, download: 3 * GIB, total: null},
      proxies: [
        'Acme VPN · fra-1 ss2022',
        'Acme VPN · fra-1 trojan-tls',
        'Acme VPN · fra-1 vless-reality',
        'Acme VPN · fra-1 vmess-ws',
      ],
    })
    expect(response.body).not.toMatch(/alice|phone|[0-9a-f]{8}-/)
  })

  it('answers /health, 405 for other methods and 429 before anything else', () => {
    expect(JSON.parse(respond('/health').body)).toEqual({status: 'ok', loadedAt: NOW.toISOString()})
    const post = handleSubscriptionRequest(request(`/sub/${ALICE}`, {}, 'POST'), {catalog: catalog(), now: NOW})
    expect(post).toMatchObject({status: 405, headers: {allow: 'GET, HEAD'}})
    const limiter = new RateLimiter({perMinute: 1})
    const context = {catalog: catalog(), now: NOW, limiter}
    expect(handleSubscriptionRequest(request('/health'), context).status).toBe(200)
    const refused = handleSubscriptionRequest(request(`/sub/${ALICE}`), context)
    expect(refused).toMatchObject({status: 429, headers: {'retry-after': '60'}, route: 'sub'})
  })
})

describe('the browser page', () => {
  const nasty = `<script>alert("x")</script> & 'Co'`
  const project = {...desired.project, subscription: {...desired.project.subscription, title: nasty}}

  it('is served for Accept: text/html, escaped, with QR codes and a strict policy', () => {
    const response = respond(
      `/sub/${ALICE}`,
      {accept: 'text/html,application/xhtml+xml,*/*;q=0.8', host: 'sub.test:3000'},
      catalog({project}),
    )
    expect(response).toMatchObject({status: 200, served: 'html'})
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(response.headers['content-security-policy']).toMatch(/^default-src 'none'; style-src 'unsafe-inline'/)
    expect(response.body).not.toContain('<script>')
    expect(response.body).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;Co&#39;')
    expect(response.body).toContain(`<code>http://sub.test:3000/sub/${ALICE}</code>`)
    expect(response.body).toContain('3 GiB used (no limit)')
    expect(response.body.match(/<svg class="qr"/g)).toHaveLength(5)
    expectGolden('sub/fixture-page-escaped.html', response.body)
  })

  it('never reflects a hostile Host header, and believes X-Forwarded-Proto only behind a trusted proxy', () => {
    const page = (headers: Record<string, string>, trustProxy = false) =>
      handleSubscriptionRequest(request(`/sub/${ALICE}`, {accept: 'text/html', ...headers}), {
        catalog: catalog(),
        now: NOW,
        trustProxy,
      }).body
    expect(page({host: '"><img src=x>'})).toContain(`<code>http://localhost/sub/${ALICE}</code>`)
    expect(page({host: 'sub.test', 'x-forwarded-proto': 'https'})).toContain(`http://sub.test/sub/`)
    expect(page({host: 'sub.test', 'x-forwarded-proto': 'https'}, true)).toContain(`https://sub.test/sub/`)
  })

  it('is left for the format when ?format= is given, and not sent to clients', () => {
    expect(respond(`/sub/${ALICE}?format=clash`, {accept: 'text/html'}).served).toBe('clash')
    expect(wantsHtml('*/*')).toBe(false)
    expect(wantsHtml(undefined)).toBe(false)
    expect(wantsHtml('application/json, text/plain')).toBe(false)
    expect(wantsHtml('TEXT/HTML; q=0.9')).toBe(true)
  })

  it('draws QR codes cell for cell as qrcode’s own SVG renderer', async () => {
    const text = `vless://${ALICE}@fra-1.vpn.example.com:443?security=reality#Acme%20VPN`
    const ours = cells(/d="([^"]+)"/.exec(qrSvg(text, 'x'))?.[1] ?? '', false)
    const theirs = await QRCode.toString(text, {type: 'svg', errorCorrectionLevel: 'L', margin: 4})
    const stroke = /<path stroke="#000000" d="([^"]+)"/.exec(theirs)?.[1] ?? ''
    expect(ours.size).toBeGreaterThan(100)
    expect([...ours].sort()).toEqual([...cells(stroke, true)].sort())
  })

  it('escapes every HTML special character and formats sizes in binary units', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;')
    expect([0, 1023, 1536, 5 * GIB, 100 * GIB + GIB / 2].map(formatBytes)).toEqual([
      '0 B',
      '1023 B',
      '1.5 KiB',
      '5 GiB',
      '100.5 GiB',
    ])
  })
})

/** Dark cells of an SVG path: ours (`Mx yhNv1h-Nz` boxes) or qrcode's (`Mx y.5hN` / `mdx dyhN` strokes). */
function cells(path: string, stroke: boolean): Set<string> {
  const set = new Set<string>()
  let x = 0
  let y = 0
  for (const [, command = '', a = '', b = ''] of path.matchAll(/([MmhvHVz])(-?[\d.]*)(?:\s(-?[\d.]+))?/g)) {
    if (command === 'M') {
      x = Number(a)
      y = Math.floor(Number(b))
    } else if (command === 'm') {
      x += Number(a)
      y += Math.floor(Number(b))
    } else if (command === 'h' && Number(a) > 0) {
      for (let i = 0; i < Number(a); i++) set.add(`${x + i},${y}`)
      if (stroke) x += Number(a)
    }
  }
  return set
}

describe('rate limiter', () => {
  it('allows a burst, then refills at the rate and says when to come back', () => {
    const limiter = new RateLimiter({perMinute: 30})
    const t = 1_000_000
    for (let i = 0; i < 30; i++) expect(limiter.take('a', t).allowed).toBe(true)
    expect(limiter.take('a', t)).toEqual({allowed: false, retryAfterSeconds: 2})
    expect(limiter.take('b', t).allowed).toBe(true)
    expect(limiter.take('a', t + 1_000).allowed).toBe(false)
    expect(limiter.take('a', t + 2_000).allowed).toBe(true)
    expect(limiter.take('a', t + 2_000).allowed).toBe(false)
  })

  it('remembers at most maxClients addresses, forgetting the least recently seen', () => {
    const limiter = new RateLimiter({perMinute: 1, maxClients: 3})
    for (const client of ['a', 'b', 'c']) limiter.take(client, 0)
    expect(limiter.take('a', 0).allowed).toBe(false)
    for (let i = 0; i < 1000; i++) limiter.take(`x${i}`, 0)
    expect(limiter.size).toBe(3)
    expect(limiter.take('a', 0).allowed).toBe(true)
  })

  it('keys clients by address: IPv4-mapped as IPv4, IPv6 by /64, X-Forwarded-For only when trusted', () => {
    expect(clientAddress('192.0.2.7', undefined)).toBe('192.0.2.7')
    expect(clientAddress('::ffff:192.0.2.7', undefined)).toBe('192.0.2.7')
    expect(clientAddress('2001:db8:1:2:3:4:5:6', undefined)).toBe('2001:db8:1:2::/64')
    expect(clientAddress('2001:db8:1:2::9', undefined)).toBe('2001:db8:1:2::/64')
    expect(clientAddress('::1', undefined)).toBe('0:0:0:0::/64')
    expect(clientAddress('127.0.0.1', '198.51.100.1, 203.0.113.9')).toBe('127.0.0.1')
    expect(clientAddress('127.0.0.1', '198.51.100.1, 203.0.113.9', true)).toBe('203.0.113.9')
  })
})

describe('metrics and logs', () => {
  it('render Prometheus text with routes, statuses and formats, and nothing about users', () => {
    const metrics = new ServerMetrics(NOW.getTime() - 90_000)
    const c = catalog()
    for (const url of [`/sub/${ALICE}?format=clash`, `/sub/${ALICE}`, '/sub/nope', '/health']) {
      handleSubscriptionRequest(request(url), {catalog: c, now: NOW, metrics})
    }
    metrics.recordReload('ok')
    const text = metrics.render(NOW.getTime(), {catalog: c, limiter: new RateLimiter({perMinute: 5})})
    expect(text).toContain('nexus_sub_http_requests_total{route="/sub/:uuid",status="200"} 2\n')
    expect(text).toContain('nexus_sub_http_requests_total{route="/sub/:uuid",status="404"} 1\n')
    expect(text).toContain('nexus_sub_http_requests_total{route="/health",status="200"} 1\n')
    expect(text).toContain('nexus_sub_subscriptions_served_total{format="clash"} 1\n')
    expect(text).toContain('nexus_sub_subscriptions_served_total{format="v2ray"} 1\n')
    expect(text).toContain('nexus_sub_subscriptions_served_total{format="singbox"} 0\n')
    expect(text).toContain('nexus_sub_reloads_total{result="ok"} 1\n')
    expect(text).toContain('nexus_sub_links 4\n')
    expect(text).toContain('process_uptime_seconds 90\n')
    expect(text).toContain('# TYPE nexus_sub_http_requests_total counter\n')
    expect(text).not.toMatch(/alice|bob|[0-9a-f]{8}-[0-9a-f]{4}/)
    expect(metrics.requestCount).toBe(4)
  })

  it('log one line per request with UUIDs masked and only a known format kept', () => {
    const line = requestLogLine({
      at: NOW,
      client: '192.0.2.1',
      method: 'GET',
      url: `/sub/${ALICE}/info?format=clash&token=secret`,
      status: 200,
      bytes: 120,
      ms: 1.4,
      served: 'clash',
    })
    expect(line).toBe('2026-05-01T12:00:00.000Z 192.0.2.1 GET /sub/<uuid>/info?format=clash 200 120B 1ms format=clash')
    expect(maskUrl(`/x/${ALICE}/y`)).toBe('/x/<uuid>/y')
    expect(maskUrl('/sub/anything-at-all?format=bogus')).toBe('/sub/<uuid>')
    expect(maskUrl('/a\nb c')).toBe('/a?b?c')
  })
})

describe('catalog', () => {
  it('knows only declared links with a UUID, and leaves out inbounds the state holds no keys for', () => {
    const c = buildCatalog({
      desired,
      values: {...state, links: new Map([...state.links].filter(([key]) => key !== 'carol/default'))},
      statuses: STATUSES,
      unready: new Set(['fra-1/vless-reality']),
      loadedAt: NOW,
    })
    expect([...c.links.values()].map((l) => `${l.user}/${l.link}`).sort()).toEqual([
      'alice/default',
      'alice/phone',
      'bob/default',
    ])
    expect(c.links.get(uuidKey(ALICE.toUpperCase()))?.link).toBe('default')
    expect(c.fleet.desired.nodes[0]?.xray?.inbounds.map((i) => i.tag)).toEqual(['vmess-ws', 'trojan-tls', 'ss2022'])
    const info = handleSubscriptionRequest(request(`/sub/${ALICE}/info`), {catalog: c, now: NOW})
    expect(JSON.parse(info.body).proxies).not.toContain('Acme VPN · fra-1 vless-reality')
  })
})
