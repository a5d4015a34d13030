/**
 * `nexus plan --out FILE` then `nexus apply FILE`: the saved plan is carried
 * out exactly and without a prompt, and refused (nothing pushed) when the
 * world it was made from moved: the state serial, the git commit, the node.
 * The repo is a git repo here, so apply records the commit and refuses a
 * dirty tree.
 */
import {appendFileSync, mkdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {planRepo} from '../../../src/app/plan.js'
import {savePlan} from '../../../src/app/save-plan.js'
import {NexusError} from '../../../src/errors.js'
import {sha256} from '../../../src/plan/hashes.js'
import {stateLocation} from '../../../src/state/open.js'
import {SshTransport} from '../../../src/transport/ssh.js'
import {
  addPeer,
  apply,
  cli,
  fleetRepo,
  gitCommitAll,
  jsonError,
  ndjson,
  plan,
  readState,
  treeOf,
  writeRepoFile,
} from '../../helpers/apply-fleet.js'
import {STACK_FRAME} from '../../helpers/cli.js'
import {type FakeNode, installFakeNode} from '../../helpers/fake-node.js'
import {startSshd, type TestSshd} from '../../helpers/sshd.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-apply-saved-')
let sshd: TestSshd
let fake: FakeNode
let repo: string
let plans: string
let planCount = 0

const KEYS = [
  'p9miLJg5zPJQDrZ0ovlJE4tG4zUvPoDodgXmT2WnDg0=',
  'IXxiXrv+f0FJqobHeYtOQ5PtqzqE9yThZOik5JT2gjQ=',
  'p3sN8XwxUyWWBKl+h3z1mBi6xP3A/LiH8kO8BtaEBwo=',
]

/** `nexus plan --out` done in-process: plan, then seal it into a file (outside the repo, which it would dirty). */
async function savedPlan(): Promise<{file: string; plan: Awaited<ReturnType<typeof plan>>}> {
  const run = await planRepo({
    root: repo,
    location: stateLocation(repo, {}),
    env: {},
    offline: false,
    transport: new SshTransport({env: {}}),
    now: new Date(),
  })
  if (!run.result) throw new Error('the repo does not plan')
  const file = join(plans, `plan-${++planCount}.json`)
  await savePlan(stateLocation(repo, {}), file, run.result, {env: {}, notice: () => {}})
  return {file, plan: run}
}

const neverAsk = async (): Promise<boolean> => {
  throw new Error('a saved plan must not ask for confirmation')
}

/** Applies a saved plan that must be refused as stale; returns the error. */
async function refused(file: string): Promise<NexusError> {
  const error = await apply(repo, {planFile: file, confirm: neverAsk, allowDirty: false}).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(NexusError)
  expect((error as NexusError).code).toBe('stale_plan')
  return error as NexusError
}

/** What must not move when a stale plan is refused. */
async function world() {
  const state = await readState(repo)
  return {
    files: treeOf(fake.root),
    log: fake.log(),
    wg: treeOf(join(fake.stateDir, 'wg')),
    loaded: fake.loadedRuleset(),
    serial: state.snapshot.serial,
    revisions: state.revisions.length,
  }
}

beforeAll(async () => {
  fake = installFakeNode(join(tmp.path, 'node'))
  sshd = await startSshd({binDir: fake.binDir})
  repo = fleetRepo(join(tmp.path, 'repo'), [{name: 'gw-1', sshd, fake}])
  plans = join(tmp.path, 'plans')
  mkdirSync(plans)
  const commit = await gitCommitAll(repo, 'quickstart')
  const first = await apply(repo, {allowDirty: false})
  expect(first.nodes).toEqual({'gw-1': 'verified'})
  expect((await readState(repo)).revisions[0]?.gitCommit).toBe(commit)
})

afterAll(async () => {
  await sshd?.stop()
  const left = fake?.killProcesses() ?? []
  tmp.cleanup()
  expect(left).toEqual([])
})

