/**
 * No-op apply at L (issue: "no-op apply at L: files written and daemons
 * reloaded (must be 0)"): a generated fleet whose nodes are real OpenSSH
 * servers on loopback with fake node roots (noop/fleet.ts), committed to git,
 * applied once for real (timed: every node gets its files, checks and
 * reloads), then applied `runs` more times without any change. Each apply is
 * the built CLI in a child process (`measure()`: wall time and peak RSS), run
 * from a copy of the build taken at the start (noop/cli.ts), so a rebuild of
 * dist/ in the working tree meanwhile cannot pass for a change nexus made.
 * `rssBytes` is the highest peak RSS of the no-op applies.
 *
 * What a no-op apply did is counted on the nodes themselves, not taken from
 * nexus's word: every file below each fake root created, modified (inode,
 * size, mtime, ctime or mode) or removed since the first apply, and every
 * reload (or xray API call) the fake tools logged. The `--json` events are
 * checked too (an upload or swap step, a node that was not left unchanged).
 * When a no-op apply is not one, `nexus plan --json` says why, in the log.
 */
import {join} from 'node:path'

import {execa} from 'execa'

import type {ApplyEvent} from '../../src/apply/events.js'
import {gitCommitAll} from '../../test/helpers/apply-fleet.js'
import {ROOT} from '../../test/helpers/cli.js'
import type {FleetSize} from './generate.js'
import {type Measured, measure, median} from './measure.js'
import {copyCli} from './noop/cli.js'
import {type NoopFleet, startNoopFleet} from './noop/fleet.js'

export interface NoopApplyResult {
  nodes: number
  firstApplyMs: number
  noopMs: number[]
  medianNoopMs: number
  rssBytes: number
  filesWritten: number
  reloads: number
}

export interface NoopApplyOptions {
  size: FleetSize
  /** Timed no-op applies (at least 1). */
  runs: number
  log: (line: string) => void
}

/** Nodes pushed at once by the first apply. */
const PARALLEL = 20
/** The first apply at L loads 100 firewalls on a busy machine: time enough to confirm each. */
const CONFIRM_TIMEOUT_SEC = 300

const ENV = {...process.env, NEXUS_DATABASE_URL: undefined, NO_COLOR: '1'}

export async function benchNoopApply(options: NoopApplyOptions): Promise<NoopApplyResult> {
  const {size, runs, log} = options
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`runs must be 1 or more, got ${runs}`)
  let fleet: NoopFleet | undefined
  let interrupted: NodeJS.Signals | undefined
  // An interrupted benchmark still stops its sshd processes and removes its temp dir, then dies of
  // the signal. `on`, not `once`: execa's exit hook re-raises a signal at once when no other
  // listener is left, which would end the process halfway through the cleanup.
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  const unlisten = () => {
    for (const signal of signals) process.removeListener(signal, onSignal)
  }
  const die = (signal: NodeJS.Signals) => {
    unlisten()
    process.kill(process.pid, signal)
  }
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return
    interrupted = signal
    // While the fleet is still starting, the code below cleans up once it is up.
    if (fleet) void fleet.close().finally(() => die(signal))
  }
  for (const signal of signals) process.on(signal, onSignal)
  try {
    fleet = await startNoopFleet(size, log)
    if (interrupted) throw new Error(`interrupted (${interrupted})`)
    return await benchFleet(fleet, options)
  } finally {
    await fleet?.close()
    if (interrupted) die(interrupted)
    else unlisten()
  }
}

