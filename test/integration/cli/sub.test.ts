/**
 * `nexus sub export` and `nexus sub serve` against a real state: a temp repo
 * (one active node with an inbound of every protocol, one in maintenance;
 * an active, a disabled and an expired user) whose state is brought in line
 * with fixed UUIDs and keys, so exports and pages are golden files. The
 * server runs for real on a loopback port, in-process (startSubscriptionServer)
 * and as the CLI in a child process; every one is stopped afterwards.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {mkdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse as parseYaml} from 'yaml'

import {startSubscriptionServer, type SubscriptionServer} from '../../../src/app/subscription.js'
import {readDeclarationFiles} from '../../../src/git/working-tree.js'
import {loadInventory} from '../../../src/inventory/load.js'
import {makePlan} from '../../../src/plan/index.js'
import {type GeneratedValues, missingValues, type ValueRequests} from '../../../src/plan/state-plan.js'
import {profileTitle, SUBSCRIPTION_FORMATS} from '../../../src/render/subscription/index.js'
import {openState, stateLocation} from '../../../src/state/open.js'
import type {StateStore} from '../../../src/state/store.js'
import {BIN, nexus} from '../../helpers/cli.js'
import {KEYS} from '../../helpers/fixture.js'
import {expectGolden} from '../../helpers/golden.js'
import {applyStateOnly} from '../../helpers/plan.js'
import {tempDir} from '../../helpers/tools.js'

const UUIDS: Readonly<Record<string, string>> = {
  'alice/default': '0b5b50b9-f194-4fa8-ba9b-f7d2dee211f8',
  'alice/phone': '2b48ba2e-458e-41d6-a536-52f5fa8275f9',
  'bob/default': 'e37a47af-976b-4fe3-9bd6-3fb5250640e2',
  'dave/default': 'cf298f12-a097-4f63-9f37-ed5f0f1bcc20',
}
const ALICE = UUIDS['alice/default'] as string
const PHONE = UUIDS['alice/phone'] as string
const ROTATED = '7d1c3a52-0f4e-4b8e-9a55-2f1f6f0b8c11'
const ROTATED_AGAIN = '9e0f5b7a-3c2d-4e1f-8a6b-0c9d8e7f6a5b'
const UNKNOWN = '11111111-2222-4333-8444-555555555555'
const GIB = 1024 ** 3

const FILES: Readonly<Record<string, string>> = {
  'nexus.yaml': `apiVersion: nexus/v1
kind: Project
name: sub-test
subscription:
  title: Acme VPN
  baseUrl: https://sub.example.net
  updateIntervalHours: 12
`,
  'tariffs/pro.yaml': `apiVersion: nexus/v1
kind: Tariff
name: pro
durationMonths: null
trafficLimit: 100GiB
trafficReset: none
maxDevices: 5
protocols: [vless, vmess, trojan, shadowsocks]
`,
  'users/people.yaml': `apiVersion: nexus/v1
kind: User
name: alice
tariff: pro
links: [default, phone]
subscription:
  expires: 2099-12-31
---
apiVersion: nexus/v1
kind: User
name: bob
status: disabled
tariff: pro
---
apiVersion: nexus/v1
kind: User
name: dave
tariff: pro
subscription:
  expires: 2020-01-01
`,
  'nodes/fra-1.yaml': `apiVersion: nexus/v1
kind: Node
name: fra-1
ssh:
  host: 203.0.113.10
endpoint: fra-1.vpn.example.com
xray:
  inbounds:
    - tag: vless-reality
      protocol: vless
      port: 443
      security: reality
      flow: xtls-rprx-vision
      reality:
        target: www.example.com:443
        serverNames: [www.example.com]
        shortIds: ["6d44678d93a3b4f6"]
    - tag: vmess-ws
      protocol: vmess
      port: 8443
      security: tls
      tls:
        serverName: fra-1.vpn.example.com
        certificateFile: /etc/nexus/tls/fullchain.pem
        keyFile: /etc/nexus/tls/privkey.pem
      transport:
        type: ws
        path: /vm
    - tag: trojan-tls
      protocol: trojan
      port: 2083
      security: tls
      tls:
        serverName: fra-1.vpn.example.com
        certificateFile: /etc/nexus/tls/fullchain.pem
        keyFile: /etc/nexus/tls/privkey.pem
        alpn: [h2, http/1.1]
    - tag: ss2022
      protocol: shadowsocks
      port: 8388
      method: 2022-blake3-aes-128-gcm
`,
  'nodes/ams-1.yaml': `apiVersion: nexus/v1
kind: Node
name: ams-1
status: maintenance
ssh:
  host: 198.51.100.20
endpoint: ams-1.vpn.example.com
xray:
  inbounds:
    - tag: vless-reality
      protocol: vless
      port: 443
      security: reality
      flow: xtls-rprx-vision
      reality:
        target: www.example.com:443
        serverNames: [www.example.com]
        shortIds: ["6d44678d93a3b4f6"]
`,
}

/** A user declared after the apply: the state holds no UUID for its link. */
const FRANK = `apiVersion: nexus/v1
kind: User
name: frank
tariff: pro
`