describe('apply: saved plans', () => {
  it('a dirty tree is refused unless allowed, before anything is read or pushed', async () => {
    const before = await world()
    addPeer(repo, 'alice-tablet', 'alice', KEYS[0] as string)
    const error = await apply(repo, {allowDirty: false}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NexusError)
    expect((error as NexusError).code).toBe('dirty_tree')
    expect(await world()).toEqual(before)
  })

  it('applies a saved plan exactly, without asking, and records its commit', async () => {
    const commit = await gitCommitAll(repo, 'alice gets a tablet')
    const {file, plan: saved} = await savedPlan()
    const savedPlanDoc = saved.result?.plan
    const peer = savedPlanDoc?.changes.find((c) => c.address === 'peer.alice-tablet')
    const addresses = (peer?.after as {addresses: string[]}).addresses
    expect(addresses).toHaveLength(2)
    const artifacts = savedPlanDoc?.nodes[0]?.artifacts ?? []
    expect(artifacts.map((a) => a.address).sort()).toEqual(['node.gw-1/nftables', 'node.gw-1/wireguard/wg0'])

    const run = await apply(repo, {planFile: file, confirm: neverAsk, allowDirty: false})

    expect(run.outcome).toBe('success')
    expect(run.nodes).toEqual({'gw-1': 'verified'})
    // The files on the node are the ones the plan showed (same hashes), with the addresses it showed.
    for (const artifact of artifacts) {
      expect(sha256(readFileSync(artifact.path, 'utf8'))).toBe(artifact.sha256After)
    }
    const state = await readState(repo)
    expect(
      state.snapshot.allocations
        .filter((a) => a.peer === 'alice-tablet')
        .map((a) => a.address)
        .sort(),
    ).toEqual([...addresses].sort())
    expect(state.revisions[0]).toMatchObject({node: 'gw-1', revision: 2, result: 'verified', gitCommit: commit})
    expect(run.events.find((e) => e.type === 'apply_start')).toMatchObject({git_commit: commit})
    expect((await plan(repo)).result?.plan.has_changes).toBe(false)

    // Carried out once: applying it again is refused, the state moved on.
    expect((await refused(file)).message).toMatch(/state changed/)
  })

  it('through the CLI: nexus plan --out F, then nexus apply F with no terminal and no --yes', async () => {
    addPeer(repo, 'bob-tablet', 'bob', KEYS[1] as string)
    const commit = await gitCommitAll(repo, 'bob gets a tablet')
    const file = join(plans, 'cli-plan.json')
    const planned = await cli(repo, ['plan', '--out', file])
    expect(planned.stderr).not.toMatch(/Error/)
    expect(planned.exitCode).toBe(0)
    const logBefore = fake.log().length

    const applied = await cli(repo, ['apply', file])

    expect(applied.stderr).not.toMatch(/confirmation_required|Error/)
    expect(applied.exitCode).toBe(0)
    expect(fake.log().slice(logBefore)).toEqual(['sync wg0', 'nft-load'])
    const state = await readState(repo)
    expect(state.revisions[0]).toMatchObject({revision: 3, result: 'verified', gitCommit: commit})
    expect(readFileSync(join(fake.root, 'etc/wireguard/wg0.conf'), 'utf8')).toContain(KEYS[1])
  })

  it('stale: the state serial changed after the plan (another apply in between); nothing pushed', async () => {
    addPeer(repo, 'alice-desktop', 'alice', KEYS[2] as string)
    await gitCommitAll(repo, 'another device')
    const {file} = await savedPlan()
    // Someone else applies first (the same commit, so only the state and the node moved).
    const other = await apply(repo, {allowDirty: false})
    expect(other.nodes).toEqual({'gw-1': 'verified'})
    const before = await world()

    const error = await refused(file)

    expect(error.message).toMatch(/the state changed since \(serial \d+, now \d+\); nothing was applied/)
    expect(await world()).toEqual(before)
  })

  it('stale: the git commit changed after the plan; nothing pushed', async () => {
    const wiki = readFileSync(join(repo, 'services/wiki.yaml'), 'utf8')
    writeRepoFile(
      repo,
      'services/wiki.yaml',
      wiki.replace('[wiki.corp.example]', '[wiki.corp.example, docs.corp.example]'),
    )
    const planned = await gitCommitAll(repo, 'docs domain')
    const {file, plan: saved} = await savedPlan()
    expect(saved.result?.plan.has_changes).toBe(true)
    expect(saved.result?.plan.git.commit).toBe(planned)
    writeRepoFile(repo, 'README.md', 'an unrelated commit\n')
    const now = await gitCommitAll(repo, 'readme')
    const before = await world()

    const error = await refused(file)

    expect(error.message).toContain(`made at commit ${planned}, the repo is at ${now}`)
    expect(await world()).toEqual(before)
    expect(readFileSync(join(fake.root, 'etc/dnsmasq.d/nexus.conf'), 'utf8')).not.toContain('docs.corp.example')
  })

  it('stale: a deployed file was edited by hand after the plan (fingerprint); nothing pushed', async () => {
    const {file} = await savedPlan()
    const dns = join(fake.root, 'etc/dnsmasq.d/nexus.conf')
    appendFileSync(dns, 'server=9.9.9.9\n')
    const before = await world()

    const error = await refused(file)

    expect(error.message).toContain('node gw-1 changed since it was read')
    expect(await world()).toEqual(before)

    // A fresh plan undoes the hand edit along with the pending change.
    const run = await apply(repo, {allowDirty: false})
    expect(run.nodes).toEqual({'gw-1': 'verified'})
    const text = readFileSync(dns, 'utf8')
    expect(text).not.toContain('server=9.9.9.9')
    expect(text).toContain('docs.corp.example')
    expect((await plan(repo)).result?.plan.has_changes).toBe(false)
  })

  it('a plan saved inside the repo, as the hints suggest (nexus plan --out plan.json)', async () => {
    const rule = readFileSync(join(repo, 'rules/no-smtp.yaml'), 'utf8')
    writeRepoFile(repo, 'rules/no-smtp.yaml', rule.replace('ports: [25, 465, 587]', 'ports: [25, 465, 587, 2525]'))
    await gitCommitAll(repo, 'no smtp on 2525 either')
    const planned = await cli(repo, ['plan', '--out', join(repo, 'plan.json')])
    expect(planned.exitCode).toBe(0)
    expect(JSON.parse(readFileSync(join(repo, 'plan.json'), 'utf8'))).toMatchObject({plan: {has_changes: true}})
  })

  // An untracked plan.json next to the declarations does not make the tree dirty: only declaration files do.
  it('... and applying it is not refused as a dirty tree', async () => {
    const applied = await cli(repo, ['apply', join(repo, 'plan.json')])

    expect(applied.stderr).not.toContain('uncommitted changes')
    expect(applied.exitCode).toBe(0)
  })

  it('through the CLI, a stale plan: exit 1, the reason and what to do on stderr, nothing pushed', async () => {
    const wiki = readFileSync(join(repo, 'services/wiki.yaml'), 'utf8')
    writeRepoFile(repo, 'services/wiki.yaml', wiki.replace('[wiki.corp.example', '[kb.corp.example, wiki.corp.example'))
    const planned = await gitCommitAll(repo, 'kb domain')
    const file = join(plans, 'cli-stale.json')
    expect((await cli(repo, ['plan', '--out', file])).exitCode).toBe(0)
    writeRepoFile(repo, 'CHANGELOG.md', 'an unrelated commit\n')
    const now = await gitCommitAll(repo, 'changelog')
    const before = await world()

    const human = await cli(repo, ['apply', file])

    expect(human.exitCode).toBe(1)
    expect(human.stdout).toBe('')
    expect(human.stderr).toContain(
      `Error: the saved plan is stale: it was made at commit ${planned}, the repo is at ${now}; nothing was applied`,
    )
    expect(human.stderr).toContain('run nexus plan --out again and apply the new plan')
    expect(human.stderr).not.toMatch(STACK_FRAME)
    const json = await cli(repo, ['apply', file, '--json'])
    expect(json.exitCode).toBe(1)
    expect(jsonError(json.stdout)).toMatchObject({code: 'stale_plan'})
    expect(await world()).toEqual(before)
    expect(readFileSync(join(fake.root, 'etc/dnsmasq.d/nexus.conf'), 'utf8')).not.toContain('kb.corp.example')

    // A fresh plan of the same commit goes through.
    const fresh = join(plans, 'cli-fresh.json')
    expect((await cli(repo, ['plan', '--out', fresh])).exitCode).toBe(0)
    expect((await cli(repo, ['apply', fresh])).exitCode).toBe(0)
    expect(readFileSync(join(fake.root, 'etc/dnsmasq.d/nexus.conf'), 'utf8')).toContain('kb.corp.example')
  })

  it('through the CLI, a dirty tree: refused without --allow-dirty (nothing pushed), applied with it', async () => {
    const head = await gitCommitAll(repo, 'nothing new')
    const wiki = readFileSync(join(repo, 'services/wiki.yaml'), 'utf8')
    writeRepoFile(
      repo,
      'services/wiki.yaml',
      wiki.replace('[kb.corp.example', '[intranet.corp.example, kb.corp.example'),
    )
    const before = await world()

    const refusedRun = await cli(repo, ['apply', '--yes'])

    expect(refusedRun.exitCode).toBe(1)
    expect(refusedRun.stderr).toContain('Error: the repo has uncommitted changes')
    expect(refusedRun.stderr).toContain('commit them, or pass --allow-dirty')
    const json = await cli(repo, ['apply', '--yes', '--json'])
    expect(json.exitCode).toBe(1)
    expect(jsonError(json.stdout)).toMatchObject({code: 'dirty_tree'})
    expect(await world()).toEqual(before)

    const allowed = await cli(repo, ['apply', '--yes', '--allow-dirty', '--json'])

    expect(allowed.exitCode, allowed.stdout + allowed.stderr).toBe(0)
    expect(ndjson(allowed.stdout).at(-1)).toMatchObject({type: 'apply_complete', result: 'success'})
    expect(readFileSync(join(fake.root, 'etc/dnsmasq.d/nexus.conf'), 'utf8')).toContain('intranet.corp.example')
    // The revision names the commit the tree was at (its uncommitted changes are not in any).
    expect((await readState(repo)).revisions[0]).toMatchObject({node: 'gw-1', result: 'verified', gitCommit: head})
    await gitCommitAll(repo, 'intranet domain')
    expect((await plan(repo)).result?.plan.has_changes).toBe(false)
  })
})
