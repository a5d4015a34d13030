/**
 * `nexus user create/list/show/disable` through the built CLI, on copies of
 * examples/quickstart (real git repos where --commit is tested).
 */
import {existsSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {execa} from 'execa'
import {afterAll, describe, expect, it} from 'vitest'

import type {UserCreated, UserDisabled, UserListResult, UserShown} from '../../../src/app/user.js'
import {loadRepo} from '../../../src/app/load-repo.js'
import {advanceSubscription, tariffsByName} from '../../../src/model/subscription.js'
import {openState, stateLocation} from '../../../src/state/open.js'
import {cli, jsonError} from '../../helpers/apply-fleet.js'
import {exampleCopy, localState} from '../../helpers/cli.js'
import {expectGolden} from '../../helpers/golden.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-user-cli-')
let counter = 0
afterAll(() => tmp.cleanup())

/** What a command left in `.nexus` besides the parse cache and the directory's own .gitignore: state, keys, locks. */
const stateLeft = (repo: string) => localState(repo).filter((name) => name !== '.gitignore')

function quickstart(): string {
  return exampleCopy('quickstart', join(tmp.path, `repo-${++counter}`))
}

/** Every declaration file (path -> text); no state is created by the refusals below. */
function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const folder of readdirSync(dir, {withFileTypes: true})) {
    if (folder.name.startsWith('.')) continue
    if (!folder.isDirectory()) {
      out[folder.name] = readFileSync(join(dir, folder.name), 'utf8')
      continue
    }
    for (const file of readdirSync(join(dir, folder.name))) {
      out[`${folder.name}/${file}`] = readFileSync(join(dir, folder.name, file), 'utf8')
    }
  }
  return out
}

async function git(dir: string, ...args: string[]): Promise<string> {
  return (await execa('git', args, {cwd: dir})).stdout
}

async function gitRepo(dir: string): Promise<void> {
  await git(dir, 'init', '-q', '-b', 'main')
  await git(dir, 'config', 'user.name', 'Nexus Test')
  await git(dir, 'config', 'user.email', 'test@example.com')
  writeFileSync(join(dir, '.gitignore'), '.nexus/\n')
  await git(dir, 'add', '-A')
  await git(dir, 'commit', '-q', '-m', 'initial')
}

describe('nexus user create', () => {
  it('writes users/NAME.yaml with the schema header; the repo validates (golden)', async () => {
    const repo = quickstart()

    const run = await cli(repo, [
      'user',
      'create',
      'dave',
      '--tariff',
      'basic',
      '--email',
      'dave@example.com',
      '--group',
      'staff',
      '--link',
      'phone,laptop',
    ])

    expect(run.exitCode).toBe(0)
    expect(readFileSync(join(repo, 'users/dave.yaml'), 'utf8')).toBe(
      [
        '# yaml-language-server: $schema=../../../schemas/user.schema.json',
        'apiVersion: nexus/v1',
        'kind: User',
        'name: dave',
        'email: dave@example.com',
        'tariff: basic',
        'groups: [staff]',
        'links: [phone, laptop]',
        '',
      ].join('\n'),
    )
    expectGolden('user/create.txt', run.stdout)
    expect(run.stderr).toContain('nexus apply activates the subscription')
    expect((await cli(repo, ['validate'])).exitCode).toBe(0)
    expect(stateLeft(repo)).toEqual([])
  })

  it('--json, --status, and appending to the one multi-document file all users live in', async () => {
    const repo = quickstart()
    const combined = ['alice', 'bob', 'carol']
      .map((name) => readFileSync(join(repo, 'users', `${name}.yaml`), 'utf8'))
      .join('---   # next user\n')
    for (const name of ['alice', 'bob', 'carol']) rmSync(join(repo, 'users', `${name}.yaml`))
    writeFileSync(join(repo, 'people.yaml'), combined)

    const run = await cli(repo, ['user', 'create', 'erin', '--tariff', 'pro', '--status', 'pending', '--json'])

    expect(run.exitCode).toBe(0)
    expect(JSON.parse(run.stdout) as UserCreated).toEqual({
      user: {apiVersion: 'nexus/v1', kind: 'User', name: 'erin', status: 'pending', tariff: 'pro'},
      file: 'people.yaml',
      appended: true,
      committed: null,
    })
    expect(readFileSync(join(repo, 'people.yaml'), 'utf8')).toBe(
      `${combined}---\napiVersion: nexus/v1\nkind: User\nname: erin\nstatus: pending\ntariff: pro\n`,
    )
    expect((await cli(repo, ['validate'])).exitCode).toBe(0)
  })

  it('refuses an unknown tariff or group, a taken or invalid name: exit 1, nothing written', async () => {
    const repo = quickstart()
    const before = files(repo)
    const refused = async (args: string[], code: string, text: string) => {
      const human = await cli(repo, ['user', 'create', ...args])
      expect(human.exitCode, args.join(' ')).toBe(1)
      expect(human.stdout).toBe('')
      expect(human.stderr).toContain(text)
      const json = await cli(repo, ['user', 'create', ...args, '--json'])
      expect(jsonError(json.stdout).code).toBe(code)
      expect(files(repo)).toEqual(before)
    }
    await refused(
      ['dave', '--tariff', 'gold'],
      'invalid_change',
      'users/dave.yaml:5:9: User dave: Tariff "gold" is not declared',
    )
    await refused(
      ['dave', '--tariff', 'basic', '--group', 'admins'],
      'invalid_change',
      'Group "admins" is not declared',
    )
    await refused(['dave', '--tariff', 'basic', '--email', 'not-an-email'], 'invalid_change', 'email')
    await refused(['alice', '--tariff', 'basic'], 'user_exists', 'a user named alice is already declared')
    await refused(['Dave', '--tariff', 'basic'], 'invalid_name', '"Dave" is not a valid user name')
    expect(stateLeft(repo)).toEqual([])
  })

  it('refuses while an unrelated file is already invalid: exit 1, nothing written, no state', async () => {
    const repo = quickstart()
    const rule = join(repo, 'rules/no-smtp.yaml')
    writeFileSync(rule, readFileSync(rule, 'utf8').replace('action: deny', 'action: smite'))
    const before = files(repo)
    const human = await cli(repo, ['user', 'create', 'dave', '--tariff', 'basic'])
    expect(human.exitCode).toBe(1)
    expect(human.stdout).toBe('')
    expect(human.stderr).toContain('rules/no-smtp.yaml:')
    const json = await cli(repo, ['user', 'create', 'dave', '--tariff', 'basic', '--json'])
    expect(json.exitCode).toBe(1)
    expect(jsonError(json.stdout)).toMatchObject({code: 'invalid_change'})
    expect(jsonError(json.stdout).message).toContain('rules/no-smtp.yaml:')
    expect(files(repo)).toEqual(before)
    expect(existsSync(join(repo, 'users/dave.yaml'))).toBe(false)
    expect(existsSync(join(repo, '.nexus', 'state'))).toBe(false)
  })

  it('--commit commits only the new file', async () => {
    const repo = quickstart()
    await gitRepo(repo)
    const run = await cli(repo, ['user', 'create', 'dave', '--tariff', 'basic', '--commit', '--json'])
    expect(run.exitCode).toBe(0)
    expect((JSON.parse(run.stdout) as UserCreated).committed?.message).toBe('nexus: add user dave')
    expect(await git(repo, 'show', '--name-status', '--format=%s', 'HEAD')).toBe(
      'nexus: add user dave\n\nA\tusers/dave.yaml',
    )
  })
})

