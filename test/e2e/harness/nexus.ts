/**
 * The nexus CLI as an operator runs it, from the control host of the
 * topology (the built bin/run.js, `npm run build` first): its SSH connections
 * to the gateways cross the wan like any other traffic.
 */
import {BIN} from '../../helpers/cli.js'
import type {RunResult, World} from './world.js'

export async function nexusCli(
  world: World,
  repo: string,
  args: readonly string[],
  options: {env?: Record<string, string>; timeoutMs?: number} = {},
): Promise<RunResult> {
  return world.run('ctl', [process.execPath, BIN, ...args, '--repo', repo], {
    cwd: repo,
    env: {NO_COLOR: '1', ...options.env},
    timeoutMs: options.timeoutMs ?? 120_000,
  })
}
