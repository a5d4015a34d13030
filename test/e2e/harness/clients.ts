/**
 * The clients of the end-to-end topology: a WireGuard tunnel brought up with
 * wg-quick from the config nexus hands out (wireguard-go underneath), and
 * traffic sent from inside the client's namespace by programs/probe.mjs.
 *
 * wg-quick hands the config's DNS servers to `resolvconf`; each client has a
 * stand-in that records them in its own resolv.conf (the host's stays
 * untouched), which is where the DNS tests read the resolver from.
 */
import {chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {shellQuote} from '../../../src/transport/shell.js'
import type {ClientName} from './topology.js'
import {waitFor, type World} from './world.js'

const PROBE = join(dirname(fileURLToPath(import.meta.url)), '..', 'programs', 'probe.mjs')

export interface ProbeResult {
  readonly ok: boolean
  readonly code?: string
  readonly message?: string
  readonly banner?: string
  readonly status?: number
  readonly body?: string
  /** `download`: the size of the body received. */
  readonly bytes?: number
  readonly addresses?: string[]
  readonly responses?: string[]
  readonly local?: string
  readonly sent?: number
  readonly ms?: number
}

function clientDir(world: World, client: ClientName): string {
  const dir = join(world.dir, client)
  if (!existsSync(join(dir, 'bin'))) {
    mkdirSync(join(dir, 'bin'), {recursive: true})
    const resolvconf = join(dir, 'bin', 'resolvconf')
    // `resolvconf -a IFACE -m 0 -x` gets a resolv.conf on stdin; `-d IFACE` takes it back.
    writeFileSync(
      resolvconf,
      `#!/bin/sh\ncase "$1" in\n  -a) cat > ${shellQuote(join(dir, 'resolv.conf'))} ;;\n  -d) rm -f ${shellQuote(join(dir, 'resolv.conf'))} ;;\nesac\n`,
    )
    chmodSync(resolvconf, 0o755)
  }
  return dir
}

function clientEnv(world: World, client: ClientName): Record<string, string> {
  return {
    PATH: `${join(clientDir(world, client), 'bin')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1',
  }
}

/** Puts the client's private key into a config nexus printed (it never holds device keys). */
export function withPrivateKey(config: string, privateKey: string): string {
  if (!/^PrivateKey = .*$/m.test(config)) throw new Error(`no PrivateKey line in:\n${config}`)
  return config.replace(/^PrivateKey = .*$/m, `PrivateKey = ${privateKey}`)
}

/** `wg-quick up` of the config as wg0 on the client. */
export async function tunnelUp(world: World, client: ClientName, config: string): Promise<void> {
  const file = join(clientDir(world, client), 'wg0.conf')
  writeFileSync(file, config, {mode: 0o600})
  const up = await world.run(client, ['wg-quick', 'up', file], {env: clientEnv(world, client)})
  if (up.exitCode !== 0) throw new Error(`wg-quick up on ${client} failed:\n${up.stderr}`)
}

export async function tunnelDown(world: World, client: ClientName): Promise<void> {
  const file = join(clientDir(world, client), 'wg0.conf')
  await world.run(client, ['wg-quick', 'down', file], {env: clientEnv(world, client)})
}

/** The resolvers wg-quick configured on the client (from the config's DNS line). */
export function clientResolvers(world: World, client: ClientName): string[] {
  const file = join(clientDir(world, client), 'resolv.conf')
  if (!existsSync(file)) return []
  return [...readFileSync(file, 'utf8').matchAll(/^nameserver (\S+)$/gm)].map((m) => m[1] as string)
}

/** Unix seconds of the client's latest handshake with its gateway (0: none). */
export async function clientHandshake(world: World, client: ClientName): Promise<number> {
  const result = await world.run(client, ['wg', 'show', 'wg0', 'latest-handshakes'])
  if (result.exitCode !== 0) throw new Error(`wg show on ${client}: ${result.stderr}`)
  return Number(result.stdout.trim().split('\t')[1] ?? 0)
}

/** Runs probe.mjs on the client; its last JSON line. */
export async function probe(world: World, client: string, args: readonly string[]): Promise<ProbeResult> {
  const result = await world.run(client, [process.execPath, PROBE, ...args], {timeoutMs: 30_000})
  const last = result.stdout.trim().split('\n').at(-1)
  if (result.exitCode !== 0 || !last) throw new Error(`probe ${args.join(' ')} on ${client} failed:\n${result.stderr}`)
  return JSON.parse(last) as ProbeResult
}

/** A TCP connection's first bytes (e.g. the gateway's SSH banner through the tunnel). */
export const tcp = (world: World, client: string, host: string, port: number, ms = 5000) =>
  probe(world, client, ['tcp', host, String(port), String(ms)])

export const httpGet = (world: World, client: string, url: string, ms = 5000) =>
  probe(world, client, ['http', url, String(ms)])

/** GET of a body that is only counted (`bytes`), e.g. the service's `/bytes/N`. */
export const download = (world: World, client: string, url: string, ms = 10_000) =>
  probe(world, client, ['download', url, String(ms)])

export const dnsQuery = (world: World, client: string, server: string, name: string, type: 'A' | 'AAAA', ms = 4000) =>
  probe(world, client, ['dns', server, name, type, String(ms)])

/**
 * Starts a keep-alive HTTP exchange on one TCP connection: resolves once the
 * first response arrived; `release()` lets the second request go and resolves
 * with the outcome.
 */
export async function holdConnection(
  world: World,
  client: ClientName,
  host: string,
  port: number,
): Promise<{first: ProbeResult; release: () => Promise<ProbeResult>}> {
  const go = join(clientDir(world, client), `go-${Date.now()}`)
  const daemon = world.daemon(client, [process.execPath, PROBE, 'hold', host, String(port), go, '5000'])
  let out = ''
  daemon.child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const lines = () => out.trim().split('\n').filter(Boolean)
  const first = await waitFor(`first response on the held connection of ${client}`, () => {
    if (daemon.child.exitCode !== null && lines().length < 2) throw new Error(`hold ended: ${out}${daemon.log()}`)
    const line = lines()[0]
    return line ? (JSON.parse(line) as ProbeResult) : undefined
  })
  return {
    first,
    release: async () => {
      writeFileSync(go, '')
      return waitFor(
        `second response on the held connection of ${client}`,
        () => {
          const line = lines()[1]
          return line ? (JSON.parse(line) as ProbeResult) : undefined
        },
        10_000,
      )
    },
  }
}

/** The fields of a `vmess://` share link (v2rayN "ver 2" JSON) a client needs. */
export interface VmessShare {
  readonly add: string
  readonly port: string
  readonly id: string
  readonly aid: string
  readonly scy: string
  readonly net: string
  readonly tls: string
  readonly path: string
  readonly host: string
}

/** The `vmess://` links of a v2ray subscription body (base64 of share links). */
export function vmessLinks(subscription: string): VmessShare[] {
  return Buffer.from(subscription.trim(), 'base64')
    .toString('utf8')
    .split('\n')
    .filter((line) => line.startsWith('vmess://'))
    .map((line) => JSON.parse(Buffer.from(line.slice('vmess://'.length), 'base64').toString('utf8')) as VmessShare)
}

/**
 * A v2ray client on the client host, as a v2ray-based app builds it from a
 * VMess share link: an HTTP proxy on 127.0.0.1:`port` whose outbound is the
 * link's server. Stopped with the world.
 */
export async function startV2rayClient(
  world: World,
  client: ClientName,
  share: VmessShare,
  port: number,
): Promise<void> {
  const config = {
    log: {loglevel: 'warning'},
    inbounds: [{tag: 'http-in', listen: '127.0.0.1', port, protocol: 'http', settings: {}}],
    outbounds: [
      {
        protocol: 'vmess',
        settings: {
          vnext: [
            {
              address: share.add,
              port: Number(share.port),
              users: [{id: share.id, alterId: Number(share.aid), security: share.scy}],
            },
          ],
        },
        streamSettings: {
          network: share.net,
          security: share.tls === 'tls' ? 'tls' : 'none',
          ...(share.net === 'ws'
            ? {wsSettings: {path: share.path, headers: share.host ? {Host: share.host} : {}}}
            : {}),
        },
      },
    ],
  }
  const file = join(clientDir(world, client), `v2ray-${port}.json`)
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`)
  const daemon = world.daemon(client, ['v2ray', '-config', file])
  await waitFor(`the v2ray client on ${client}`, async () => {
    if (daemon.child.exitCode !== null) throw new Error(`v2ray on ${client} exited: ${daemon.log()}`)
    const open = await world.run(client, ['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`])
    return open.exitCode === 0
  })
}

/** GET through an HTTP proxy on the client host. */
export const httpViaProxy = (world: World, client: string, proxyPort: number, url: string, ms = 5000) =>
  probe(world, client, ['http-proxy', '127.0.0.1', String(proxyPort), url, String(ms)])

/** `download` through an HTTP proxy on the client host. */
export const downloadViaProxy = (world: World, client: string, proxyPort: number, url: string, ms = 10_000) =>
  probe(world, client, ['download-proxy', '127.0.0.1', String(proxyPort), url, String(ms)])
