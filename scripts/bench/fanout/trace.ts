/**
 * A nexus apply to the fan-out fleet run in this process (the same applyRepo
 * the CLI calls) with the SSH transport wrapped: every connect and every
 * command timed, so the wall time splits into phases (state open and repo
 * load, observation, plan, state write, per-node work, close) and per-node
 * round trips. Also times opening and closing the embedded state alone, and
 * round trips that do nothing.
 *
 *     npx tsx scripts/bench/fanout/trace.ts [--hosts 20] [--runs 2]
 */
import {loadavg} from 'node:os'
import {parseArgs} from 'node:util'

import type {ApplyEvent} from '../../../src/apply/events.js'
import {loadRepo} from '../../../src/app/load-repo.js'
import {applyRepo} from '../../../src/apply/run.js'
import type {Node} from '../../../src/model/desired.js'
import {openState, stateLocation} from '../../../src/state/open.js'
import {SshTransport} from '../../../src/transport/ssh.js'
import type {ConnectOptions, NodeConnection, NodeTransport} from '../../../src/transport/types.js'
import {median} from '../measure.js'
import {type Fleet, startFleet} from './fleet.js'

const {values} = parseArgs({options: {hosts: {type: 'string', default: '20'}, runs: {type: 'string', default: '2'}}})

interface Exec {
  readonly node: string
  readonly label: string
  readonly start: number
  readonly end: number
}

/** A short name for a script nexus runs, from its first distinctive line. */
function label(script: string): string {
  // Several steps in one round trip (transport/steps.ts): named by their ids.
  const steps = Array.from(script.matchAll(/^nx_step ([a-z0-9.]+) /gm), (m) => (m[1] ?? '').replace(/\.\d+$/, ''))
  if (steps.length > 0) return steps.join('+')
  if (script.includes('nx_probe')) return 'observe'
  if (script.includes('@@nexus-check')) return 'check'
  if (script.includes('.nexus-new.tmp')) return 'upload'
  if (script.includes('nft-watchdog.armed') && script.includes('setsid')) return 'arm watchdog'
  if (script.includes('nft-watchdog.armed')) return 'confirm (disarm)'
  if (script.includes('.nexus-prev') && script.includes('mv -f')) return 'swap'
  if (script.includes('revision.json')) return 'marker'
  if (script.includes('.nexus-absent')) return 'drop absent markers'
  const first = script.split('\n').find((line) => line.trim() && !line.startsWith('set ')) ?? script
  return first
    .split(' ')
    .slice(0, 2)
    .join(' ')
    .replace(/^fake-reload /, 'reload ')
}

class TimedTransport implements NodeTransport {
  readonly connects: {node: string; start: number; end: number}[] = []
  readonly execs: Exec[] = []
  readonly #inner = new SshTransport({env: {}})
  constructor(private readonly t0: number) {}

  async connect(node: Node, options: ConnectOptions): Promise<NodeConnection> {
    const start = performance.now() - this.t0
    const connection = await this.#inner.connect(node, options)
    this.connects.push({node: node.name, start, end: performance.now() - this.t0})
    return {
      node: connection.node,
      close: () => connection.close(),
      exec: async (script, options) => {
        const begin = performance.now() - this.t0
        try {
          return await connection.exec(script, options)
        } finally {
          this.execs.push({node: node.name, label: label(script), start: begin, end: performance.now() - this.t0})
        }
      },
    }
  }
}

async function stateOpenClose(repo: string): Promise<{open: number; close: number}> {
  const t0 = performance.now()
  const store = await openState(stateLocation(repo, {}), {mode: 'write', env: {}})
  const t1 = performance.now()
  await store?.close()
  return {open: t1 - t0, close: performance.now() - t1}
}

