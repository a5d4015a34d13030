/**
 * A repo of the quickstart whose node(s) are reached over a real sshd on
 * loopback and run the fake node toolkit, plus `apply` and `plan` calls with
 * test defaults (no prompts, short timeouts).
 */
import {cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {basename, dirname, join, relative} from 'node:path'

import {execa} from 'execa'

import {planRepo, type PlanRun} from '../../src/app/plan.js'
import type {ApplyEvent} from '../../src/apply/events.js'
import {type ApplyOptions, type ApplyResult, applyRepo, applyToStore} from '../../src/apply/run.js'
import {openState, stateLocation} from '../../src/state/open.js'
import type {StateSnapshot, StateStore, StoredRevision} from '../../src/state/store.js'
import {SshTransport} from '../../src/transport/ssh.js'
import {type CliRun, nexus, ROOT} from './cli.js'
import type {FakeNode} from './fake-node.js'
import type {TestSshd} from './sshd.js'

export interface NodeSpec {
  readonly name: string
  readonly sshd: TestSshd
  readonly fake: FakeNode
  /** A port to use instead of the sshd's (e.g. a closed one). */
  readonly port?: number
  /** The host key to pin instead of the sshd's (e.g. a wrong one). */
  readonly hostKey?: string
}

/** The quickstart's gw-1 as `name`, reached through `sshd`, laid out under the fake node. */
export function nodeYaml(spec: NodeSpec): string {
  const original = readFileSync(join(ROOT, 'examples/quickstart/nodes/gw-1.yaml'), 'utf8')
  return original
    .replace('name: gw-1', `name: ${spec.name}`)
    .replace(
      /ssh:\n {2}host: 192\.0\.2\.10\n {2}user: root\n/,
      [
        'ssh:',
        '  host: 127.0.0.1',
        `  port: ${spec.port ?? spec.sshd.port}`,
        '  user: root',
        `  identityFile: ${spec.sshd.userKey}`,
        `  hostKey: "${spec.hostKey ?? spec.sshd.hostKey}"`,
        '',
      ].join('\n'),
    )
    .concat(spec.fake.yaml)
}

/** A git-free copy of the quickstart with its node replaced by `nodes`. */
export function fleetRepo(dir: string, nodes: readonly NodeSpec[]): string {
  cpSync(join(ROOT, 'examples/quickstart'), dir, {recursive: true, filter: (source) => basename(source) !== '.nexus'})
  writeFileSync(join(dir, 'nodes/gw-1.yaml'), nodes.map(nodeYaml).join('---\n'))
  return dir
}

export interface ApplyRun extends ApplyResult {
  readonly events: ApplyEvent[]
}

export async function apply(repo: string, options: Partial<ApplyOptions> = {}): Promise<ApplyRun> {
  const events: ApplyEvent[] = []
  const result = await applyRepo({...applyDefaults(repo, events), ...options})
  return {...result, events}
}

/** `apply` on a state store the test holds open (to change the state while the apply runs). */
export async function applyOn(store: StateStore, repo: string, options: Partial<ApplyOptions> = {}): Promise<ApplyRun> {
  const events: ApplyEvent[] = []
  const result = await applyToStore(store, {...applyDefaults(repo, events), ...options})
  return {...result, events}
}

function applyDefaults(repo: string, events: ApplyEvent[]): ApplyOptions {
  return {
    root: repo,
    location: stateLocation(repo, {}),
    env: {},
    transport: new SshTransport({env: {}}),
    confirm: async () => true,
    parallel: 4,
    allowDirty: true,
    lockTimeoutMs: 0,
    confirmTimeoutSec: 5,
    emit: (event) => events.push(event),
    interrupted: () => false,
    now: () => new Date(),
  }
}

export async function plan(repo: string): Promise<PlanRun> {
  return planRepo({
    root: repo,
    location: stateLocation(repo, {}),
    env: {},
    offline: false,
    transport: new SshTransport({env: {}}),
    now: new Date(),
  })
}

/** Writes a file into the repo (creating its folder). */
export function writeRepoFile(repo: string, path: string, text: string): void {
  mkdirSync(dirname(join(repo, path)), {recursive: true})
  writeFileSync(join(repo, path), text)
}

/** Declares a WireGuard peer on wg0 (of `node`, needed when several nodes have a wg0; address allocated by nexus). */
export function addPeer(repo: string, name: string, user: string, publicKey: string, node?: string): void {
  writeRepoFile(
    repo,
    `peers/${name}.yaml`,
    [
      'apiVersion: nexus/v1',
      'kind: Peer',
      `name: ${name}`,
      `user: ${user}`,
      ...(node ? [`node: ${node}`] : []),
      'interface: wg0',
      `publicKey: ${publicKey}`,
      '',
    ].join('\n'),
  )
}

/** Puts existing peers on a node each (`{peer: node}`), for a repo with several nodes. */
export function placePeers(repo: string, placement: Readonly<Record<string, string>>): void {
  for (const [peer, node] of Object.entries(placement)) {
    const path = join(repo, 'peers', `${peer}.yaml`)
    writeFileSync(path, readFileSync(path, 'utf8').replace(/^interface: /m, `node: ${node}\ninterface: `))
  }
}

/** Every file below `dir` (relative path -> content), to compare a node's files before and after. */
export function treeOf(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (at: string) => {
    if (!existsSync(at)) return
    for (const entry of readdirSync(at)) {
      const path = join(at, entry)
      if (statSync(path).isDirectory()) walk(path)
      else out[relative(dir, path)] = readFileSync(path, 'utf8')
    }
  }
  walk(dir)
  return out
}

export interface StateView {
  readonly snapshot: StateSnapshot
  /** Newest first. */
  readonly revisions: StoredRevision[]
}

/** The repo's state as a read-only reader sees it (opened and closed again). */
export async function readState(repo: string): Promise<StateView> {
  const store = await openState(stateLocation(repo, {}), {mode: 'read', env: {}})
  if (!store) throw new Error(`no state in ${repo}`)
  try {
    return {snapshot: await store.snapshot(), revisions: await store.revisions()}
  } finally {
    await store.close()
  }
}

/** `nexus ARGS --repo REPO` through the built CLI (run `npm run build` first). */
export function cli(
  repo: string,
  args: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<CliRun> {
  return nexus([...args, '--repo', repo], {cwd: repo, env: {NEXUS_DATABASE_URL: undefined, ...env}})
}

/** NDJSON lines of `--json` output, parsed. */
export function ndjson(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

/**
 * The error a `--json` command printed: one JSON document (pretty-printed by oclif, so not one
 * NDJSON line), `{error: {code, message, hint}}`.
 */
export function jsonError(stdout: string): {code: string; message: string; hint?: string} {
  const parsed = JSON.parse(stdout) as {error?: {code: string; message: string; hint?: string}}
  if (!parsed.error) throw new Error(`no error in ${stdout}`)
  return parsed.error
}

/** Makes `dir` a git repo with everything committed (state under .nexus/ ignored); returns HEAD. */
export async function gitCommitAll(dir: string, message: string): Promise<string> {
  const git = (...args: string[]) =>
    execa('git', ['-c', 'user.name=Nexus Test', '-c', 'user.email=test@example.com', ...args], {cwd: dir})
  if (!existsSync(join(dir, '.git'))) {
    await git('init', '-q', '-b', 'main')
    writeFileSync(join(dir, '.gitignore'), '.nexus/\n')
  }
  await git('add', '-A')
  await git('commit', '-q', '--allow-empty', '-m', message)
  return (await git('rev-parse', 'HEAD')).stdout.trim()
}