const EXTENSIONS = {v2ray: 'txt', clash: 'yaml', singbox: 'json'} as const

const tmp = tempDir('nexus-sub-')
let repo: string
let server: SubscriptionServer
const logs: string[] = []

/** Fixed keys and UUIDs for exactly what the state lacks, so outputs are golden. */
function fixedValues(missing: ValueRequests): GeneratedValues {
  const secrets = new Map<string, {value: string; publicValue?: string}>()
  for (const request of missing.secrets) {
    const id = `${request.scope}/${request.name}`
    if (request.kind === 'reality')
      secrets.set(id, {value: KEYS.reality.privateKey, publicValue: KEYS.reality.publicKey})
    else if (request.kind === 'shadowsocks') secrets.set(id, {value: KEYS.shadowsocks})
    else secrets.set(id, {value: KEYS.gatewayWg0.privateKey, publicValue: KEYS.gatewayWg0.publicKey})
  }
  const links = new Map(
    missing.links.map((key) => {
      const uuid = UUIDS[key]
      if (!uuid) throw new Error(`no fixed UUID for ${key}`)
      return [key, uuid] as const
    }),
  )
  return {secrets, links}
}

function writeRepo(root: string): void {
  for (const [path, content] of Object.entries(FILES)) {
    mkdirSync(join(root, path, '..'), {recursive: true})
    writeFileSync(join(root, path), content)
  }
}

