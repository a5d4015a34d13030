/**
 * Several scripts in one round trip to a node, each with its own outcome.
 * At 20 hosts a round trip costs ~50 ms per node (the channel, `timeout`,
 * bash), so an apply that ran a dozen commands one after the other spent
 * most of its time waiting on them.
 */
import {randomBytes} from 'node:crypto'

import {assertNonce, type Section, splitSections} from './probe.js'
import {sh} from './shell.js'
import type {NodeConnection} from './types.js'

/** One part of a script that does several things in a single round trip. */
export interface Step {
  /** Names the step's section in the output: lower-case letters, digits, dots. */
  readonly id: string
  /** What it does, for an error message: "writing the revision marker". */
  readonly what: string
  readonly script: string
  /** Read by the script from stdin (the steps' inputs go back to back, each read with exact byte counts). */
  readonly stdin?: string
}

/**
 * Runs steps one after the other in one round trip: each in its own
 * `bash -c` (so a step's `set -e`, `exit` or syntax error stays its own,
 * as when it ran alone), with its stdout, stderr and exit status framed as a
 * probe section (transport/probe.ts). The first step that fails ends the
 * script, so what a failed step would have guarded never runs. Each round
 * trip saved is ~50 ms per node at 20 hosts.
 */
export function stepsScript(steps: readonly Step[], nonce: string): {script: string; stdin: string} {
  assertNonce(nonce)
  const lines = [
    sh`nx_nonce=${nonce}`,
    'nx_step() {',
    '  local name=$1 err rc',
    '  shift',
    `  printf '\\n@@nexus:%s:out:%s@@\\n' "$nx_nonce" "$name"`,
    '  { err=$( { "$@"; } 2>&1 1>&3 3>&- ); rc=$?; } 3>&1',
    `  printf '\\n@@nexus:%s:err:%s@@\\n%s\\n@@nexus:%s:end:%s:%d@@\\n' "$nx_nonce" "$name" "$err" "$nx_nonce" "$name" "$rc"`,
    '  return "$rc"',
    '}',
  ]
  for (const step of steps) {
    if (!/^[a-z0-9.]+$/.test(step.id)) throw new Error(`bad step id ${step.id}`)
    // A step without input reads none of the next one's.
    const input = step.stdin === undefined ? ' < /dev/null' : ''
    lines.push(sh`nx_step ${step.id} bash --noprofile --norc -c ${step.script}` + input, '[ "$?" -eq 0 ] || exit 1')
  }
  lines.push(`printf '\\n@@nexus:%s:done@@\\n' "$nx_nonce"`)
  return {script: lines.join('\n'), stdin: steps.map((step) => step.stdin ?? '').join('')}
}

export type StepsOutcome =
  | {readonly ok: true; readonly sections: ReadonlyMap<string, Section>}
  | {
      readonly ok: false
      /** The step that failed, or the first that printed no section (the script stopped before it). */
      readonly failed: Step
      readonly section: Section | undefined
      readonly sections: ReadonlyMap<string, Section>
      /** "writing the revision marker on node gw-1 failed (exit 1): …" */
      readonly message: string
    }

/** What the steps script printed, step by step. */
export function parseSteps(
  node: string,
  result: {
    readonly exitCode: number | null
    readonly signal?: string | null
    readonly stdout: string
    readonly stderr: string
  },
  nonce: string,
  steps: readonly Step[],
): StepsOutcome {
  // A failed step's section is the last thing printed: read it whether or not its final newline was kept.
  const {sections} = splitSections(result.stdout.endsWith('\n') ? result.stdout : `${result.stdout}\n`, nonce)
  for (const step of steps) {
    const section = sections.get(step.id)
    if (section?.exitCode === 0) continue
    const how = section
      ? `exit ${section.exitCode}`
      : `the script stopped before it, exit ${result.exitCode ?? result.signal ?? 'unknown'}`
    const output = section ? section.stderr || section.stdout : result.stderr
    return {
      ok: false,
      failed: step,
      section,
      sections,
      message: `${step.what} on node ${node} failed (${how}): ${lastLines(output)}`,
    }
  }
  return {ok: true, sections}
}

/**
 * Runs the steps on a node in one exec. Rejects only as `exec` does
 * (timeout, lost connection); a failed step is part of the outcome.
 */
export async function execSteps(
  connection: NodeConnection,
  steps: readonly Step[],
  options: {readonly timeoutMs?: number} = {},
): Promise<StepsOutcome> {
  const nonce = randomBytes(16).toString('hex')
  const {script, stdin} = stepsScript(steps, nonce)
  const result = await connection.exec(script, {
    ...(stdin === '' ? {} : {stdin}),
    ...(options.timeoutMs === undefined ? {} : {timeoutMs: options.timeoutMs}),
  })
  return parseSteps(connection.node, result, nonce, steps)
}

/** The last lines of a command's output, for a one-line message. */
export function lastLines(text: string): string {
  const lines = text.trim().split('\n').filter(Boolean)
  return lines.slice(-3).join(' | ') || '(no output)'
}
