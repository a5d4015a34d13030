/**
 * `npm run bench`: Nexus at fleet scale (issue 7). Not a test: it prints a
 * table, writes the JSON result and rewrites the results section of
 * docs/benchmarks.md. Every number is the median of `--runs` runs of the
 * real CLI in a child process (peak RSS: the highest seen), unless a row says
 * otherwise.
 *
 *   npm run bench                          # everything, 5 runs
 *   npm run bench -- --sizes S,M --runs 3  # a quicker look
 *   npm run bench -- --skip fanout,noop    # leave out the SSH parts
 */
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'

import pg from 'pg'

import {stateLocation} from '../../src/state/open.js'
import {ROOT} from '../../test/helpers/cli.js'
import {changeOneFile, changeOnePercent, type FleetSize, generateFleet, SIZES} from './generate.js'
import {measure, type Sample, sample} from './measure.js'
import {seedState} from './seed-state.js'

const BIN = join(ROOT, 'bin', 'run.js')
const RESULTS_JSON = join(ROOT, 'docs', 'benchmarks.json')
const RESULTS_MD = join(ROOT, 'docs', 'benchmarks.md')

interface Row {
  readonly group: string
  readonly name: string
  readonly size: string
  readonly ms: number
  readonly runsMs: readonly number[]
  readonly rssBytes: number
  readonly note?: string
}

const {values: args} = parseArgs({
  options: {
    sizes: {type: 'string', default: 'S,M,L'},
    runs: {type: 'string', default: '5'},
    skip: {type: 'string', default: ''},
    'database-url': {
      type: 'string',
      default: process.env.NEXUS_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
    'no-write': {type: 'boolean', default: false},
  },
})
const runs = Math.max(1, Number(args.runs))
const skip = new Set(args.skip.split(',').filter(Boolean))
const sizes = args.sizes.split(',').map((name) => {
  const size = SIZES[name as keyof typeof SIZES]
  if (!size) throw new Error(`unknown size ${name}: one of ${Object.keys(SIZES).join(', ')}`)
  return size
})

const rows: Row[] = []
const log = (line: string) => process.stderr.write(`${line}\n`)
const work = mkdtempSync(join(tmpdir(), 'nexus-bench-'))
const nexus = (repo: string, argv: readonly string[], env: Record<string, string> = {}, allowExit: number[] = []) =>
  measure('node', [BIN, ...argv, '--repo', repo], {env: {...process.env, NO_COLOR: '1', ...env}, allowExit})

function record(group: string, name: string, size: string, result: Sample, note?: string): void {
  rows.push({group, name, size, ...result, ...(note ? {note} : {})})
  log(
    `  ${group} / ${name} @ ${size}: ${fmtMs(result.ms)} (${result.runsMs.map(fmtMs).join(', ')}), ${fmtMiB(result.rssBytes)}`,
  )
}

async function postgresReachable(url: string): Promise<boolean> {
  const client = new pg.Client({connectionString: url, connectionTimeoutMillis: 2000})
  try {
    await client.connect()
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => undefined)
  }
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({connectionString: url})
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await client.end()
  }
}

/** validate, cold (no parse cache) and warm. */
async function benchValidate(size: FleetSize, repo: string): Promise<void> {
  const validate = () => nexus(repo, ['validate', '--json'])
  record('validate', 'cold (no parse cache)', size.name, await sample(runs, validate, async () => clearCache(repo)))
  await validate()
  record('validate', 'warm (parse cache)', size.name, await sample(runs, validate))
}

function clearCache(repo: string): void {
  rmSync(join(repo, '.nexus', 'cache'), {recursive: true, force: true})
}

