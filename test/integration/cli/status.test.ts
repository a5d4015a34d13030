/**
 * `nexus status` through the built CLI, against a quickstart node reached over
 * a test sshd and running the fake node toolkit.
 */
import {readFileSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {StatusResult} from '../../../src/app/status.js'
import {createStyle} from '../../../src/cli/style.js'
import {formatStatusHuman} from '../../../src/views/status-view.js'
import {apply, cli, fleetRepo} from '../../helpers/apply-fleet.js'
import {ANSI, STACK_FRAME} from '../../helpers/cli.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {expectGolden} from '../../helpers/golden.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-status-cli-')
let sshd: TestSshd
let fake: FakeNode
let repo: string

const DNS = 'etc/dnsmasq.d/nexus.conf'

beforeAll(async () => {
  fake = installFakeNode(join(tmp.path, 'node'))
  sshd = await startSshd({binDir: fake.binDir})
  repo = fleetRepo(join(tmp.path, 'repo'), [{name: 'gw-1', sshd, fake}])
})

afterAll(async () => {
  await sshd?.stop()
  fake?.killProcesses()
  tmp.cleanup()
})

async function status(...args: string[]): Promise<{exitCode: number; stdout: string; stderr: string}> {
  return cli(repo, ['status', ...args])
}

async function statusJson(...args: string[]): Promise<StatusResult> {
  const run = await status('--json', ...args)
  expect(run.exitCode).toBe(0)
  return JSON.parse(run.stdout) as StatusResult
}

describe('nexus status', () => {
  it('before any apply: never applied, without touching the node', async () => {
    const result = await statusJson()
    expect(result.nodes).toEqual([
      {
        node: 'gw-1',
        declared: true,
        revision: null,
        last_apply: null,
        live: {state: 'never_applied', differences: [], notes: []},
      },
    ])
    expect(result.summary).toMatchObject({never_applied: 1})
  })

  it('after an apply: verified, with the revision and the apply that made it', async () => {
    const run = await apply(repo)
    expect(run.nodes).toEqual({'gw-1': 'verified'})

    const result = await statusJson()
    expect(result).toMatchObject({offline: false, summary: {verified: 1}, warnings: []})
    const [entry] = result.nodes
    expect(entry).toMatchObject({
      node: 'gw-1',
      declared: true,
      revision: {number: 1, result: 'verified', commit: null},
      last_apply: {id: run.applyId, result: 'success', node_result: 'verified'},
      live: {state: 'verified', differences: []},
    })
    expect(Date.parse(entry?.revision?.at ?? '')).toBeGreaterThan(Date.now() - 600_000)

    const human = await status()
    expect(human.exitCode).toBe(0)
    expect(human.stdout).not.toMatch(ANSI)
    expect(human.stdout.split('\n')[0]).toMatch(/^NODE\s+REV\s+RESULT\s+WHEN\s+COMMIT\s+BY\s+LAST APPLY\s+LIVE$/)
    expect(human.stdout).toMatch(
      /^gw-1\s+1\s+verified\s+\d{4}-\d\d-\d\d \d\d:\d\dZ\s+-\s+\S+\s+#\d+ success .*verified$/m,
    )
    expect(human.stdout).toContain('1 node: 1 verified.')
  })

  it('--offline reads state only', async () => {
    const result = await statusJson('--offline')
    expect(result.offline).toBe(true)
    expect(result.nodes[0]?.live).toEqual({state: 'not_read', reason: '--offline', differences: [], notes: []})
    expect((await status('--offline')).stdout).toContain('not read (--offline)')
  })

  it('after a hand edit of a deployed file: diverged, naming the file', async () => {
    const file = join(fake.root, DNS)
    const original = readFileSync(file, 'utf8')
    writeFileSync(file, `${original}# added by hand\n`)
    try {
      const result = await statusJson()
      expect(result.summary).toMatchObject({diverged: 1})
      expect(result.nodes[0]?.live).toEqual({
        state: 'diverged',
        differences: [{kind: 'file', subject: file, detail: 'changed on the node since revision 1'}],
        notes: [],
      })
      const human = await status()
      expect(human.exitCode).toBe(0)
      expect(human.stdout).toMatch(/diverged \(1\)$/m)
      expect(human.stdout).toContain(`! file ${file}: changed on the node since revision 1`)
    } finally {
      writeFileSync(file, original)
    }
    expect((await statusJson()).nodes[0]?.live.state).toBe('verified')
  })

  it('a node it cannot reach: unreachable, with the error', async () => {
    const nodeFile = join(repo, 'nodes/gw-1.yaml')
    const yaml = readFileSync(nodeFile, 'utf8')
    writeFileSync(nodeFile, yaml.replace(`port: ${sshd.port}`, `port: ${await closedPort()}`))
    try {
      const result = await statusJson()
      expect(result.summary).toMatchObject({unreachable: 1})
      expect(result.nodes[0]?.live).toMatchObject({
        state: 'unreachable',
        differences: [],
        error: {code: 'node_unreachable'},
      })
      const human = await status()
      expect(human.exitCode).toBe(0)
      expect(human.stdout).toMatch(/^gw-1 .*unreachable$/m)
      expect(human.stdout).toContain('node_unreachable: ')
      expect(human.stderr).not.toMatch(STACK_FRAME)
    } finally {
      writeFileSync(nodeFile, yaml)
    }
  })

  it('status view (golden)', () => {
    const result: StatusResult = {
      offline: false,
      nodes: [
        {
          node: 'fra-1',
          declared: true,
          revision: {
            number: 12,
            result: 'verified',
            at: '2025-03-01T10:02:03.000Z',
            commit: '0123456789abcdef0123456789abcdef01234567',
            actor: 'ci-bot',
          },
          last_apply: {
            id: 40,
            result: 'success',
            node_result: 'verified',
            at: '2025-03-01T10:02:04.000Z',
            actor: 'ci-bot',
          },
          live: {state: 'verified', differences: [], notes: []},
        },
        {
          node: 'ams-1',
          declared: true,
          revision: {
            number: 7,
            result: 'verified',
            at: '2025-02-27T08:00:00.000Z',
            commit: 'fedcba9876543210fedcba9876543210fedcba98',
            actor: 'alice',
          },
          last_apply: {
            id: 40,
            result: 'partial',
            node_result: 'unchanged',
            at: '2025-03-01T10:02:04.000Z',
            actor: 'ci-bot',
          },
          live: {
            state: 'diverged',
            differences: [
              {kind: 'file', subject: '/etc/wireguard/wg0.conf', detail: 'changed on the node since revision 7'},
              {kind: 'wireguard_peers', subject: 'wg0', detail: 'the live peers differ from revision 7'},
            ],
            notes: ['xray vless-reality: users not checked (the xray API does not answer)'],
          },
        },
        {
          node: 'nyc-1',
          declared: true,
          revision: {number: 3, result: 'diverged', at: '2025-01-15T23:59:00.000Z', commit: null, actor: 'bob'},
          last_apply: {
            id: 40,
            result: 'partial',
            node_result: 'unreachable',
            at: '2025-03-01T10:02:04.000Z',
            actor: 'ci-bot',
          },
          live: {
            state: 'unreachable',
            differences: [],
            error: {code: 'node_unreachable', message: 'cannot reach nyc-1 at 198.51.100.7:22: connection timed out'},
            notes: [],
          },
        },
        {
          node: 'hq-1',
          declared: true,
          revision: null,
          last_apply: null,
          live: {state: 'never_applied', differences: [], notes: []},
        },
        {
          node: 'old-1',
          declared: false,
          revision: {number: 30, result: 'verified', at: '2024-11-02T12:00:00.000Z', commit: null, actor: 'alice'},
          last_apply: null,
          live: {state: 'not_read', reason: 'no longer declared in the repo', differences: [], notes: []},
        },
      ],
      summary: {verified: 1, diverged: 1, unreachable: 1, never_applied: 1, not_read: 1},
      warnings: ['nyc-1: host key seen for the first time; status does not record it (the next apply does)'],
    }
    expectGolden('views/status.txt', formatStatusHuman(result, createStyle(false)))
    expectGolden(
      'views/status-empty.txt',
      formatStatusHuman(
        {
          offline: true,
          nodes: [],
          summary: {verified: 0, diverged: 0, unreachable: 0, never_applied: 0, not_read: 0},
          warnings: [],
        },
        createStyle(false),
      ),
    )
  })
})

/** A loopback port nothing listens on (bound, then released). */
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
