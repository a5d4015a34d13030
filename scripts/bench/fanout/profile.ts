/**
 * Where a nexus apply to the fan-out fleet spends its time: the `--json`
 * events of one apply, timestamped as they arrive, summarised per step, and
 * optionally a V8 CPU profile of the CLI process summarised by self time.
 *
 * With `--baselines`, the fixed costs of the CLI on the same repo: start-up,
 * repo load, the embedded state's open, observing every node (plan).
 *
 *     npm run build && npx tsx scripts/bench/fanout/profile.ts [--hosts 20] [--runs 3] [--cpu-prof DIR] [--baselines]
 */
import {cpSync, mkdirSync, readdirSync, readFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {parseArgs} from 'node:util'

import {execa} from 'execa'

import {BIN, ROOT} from '../../../test/helpers/cli.js'
import {measure, sample} from '../measure.js'
import {type Fleet, startFleet} from './fleet.js'

const {values} = parseArgs({
  options: {
    hosts: {type: 'string', default: '20'},
    runs: {type: 'string', default: '3'},
    'cpu-prof': {type: 'string'},
    baselines: {type: 'boolean', default: false},
  },
})

interface Timed {
  readonly at: number
  readonly event: {type: string; node?: string; step?: string; status?: string}
}

async function timedApply(repo: string, parallel: number, nodeArgs: readonly string[]): Promise<Timed[]> {
  const start = performance.now()
  const child = execa(
    'node',
    [...nodeArgs, BIN, 'apply', '--yes', '--allow-dirty', '--json', '--parallel', String(parallel), '--repo', repo],
    {cwd: ROOT, env: {NEXUS_DATABASE_URL: undefined, NO_COLOR: '1'}, reject: false, stdin: 'ignore', buffer: false},
  )
  const timed: Timed[] = []
  let pending = ''
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => {
    const at = performance.now() - start
    pending += chunk
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) if (line.trim()) timed.push({at, event: JSON.parse(line) as Timed['event']})
  })
  const result = await child
  timed.push({at: performance.now() - start, event: {type: 'exit'}})
  if (result.exitCode !== 0) throw new Error(`apply exited ${result.exitCode}`)
  return timed
}

function summarise(timed: readonly Timed[]): string[] {
  const first = (predicate: (t: Timed) => boolean) => timed.find(predicate)?.at ?? Number.NaN
  const last = (predicate: (t: Timed) => boolean) => timed.filter(predicate).at(-1)?.at ?? Number.NaN
  const lines = [
    `first event (startup, state open, lease, observe all, plan, state write): ${first(() => true).toFixed(0)} ms`,
    `apply_start: ${first((t) => t.event.type === 'apply_start').toFixed(0)} ms`,
    `first node connect started: ${first((t) => t.event.step === 'connect').toFixed(0)} ms`,
  ]
  const steps = ['connect', 'upload', 'check', 'swap', 'confirm', 'activate', 'verify']
  for (const step of steps) {
    const durations: number[] = []
    for (const started of timed.filter((t) => t.event.step === step && t.event.status === 'started')) {
      const done = timed.find(
        (t) =>
          t.at >= started.at &&
          t.event.node === started.event.node &&
          t.event.step === step &&
          t.event.status === 'done',
      )
      if (done) durations.push(done.at - started.at)
    }
    if (durations.length === 0) continue
    durations.sort((a, b) => a - b)
    lines.push(
      `  ${step.padEnd(8)} per node: min ${durations[0]?.toFixed(0)} / median ${durations[Math.floor(durations.length / 2)]?.toFixed(0)} / max ${durations.at(-1)?.toFixed(0)} ms`,
    )
  }
  lines.push(
    `last node_complete: ${last((t) => t.event.type === 'node_complete').toFixed(0)} ms`,
    `apply_complete: ${first((t) => t.event.type === 'apply_complete').toFixed(0)} ms`,
    `process exit: ${first((t) => t.event.type === 'exit').toFixed(0)} ms`,
  )
  return lines
}

interface ProfileNode {
  id: number
  callFrame: {functionName: string; url: string; lineNumber: number}
  children?: number[]
}

