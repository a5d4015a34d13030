/**
 * validate and render read the state when there is one, without writing it:
 * render then uses the state's keys, UUIDs and addresses (no preview), and
 * validate refuses a peer that reuses a gateway key stored there.
 */
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {generateRequested} from '../../../src/crypto/keys.js'
import {readDeclarationFiles} from '../../../src/git/working-tree.js'
import {loadInventory} from '../../../src/inventory/load.js'
import {makePlan} from '../../../src/plan/index.js'
import {missingValues} from '../../../src/plan/state-plan.js'
import {openState, stateLocation} from '../../../src/state/open.js'
import {exampleCopy, nexus} from '../../helpers/cli.js'
import {applyStateOnly} from '../../helpers/plan.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-state-read-')
let repo: string
let gatewayPrivate: string
let gatewayPublic: string
let serial: number

beforeAll(async () => {
  repo = exampleCopy('quickstart', tmp.path)
  const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
  if (!store) throw new Error('no store')
  try {
    const desired = loadInventory(await readDeclarationFiles(repo)).desired
    if (!desired) throw new Error('quickstart invalid')
    const snapshot = await store.snapshot()
    const result = makePlan({
      desired,
      snapshot,
      stateKind: 'pglite',
      generated: generateRequested(missingValues(desired, snapshot)),
      readings: new Map(),
      git: {commit: null, dirty: false},
      now: new Date(),
      offline: true,
    })
    await applyStateOnly(store, result)
    const after = await store.snapshot()
    serial = after.serial
    const key = after.secrets.get('node/gw-1/wireguard/wg0')
    gatewayPrivate = key?.value ?? ''
    gatewayPublic = key?.publicValue ?? ''
  } finally {
    await store.close()
  }
})
afterAll(() => tmp.cleanup())

describe('commands that read the state', () => {
  it('render uses the keys in state, and is no preview', async () => {
    const out = join(tmp.path, 'render')
    const run = await nexus(['render', '--repo', repo, '--out', out, '--json'])
    expect(run.exitCode).toBe(0)
    expect(JSON.parse(run.stdout).preview).toBe(false)
    const wg0 = readFileSync(join(out, 'nodes/gw-1/wireguard/wg0.conf'), 'utf8')
    expect(wg0).toContain(`PrivateKey = ${gatewayPrivate}`)
    expect(wg0).not.toContain('PREVIEW')
    expect(readFileSync(join(out, 'clients/alice-laptop.conf'), 'utf8')).toContain(`PublicKey = ${gatewayPublic}`)
  })

  it('render and validate leave the state as it was', async () => {
    await nexus(['validate', '--repo', repo])
    const store = await openState(stateLocation(repo, {}), {mode: 'read', env: {}})
    try {
      expect((await store?.snapshot())?.serial).toBe(serial)
    } finally {
      await store?.close()
    }
  })

  it('validate refuses a peer whose key is the gateway key stored in state', async () => {
    const peer = join(repo, 'peers/alice-laptop.yaml')
    const original = readFileSync(peer, 'utf8')
    writeFileSync(peer, original.replace(/publicKey: .*/, `publicKey: ${gatewayPublic}`))
    try {
      const run = await nexus(['validate', '--repo', repo, '--json'])
      expect(run.exitCode).toBe(1)
      const codes = JSON.parse(run.stdout).diagnostics.map((d: {code: string}) => d.code)
      expect(codes).toEqual(['peer_key_is_server_key'])
    } finally {
      writeFileSync(peer, original)
    }
  })
})
