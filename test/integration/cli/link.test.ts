/**
 * `nexus link reset` through the built CLI: the UUID rotates in state (the
 * old one kept as revoked, the serial bumped), the next plan shows the xray
 * users change, and the next apply replaces the UUID on the node. The node
 * is the quickstart's, over a test sshd with the fake node toolkit.
 */
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {LinkReset} from '../../../src/app/link.js'
import type {Plan} from '../../../src/plan/types.js'
import {openState, stateLocation} from '../../../src/state/open.js'
import {cli, fleetRepo, jsonError, readState} from '../../helpers/apply-fleet.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {expectGolden} from '../../helpers/golden.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-link-cli-')
let sshd: TestSshd
let fake: FakeNode
let repo: string
/** alice/phone's UUID before the reset. */
let oldUuid = ''

beforeAll(async () => {
  fake = installFakeNode(join(tmp.path, 'node'))
  sshd = await startSshd({binDir: fake.binDir})
  repo = fleetRepo(join(tmp.path, 'repo'), [{name: 'gw-1', sshd, fake}])
  const first = await cli(repo, ['apply', '--yes'])
  expect(first.exitCode, first.stderr).toBe(0)
})

afterAll(async () => {
  await sshd?.stop()
  const left = fake?.killProcesses() ?? []
  tmp.cleanup()
  expect(left).toEqual([])
})

function xrayConfig(): string {
  return readFileSync(join(fake.root, 'etc/xray/config.json'), 'utf8')
}

async function revoked(): Promise<{user_name: string; link: string}[]> {
  const store = await openState(stateLocation(repo, {}), {mode: 'read', env: {}})
  try {
    return (
      (await store?.driver.query<{user_name: string; link: string}>('select user_name, link from revoked_links')) ?? []
    )
  } finally {
    await store?.close()
  }
}

describe('nexus link reset', () => {
  it('rotates the UUID in state, keeps the old one as revoked, bumps the serial, and says to apply (golden)', async () => {
    const before = (await readState(repo)).snapshot
    const old = before.links.get('alice/phone') ?? ''
    expect(old).not.toBe('')
    oldUuid = old
    expect(xrayConfig()).toContain(old)

    const run = await cli(repo, ['link', 'reset', 'alice/phone'])

    expect(run.exitCode).toBe(0)
    expectGolden('user/link-reset.txt', run.stdout.replace(/state serial \d+/, 'state serial <n>'))
    expect(run.stderr).toContain('next: run nexus apply; until then the nodes still accept the old UUID of alice/phone')
    const after = (await readState(repo)).snapshot
    const fresh = after.links.get('alice/phone') ?? ''
    expect(fresh).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(fresh).not.toBe(old)
    expect(after.serial).toBe(before.serial + 1)
    // Only that link moved; the UUIDs are in no output.
    expect(after.links.get('bob/default')).toBe(before.links.get('bob/default'))
    expect(run.stdout + run.stderr).not.toContain(fresh)
    expect(await revoked()).toEqual([{user_name: 'alice', link: 'phone'}])
    // The node still has the old one: it stops only with the next apply.
    expect(xrayConfig()).toContain(old)
  })

  it('the next plan shows the xray users change, and the next apply replaces the UUID on the node', async () => {
    const {snapshot} = await readState(repo)
    const fresh = snapshot.links.get('alice/phone') ?? ''

    const planned = await cli(repo, ['plan', '--json'])

    expect(planned.exitCode).toBe(0)
    const plan = JSON.parse(planned.stdout) as Plan
    expect(plan.changes.filter((c) => c.address.startsWith('link.'))).toEqual([])
    expect(plan.nodes[0]?.artifacts).toEqual([
      expect.objectContaining({
        address: 'node.gw-1/xray',
        action: 'update',
        reason: 'users_changed',
        effect: 'xray_api',
        disruptive: false,
      }),
    ])
    const human = await cli(repo, ['plan'])
    expect(human.stdout).toMatch(/~ node\.gw-1\/xray +xray API: users added\/removed live/)

    const applied = await cli(repo, ['apply', '--yes'])
    expect(applied.exitCode).toBe(0)
    expect(xrayConfig()).toContain(fresh)
    expect(xrayConfig()).not.toContain(oldUuid)
    expect((await cli(repo, ['plan', '--json', '--detailed-exitcode'])).exitCode).toBe(0)
  })

  it('--json; a bare USER means its default link', async () => {
    const run = await cli(repo, ['link', 'reset', 'bob', '--json'])
    expect(run.exitCode).toBe(0)
    const result = JSON.parse(run.stdout) as LinkReset
    expect(result).toMatchObject({
      user: 'bob',
      link: 'default',
      serial: (await readState(repo)).snapshot.serial,
      note: 'nodes accept the old UUID until the next nexus apply',
    })
    expect(result.previousIssuedAt).toMatch(/^\d{4}-\d\d-\d\dT/)
  })

  it('refuses while an unrelated file is invalid: exit 1, the UUID, the revoked list and the serial stay', async () => {
    const before = (await readState(repo)).snapshot
    const revokedBefore = await revoked()
    const rule = join(repo, 'rules/no-smtp.yaml')
    const original = readFileSync(rule, 'utf8')
    writeFileSync(rule, original.replace('action: deny', 'action: smite'))
    try {
      const run = await cli(repo, ['link', 'reset', 'alice/phone', '--json'])
      expect(run.exitCode).toBe(1)
      expect(jsonError(run.stdout)).toMatchObject({code: 'invalid_declarations', hint: 'run nexus validate'})
      const human = await cli(repo, ['link', 'reset', 'alice/phone'])
      expect(human.exitCode).toBe(1)
      expect(human.stdout).toBe('')
      expect(human.stderr).toContain('so no link was reset')
    } finally {
      writeFileSync(rule, original)
    }
    const after = (await readState(repo)).snapshot
    expect(after.serial).toBe(before.serial)
    expect(after.links.get('alice/phone')).toBe(before.links.get('alice/phone'))
    expect(await revoked()).toEqual(revokedBefore)
  })

  it('refuses an unknown user or link, a malformed reference, and a link state has not issued yet', async () => {
    const serial = (await readState(repo)).snapshot.serial
    const error = async (ref: string) => {
      const run = await cli(repo, ['link', 'reset', ref, '--json'])
      expect(run.exitCode, ref).toBe(1)
      return jsonError(run.stdout)
    }
    expect(await error('alice/tablet')).toMatchObject({code: 'unknown_link', hint: 'links of alice: phone'})
    expect(await error('alise/phone')).toMatchObject({code: 'unknown_user', hint: 'did you mean alice?'})
    expect(await error('alice/phone/x')).toMatchObject({code: 'invalid_link'})
    const created = await cli(repo, ['user', 'create', 'dave', '--tariff', 'basic'])
    expect(created.exitCode).toBe(0)
    expect(await error('dave')).toMatchObject({code: 'link_not_issued', hint: 'the next nexus apply issues it'})
    expect((await readState(repo)).snapshot.serial).toBe(serial)
  })
})
