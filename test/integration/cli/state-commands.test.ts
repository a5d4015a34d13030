import {existsSync, mkdirSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {openState, stateLocation} from '../../../src/state/open.js'
import {exampleCopy, nexus, STACK_FRAME} from '../../helpers/cli.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-state-cli-')
afterAll(() => tmp.cleanup())

const KEY = {NEXUS_SECRET_KEY: 'the passphrase of this test state'}

describe('nexus state backup / restore and node forget-host-key', () => {
  it('says there is nothing to back up before the state exists', async () => {
    const repo = exampleCopy('quickstart', join(tmp.path, 'empty'))
    const run = await nexus(['state', 'backup', join(tmp.path, 'none.json'), '--repo', repo])
    expect(run.exitCode).toBe(1)
    expect(run.stderr).toContain('there is no state to back up yet')
    expect(run.stderr).not.toMatch(STACK_FRAME)
  })

  it('moves a state to another repo, refusing to overwrite without --force', async () => {
    const from = exampleCopy('quickstart', join(tmp.path, 'from'))
    const store = await openState(stateLocation(from, {}), {mode: 'write', env: KEY})
    await store?.write(
      {
        secrets: [{scope: 'node/gw-1', name: 'wireguard/wg0', value: 'k', publicValue: 'p'}],
        allocations: [{node: 'gw-1', iface: 'wg0', peer: 'alice-laptop', address: '10.66.0.2', family: 4}],
      },
      {actor: 't'},
    )
    await store?.recordHostKey('gw-1', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample')
    await store?.close()

    const dump = join(tmp.path, 'state.json')
    const backup = await nexus(['state', 'backup', dump, '--repo', from, '--json'], {env: KEY})
    expect(backup.exitCode).toBe(0)
    expect(JSON.parse(backup.stdout)).toMatchObject({file: dump, rows: 3})
    expect(statSync(dump).mode & 0o777).toBe(0o600)

    const to = join(tmp.path, 'to')
    mkdirSync(to)
    const restore = await nexus(['state', 'restore', dump, '--repo', to], {env: KEY})
    expect(restore.exitCode).toBe(0)
    expect(restore.stdout).toContain(`restored 3 rows from ${dump}`)
    expect(existsSync(join(to, '.nexus', 'state'))).toBe(true)

    const again = await nexus(['state', 'restore', dump, '--repo', to], {env: KEY})
    expect(again.exitCode).toBe(1)
    expect(again.stderr).toContain('is not empty')
    expect(again.stderr).toContain('pass --force')
    expect((await nexus(['state', 'restore', dump, '--repo', to, '--force'], {env: KEY})).exitCode).toBe(0)

    const wrongKey = await nexus(['state', 'restore', dump, '--repo', join(tmp.path, 'other'), '--force'], {
      env: {NEXUS_SECRET_KEY: 'some entirely different passphrase'},
    })
    expect(wrongKey.exitCode).toBe(1)
    expect(wrongKey.stderr).toContain('encrypted with a different state key')

    const forget = await nexus(['node', 'forget-host-key', 'gw-1', '--repo', to, '--json'], {env: KEY})
    expect(JSON.parse(forget.stdout)).toMatchObject({node: 'gw-1', forgotten: true})
    const twice = await nexus(['node', 'forget-host-key', 'gw-1', '--repo', to], {env: KEY})
    expect(twice.stdout).toContain('no host key is recorded for gw-1')
  })
})