/** plan --offline: first plan on an empty state, no-op, one changed file, 1% changed. */
async function benchPlan(size: FleetSize, repo: string, driver: 'pglite' | 'postgres'): Promise<void> {
  const url = args['database-url']
  const schema = `nexus_bench_${size.name.toLowerCase()}`
  const env: Record<string, string> =
    driver === 'postgres' ? {NEXUS_DATABASE_URL: url, NEXUS_DATABASE_SCHEMA: schema} : {}
  const location = stateLocation(repo, driver === 'postgres' ? {databaseUrl: url, schema} : {})
  const plan = (allowExit: number[]) => () => nexus(repo, ['plan', '--offline', '--detailed-exitcode'], env, allowExit)
  const reset = async () => {
    if (driver === 'postgres') await dropSchema(url, schema)
    else rmSync(join(repo, '.nexus', 'state'), {recursive: true, force: true})
  }

  await reset()
  await plan([2])()
  record(`plan --offline (${driver})`, 'first plan, empty state', size.name, await sample(runs, plan([2])))

  // The CLI plans at the real time, so the state is seeded at it too (a fixed date would leave
  // subscription periods to roll over, and the no-op plan would not be one).
  await seedState(repo, location, new Date())
  record(`plan --offline (${driver})`, 'no-op', size.name, await sample(runs, plan([])))

  const pristine = snapshotFiles(repo)
  let variant = 0
  record(
    `plan --offline (${driver})`,
    'one changed file',
    size.name,
    await sample(runs, plan([2]), async () => {
      restoreFiles(pristine)
      changeOneFile(fleetOf(repo, size), variant++)
    }),
    'a different peer disabled each run, so the parse cache misses that file every time',
  )
  record(
    `plan --offline (${driver})`,
    '1% of users changed',
    size.name,
    await sample(runs, plan([2]), async () => {
      restoreFiles(pristine)
      changeOnePercent(fleetOf(repo, size), variant++)
    }),
  )
  restoreFiles(pristine)
  await reset()
}

const fleets = new Map<string, ReturnType<typeof generateFleet>>()
const fleetOf = (repo: string, size: FleetSize) => {
  const fleet = fleets.get(repo)
  if (!fleet) throw new Error(`no fleet generated at ${repo} (${size.name})`)
  return fleet
}

function snapshotFiles(repo: string): Map<string, string> {
  const fleet = [...fleets.values()].find((f) => f.dir === repo)
  if (!fleet) throw new Error(`no fleet at ${repo}`)
  const paths = [fleet.peerFile, ...fleet.userFiles]
  return new Map(paths.map((path) => [join(repo, path), readFileSync(join(repo, path), 'utf8')]))
}

function restoreFiles(files: ReadonlyMap<string, string>): void {
  for (const [path, text] of files) writeFileSync(path, text)
}

/** The pure render of every node and client, timed inside the process; RSS of the whole process. */
async function benchRender(size: FleetSize, repo: string): Promise<void> {
  const probe = join(ROOT, 'scripts', 'bench', 'render-probe.ts')
  const renderMs: number[] = []
  let detail = ''
  const once = async () => {
    const run = await measure('node', ['--import', 'tsx', probe, repo], {cwd: ROOT})
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as {
      renderMs: number
      files: number
      bytes: number
      largestFile: number
    }
    renderMs.push(result.renderMs)
    detail = `${result.files} files, ${fmtMiB(result.bytes)} in all, largest ${fmtMiB(result.largestFile)}`
    return {ms: result.renderMs, rssBytes: run.rssBytes}
  }
  record('render', 'all nodes and clients (in process)', size.name, await sample(runs, once), detail)
  const out = join(work, `render-${size.name}`)
  record(
    'render',
    'nexus render --out (CLI, writes every file)',
    size.name,
    await sample(
      runs,
      () => nexus(repo, ['render', '--out', out]),
      async () => rmSync(out, {recursive: true, force: true}),
    ),
  )
  rmSync(out, {recursive: true, force: true})
}

