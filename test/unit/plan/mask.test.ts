import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {maskedDiff, maskSecrets, SECRET_MARKER_PATTERN, secretMarker} from '../../../src/plan/mask.js'
import {formatXrayJson} from '../../../src/render/xray-json.js'
import {KEYS, UUIDS} from '../../helpers/fixture.js'

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'golden')
const golden = (path: string) => readFileSync(join(GOLDEN, path), 'utf8')

const MARKER = new RegExp(SECRET_MARKER_PATTERN.source, 'g')

/**
 * Checks that `masked` is `original` with some values replaced by their
 * markers and nothing else: same lines, and on each changed line the marker
 * stands exactly where the original has a value whose hash it shows.
 * Returns the values that were masked.
 */
function expectOnlyValuesMasked(original: string, masked: string): string[] {
  const originalLines = original.split('\n')
  const maskedLines = masked.split('\n')
  expect(maskedLines).toHaveLength(originalLines.length)
  const values: string[] = []
  maskedLines.forEach((line, i) => {
    const before = originalLines[i] ?? ''
    if (line === before) return
    const parts = line.split(MARKER)
    expect(parts.length, `line ${i + 1} changed without a marker: ${line}`).toBeGreaterThan(1)
    const escaped = parts.map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    const match = new RegExp(`^${escaped.join('(.+?)')}$`).exec(before)
    expect(match, `line ${i + 1}: ${line} does not line up with ${before}`).not.toBeNull()
    const markers = line.match(MARKER) ?? []
    markers.forEach((marker, k) => {
      const raw = match?.[k + 1] ?? ''
      const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw
      expect(marker).toBe(secretMarker(value))
      values.push(value)
    })
  })
  return values
}

describe('secretMarker', () => {
  it('is a fixed-width marker with the start of the sha256 of the secret', () => {
    const secret = KEYS.gatewayWg0.privateKey
    const hash = createHash('sha256').update(secret).digest('hex')
    expect(secretMarker(secret)).toBe(`(sensitive ${hash.slice(0, 8)})`)
    expect(secretMarker('x')).toHaveLength(secretMarker(secret).length)
    expect(secretMarker(KEYS.alice.privateKey)).not.toBe(secretMarker(secret))
  })
})

describe('maskSecrets: wg-quick', () => {
  it('masks the private key of a node interface and nothing else', () => {
    const original = golden('wireguard/fra-1/wg0.conf')
    const masked = maskSecrets(original, 'wireguard')
    expect(masked).not.toContain(KEYS.gatewayWg0.privateKey)
    expect(masked).toContain(`PrivateKey = ${secretMarker(KEYS.gatewayWg0.privateKey)}\n`)
    expect(expectOnlyValuesMasked(original, masked)).toEqual([KEYS.gatewayWg0.privateKey])
    // Public keys stay: they identify peers and are not secret.
    expect(masked).toContain(KEYS.alice.publicKey)
  })

  it('masks private and preshared keys in any case, spacing and section, keeping comments and line ends', () => {
    const original = [
      '[Interface]',
      `privatekey=${KEYS.alice.privateKey}`,
      '[Peer]',
      `PublicKey = ${KEYS.bob.publicKey}`,
      `  PRESHAREDKEY   =\t${KEYS.bob.privateKey}  # rotated monthly`,
      `PresharedKey = ${KEYS.carol.privateKey}\r`,
      '# PrivateKey = in a comment, not a key',
      '',
    ].join('\n')
    const masked = maskSecrets(original, 'wireguard')
    expect(masked).toBe(
      [
        '[Interface]',
        `privatekey=${secretMarker(KEYS.alice.privateKey)}`,
        '[Peer]',
        `PublicKey = ${KEYS.bob.publicKey}`,
        `  PRESHAREDKEY   =\t${secretMarker(KEYS.bob.privateKey)}  # rotated monthly`,
        `PresharedKey = ${secretMarker(KEYS.carol.privateKey)}\r`,
        '# PrivateKey = in a comment, not a key',
        '',
      ].join('\n'),
    )
  })

  it('leaves the placeholder of a client file and empty values alone, and masks a real client key', () => {
    for (const name of ['alice-laptop', 'bob-phone', 'office-router']) {
      const original = golden(`client/${name}.conf`)
      expect(maskSecrets(original, 'client')).toBe(original)
    }
    expect(maskSecrets('PrivateKey =\n', 'wireguard')).toBe('PrivateKey =\n')
    const withKey = golden('client/alice-laptop.conf').replace(
      /^PrivateKey = .*$/m,
      `PrivateKey = ${KEYS.alice.privateKey}`,
    )
    const masked = maskSecrets(withKey, 'client')
    expect(masked).not.toContain(KEYS.alice.privateKey)
    expect(expectOnlyValuesMasked(withKey, masked)).toEqual([KEYS.alice.privateKey])
  })
})