async function withStore<T>(fn: (store: StateStore) => Promise<T>): Promise<T> {
  const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
  if (!store) throw new Error('no store')
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

beforeAll(async () => {
  repo = join(tmp.path, 'repo')
  writeRepo(repo)
  await withStore(async (store) => {
    const desired = loadInventory(await readDeclarationFiles(repo)).desired
    if (!desired) throw new Error('test repo invalid')
    const snapshot = await store.snapshot()
    const result = makePlan({
      desired,
      snapshot,
      stateKind: 'pglite',
      generated: fixedValues(missingValues(desired, snapshot)),
      readings: new Map(),
      git: {commit: null, dirty: false},
      now: new Date(),
      offline: true,
    })
    await applyStateOnly(store, result)
    // Usage collection has counted 5 GiB for alice.
    const record = (await store.snapshot()).subscriptions.get('alice')
    if (!record) throw new Error('alice has no subscription record')
    await store.write({subscriptions: [{user: 'alice', record: {...record, trafficUsed: 5 * GIB}}]}, {actor: 'test'})
  })
  writeFileSync(join(repo, 'users/frank.yaml'), FRANK)
  server = await startSubscriptionServer(repo, {
    location: stateLocation(repo, {}),
    env: {},
    host: '127.0.0.1',
    port: 0,
    reloadIntervalMs: 0,
    rateLimitPerMinute: 0,
    log: (line) => logs.push(line),
  })
})

afterAll(async () => {
  await server?.close()
  tmp.cleanup()
})

async function get(
  path: string,
  headers: Record<string, string> = {},
  base = server.url,
  method = 'GET',
): Promise<{status: number; headers: Record<string, string>; body: string}> {
  const response = await fetch(new URL(path, base), {method, headers})
  const body = await response.text()
  return {status: response.status, headers: Object.fromEntries(response.headers), body}
}

/** `nexus sub export` with stdout byte for byte (the nexus helper strips a final newline). */
async function exportRaw(...args: string[]): Promise<{exitCode: number; stdout: string; stderr: string}> {
  const run = await execa('node', [BIN, 'sub', 'export', ...args, '--repo', repo], {
    reject: false,
    stripFinalNewline: false,
    stdin: 'ignore',
  })
  return {exitCode: run.exitCode ?? 1, stdout: String(run.stdout), stderr: String(run.stderr)}
}

/** Headers that vary per response (time, connection handling) left out. */
function stableHeaders(headers: Record<string, string>): Record<string, string> {
  const {date: _date, connection: _connection, 'keep-alive': _keepAlive, ...rest} = headers
  return rest
}

describe('nexus sub export', () => {
  it.each(SUBSCRIPTION_FORMATS)(
    'prints the %s subscription, as golden, and as the server serves it',
    async (format) => {
      const run = await exportRaw('alice', '--format', format)
      expect(run.stderr).toBe('')
      expect(run.exitCode).toBe(0)
      expectGolden(`sub/alice-default.${format}.${EXTENSIONS[format]}`, run.stdout)
      const served = await get(`/sub/${ALICE}?format=${format}`)
      expect(served.status).toBe(200)
      expect(served.body).toBe(run.stdout)
    },
  )

  it('lists every proxy the tariff allows on the active node, none of the maintenance node', async () => {
    const run = await nexus([
      'sub',
      'export',
      'alice',
      '--repo',
      repo,
      '--link',
      'phone',
      '--format',
      'clash',
      '--json',
    ])
    expect(run.exitCode).toBe(0)
    const result = JSON.parse(run.stdout) as Record<string, unknown>
    expect(Object.keys(result)).toEqual(['user', 'link', 'format', 'contentType', 'proxies', 'body'])
    expect(result).toMatchObject({
      user: 'alice',
      link: 'phone',
      format: 'clash',
      contentType: 'text/yaml; charset=utf-8',
      proxies: [
        'Acme VPN · fra-1 ss2022',
        'Acme VPN · fra-1 trojan-tls',
        'Acme VPN · fra-1 vless-reality',
        'Acme VPN · fra-1 vmess-ws',
      ],
    })
    const body = parseYaml(result.body as string) as {proxies: {uuid?: string; password?: string}[]}
    expect(body.proxies.find((p) => p.uuid)?.uuid).toBe(PHONE)
    expect(result.body).not.toContain(ALICE)
  })

  it('writes --out with mode 0600', async () => {
    const out = join(tmp.path, 'alice.yaml')
    const run = await nexus(['sub', 'export', 'alice', '--repo', repo, '--format', 'singbox', '--out', out])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toContain(`wrote the singbox subscription of alice/default (4 proxies) to ${out}`)
    expect(readFileSync(out, 'utf8')).toBe((await get(`/sub/${ALICE}?format=singbox`)).body)
    expect(statSync(out).mode & 0o777).toBe(0o600)
  })

  it('refuses without a state: the render would be a preview', async () => {
    const bare = join(tmp.path, 'bare')
    writeRepo(bare)
    const run = await nexus(['sub', 'export', 'alice', '--repo', bare])
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr).toContain('run nexus apply first')
    const json = await nexus(['sub', 'export', 'alice', '--repo', bare, '--json'])
    expect(JSON.parse(json.stdout).error.code).toBe('no_state')
  })

  it('refuses a link the state holds no UUID for yet', async () => {
    const run = await nexus(['sub', 'export', 'frank', '--repo', repo, '--json'])
    expect(run.exitCode).toBe(1)
    expect(JSON.parse(run.stdout).error).toMatchObject({code: 'not_applied', hint: 'run nexus apply first'})
  })

  it('refuses disabled and expired subscriptions, unknown users and links', async () => {
    const codes = async (...args: string[]) =>
      JSON.parse((await nexus(['sub', 'export', ...args, '--repo', repo, '--json'])).stdout).error
    expect(await codes('bob')).toMatchObject({code: 'subscription_inactive'})
    expect((await codes('dave')).message).toContain('expired (override expired)')
    expect(await codes('alcie')).toMatchObject({code: 'unknown_user', hint: 'did you mean alice?'})
    expect(await codes('alice', '--link', 'tv')).toMatchObject({
      code: 'unknown_link',
      hint: 'links of alice: default, phone',
    })
  })
})