async function main(): Promise<void> {
  log(`nexus bench: sizes ${sizes.map((s) => s.name).join(', ')}, ${runs} runs, work dir ${work}`)
  const postgres = !skip.has('postgres') && (await postgresReachable(args['database-url']))
  if (!postgres && !skip.has('postgres'))
    log(`  Postgres at ${args['database-url']} is not reachable: its rows are left out`)
  for (const size of sizes) {
    const repo = join(work, size.name)
    log(`${size.name}: ${size.users} users, ${size.peers} peers, ${size.nodes} nodes, ${size.rules} rules`)
    fleets.set(repo, generateFleet(repo, size))
    if (!skip.has('validate')) await benchValidate(size, repo)
    if (!skip.has('plan')) {
      await benchPlan(size, repo, 'pglite')
      if (postgres) await benchPlan(size, repo, 'postgres')
    }
    if (!skip.has('render') && (size.name === 'L' || sizes.length === 1)) await benchRender(size, repo)
    rmSync(repo, {recursive: true, force: true})
  }
  if (!skip.has('render') && !skip.has('hot')) {
    const repo = join(work, 'hot')
    fleets.set(repo, generateFleet(repo, SIZES.hot))
    log('hot gateway: 50k peers on one interface')
    await benchRender(SIZES.hot, repo)
    rmSync(repo, {recursive: true, force: true})
  }
  if (!skip.has('fanout')) {
    log('apply fan-out')
    const {benchFanout} = await import('./fanout.js')
    for (const row of await benchFanout({hosts: [5, 20], runs, log})) {
      rows.push({
        group: `apply fan-out, ${row.hosts} hosts`,
        name: row.tool,
        size: `${row.hosts} hosts`,
        ms: row.ms,
        runsMs: row.runsMs,
        rssBytes: row.rssBytes,
        note: `${row.ratioToFloor.toFixed(2)}x the ssh2 floor`,
      })
    }
  }
  if (!skip.has('noop')) {
    log('no-op apply at L')
    const {benchNoopApply} = await import('./noop-apply.js')
    const noop = await benchNoopApply({size: SIZES.L, runs, log})
    rows.push({
      group: 'apply',
      name: 'no-op apply',
      size: 'L',
      ms: noop.medianNoopMs,
      runsMs: noop.noopMs,
      rssBytes: noop.rssBytes,
      note: `${noop.filesWritten} files written, ${noop.reloads} reloads over ${noop.nodes} nodes (first apply ${fmtMs(noop.firstApplyMs)})`,
    })
  }

  const table = markdownTable(rows)
  process.stdout.write(`${table}\n`)
  if (!args['no-write']) writeResults(table)
}

function writeResults(table: string): void {
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: readCpuModel(),
    runs,
    rows,
  }
  writeFileSync(RESULTS_JSON, `${JSON.stringify(result, null, 2)}\n`)
  if (!existsSync(RESULTS_MD)) return
  const doc = readFileSync(RESULTS_MD, 'utf8')
  const start = '<!-- bench:results:start -->'
  const end = '<!-- bench:results:end -->'
  const from = doc.indexOf(start)
  const to = doc.indexOf(end)
  if (from === -1 || to === -1) return
  const section = `${start}\n\nMeasured ${result.date.slice(0, 10)} on ${result.cpus}, Node ${process.version}, median of ${runs} runs.\n\n${table}\n\n`
  writeFileSync(RESULTS_MD, doc.slice(0, from) + section + doc.slice(to))
}

function readCpuModel(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8')
    const model = /^model name\s*:\s*(.+)$/m.exec(info)?.[1] ?? 'unknown CPU'
    const count = info.match(/^processor\s*:/gm)?.length ?? 0
    return `${count} x ${model}`
  } catch {
    return 'unknown CPU'
  }
}

function markdownTable(list: readonly Row[]): string {
  const lines = ['| what | case | size | median | runs | peak RSS | note |', '|---|---|---|--:|---|--:|---|']
  for (const row of list) {
    lines.push(
      `| ${row.group} | ${row.name} | ${row.size} | ${fmtMs(row.ms)} | ${row.runsMs.map(fmtMs).join(' ')} | ${fmtMiB(row.rssBytes)} | ${row.note ?? ''} |`,
    )
  }
  return lines.join('\n')
}

function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`
}

function fmtMiB(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MiB`
}

try {
  await main()
} finally {
  rmSync(work, {recursive: true, force: true})
}
