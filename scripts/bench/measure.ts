/**
 * Timing and memory for the benchmark: wall time of a child process and the
 * peak resident set size of its largest process, from the kernel's own
 * accounting (getrusage of the reaped children), not from sampling.
 */
import {execa} from 'execa'

export interface Measured {
  readonly ms: number
  /** Peak RSS in bytes of the largest process of the command (ru_maxrss of the reaped children). */
  readonly rssBytes: number
  readonly stdout: string
  readonly stderr: string
}

// Python's os.wait4 hands back the child's rusage; Node's child_process does not.
const RUSAGE_RUNNER = String.raw`
import os, sys, time, resource
start = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, _ = os.wait4(pid, 0)
ms = (time.monotonic() - start) * 1000
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
sys.stderr.write("\n@@bench %.3f %d\n" % (ms, rss))
sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8)
`

export interface RunOptions {
  readonly cwd?: string
  readonly env?: Record<string, string | undefined>
  /** A non-zero exit is what the benchmark expects (e.g. plan --detailed-exitcode). */
  readonly allowExit?: readonly number[]
}

/** Runs `command args` once; throws with its output when it fails. */
export async function measure(command: string, args: readonly string[], options: RunOptions = {}): Promise<Measured> {
  const result = await execa('python3', ['-c', RUSAGE_RUNNER, command, ...args], {
    cwd: options.cwd,
    env: options.env,
    reject: false,
    maxBuffer: 1024 * 1024 * 1024,
  })
  const stderr = String(result.stderr)
  const marker = /\n@@bench ([\d.]+) (\d+)\n?$/.exec(stderr)
  const allowed = [0, ...(options.allowExit ?? [])]
  if (!marker || !allowed.includes(result.exitCode ?? -1)) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.exitCode ?? 'by signal'}\n${String(result.stdout).slice(-2000)}\n${stderr.slice(-4000)}`,
    )
  }
  return {
    ms: Number(marker[1]),
    rssBytes: Number(marker[2]),
    stdout: String(result.stdout),
    stderr: stderr.slice(0, marker.index),
  }
}

/** Wall time and the process's own peak RSS for work done in this process. */
export async function measureInProcess<T>(
  work: () => Promise<T> | T,
): Promise<{ms: number; rssBytes: number; value: T}> {
  const start = performance.now()
  const value = await work()
  const ms = performance.now() - start
  return {ms, rssBytes: process.resourceUsage().maxRSS * 1024, value}
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2
}

export interface Sample {
  /** Median wall time over the runs. */
  readonly ms: number
  readonly runsMs: readonly number[]
  /** The highest peak RSS seen over the runs. */
  readonly rssBytes: number
}

/** `runs` measurements (after `setup` each time, not timed), summarised. */
export async function sample(
  runs: number,
  once: () => Promise<{ms: number; rssBytes: number}>,
  setup?: () => Promise<void>,
): Promise<Sample> {
  const runsMs: number[] = []
  let rssBytes = 0
  for (let i = 0; i < runs; i++) {
    await setup?.()
    const run = await once()
    runsMs.push(run.ms)
    rssBytes = Math.max(rssBytes, run.rssBytes)
  }
  return {ms: median(runsMs), runsMs, rssBytes}
}
