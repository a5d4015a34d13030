/**
 * The on-node check of staged files (checkScript, parseChecks), run here
 * with bash against temp files: a WireGuard file is read as `wg` will read
 * it (after `wg-quick strip` where installed, the raw file otherwise) and
 * must hold a valid private key and exactly the peers the plan counts.
 */
import {mkdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa, execaSync} from 'execa'
import {afterAll, describe, expect, it} from 'vitest'

import {type CheckSpec, checkScript, parseChecks, staged} from '../../../src/apply/remote.js'
import {tempDir} from '../../helpers/tools.js'

const GOOD = readFileSync(
  join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'golden', 'wireguard', 'fra-1', 'wg0.conf'),
  'utf8',
)
const PRIVATE_KEY = /^PrivateKey = (.+)$/m.exec(GOOD)?.[1] as string
const interfaceOnly = GOOD.slice(0, GOOD.indexOf('\n# peer='))

const tmp = tempDir('nexus-check-')
let count = 0
afterAll(() => tmp.cleanup())

/** A PATH without wg-quick (the tools the check needs besides it, linked). */
const noWgQuick = (() => {
  const bin = join(tmp.path, 'bin-no-wg-quick')
  mkdirSync(bin)
  for (const tool of ['awk', 'mktemp', 'cp', 'rm', 'grep', 'tail', 'cat']) {
    const path = execaSync('bash', ['-c', `command -v ${tool}`]).stdout.trim()
    symlinkSync(path, join(bin, tool))
  }
  return bin
})()

type Mode = 'wg-quick' | 'raw'

/** Stages `content` as a wg0.conf and runs the check of it for `peers` planned peers. */
async function check(content: string, peers: number, mode: Mode = 'wg-quick') {
  const dir = join(tmp.path, `case-${++count}`)
  mkdirSync(dir)
  const path = join(dir, 'wg0.conf')
  writeFileSync(staged(path), content, {mode: 0o600})
  const checks: CheckSpec[] = [{artifact: 'wireguard/wg0', kind: 'wireguard', path, iface: 'wg0', peers}]
  const run = await execa('/bin/bash', ['-c', checkScript(checks)], {
    reject: false,
    env: mode === 'raw' ? {PATH: noWgQuick} : {PATH: process.env.PATH ?? ''},
    extendEnv: false,
  })
  expect(run.exitCode).toBe(0)
  const [outcome] = parseChecks(run.stdout, checks)
  return outcome as NonNullable<typeof outcome>
}

it('runs the raw mode without wg-quick', () => {
  const found = execaSync('/bin/bash', ['-c', 'command -v wg-quick'], {
    reject: false,
    env: {PATH: noWgQuick},
    extendEnv: false,
  })
  expect(found.exitCode).toBe(1)
})

describe.each(['wg-quick', 'raw'] as const)('the WireGuard check (%s)', (mode) => {
  it('passes a rendered file that holds the planned peers', async () => {
    expect(await check(GOOD, 4, mode)).toEqual({artifact: 'wireguard/wg0', status: 'ok', detail: ''})
  })

  it('passes a peerless file when the plan has no peers (activate restarts rather than syncs it)', async () => {
    expect((await check(`${interfaceOnly}\n`, 0, mode)).status).toBe('ok')
  })

  it('refuses a file with no peers where the plan has one', async () => {
    expect(await check(`${interfaceOnly}\n`, 1, mode)).toMatchObject({
      status: 'failed',
      detail: 'holds 0 peers, the plan has 1',
    })
  })

  it('refuses a file with more peers than the plan', async () => {
    expect(await check(GOOD, 3, mode)).toMatchObject({status: 'failed', detail: 'holds 4 peers, the plan has 3'})
  })

  it('refuses a file without a PrivateKey, and one whose key is not a key, without printing it', async () => {
    expect(await check(GOOD.replace(/^PrivateKey = .*\n/m, ''), 4, mode)).toMatchObject({
      status: 'failed',
      detail: 'no valid PrivateKey',
    })
    const bad = await check(GOOD.replace(PRIVATE_KEY, `${PRIVATE_KEY.slice(0, 20)}!`), 4, mode)
    expect(bad.status).toBe('failed')
    expect(bad.detail).toContain('PrivateKey is not a valid key')
    expect(bad.detail).not.toContain(PRIVATE_KEY.slice(0, 20))
  })

  it('refuses garbage', async () => {
    const outcome = await check('this is not a wireguard config\n{"json": true}\n', 0, mode)
    expect(outcome.status).toBe('failed')
    expect(outcome.detail).toMatch(/neither a section nor key = value/)
    expect(outcome.detail).toContain('no valid PrivateKey')
  })

  it('refuses a file wg would not load though its key and peer count are right', async () => {
    const unknownKey = await check(GOOD.replace('[Peer]\n', '[Peer]\nColour = blue\n'), 4, mode)
    expect(unknownKey).toMatchObject({status: 'failed'})
    expect(unknownKey.detail).toMatch(/wg does not know the key colour in \[peer\]/)
    const stray = await check(`${GOOD}some stray line\n`, 4, mode)
    expect(stray.status).toBe('failed')
    const keyless = await check(GOOD.replace(/^PublicKey = .*$/m, 'PublicKey ='), 4, mode)
    expect(keyless.status).toBe('failed')
    expect(keyless.detail).toContain('PublicKey is not a valid key')
  })
})

describe('the WireGuard check through wg-quick strip', () => {
  it.runIf(execaSync('bash', ['-c', 'command -v wg-quick'], {reject: false}).exitCode === 0)(
    'fails where wg-quick strip fails (the reload would have), with its message',
    async () => {
      const outcome = await check(GOOD.replace('SaveConfig = false', 'SaveConfig = maybe'), 4)
      expect(outcome.status).toBe('failed')
      expect(outcome.detail).toContain('wg-quick strip refused it')
      expect(outcome.detail).toContain('is neither true nor false')
    },
  )
})

describe('parseChecks', () => {
  const checks: CheckSpec[] = [
    {artifact: 'nftables', kind: 'nftables', path: '/etc/nexus/nexus.nft'},
    {artifact: 'wireguard/wg0', kind: 'wireguard', path: '/etc/wireguard/wg0.conf', iface: 'wg0', peers: 2},
    {artifact: 'dns', kind: 'dns', path: '/etc/dnsmasq.d/nexus.conf'},
  ]

  it('gives each artifact its status and the lines printed before its mark', () => {
    const stdout = [
      '@@nexus-check:nftables:ok',
      'holds 1 peers, the plan has 2',
      '@@nexus-check:wireguard/wg0:failed',
      '@@nexus-check:dns:skipped',
      '',
    ].join('\n')
    expect(parseChecks(stdout, checks)).toEqual([
      {artifact: 'nftables', status: 'ok', detail: ''},
      {artifact: 'wireguard/wg0', status: 'failed', detail: 'holds 1 peers, the plan has 2'},
      {artifact: 'dns', status: 'skipped', detail: ''},
    ])
  })

  it('fails a check whose mark never came (the script died part way)', () => {
    expect(parseChecks('@@nexus-check:nftables:ok\n', checks).slice(1)).toEqual([
      {artifact: 'wireguard/wg0', status: 'failed', detail: 'the check did not run to its end'},
      {artifact: 'dns', status: 'failed', detail: 'the check did not run to its end'},
    ])
  })
})
