/**
 * Rendered wg-quick files loaded by the real tools (formats.md §11): the
 * file goes through `wg-quick strip`, then `wg setconf` into a wireguard-go
 * interface inside a private network namespace, and `wg show dump` must
 * report exactly what was rendered.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Desired} from '../../../src/model/desired.js'
import {Fleet} from '../../../src/model/fleet.js'
import {renderClientConfig} from '../../../src/render/client.js'
import {renderWireguardInterface} from '../../../src/render/wireguard.js'
import {peerNamed} from '../../helpers/builders.js'
import {desired, KEYS, node, state} from '../../helpers/fixture.js'
import {loadWireguard, stopStartedDaemons, type WireguardDump} from '../../helpers/real-tools.js'
import {requireTool, tempDir} from '../../helpers/tools.js'

let work: {path: string; cleanup: () => void} | undefined

/** Loads a wg-quick file into a fresh wireguard-go interface and returns `wg show dump`. */
async function loadConfig(content: string) {
  if (!work) throw new Error('beforeAll did not run')
  return loadWireguard(work.path, content)
}

async function loadAndDump(content: string): Promise<WireguardDump> {
  const result = await loadConfig(content)
  expect(result.stderr).toBe('')
  expect(result.exitCode).toBe(0)
  if (!result.dump) throw new Error('loadWireguard parses the dump of every successful load')
  return result.dump
}

/** The fixture with an IP endpoint: a hostname would be resolved at setconf time, and CI is offline. */
const offline: Desired = {
  ...desired,
  nodes: [
    {...node, interfaces: node.interfaces.map((iface) => ({...iface, endpoint: {host: '2001:db8::1', port: 51820}}))},
  ],
}

describe('wg-quick files loaded by wg and wireguard-go', () => {
  beforeAll(async () => {
    for (const tool of ['wg', 'wg-quick', 'wireguard-go', 'ip', 'unshare']) await requireTool(tool)
    work = tempDir('nexus-wg-')
  })

  afterAll(() => {
    // The script's trap stops wireguard-go; this catches a script killed before it could.
    stopStartedDaemons()
    work?.cleanup()
  })

  it('loads the gateway file with every peer and its allowed IPs', async () => {
    const fleet = new Fleet(desired, state)
    const wg0 = node.interfaces[0]!
    const dump = await loadAndDump(renderWireguardInterface(fleet, node, wg0))
    expect(dump.privateKey).toBe(KEYS.gatewayWg0.privateKey)
    expect(dump.publicKey).toBe(KEYS.gatewayWg0.publicKey)
    expect(dump.listenPort).toBe('51820')
    const expected = new Map([
      [KEYS.alice.publicKey, ['10.66.0.2/32', 'fd66::2/128']],
      [KEYS.bob.publicKey, ['10.66.0.3/32', 'fd66::3/128']],
      [KEYS.carol.publicKey, ['10.66.0.4/32', 'fd66::4/128']],
      [KEYS.site.publicKey, ['10.66.0.250/32', '192.168.50.0/24']],
    ])
    expect([...dump.peers.keys()].sort()).toEqual([...expected.keys()].sort())
    for (const [key, allowed] of expected) {
      const peer = dump.peers.get(key)
      expect(peer?.allowedIPs.sort()).toEqual([...allowed].sort())
      expect(peer?.endpoint).toBe('(none)')
      expect(peer?.keepalive).toBe('off')
    }
  })

  it('loads a full-tunnel client file rendered with its private key, IPv6 endpoint included', async () => {
    const fleet = new Fleet(offline, state)
    const dump = await loadAndDump(renderClientConfig(fleet, peerNamed('alice-laptop', offline), KEYS.alice.privateKey))
    expect(dump.privateKey).toBe(KEYS.alice.privateKey)
    expect(dump.publicKey).toBe(KEYS.alice.publicKey)
    expect([...dump.peers.keys()]).toEqual([KEYS.gatewayWg0.publicKey])
    const gateway = dump.peers.get(KEYS.gatewayWg0.publicKey)
    expect(gateway?.endpoint).toBe('[2001:db8::1]:51820')
    expect(gateway?.allowedIPs.sort()).toEqual(['0.0.0.0/0', '::/0'])
    expect(gateway?.keepalive).toBe('25')
  })

  it('loads a split-tunnel client file', async () => {
    const fleet = new Fleet(offline, state)
    const dump = await loadAndDump(renderClientConfig(fleet, peerNamed('carol-laptop', offline), KEYS.carol.privateKey))
    expect(dump.publicKey).toBe(KEYS.carol.publicKey)
    const gateway = dump.peers.get(KEYS.gatewayWg0.publicKey)
    expect(gateway?.allowedIPs.sort()).toEqual(['10.10.0.10/32', '10.66.0.0/24', 'fd10::10/128', 'fd66::/64'])
    expect(gateway?.keepalive).toBe('off')
  })

  it('refuses a file with a broken key', async () => {
    const fleet = new Fleet(desired, state)
    const good = renderWireguardInterface(fleet, node, node.interfaces[0]!)
    const broken = good.replace(KEYS.bob.publicKey, `${KEYS.bob.publicKey.slice(0, 20)}${KEYS.bob.publicKey.slice(21)}`)
    expect(broken).not.toBe(good)
    const result = await loadConfig(broken)
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toContain('Key is not the correct length or format')
  })

  it('refuses a client file that still carries the private key placeholder', async () => {
    const fleet = new Fleet(offline, state)
    const result = await loadConfig(renderClientConfig(fleet, peerNamed('alice-laptop', offline)))
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toContain('Key is not the correct length or format')
  })
})