describe('nexus user list / show', () => {
  it('without state: declared users, no subscriptions yet (golden)', async () => {
    const repo = quickstart()
    const list = await cli(repo, ['user', 'list'])
    expect(list.exitCode).toBe(0)
    expectGolden('user/list.txt', list.stdout)
    const show = await cli(repo, ['user', 'show', 'alice'])
    expect(show.exitCode).toBe(0)
    expectGolden('user/show.txt', show.stdout)
    expect(stateLeft(repo)).toEqual([])
  })

  it('with a subscription in state: its status, tariff in effect, expiry and traffic used', async () => {
    const repo = quickstart()
    const now = new Date()
    const desired = (await loadRepo(repo)).desired
    const alice = desired?.users.find((u) => u.name === 'alice')
    if (!desired || !alice) throw new Error('quickstart does not load')
    const record = advanceSubscription({user: alice, tariffs: tariffsByName(desired.tariffs), now}).record
    if (!record) throw new Error('alice is not activated')
    const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
    await store?.write(
      {
        subscriptions: [{user: 'alice', record: {...record, trafficUsed: 3 * 1024 ** 3}}],
        links: [{user: 'alice', link: 'phone', uuid: '2b48ba2e-458e-41d6-a536-52f5fa8275f9'}],
        allocations: [{node: 'gw-1', iface: 'wg0', peer: 'alice-phone', address: '10.66.0.3', family: 4}],
      },
      {actor: 'test'},
    )
    await store?.close()

    const list = JSON.parse((await cli(repo, ['user', 'list', '--json'])).stdout) as UserListResult
    expect(list.fromState).toBe(true)
    const entry = list.users.find((u) => u.name === 'alice')
    expect(entry).toMatchObject({
      email: 'alice@example.com',
      status: 'active',
      tariff: 'pro',
      groups: ['staff'],
      links: ['phone'],
      devices: 2,
      file: 'users/alice.yaml',
      subscription: {status: 'active', reason: 'active', tariff: 'pro', trafficUsed: 3 * 1024 ** 3, trafficLimit: null},
    })
    // Pro runs 12 months and renews into basic, which runs a month: access ends 13 months after activation.
    expect(entry?.subscription?.expires?.slice(0, 7)).toBe(
      new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 13, 1)).toISOString().slice(0, 7),
    )
    expect(list.users.find((u) => u.name === 'bob')?.subscription).toBeNull()
    const human = await cli(repo, ['user', 'list'])
    expect(human.stdout).toMatch(
      /^alice +alice@example\.com +active +pro +2 +active +pro +\d{4}-\d\d-\d\d +3\.0 GiB \/ unlimited$/m,
    )
    expect(human.stdout).toMatch(/^bob +bob@example\.com +active +basic +1 +- +- +- +-$/m)

    const show = JSON.parse((await cli(repo, ['user', 'show', 'alice', '--json'])).stdout) as UserShown
    expect(show).toMatchObject({
      name: 'alice',
      letIn: true,
      linkStates: [{name: 'phone', issued: true}],
      peers: [
        {name: 'alice-laptop', node: 'gw-1', interface: 'wg0', addresses: ['10.66.0.2'], enabled: true},
        {name: 'alice-phone', node: 'gw-1', interface: 'wg0', addresses: ['10.66.0.3'], enabled: true},
      ],
    })
    // The link's UUID is a credential: it appears in no output.
    expect(JSON.stringify(show)).not.toContain('2b48ba2e')
    expect((await cli(repo, ['user', 'show', 'alice'])).stdout).not.toContain('2b48ba2e')
    const missing = await cli(repo, ['user', 'show', 'alicia', '--json'])
    expect(jsonError(missing.stdout)).toMatchObject({code: 'unknown_user', hint: 'did you mean alice?'})
  })
})