/** Self time per function and per package/folder of a .cpuprofile. */
function profileSummary(file: string): string[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[]
    samples: number[]
    timeDeltas: number[]
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000))
  const where = (url: string) => {
    const path = url.replace(/^file:\/\//, '')
    const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1]
    if (module) return module
    if (path.startsWith(ROOT)) return relative(ROOT, path).split('/').slice(0, 2).join('/')
    return path === '' ? '(native/idle)' : path.startsWith('node:') ? 'node internals' : path
  }
  const byWhere = new Map<string, number>()
  const byFunction = new Map<string, number>()
  for (const [id, ms] of self) {
    const node = byId.get(id)
    if (!node) continue
    const frame = node.callFrame
    byWhere.set(where(frame.url), (byWhere.get(where(frame.url)) ?? 0) + ms)
    const name = `${frame.functionName || '(anonymous)'} ${where(frame.url)}:${frame.lineNumber + 1}`
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms)
  }
  const top = (map: Map<string, number>, n: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, ms]) => `  ${ms.toFixed(0).padStart(6)} ms  ${name}`)
  return [
    `self time by package/folder (${file}):`,
    ...top(byWhere, 15),
    'self time by function:',
    ...top(byFunction, 25),
  ]
}

/** Median wall time and peak RSS of CLI commands that do part of what apply does. */
async function baselines(fleet: Fleet, runs: number): Promise<string[]> {
  const env = {...process.env, NEXUS_DATABASE_URL: undefined, NO_COLOR: '1'}
  const stateless = join(fleet.dir, 'repo-without-state')
  cpSync(fleet.repo, stateless, {recursive: true, filter: (source) => !source.includes('/.nexus')})
  const cli = (args: readonly string[]) => () =>
    measure('node', [BIN, ...args, '--repo', fleet.repo], {cwd: ROOT, env, allowExit: [2]})
  const steps: [string, () => Promise<{ms: number; rssBytes: number}>][] = [
    ['node bin/run.js --version (start-up)', () => measure('node', [BIN, '--version'], {cwd: ROOT, env})],
    [
      'validate, repo without state (start-up, load the repo)',
      () => measure('node', [BIN, 'validate', '--repo', stateless], {cwd: ROOT, env}),
    ],
    ['validate (+ open the state read-only)', cli(['validate'])],
    ['render (+ render)', cli(['render'])],
    ['plan --offline (+ open the state for writing, plan)', cli(['plan', '--offline'])],
    ['plan (+ observe every node over SSH)', cli(['plan', '--detailed-exitcode'])],
  ]
  const lines = [
    `CLI baselines, ${fleet.hosts.length} hosts (median of ${runs}, the hosts empty and the state as before an apply):`,
  ]
  for (const [name, once] of steps) {
    const measured = await sample(runs, once, async () => {
      fleet.resetHosts()
      fleet.resetState()
    })
    lines.push(
      `  ${name.padEnd(52)} ${measured.ms.toFixed(0).padStart(6)} ms  ${(measured.rssBytes / 2 ** 20).toFixed(0)} MiB`,
    )
  }
  return lines
}

const hosts = Number(values.hosts)
const fleet = await startFleet(hosts, (line) => process.stderr.write(`${line}\n`))
try {
  if (values.baselines)
    process.stdout.write(`${(await baselines(fleet, Math.max(3, Number(values.runs)))).join('\n')}\n`)
  for (let run = 0; run < Number(values.runs); run++) {
    fleet.resetHosts()
    fleet.resetState()
    const timed = await timedApply(fleet.repo, hosts, [])
    fleet.verifyHosts('nexus')
    process.stdout.write(`run ${run + 1}, ${hosts} hosts:\n${summarise(timed).join('\n')}\n`)
  }
  const profDir = values['cpu-prof']
  if (profDir) {
    mkdirSync(profDir, {recursive: true})
    fleet.resetHosts()
    fleet.resetState()
    const before = new Set(readdirSync(profDir))
    await timedApply(fleet.repo, hosts, ['--cpu-prof', '--cpu-prof-dir', profDir])
    fleet.verifyHosts('nexus')
    for (const file of readdirSync(profDir).filter((f) => !before.has(f) && f.endsWith('.cpuprofile')))
      process.stdout.write(`${profileSummary(join(profDir, file)).join('\n')}\n`)
  }
} finally {
  await fleet.close()
}
