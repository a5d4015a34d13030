/**
 * The bundled examples, end to end through the built CLI: they validate
 * cleanly, and every file `nexus render --out` writes for them is accepted by
 * the real program that will read it on a gateway or client.
 */
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {generateWireguardKeyPair} from '../../src/crypto/keys.js'
import type {XrayServerConfig} from '../../src/render/xray.js'
import {nexus} from '../helpers/cli.js'
import {
  checkDnsmasq,
  checkNft,
  checkV2ray,
  loadWireguard,
  makeTestCertificate,
  requireRenderTools,
  type TestCertificate,
  v2raySubset,
} from '../helpers/real-tools.js'
import {tempDir} from '../helpers/tools.js'

const tmp = tempDir('nexus-examples-')
let cert: TestCertificate

beforeAll(async () => {
  await requireRenderTools()
  cert = await makeTestCertificate(tmp.path)
})
afterAll(() => tmp.cleanup())

function files(root: string, sub: string, suffix: string): string[] {
  const found: string[] = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, {withFileTypes: true})) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (path.endsWith(suffix)) found.push(path)
    }
  }
  walk(join(root, sub))
  return found.sort()
}

/**
 * A client file as the device would hold it: the placeholder replaced by a
 * real private key, and the endpoint by an address, because wg resolves
 * hostnames when it loads a file and tests run offline (formats.md §2.4).
 */
function asOnDevice(content: string): string {
  return content
    .replace(/^PrivateKey = <.*>$/m, `PrivateKey = ${generateWireguardKeyPair().privateKey}`)
    .replace(/^Endpoint = .*:(\d+)$/m, 'Endpoint = 192.0.2.1:$1')
}

describe.each(['quickstart', 'fleet'])('examples/%s', (example) => {
  const out = join(tmp.path, example)
  let rendered: {files: {path: string; kind: string}[]}

  beforeAll(async () => {
    const run = await nexus(['render', '--repo', `examples/${example}`, '--out', out, '--json'])
    expect(run.stderr).toBe('')
    expect(run.exitCode).toBe(0)
    rendered = JSON.parse(run.stdout)
  })

  it('validates with no errors and no warnings', async () => {
    const run = await nexus(['validate', '--repo', `examples/${example}`, '--json'])
    expect(run.exitCode).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({valid: true, errorCount: 0, warningCount: 0})
  })

  it('renders every kind of file', () => {
    const kinds = new Set(rendered.files.map((f) => f.kind))
    expect([...kinds].sort()).toEqual(['client', 'dnsmasq', 'nftables', 'wireguard', 'xray'])
  })

  it('nftables: every node table passes nft -c', async () => {
    const tables = files(out, 'nodes', '.nft')
    expect(tables.length).toBeGreaterThan(0)
    for (const table of tables) {
      const run = await checkNft(tmp.path, `${example}-check.nft`, readFileSync(table, 'utf8'))
      expect(run.stderr, table).toBe('')
      expect(run.exitCode, table).toBe(0)
    }
  })

  it('wireguard: every gateway interface loads into wireguard-go with all its peers', async () => {
    const configs = files(out, 'nodes', '.conf').filter((f) => f.includes('/wireguard/'))
    expect(configs.length).toBeGreaterThan(0)
    for (const config of configs) {
      const content = readFileSync(config, 'utf8')
      const run = await loadWireguard(tmp.path, content)
      expect(run.stderr, config).toBe('')
      expect(run.exitCode, config).toBe(0)
      expect(run.dump?.listenPort).toBe(/^ListenPort = (\d+)$/m.exec(content)?.[1])
      expect(run.dump?.peers.size).toBe(content.match(/^\[Peer\]$/gm)?.length ?? 0)
    }
  })

  it('wireguard: every client config loads into wireguard-go', async () => {
    const configs = files(out, 'clients', '.conf')
    expect(configs.length).toBeGreaterThan(0)
    for (const config of configs) {
      const run = await loadWireguard(tmp.path, asOnDevice(readFileSync(config, 'utf8')))
      expect(run.stderr, config).toBe('')
      expect(run.exitCode, config).toBe(0)
      expect(run.dump?.peers.size).toBe(1)
    }
  })

  it('dnsmasq: every node config passes dnsmasq --test', async () => {
    const configs = files(out, 'nodes', '.conf').filter((f) => f.includes('/dnsmasq/'))
    expect(configs.length).toBeGreaterThan(0)
    for (const config of configs) {
      const run = await checkDnsmasq(tmp.path, `${example}-dnsmasq.conf`, readFileSync(config, 'utf8'))
      expect(run.exitCode, `${config}: ${run.stderr}`).toBe(0)
    }
  })

  it('xray: the part v2ray 4.34 understands passes v2ray -test', async () => {
    const configs = files(out, 'nodes', '.json')
    expect(configs.length).toBeGreaterThan(0)
    const checked = new Set<string>()
    for (const config of configs) {
      const subset = v2raySubset(JSON.parse(readFileSync(config, 'utf8')) as XrayServerConfig, cert)
      const run = await checkV2ray(tmp.path, `${example}-xray.json`, subset)
      expect(run.exitCode, `${config}: ${run.stdout}${run.stderr}`).toBe(0)
      expect(run.stdout).toContain('Configuration OK')
      for (const inbound of subset.inbounds) {
        const stream = inbound.streamSettings
        checked.add(`${inbound.protocol}+${stream?.network ?? 'tcp'}+${stream?.security ?? 'none'}`)
      }
    }
    // VLESS over plain TLS (its certificate swapped for a readable one) is among what v2ray checked.
    if (example === 'fleet') expect([...checked]).toContain('vless+tcp+tls')
  })
})
