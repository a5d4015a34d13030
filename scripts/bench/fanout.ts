/**
 * Apply fan-out: N hosts (one real sshd each, on loopback, with a fake node
 * root) get the same rendered files and run the same checks and reload
 * commands, pushed side by side in one run by nexus, Ansible, plain parallel
 * `tar | ssh` and a minimal ssh2 program (the floor). Each is a child process
 * timed with its peak RSS (measure.ts); `ms` is the median of `runs` runs,
 * each from a clean state: hosts emptied, nexus's state put back to before
 * any push (so every nexus run is a full apply with a new revision). After
 * every run each host is checked for the rendered files and the reload log.
 *
 * Goal (issue): nexus within 2x the ssh2 floor and 10x faster than Ansible at 20 hosts.
 */
import {loadavg} from 'node:os'

import {
  ansibleContender,
  type Contender,
  nexusContender,
  ssh2Contender,
  tarSshContender,
  type Tool,
} from './fanout/contenders.js'
import {type Fleet, startFleet} from './fanout/fleet.js'
import {median, sample} from './measure.js'

export interface FanoutRow {
  hosts: number
  tool: 'nexus' | 'ansible' | 'tar-ssh' | 'ssh2'
  ms: number
  runsMs: number[]
  rssBytes: number
  ratioToFloor: number
}

export interface FanoutOptions {
  hosts: readonly number[]
  /** Timed runs per tool and fleet size (fewer than 5 count as 5). */
  runs: number
  log: (line: string) => void
}

const TOOLS: readonly Tool[] = ['ssh2', 'tar-ssh', 'nexus', 'ansible']

export async function benchFanout(options: FanoutOptions): Promise<FanoutRow[]> {
  if (!Number.isInteger(options.runs) || options.runs < 1) throw new RangeError(`bad number of runs ${options.runs}`)
  if (options.runs < 5) options.log(`fanout: ${options.runs} runs asked; a median of fewer than 5 says little, so 5`)
  const runs = Math.max(5, options.runs)
  const rows: FanoutRow[] = []
  let fleet: Fleet | undefined
  // An interrupted benchmark still stops its sshd processes and removes its temp dirs, then dies
  // of the signal. `on`, not `once`: execa's exit hook re-raises a signal at once when no other
  // listener is left, which would end the process halfway through the cleanup.
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  let interrupted = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return
    interrupted = true
    void (fleet?.close() ?? Promise.resolve()).finally(() => {
      for (const each of signals) process.removeListener(each, onSignal)
      process.kill(process.pid, signal)
    })
  }
  for (const signal of signals) process.on(signal, onSignal)
  // Every sshd of the fleet hooks process exit (test/helpers/sshd.ts), more than the default 10.
  const maxListeners = process.getMaxListeners()
  process.setMaxListeners(Math.max(maxListeners, ...options.hosts.map((n) => n + 10)))
  try {
    for (const count of options.hosts) {
      fleet = await startFleet(count, options.log)
      try {
        rows.push(...(await benchFleet(fleet, {...options, runs})))
      } finally {
        await fleet.close()
        fleet = undefined
      }
    }
  } finally {
    for (const signal of signals) process.removeListener(signal, onSignal)
    process.setMaxListeners(maxListeners)
  }
  return rows
}

async function benchFleet(fleet: Fleet, options: FanoutOptions): Promise<FanoutRow[]> {
  const hosts = fleet.hosts.length
  const contenders: Record<Tool, Contender> = {
    ssh2: ssh2Contender(fleet),
    'tar-ssh': tarSshContender(fleet),
    nexus: nexusContender(fleet),
    ansible: ansibleContender(fleet),
  }
  const setup = async () => {
    fleet.resetHosts()
    fleet.resetState()
  }
  const once = async (contender: Contender) => {
    try {
      const run = await contender.run()
      fleet.verifyHosts(contender.tool)
      return run
    } finally {
      await contender.after?.()
    }
  }
  // Runs are interleaved (a round runs every tool once, starting with another tool each round), so
  // whatever else the machine does weighs on all four alike.
  for (const tool of TOOLS) {
    // One untimed run first: page cache, Python bytecode, sshd's first fork.
    await setup()
    await once(contenders[tool])
  }
  const results = new Map<Tool, {runsMs: number[]; rssBytes: number}>(TOOLS.map((t) => [t, {runsMs: [], rssBytes: 0}]))
  for (let round = 0; round < options.runs; round++) {
    const order = [...TOOLS.slice(round % TOOLS.length), ...TOOLS.slice(0, round % TOOLS.length)]
    const line: string[] = []
    for (const tool of order) {
      const measured = await sample(1, () => once(contenders[tool]), setup)
      const result = results.get(tool) as {runsMs: number[]; rssBytes: number}
      result.runsMs.push(...measured.runsMs)
      result.rssBytes = Math.max(result.rssBytes, measured.rssBytes)
      line.push(`${tool} ${measured.ms.toFixed(0)} ms`)
    }
    options.log(
      `fanout ${hosts} hosts, round ${round + 1}/${options.runs}: ${line.join(', ')} (load average ${loadavg()[0]?.toFixed(1)})`,
    )
  }
  const floor = median(results.get('ssh2')?.runsMs ?? [])
  return TOOLS.map((tool) => {
    const {runsMs, rssBytes} = results.get(tool) as {runsMs: number[]; rssBytes: number}
    const ms = median(runsMs)
    return {hosts, tool, ms, runsMs, rssBytes, ratioToFloor: ms / floor}
  })
}
