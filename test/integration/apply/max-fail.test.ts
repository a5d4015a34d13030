/**
 * --max-fail-percent: once more than that share of the finished nodes failed,
 * later batches are not started (they are reported as skipped and left as
 * they were).
 */
import {existsSync} from 'node:fs'
import {createServer} from 'node:net'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {apply, fleetRepo, type NodeSpec, placePeers} from '../../helpers/apply-fleet.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-apply-maxfail-')
const fakes: FakeNode[] = []
let sshd: TestSshd
let repo: string

async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}

beforeAll(async () => {
  for (const name of ['gw-1', 'gw-2', 'gw-3']) fakes.push(installFakeNode(join(tmp.path, name)))
  sshd = await startSshd({binDir: fakes[1]?.binDir as string})
  const specs: NodeSpec[] = [
    {name: 'gw-1', sshd, fake: fakes[0] as FakeNode, port: await closedPort()},
    {name: 'gw-2', sshd, fake: fakes[1] as FakeNode},
    {name: 'gw-3', sshd, fake: fakes[2] as FakeNode},
  ]
  repo = fleetRepo(join(tmp.path, 'repo'), specs)
  placePeers(repo, {'alice-laptop': 'gw-1', 'alice-phone': 'gw-2', 'bob-laptop': 'gw-3', 'carol-phone': 'gw-3'})
})
afterAll(async () => {
  await sshd?.stop()
  const left = fakes.flatMap((f) => f.killProcesses())
  tmp.cleanup()
  expect(left).toEqual([])
})

describe('--max-fail-percent', () => {
  it('stops starting nodes once the failed share is over the limit; the skipped ones are left alone', async () => {
    const run = await apply(repo, {parallel: 1, maxFailPercent: 50})
    expect(run.nodes).toEqual({'gw-1': 'unreachable', 'gw-2': 'skipped', 'gw-3': 'skipped'})
    expect(run.outcome).toBe('failed')
    const skipped = run.events.filter((e) => e.type === 'node_complete' && e.result === 'skipped')
    expect(skipped.map((e) => (e.type === 'node_complete' ? e.notes : []))).toEqual([
      ['not started: --max-fail-percent reached'],
      ['not started: --max-fail-percent reached'],
    ])
    for (const fake of fakes) expect(existsSync(join(fake.root, 'etc'))).toBe(false)
    expect(fakes[1]?.log()).toEqual([])
  })

  it('goes on through every batch without the limit', async () => {
    const run = await apply(repo, {parallel: 1})
    expect(run.nodes).toEqual({'gw-1': 'unreachable', 'gw-2': 'verified', 'gw-3': 'verified'})
    expect(run.outcome).toBe('partial')
  })
})
