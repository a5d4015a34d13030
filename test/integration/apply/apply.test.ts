import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {apply, fleetRepo, plan} from '../../helpers/apply-fleet.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-apply-')
let sshd: TestSshd
let fake: FakeNode
let repo: string

beforeAll(async () => {
  fake = installFakeNode(join(tmp.path, 'node'))
  sshd = await startSshd({binDir: fake.binDir})
  repo = fleetRepo(join(tmp.path, 'repo'), [{name: 'gw-1', sshd, fake}])
})
afterAll(async () => {
  await sshd?.stop()
  tmp.cleanup()
})

describe('nexus apply', () => {
  it('first apply: writes state, pushes every file, reloads, verifies and records revision 1', async () => {
    const run = await apply(repo)
    const errors = run.events.filter((e) => e.type === 'node_errored')
    expect(errors).toEqual([])
    expect(run.outcome).toBe('success')
    expect(run.nodes).toEqual({'gw-1': 'verified'})
    expect(existsSync(join(fake.root, 'etc/wireguard/wg0.conf'))).toBe(true)
    expect(JSON.parse(readFileSync(join(fake.root, 'var/lib/nexus/revision.json'), 'utf8'))).toMatchObject({
      revision: 1,
    })
    expect(fake.log()).toEqual(['restart wg0', 'nft-load', 'xray-restart', 'dnsmasq-restart'])
    expect(run.events[0]).toEqual({type: 'version', format_version: '1'})
    expect(run.events.at(-1)).toMatchObject({type: 'apply_complete', result: 'success'})
  })

  it('no-op apply: nothing written, nothing reloaded', async () => {
    const before = fake.log().length
    const run = await apply(repo)
    expect(run.outcome).toBe('no_changes')
    expect(fake.log()).toHaveLength(before)
    expect((await plan(repo)).result?.plan.has_changes).toBe(false)
  })
})