describe('nexus user disable', () => {
  it('adds status: disabled after the e-mail, nothing else of the file changes (golden)', async () => {
    const repo = quickstart()
    const before = readFileSync(join(repo, 'users/bob.yaml'), 'utf8')

    const run = await cli(repo, ['user', 'disable', 'bob'])

    expect(run.exitCode).toBe(0)
    expect(readFileSync(join(repo, 'users/bob.yaml'), 'utf8')).toBe(
      before.replace('email: bob@example.com\n', 'email: bob@example.com\nstatus: disabled\n'),
    )
    expectGolden('user/disable.txt', run.stdout)
    expect(run.stderr).toContain('nexus apply takes the user off the nodes')
    const list = JSON.parse((await cli(repo, ['peer', 'list', '--offline', '--user', 'bob', '--json'])).stdout)
    expect(list.peers[0]).toMatchObject({name: 'bob-laptop', active: false})

    const again = await cli(repo, ['user', 'disable', 'bob', '--json'])
    expect(again.exitCode).toBe(0)
    expect(JSON.parse(again.stdout) as UserDisabled).toEqual({
      user: 'bob',
      file: 'users/bob.yaml',
      changed: false,
      peers: ['bob-laptop'],
      committed: null,
    })
  })

  it('replaces an existing status in a multi-document file, keeping its comment and the other documents', async () => {
    const repo = quickstart()
    const text = `# Team members.
apiVersion: nexus/v1
kind: User
name: bob
email: bob@example.com
status: active   # until he leaves
tariff: basic
groups: [staff]
---
# Carol.
apiVersion: nexus/v1
kind: User
name: carol
email: "carol@example.com"
tariff: basic
subscription:
  start: 2026-01-01
`
    rmSync(join(repo, 'users/bob.yaml'))
    rmSync(join(repo, 'users/carol.yaml'))
    writeFileSync(join(repo, 'users/team.yaml'), text)

    expect((await cli(repo, ['user', 'disable', 'bob'])).exitCode).toBe(0)
    expect((await cli(repo, ['user', 'disable', 'carol'])).exitCode).toBe(0)

    expect(readFileSync(join(repo, 'users/team.yaml'), 'utf8')).toBe(
      text
        .replace('status: active   # until he leaves', 'status: disabled   # until he leaves')
        .replace('email: "carol@example.com"\n', 'email: "carol@example.com"\nstatus: disabled\n'),
    )
  })

  it('--commit: refused while the file has uncommitted changes; then commits only that file', async () => {
    const repo = quickstart()
    await gitRepo(repo)
    const edited = `${readFileSync(join(repo, 'users/bob.yaml'), 'utf8')}# edited by hand\n`
    writeFileSync(join(repo, 'users/bob.yaml'), edited)

    const refused = await cli(repo, ['user', 'disable', 'bob', '--commit', '--json'])
    expect(refused.exitCode).toBe(1)
    expect(jsonError(refused.stdout)).toMatchObject({code: 'uncommitted_changes'})
    expect(readFileSync(join(repo, 'users/bob.yaml'), 'utf8')).toBe(edited)

    await git(repo, 'checkout', 'users/bob.yaml')
    const run = await cli(repo, ['user', 'disable', 'bob', '--commit', '--json'])
    expect(run.exitCode).toBe(0)
    expect(await git(repo, 'show', '--format=%s', 'HEAD')).toContain('nexus: disable user bob')
    expect(await git(repo, 'show', '--name-status', '--format=', 'HEAD')).toBe('M\tusers/bob.yaml')
    expect(await git(repo, 'status', '--porcelain')).toBe('')

    const unknown = await cli(repo, ['user', 'disable', 'zed', '--json'])
    expect(jsonError(unknown.stdout).code).toBe('unknown_user')
  })
})