describe('maskSecrets: xray', () => {
  const original = golden('xray/fra-1.json')
  const config = JSON.parse(original) as {
    inbounds: {settings: {password?: string; clients?: {id?: string; password?: string; email: string}[]}}[]
  }
  const clientPasswords = config.inbounds.flatMap((i) => i.settings.clients ?? []).flatMap((c) => c.password ?? [])

  it('masks the REALITY private key, every client id and password and the shadowsocks server key', () => {
    const masked = maskSecrets(original, 'xray')
    const secrets = [KEYS.reality.privateKey, KEYS.shadowsocks, ...Object.values(UUIDS), ...clientPasswords]
    expect(clientPasswords.length).toBeGreaterThan(0)
    for (const secret of secrets) expect(masked).not.toContain(secret)
    const maskedValues = expectOnlyValuesMasked(original, masked)
    expect(new Set(maskedValues)).toEqual(new Set(secrets))
    // 6 vless/vmess ids, 4 trojan and shadowsocks client passwords, the REALITY key and the shadowsocks key.
    expect(maskedValues).toHaveLength(12)
  })

  it('keeps the document valid JSON with the same shape', () => {
    const masked = JSON.parse(maskSecrets(original, 'xray')) as typeof config
    expect(masked.inbounds.map((i) => i.settings.clients?.map((c) => c.email))).toEqual(
      config.inbounds.map((i) => i.settings.clients?.map((c) => c.email)),
    )
    const ss = masked.inbounds.find((i) => i.settings.password !== undefined)
    expect(ss?.settings.password).toBe(secretMarker(KEYS.shadowsocks))
  })

  it('keeps the renderer layout byte for byte outside the secrets', () => {
    // Masking on the text leaves exactly what re-serialising would give.
    const masked = maskSecrets(original, 'xray')
    expect(formatXrayJson(JSON.parse(masked))).toBe(masked)
  })

  it('keeps a hand-edited layout as it is', () => {
    const compact = `{"inbounds":[{"settings":{"clients":[{"id":"${UUIDS['bob/default']}","email":"b@x"}]},"tag":"id"}]}`
    expect(maskSecrets(compact, 'xray')).toBe(
      `{"inbounds":[{"settings":{"clients":[{"id":${JSON.stringify(secretMarker(UUIDS['bob/default']))},"email":"b@x"}]},"tag":"id"}]}`,
    )
  })

  it('does not take other ids, keys or strings for secrets', () => {
    const text = JSON.stringify(
      {
        id: 'top-level',
        routing: {rules: [{id: 'rule', user: ['password']}]},
        outbounds: [{settings: {vnext: [{users: [{id: UUIDS['carol/default']}]}]}}],
        note: '"privateKey": "not a key"',
      },
      null,
      2,
    )
    const masked = maskSecrets(text, 'xray')
    expect(expectOnlyValuesMasked(text, masked)).toEqual([UUIDS['carol/default']])
  })

  it('masks by key name alone in a file that is not valid JSON', () => {
    const broken = `{\n  "id": "${UUIDS['alice/default']}",\n  "privateKey": "${KEYS.reality.privateKey}",\n  "password": "p\\"w",\n`
    const masked = maskSecrets(broken, 'xray')
    expect(masked).toBe(
      `{\n  "id": "${secretMarker(UUIDS['alice/default'])}",\n  "privateKey": "${secretMarker(KEYS.reality.privateKey)}",\n  "password": "${secretMarker('p"w')}",\n`,
    )
  })
})

