/**
 * The real programs rendered configs are checked with. A missing tool is a
 * failure, not a skip: `.ci/run` installs them, and a green run without them
 * would prove nothing.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {execa} from 'execa'

const SEARCH_PATH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin']

export async function requireTool(name: string): Promise<string> {
  const result = await execa('sh', ['-c', `command -v ${name}`], {
    reject: false,
    env: {PATH: `${process.env.PATH ?? ''}:${SEARCH_PATH.join(':')}`},
  })
  const path = result.stdout.trim()
  if (result.exitCode !== 0 || path === '') {
    throw new Error(`${name} is not installed; run .ci/run (or apt-get install the package that provides ${name})`)
  }
  return path
}

/** A throw-away directory removed by the returned cleanup function. */
export function tempDir(prefix = 'nexus-test-'): {path: string; cleanup: () => void} {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return {path, cleanup: () => rmSync(path, {recursive: true, force: true})}
}

export function writeTemp(dir: string, name: string, content: string): string {
  const file = join(dir, name)
  writeFileSync(file, content, {mode: 0o600})
  return file
}

export interface ToolRun {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs a bash script in a fresh network namespace so the host's network state is never touched. */
export async function inPrivateNetns(script: string): Promise<ToolRun> {
  const result = await execa('unshare', ['-n', 'bash', '-euo', 'pipefail', '-c', script], {
    reject: false,
    env: {PATH: `${process.env.PATH ?? ''}:${SEARCH_PATH.join(':')}`},
  })
  return {exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr)}
}

/** Single-quotes a value for bash. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`
}
