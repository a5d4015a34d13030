/**
 * The nexus CLI as an operator runs it, from the control host of the
 * topology (the built bin/run.js, `npm run build` first): its SSH connections
 * to the gateways cross the wan like any other traffic.
 */
import {BIN} from '../../helpers/cli.js'
import type {RunResult, Started, World} from './world.js'

export interface NexusOptions {
  readonly env?: Readonly<Record<string, string>>
  readonly timeoutMs?: number
}

const argv = (repo: string, args: readonly string[]) => [process.execPath, BIN, ...args, '--repo', repo]
const runOptions = (repo: string, options: NexusOptions) => ({
  cwd: repo,
  env: {NO_COLOR: '1', ...options.env},
  timeoutMs: options.timeoutMs ?? 120_000,
})

export async function nexusCli(
  world: World,
  repo: string,
  args: readonly string[],
  options: NexusOptions = {},
): Promise<RunResult> {
  return world.run('ctl', argv(repo, args), runOptions(repo, options))
}

/** Starts nexus and returns at once: its stdout lines (e.g. `apply --json` events) with arrival times as they come. */
export function startNexusCli(
  world: World,
  repo: string,
  args: readonly string[],
  options: NexusOptions = {},
): Started {
  return world.start('ctl', argv(repo, args), runOptions(repo, options))
}