async function benchFleet(fleet: NoopFleet, {runs, log}: NoopApplyOptions): Promise<NoopApplyResult> {
  const nodes = fleet.hosts.length
  // Every apply runs the same build, whatever happens to dist/ meanwhile (see noop/cli.ts).
  const cli = await copyCli(join(fleet.dir, 'cli'))
  log(`noop: using a copy of the CLI built at ${cli.builtAt.toISOString()}`)
  const apply = () => applyWith(cli.bin, fleet.repo)
  // A committed repo: apply records the commit, and needs no --allow-dirty (state under .nexus/ is ignored).
  await gitCommitAll(fleet.repo, 'bench fleet')

  log(`noop: first apply to ${nodes} nodes (--parallel ${PARALLEL})`)
  const firstMark = fleet.mark()
  const first = await apply()
  const firstEvents = parseEvents(first.stdout)
  const firstComplete = completion(firstEvents)
  if (firstComplete?.result !== 'success')
    throw new Error(`the first apply did not succeed: ${JSON.stringify(firstComplete)}\n${first.stderr.slice(-4000)}`)
  const notVerified = Object.entries(firstComplete.nodes).filter(([, result]) => result !== 'verified')
  if (notVerified.length > 0)
    throw new Error(`the first apply left nodes not verified: ${JSON.stringify(Object.fromEntries(notVerified))}`)
  const firstChanges = fleet.changesSince(firstMark)
  log(
    `noop: first apply ${fmt(first.ms)}, peak RSS ${mib(first.rssBytes)}: ${firstChanges.files.length} files written, ${firstChanges.reloads.length} reloads`,
  )
  // The first apply must have done the work a no-op then skips, or the no-op proves nothing.
  if (firstChanges.files.length === 0 || firstChanges.reloads.length < nodes)
    throw new Error(
      `the first apply wrote ${firstChanges.files.length} files and ran ${firstChanges.reloads.length} reloads on ${nodes} nodes`,
    )

  const mark = fleet.mark()
  const noopMs: number[] = []
  let rssBytes = 0
  const eventProblems: string[] = []
  for (let run = 1; run <= runs; run++) {
    const measured = await apply()
    noopMs.push(measured.ms)
    rssBytes = Math.max(rssBytes, measured.rssBytes)
    const problems = notNoop(parseEvents(measured.stdout))
    eventProblems.push(...problems.map((p) => `run ${run}: ${p}`))
    log(
      `noop: no-op apply ${run}/${runs}: ${fmt(measured.ms)}, peak RSS ${mib(measured.rssBytes)}${problems.length > 0 ? `, NOT a no-op: ${problems.slice(0, 3).join('; ')}` : ''}`,
    )
  }
  const changes = fleet.changesSince(mark)
  const result: NoopApplyResult = {
    nodes,
    firstApplyMs: first.ms,
    noopMs,
    medianNoopMs: median(noopMs),
    rssBytes,
    filesWritten: changes.files.length,
    reloads: changes.reloads.length,
  }
  log(
    `noop: ${runs} no-op applies, median ${fmt(result.medianNoopMs)}, peak RSS ${mib(rssBytes)}: ${result.filesWritten} files written, ${result.reloads} reloads`,
  )
  if (changes.files.length > 0 || changes.reloads.length > 0 || eventProblems.length > 0) {
    log(`noop:   files written by kind: ${JSON.stringify(countBy(changes.files, (l) => l.replace(/^[^:]+: /, '')))}`)
    log(`noop:   reloads by kind: ${JSON.stringify(countBy(changes.reloads, (l) => l.replace(/^[^:]+: /, '')))}`)
    for (const line of [...changes.files, ...changes.reloads].slice(0, 20)) log(`noop:   on a node: ${line}`)
    for (const line of changes.rewrites.slice(0, 10)) log(`noop:   rewritten: ${line}`)
    for (const line of eventProblems.slice(0, 20)) log(`noop:   in the events: ${line}`)
    for (const line of await whyNotNoop(cli.bin, fleet.repo)) log(`noop:   plan: ${line}`)
  }
  return result
}

function applyWith(bin: string, repo: string): Promise<Measured> {
  return measure(
    'node',
    [
      bin,
      'apply',
      '--repo',
      repo,
      '--yes',
      '--json',
      '--parallel',
      String(PARALLEL),
      '--confirm-timeout',
      String(CONFIRM_TIMEOUT_SEC),
    ],
    {cwd: ROOT, env: ENV},
  )
}

function parseEvents(stdout: string): ApplyEvent[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as ApplyEvent)
}

function completion(events: readonly ApplyEvent[]): Extract<ApplyEvent, {type: 'apply_complete'}> | undefined {
  return events.find((e): e is Extract<ApplyEvent, {type: 'apply_complete'}> => e.type === 'apply_complete')
}

/** What in a no-op apply's events says it was not one: a result other than no_changes, a node that was touched. */
function notNoop(events: readonly ApplyEvent[]): string[] {
  const problems: string[] = []
  const complete = completion(events)
  if (!complete) problems.push('no apply_complete event')
  else if (complete.result !== 'no_changes') problems.push(`apply_complete result ${complete.result}`)
  for (const event of events) {
    if (event.type === 'node_progress' && event.status === 'started' && event.step !== 'connect')
      problems.push(`${event.node}: ${event.step}${event.detail ? ` (${event.detail})` : ''}`)
    if (event.type === 'node_complete' && event.result !== 'unchanged')
      problems.push(`${event.node}: ${event.result}, ${event.changes} change(s)`)
    if (event.type === 'node_errored') problems.push(`${event.node}: ${event.step} failed: ${event.error.message}`)
  }
  return problems
}

interface PlanJson {
  readonly changes?: readonly {address: string; action: string; reason: string}[]
  readonly nodes?: readonly {node: string; status: string; artifacts: readonly {address: string; reason: string}[]}[]
}

/** What `nexus plan` says still differs (the reasons a no-op apply was not one). */
async function whyNotNoop(bin: string, repo: string): Promise<string[]> {
  const result = await execa('node', [bin, 'plan', '--repo', repo, '--json'], {
    cwd: ROOT,
    env: ENV,
    reject: false,
    maxBuffer: 1024 * 1024 * 1024,
  })
  let plan: PlanJson
  try {
    plan = JSON.parse(String(result.stdout)) as PlanJson
  } catch {
    return [`exited ${result.exitCode}: ${String(result.stderr).slice(-500)}`]
  }
  const lines = (plan.changes ?? []).map((c) => `${c.action} ${c.address} (${c.reason})`)
  for (const node of plan.nodes ?? [])
    lines.push(...node.artifacts.map((a) => `${node.node} [${node.status}]: ${a.address} (${a.reason})`))
  return lines.length > 0 ? lines.slice(0, 20) : ['no changes']
}

function countBy(lines: readonly string[], key: (line: string) => string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const line of lines) counts[key(line)] = (counts[key(line)] ?? 0) + 1
  return counts
}

const fmt = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`)
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`
