/**
 * xray user changes go through its API (HandlerService `adu`/`rmu`) without a
 * restart; a base config change restarts it. The node's fake `xray` logs the
 * API calls it gets.
 */
import {readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {apply, fleetRepo, writeRepoFile} from '../../helpers/apply-fleet.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-apply-xray-')
let sshd: TestSshd
let fake: FakeNode
let repo: string

beforeAll(async () => {
  fake = installFakeNode(join(tmp.path, 'node'), {xray: true})
  sshd = await startSshd({binDir: fake.binDir})
  repo = fleetRepo(join(tmp.path, 'repo'), [{name: 'gw-1', sshd, fake}])
})
afterAll(async () => {
  await sshd?.stop()
  const left = fake.killProcesses()
  tmp.cleanup()
  expect(left).toEqual([])
})

describe('xray through its API', () => {
  it('starts xray on the first apply (the config is checked with xray run -test)', async () => {
    const run = await apply(repo)
    expect(run.outcome).toBe('success')
    expect(fake.log()).toContain('xray-restart')
    const notes = run.events.flatMap((e) => (e.type === 'node_complete' ? e.notes : []))
    expect(notes.join('\n')).not.toContain('xray: not checked')
  })

  it('adds a user without ACLs live: adu, no restart', async () => {
    writeRepoFile(repo, 'users/dave.yaml', 'apiVersion: nexus/v1\nkind: User\nname: dave\ntariff: pro\n')
    const before = fake.log().length
    const run = await apply(repo)
    expect(run.outcome).toBe('success')
    expect(fake.log().slice(before)).toEqual(['xray-api adu vless-reality:dave.default@nexus'])
  })

  it('removes that user live: rmu, no restart', async () => {
    rmSync(join(repo, 'users/dave.yaml'))
    const before = fake.log().length
    const run = await apply(repo)
    expect(run.outcome).toBe('success')
    expect(fake.log().slice(before)).toEqual(['xray-api rmu -tag=vless-reality dave.default@nexus'])
  })

  it('restarts xray when its base config changes', async () => {
    const node = readFileSync(join(repo, 'nodes/gw-1.yaml'), 'utf8')
    writeRepoFile(
      repo,
      'nodes/gw-1.yaml',
      node.replace('serverNames: [www.example.com]', 'serverNames: [www.example.org]'),
    )
    const before = fake.log().length
    const run = await apply(repo)
    expect(run.outcome).toBe('success')
    expect(fake.log().slice(before)).toEqual(['xray-restart'])
  })
})
