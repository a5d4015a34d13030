/**
 * A repo of the quickstart whose node(s) are reached over a real sshd on
 * loopback and run the fake node toolkit, plus `apply` and `plan` calls with
 * test defaults (no prompts, short timeouts).
 */
import {cpSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {planRepo, type PlanRun} from '../../src/app/plan.js'
import type {ApplyEvent} from '../../src/apply/events.js'
import {type ApplyOptions, type ApplyResult, applyRepo} from '../../src/apply/run.js'
import {stateLocation} from '../../src/state/open.js'
import {SshTransport} from '../../src/transport/ssh.js'
import {ROOT} from './cli.js'
import type {FakeNode} from './fake-node.js'
import type {TestSshd} from './sshd.js'

export interface NodeSpec {
  readonly name: string
  readonly sshd: TestSshd
  readonly fake: FakeNode
  /** A port to use instead of the sshd's (e.g. a closed one). */
  readonly port?: number
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
        `  hostKey: "${spec.sshd.hostKey}"`,
        '',
      ].join('\n'),
    )
    .concat(spec.fake.yaml)
}

/** A git-free copy of the quickstart with its node replaced by `nodes`. */
export function fleetRepo(dir: string, nodes: readonly NodeSpec[]): string {
  cpSync(join(ROOT, 'examples/quickstart'), dir, {recursive: true})
  writeFileSync(join(dir, 'nodes/gw-1.yaml'), nodes.map(nodeYaml).join('---\n'))
  return dir
}

export interface ApplyRun extends ApplyResult {
  readonly events: ApplyEvent[]
}

export async function apply(repo: string, options: Partial<ApplyOptions> = {}): Promise<ApplyRun> {
  const events: ApplyEvent[] = []
  const result = await applyRepo({
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
    ...options,
  })
  return {...result, events}
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