describe('maskSecrets: formats without secrets', () => {
  it('returns nftables and dnsmasq files unchanged', () => {
    const nft = golden('nftables/fra-1.nft')
    const dns = golden('dnsmasq/fra-1.conf')
    expect(maskSecrets(nft, 'nftables')).toBe(nft)
    expect(maskSecrets(dns, 'dnsmasq')).toBe(dns)
  })
})

describe('maskedDiff', () => {
  const before = golden('wireguard/fra-1/wg0.conf')
  const labels = {oldLabel: 'fra-1:/etc/wireguard/wg0.conf', newLabel: 'rendered/wg0.conf'}

  it('shows a rotated key as a changed line of markers, never the keys', () => {
    const after = before.replace(KEYS.gatewayWg0.privateKey, KEYS.site.privateKey)
    const diff = maskedDiff(before, after, 'wireguard', labels)
    expect(diff).not.toContain(KEYS.gatewayWg0.privateKey)
    expect(diff).not.toContain(KEYS.site.privateKey)
    expect(diff).toContain(`-PrivateKey = ${secretMarker(KEYS.gatewayWg0.privateKey)}\n`)
    expect(diff).toContain(`+PrivateKey = ${secretMarker(KEYS.site.privateKey)}\n`)
    expect(secretMarker(KEYS.gatewayWg0.privateKey)).not.toBe(secretMarker(KEYS.site.privateKey))
  })

  it('keeps an unchanged key as context', () => {
    const after = before.replace('MTU = 1420', 'MTU = 1380')
    const diff = maskedDiff(before, after, 'wireguard', labels)
    expect(diff).toContain(` PrivateKey = ${secretMarker(KEYS.gatewayWg0.privateKey)}\n`)
    expect(diff).toContain('-MTU = 1420\n+MTU = 1380\n')
    expect(diff).not.toContain(KEYS.gatewayWg0.privateKey)
  })

  it('is empty when nothing changed and masks a new or deleted file', () => {
    expect(maskedDiff(before, before, 'wireguard', labels)).toBe('')
    const xray = golden('xray/fra-1.json')
    for (const diff of [maskedDiff(null, xray, 'xray', labels), maskedDiff(xray, null, 'xray', labels)]) {
      for (const secret of [KEYS.reality.privateKey, KEYS.shadowsocks, ...Object.values(UUIDS)]) {
        expect(diff).not.toContain(secret)
      }
    }
    expect(maskedDiff(null, xray, 'xray', labels).startsWith('--- /dev/null\n+++ rendered/wg0.conf\n')).toBe(true)
  })

  it('shows a rotated xray user as its id lines only', () => {
    const xray = golden('xray/fra-1.json')
    const rotated = xray.replaceAll(UUIDS['bob/default'], '11111111-2222-4333-8444-555555555555')
    const diff = maskedDiff(xray, rotated, 'xray', labels)
    const changed = diff.split('\n').filter((line) => /^[+-](?![+-]{2} )/.test(line))
    // A client is one line: the rotated UUID changes that line and nothing else.
    expect(changed).toHaveLength(2)
    expect(changed[0]).toContain(`"id":${JSON.stringify(secretMarker(UUIDS['bob/default']))}`)
    expect(changed[1]).toContain(`"id":${JSON.stringify(secretMarker('11111111-2222-4333-8444-555555555555'))}`)
    expect(changed[0]?.slice(1).replace(/\(sensitive [0-9a-f]{8}\)/, '')).toBe(
      changed[1]?.slice(1).replace(/\(sensitive [0-9a-f]{8}\)/, ''),
    )
  })
})