const hosts = Number(values.hosts)
const fleet = await startFleet(hosts, (line) => process.stderr.write(`${line}\n`))
const f = (ms: number) => `${ms.toFixed(0)} ms`
try {
  for (let run = 0; run < Number(values.runs); run++) {
    fleet.resetHosts()
    fleet.resetState()
    const opened = await stateOpenClose(fleet.repo)
    const t0 = performance.now()
    const transport = new TimedTransport(t0)
    const events: {at: number; event: ApplyEvent}[] = []
    const result = await applyRepo({
      root: fleet.repo,
      location: stateLocation(fleet.repo, {}),
      env: {},
      transport,
      confirm: async () => true,
      parallel: hosts,
      allowDirty: true,
      lockTimeoutMs: 0,
      confirmTimeoutSec: 60,
      emit: (event) => events.push({at: performance.now() - t0, event}),
      interrupted: () => false,
      now: () => new Date(),
    })
    const total = performance.now() - t0
    if (result.outcome !== 'success') throw new Error(`apply: ${result.outcome}`)
    // This process runs src/ while the fleet was rendered by dist/: compare the reloads, not the bytes.
    fleet.verifyHosts('nexus', {contents: false})

    const started = events.find((e) => e.event.type === 'apply_start')?.at ?? Number.NaN
    // The observation before the plan (the verify step observes again later).
    const observe = transport.execs.filter((e) => e.label === 'observe' && e.end <= started)
    const firstConnect = Math.min(...transport.connects.map((c) => c.start))
    const observedAll = Math.max(...observe.map((e) => e.end))
    const firstNode = events.find((e) => e.event.type === 'node_progress')?.at ?? Number.NaN
    const lastNode = events.filter((e) => e.event.type === 'node_complete').at(-1)?.at ?? Number.NaN
    const complete = events.find((e) => e.event.type === 'apply_complete')?.at ?? Number.NaN
    const lines = [
      `run ${run + 1}, ${hosts} hosts, in process: ${f(total)}`,
      `  state open + close alone (PGlite): ${f(opened.open)} + ${f(opened.close)}; load average ${loadavg()[0]?.toFixed(1)}`,
      `  0 → first connect (state open, migrate check, lease, snapshot, load repo): ${f(firstConnect)}`,
      `  observation of all nodes (connect + observe): ${f(observedAll - firstConnect)}`,
      `  → apply_start (plan): ${f(started - observedAll)}`,
      `  → first node starts (state write, host keys): ${f(firstNode - started)}`,
      `  per-node work, until the last node_complete: ${f(lastNode - firstNode)}`,
      `  → apply_complete (finish apply row): ${f(complete - lastNode)}`,
      `  → applyRepo returns (lease release, state close): ${f(total - complete)}`,
      `  SSH handshakes: ${transport.connects.length} (${(transport.connects.length / hosts).toFixed(1)} per node), median ${f(median(transport.connects.map((c) => c.end - c.start)))}`,
      `  commands: ${transport.execs.length} (${(transport.execs.length / hosts).toFixed(1)} per node); per kind, count and median wall time:`,
    ]
    const kinds = [...new Set(transport.execs.map((e) => e.label))]
    for (const kind of kinds) {
      const durations = transport.execs.filter((e) => e.label === kind).map((e) => e.end - e.start)
      lines.push(`    ${kind.padEnd(22)} ${String(durations.length).padStart(3)}  ${f(median(durations))}`)
    }
    // One node's timeline: which round trips follow each other.
    const node = fleet.hosts[0]?.name
    const mine = [
      ...transport.connects.filter((c) => c.node === node).map((c) => ({label: 'connect', start: c.start, end: c.end})),
      ...transport.execs.filter((e) => e.node === node),
    ].sort((a, b) => a.start - b.start)
    lines.push(
      `  ${node} in order:`,
      ...mine.map((e) => `    ${f(e.start).padStart(8)} ${e.label.padEnd(22)} ${f(e.end - e.start)}`),
    )
    process.stdout.write(`${lines.join('\n')}\n`)
  }
  process.stdout.write(`${(await emptyRoundTrips(fleet)).join('\n')}\n`)
} finally {
  await fleet.close()
}

/**
 * What the transport costs with no work at all: on every host at once, nexus's SSH connect, then
 * 13 commands `:` one after the other (as many as an apply runs per node), against 1 command.
 */
async function emptyRoundTrips(fleet: Fleet): Promise<string[]> {
  const transport = new SshTransport({env: {}})
  const hostKeys = {get: async () => undefined, record: async () => {}}
  const nodes = await loadRepo(fleet.repo)
  const lines: string[] = []
  for (const count of [1, 13]) {
    const start = performance.now()
    const perExec: number[] = []
    const connects: number[] = []
    await Promise.all(
      (nodes.desired?.nodes ?? []).map(async (node) => {
        const t = performance.now()
        const connection = await transport.connect(node, {hostKeys})
        connects.push(performance.now() - t)
        try {
          for (let i = 0; i < count; i++) {
            const e = performance.now()
            await connection.exec(':')
            perExec.push(performance.now() - e)
          }
        } finally {
          await connection.close()
        }
      }),
    )
    lines.push(
      `empty round trips, ${fleet.hosts.length} hosts at once: connect + ${count} x \`:\` took ${f(performance.now() - start)} (connect median ${f(median(connects))}, one command median ${f(median(perExec))})`,
    )
  }
  return lines
}