describe('nexus sub serve (in-process)', () => {
  it('answers /health', async () => {
    const response = await get('/health')
    expect(response.status).toBe(200)
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(JSON.parse(response.body)).toEqual({status: 'ok', loadedAt: expect.any(String)})
  })

  it('sends exactly the subscription headers', async () => {
    const response = await get(`/sub/${ALICE}`, {'user-agent': 'clash-verge/v2.0.3'})
    expect(response.status).toBe(200)
    expect(stableHeaders(response.headers)).toEqual({
      'content-type': 'text/yaml; charset=utf-8',
      'content-disposition': 'attachment; filename="Acme VPN.yaml"',
      'profile-title': profileTitle('Acme VPN'),
      'profile-update-interval': '12',
      'subscription-userinfo': `upload=0; download=${5 * GIB}; total=${100 * GIB}; expire=4102358400`,
      'profile-web-page-url': `https://sub.example.net/sub/${ALICE}`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'content-length': String(Buffer.byteLength(response.body)),
    })
    expect(profileTitle('Acme VPN')).toBe('base64:QWNtZSBWUE4=')
  })

  it.each([
    ['clash-verge/v2.0.3', 'clash'],
    ['ClashMetaForAndroid/2.11', 'clash'],
    ['mihomo/1.19', 'clash'],
    ['SFA/1.11.4 (Android 14)', 'singbox'],
    ['SFI/1.11', 'singbox'],
    ['v2rayN/7.10.5', 'v2ray'],
    ['curl/8.5.0', 'v2ray'],
  ] as const)('picks the format from the User-Agent %s', async (agent, format) => {
    const response = await get(`/sub/${ALICE}`, {'user-agent': agent})
    expect(response.status).toBe(200)
    expect(response.body).toBe((await get(`/sub/${ALICE}?format=${format}`)).body)
    expect(response.headers['content-disposition']).toBe(`attachment; filename="Acme VPN.${EXTENSIONS[format]}"`)
  })

  it('lets ?format= win over the User-Agent; an unknown format falls back to v2ray', async () => {
    const clash = await get(`/sub/${ALICE}?format=clash`, {'user-agent': 'SFA/1.11'})
    expect(clash.headers['content-type']).toBe('text/yaml; charset=utf-8')
    const unknown = await get(`/sub/${ALICE}?format=quantumult`)
    expect(unknown.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(unknown.body).toBe((await get(`/sub/${ALICE}?format=v2ray`)).body)
    // Even from a client whose User-Agent would get Clash without ?format=.
    const unknownFromClash = await get(`/sub/${ALICE}?format=bogus`, {'user-agent': 'clash-verge/2.0'})
    expect(unknownFromClash.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(unknownFromClash.body).toBe(unknown.body)
  })

  it('gives a browser an escaped page with usage, expiry and QR codes', async () => {
    const response = await get(`/sub/${ALICE}`, {accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8'})
    expect(response.status).toBe(200)
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(response.headers['content-security-policy']).toContain("default-src 'none'")
    expect(response.body).toContain('5 GiB of 100 GiB used')
    expect(response.body).toContain('2099-12-31 00:00 UTC')
    expect(response.body.match(/<svg class="qr"/g)).toHaveLength(5)
    expect(response.body).toContain(`https://sub.example.net/sub/${ALICE}`)
    expect(response.body).not.toMatch(/<script/i)
    expectGolden('sub/alice-default.page.html', response.body)
  })

  it('answers HEAD with the headers and no body, and other methods with 405', async () => {
    const head = await get(`/sub/${ALICE}?format=clash`, {}, server.url, 'HEAD')
    expect(head.status).toBe(200)
    expect(head.body).toBe('')
    expect(head.headers['subscription-userinfo']).toContain('download=')
    const post = await get(`/sub/${ALICE}`, {}, server.url, 'POST')
    expect(post.status).toBe(405)
    expect(post.headers.allow).toBe('GET, HEAD')
  })

  it('serves /info with user-facing fields only', async () => {
    const response = await get(`/sub/${ALICE}/info`)
    expect(response.status).toBe(200)
    expect(JSON.parse(response.body)).toEqual({
      title: 'Acme VPN',
      status: 'active',
      expires: '2099-12-31T00:00:00.000Z',
      usage: {upload: 0, download: 5 * GIB, total: 100 * GIB},
      proxies: [
        'Acme VPN · fra-1 ss2022',
        'Acme VPN · fra-1 trojan-tls',
        'Acme VPN · fra-1 vless-reality',
        'Acme VPN · fra-1 vmess-ws',
      ],
    })
    expect(response.body).not.toMatch(/alice|bob|dave|phone/)
  })

  it('gives unknown, malformed, disabled and expired UUIDs the same 404', async () => {
    const answers = await Promise.all(
      [
        `/sub/${UNKNOWN}`,
        '/sub/not-a-uuid',
        `/sub/${UUIDS['bob/default']}`,
        `/sub/${UUIDS['dave/default']}`,
        `/sub/${UUIDS['bob/default']}/info`,
        `/sub/${UUIDS['dave/default']}?format=clash`,
        '/nothing-here',
      ].map((path) => get(path, {'user-agent': 'clash-verge/v2'})),
    )
    for (const answer of answers) {
      expect(answer.status).toBe(404)
      expect(answer.body).toBe('not found\n')
      expect(stableHeaders(answer.headers)).toEqual(stableHeaders(answers[0]?.headers ?? {}))
    }
  })

  it('exposes Prometheus metrics without user names or UUIDs', async () => {
    const response = await get('/metrics')
    expect(response.status).toBe(200)
    expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8')
    const samples = new Map<string, number>()
    for (const line of response.body.trimEnd().split('\n')) {
      if (line.startsWith('#')) {
        expect(line).toMatch(/^# (HELP [a-z_]+ .+|TYPE [a-z_]+ (counter|gauge))$/)
        continue
      }
      const match = /^([a-z_]+)(\{[a-z_]+="[^"]*"(?:,[a-z_]+="[^"]*")*\})? (\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/.exec(line)
      expect(match, line).not.toBeNull()
      samples.set(`${match?.[1]}${match?.[2] ?? ''}`, Number(match?.[3]))
    }
    expect(samples.get('nexus_sub_http_requests_total{route="/sub/:uuid",status="200"}')).toBeGreaterThan(5)
    expect(samples.get('nexus_sub_http_requests_total{route="/sub/:uuid",status="404"}')).toBeGreaterThan(0)
    expect(samples.get('nexus_sub_http_requests_total{route="/health",status="200"}')).toBeGreaterThan(0)
    expect(samples.get('nexus_sub_subscriptions_served_total{format="clash"}')).toBeGreaterThan(0)
    expect(samples.get('nexus_sub_subscriptions_served_total{format="html"}')).toBeGreaterThan(0)
    expect(samples.get('nexus_sub_links')).toBe(4)
    expect(samples.get('process_uptime_seconds')).toBeGreaterThanOrEqual(0)
    expect(response.body).not.toMatch(/alice|bob|dave|[0-9a-f]{8}-[0-9a-f]{4}-/)
  })

  it('logs one line per request, UUIDs masked', () => {
    const requests = logs.filter((line) => /^\d{4}-\d\d-\d\dT/.test(line))
    expect(requests.length).toBeGreaterThan(10)
    expect(requests.some((line) => line.includes(' GET /sub/<uuid>?format=clash 200 '))).toBe(true)
    for (const uuid of [...Object.values(UUIDS), UNKNOWN]) expect(logs.join('\n')).not.toContain(uuid)
  })

  it('stops serving a reset link after a reload, and serves the new UUID', async () => {
    expect((await get(`/sub/${PHONE}`)).status).toBe(200)
    // What `nexus link reset` writes: a new UUID; the old one is kept as revoked.
    await withStore((store) => store.write({links: [{user: 'alice', link: 'phone', uuid: ROTATED}]}, {actor: 'test'}))
    expect((await get(`/sub/${PHONE}`)).status).toBe(200)
    expect(await server.reload()).toBe(true)
    const old = await get(`/sub/${PHONE}`)
    expect(old.status).toBe(404)
    expect(old.body).toBe('not found\n')
    expect(stableHeaders(old.headers)).toEqual(stableHeaders((await get(`/sub/${UNKNOWN}`)).headers))
    const fresh = await get(`/sub/${ROTATED}?format=v2ray`)
    expect(fresh.status).toBe(200)
    expect(Buffer.from(fresh.body, 'base64').toString('utf8')).toContain(ROTATED)
  })

  it('rate-limits per client address with 429 and Retry-After', async () => {
    const limited = await startSubscriptionServer(repo, {
      location: stateLocation(repo, {}),
      env: {},
      host: '127.0.0.1',
      port: 0,
      reloadIntervalMs: 0,
      rateLimitPerMinute: 3,
      log: () => {},
    })
    try {
      const statuses = []
      for (let i = 0; i < 3; i++) statuses.push((await get('/health', {}, limited.url)).status)
      expect(statuses).toEqual([200, 200, 200])
      const refused = await get(`/sub/${ALICE}`, {}, limited.url)
      expect(refused.status).toBe(429)
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1)
      expect(Number.isInteger(Number(refused.headers['retry-after']))).toBe(true)
    } finally {
      await limited.close()
    }
  })
})

describe('nexus sub serve (CLI)', () => {
  let child: ChildProcess | undefined
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL')
  })

  it('prints its address, serves, reloads on SIGHUP and stops on SIGTERM', async () => {
    const proc = spawn(
      'node',
      [BIN, 'sub', 'serve', '--repo', repo, '--port', '0', '--reload-interval', '0', '--rate-limit', '0'],
      {stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, NO_COLOR: '1'}},
    )
    child = proc
    let stderr = ''
    const waiters: {pattern: RegExp; resolve: (match: RegExpExecArray) => void}[] = []
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
      for (const waiter of [...waiters]) {
        const match = waiter.pattern.exec(stderr)
        if (match) {
          waiters.splice(waiters.indexOf(waiter), 1)
          waiter.resolve(match)
        }
      }
    })
    const waitFor = (pattern: RegExp) =>
      new Promise<RegExpExecArray>((resolve, reject) => {
        const match = pattern.exec(stderr)
        if (match) return resolve(match)
        waiters.push({pattern, resolve})
        proc.once('exit', () => reject(new Error(`exited before ${pattern}: ${stderr}`)))
      })
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))

    const url = (await waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+\/)/))[1] ?? ''
    expect((await get('/health', {}, url)).status).toBe(200)
    const exported = await exportRaw('alice', '--format', 'clash')
    expect((await get(`/sub/${ALICE}`, {'user-agent': 'clash-verge/v2'}, url)).body).toBe(exported.stdout)
    expect((await get(`/sub/${ROTATED}`, {}, url)).status).toBe(200)

    await withStore((store) =>
      store.write({links: [{user: 'alice', link: 'phone', uuid: ROTATED_AGAIN}]}, {actor: 'test'}),
    )
    proc.kill('SIGHUP')
    await waitFor(/reloaded repo and state/)
    expect((await get(`/sub/${ROTATED}`, {}, url)).status).toBe(404)
    expect((await get(`/sub/${ROTATED_AGAIN}`, {}, url)).status).toBe(200)

    proc.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(stderr).toContain('SIGTERM: shutting down')
    expect(stderr).toMatch(/stopped after \d+ requests/)
    for (const uuid of [ALICE, PHONE, ROTATED, ROTATED_AGAIN]) expect(stderr).not.toContain(uuid)
  })
})
