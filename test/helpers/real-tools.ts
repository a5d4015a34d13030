/**
 * Checks of rendered files with the real programs, shared by the renderer
 * tool tests and the examples test. Everything network-related runs inside a
 * private network namespace; daemons started here are always stopped.
 */
import {existsSync, mkdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {execa} from 'execa'
import type {XrayServerConfig} from '../../src/render/xray.js'
import type {XrayInboundJson} from '../../src/render/xray-types.js'
import {inPrivateNetns, requireTool, shellQuote, type ToolRun, writeTemp} from './tools.js'

export async function requireRenderTools(): Promise<void> {
  for (const tool of ['nft', 'wg', 'wg-quick', 'wireguard-go', 'dnsmasq', 'v2ray', 'openssl', 'unshare', 'ip']) {
    await requireTool(tool)
  }
}

/** `nft -c -f` in a private namespace: the kernel checks the whole transaction, nothing is loaded on the host. */
export async function checkNft(dir: string, name: string, content: string): Promise<ToolRun> {
  const file = writeTemp(dir, name, content)
  return inPrivateNetns(`nft -c -f ${shellQuote(file)}`)
}

export async function checkDnsmasq(dir: string, name: string, content: string): Promise<ToolRun> {
  const file = writeTemp(dir, name, content)
  return inPrivateNetns(`dnsmasq --test --conf-file=${shellQuote(file)}`)
}

export interface WireguardDump {
  readonly privateKey: string
  readonly publicKey: string
  readonly listenPort: string
  /** By peer public key. */
  readonly peers: ReadonlyMap<string, {endpoint: string; allowedIPs: string[]; keepalive: string}>
}

let interfaceCounter = 0

/** Daemons started by the checks here, for stopStartedDaemons. */
const startedDaemons: {pidFile: string; program: string; marker: string}[] = []

/**
 * The afterAll safety net: stops every daemon a check here started that still
 * runs, e.g. because its script hung and the test timed out before the
 * script's trap, or the check's own cleanup, could stop it.
 */
export function stopStartedDaemons(): void {
  for (const {pidFile, program, marker} of startedDaemons.splice(0)) stopIfStillRunning(pidFile, program, marker)
}

/**
 * Loads a wg-quick file into a fresh wireguard-go interface (`wg-quick strip`
 * + `wg setconf`) and returns `wg show dump`. UAPI sockets live in
 * /run/wireguard on the host, so interface names are unique per process.
 */
export async function loadWireguard(dir: string, content: string): Promise<ToolRun & {dump?: WireguardDump}> {
  const ifname = `nxt${process.pid % 100_000}w${++interfaceCounter}`
  const work = join(dir, ifname)
  mkdirSync(work, {recursive: true})
  const file = writeTemp(work, 'wg0.conf', content)
  const pidFile = join(work, 'wireguard-go.pid')
  startedDaemons.push({pidFile, program: 'wireguard-go', marker: ifname})
  const script = `
    ifname=${shellQuote(ifname)}
    WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wireguard-go -f "$ifname" >${shellQuote(join(work, 'wireguard-go.log'))} 2>&1 &
    pid=$!
    echo "$pid" >${shellQuote(pidFile)}
    cleanup() { ip link del "$ifname" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    trap cleanup EXIT
    for _ in $(seq 200); do ip link show "$ifname" >/dev/null 2>&1 && break; sleep 0.05; done
    wg setconf "$ifname" <(wg-quick strip ${shellQuote(file)})
    wg show "$ifname" dump
  `
  try {
    const run = await inPrivateNetns(script)
    return run.exitCode === 0 ? {...run, dump: parseDump(run.stdout)} : run
  } finally {
    stopIfStillRunning(pidFile, 'wireguard-go', ifname)
  }
}

export function parseDump(stdout: string): WireguardDump {
  const [head, ...rest] = stdout.trim().split('\n')
  const [privateKey = '', publicKey = '', listenPort = ''] = (head ?? '').split('\t')
  const peers = new Map<string, {endpoint: string; allowedIPs: string[]; keepalive: string}>()
  for (const line of rest) {
    const fields = line.split('\t')
    const allowed = fields[3] ?? '(none)'
    peers.set(fields[0] ?? '', {
      endpoint: fields[2] ?? '',
      allowedIPs: allowed === '(none)' ? [] : allowed.split(','),
      keepalive: fields[7] ?? '',
    })
  }
  return {privateKey, publicKey, listenPort, peers}
}

/** Kills a daemon we started, but only if the pid still belongs to it (pids are reused). */
export function stopIfStillRunning(pidFile: string, program: string, marker: string): void {
  if (!existsSync(pidFile)) return
  const pid = Number(readFileSync(pidFile, 'utf8').trim())
  const cmdline = `/proc/${pid}/cmdline`
  if (!Number.isInteger(pid) || pid <= 1 || !existsSync(cmdline)) return
  const argv = readFileSync(cmdline, 'utf8').split('\0')
  if (!argv[0]?.endsWith(program) || !argv.some((arg) => arg.includes(marker))) return
  process.kill(pid, 'SIGTERM')
}

export interface TestCertificate {
  readonly certificateFile: string
  readonly keyFile: string
}

export async function makeTestCertificate(dir: string): Promise<TestCertificate> {
  const cert = {certificateFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem')}
  await execa(await requireTool('openssl'), [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=test',
    '-keyout',
    cert.keyFile,
    '-out',
    cert.certificateFile,
  ])
  return cert
}

/** Transports v2ray 4.34 answers with "unknown transport protocol". */
const UNKNOWN_TO_V2RAY = new Set(['grpc', 'httpupgrade', 'xhttp'])

/**
 * What Debian's v2ray 4.34 can read (formats.md §5.8): no shadowsocks (no
 * 2022 ciphers, and its legacy server is single-user), no transport it lacks,
 * and certificates it can open, since they are read at check time.
 */
export function v2raySubset(config: XrayServerConfig, cert?: TestCertificate): XrayServerConfig {
  const inbounds = config.inbounds
    .filter((inbound) => inbound.protocol !== 'shadowsocks')
    .filter((inbound) => !UNKNOWN_TO_V2RAY.has(inbound.streamSettings?.network ?? 'tcp'))
    .map((inbound) => (cert ? withCertificate(inbound, cert) : inbound))
  return {...config, inbounds}
}

function withCertificate(inbound: XrayInboundJson, cert: TestCertificate): XrayInboundJson {
  const stream = inbound.streamSettings
  if (!stream?.tlsSettings) return inbound
  return {...inbound, streamSettings: {...stream, tlsSettings: {...stream.tlsSettings, certificates: [cert]}}}
}

/** `v2ray -test`; `all` is stdout and stderr interleaved, so a test need not know which one a message goes to. */
export async function checkV2ray(
  dir: string,
  name: string,
  config: XrayServerConfig,
): Promise<ToolRun & {readonly all: string}> {
  const file = writeTemp(dir, name, `${JSON.stringify(config, null, 2)}\n`)
  const run = await execa(await requireTool('v2ray'), ['-test', '-config', file], {reject: false, all: true})
  return {exitCode: run.exitCode ?? 1, stdout: String(run.stdout), stderr: String(run.stderr), all: String(run.all)}
}
