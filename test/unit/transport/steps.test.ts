/**
 * Several steps in one round trip (stepsScript, parseSteps), run here with
 * bash: each step keeps its own output, status and input, and the first
 * one that fails ends the script.
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {execa} from 'execa'
import {afterAll, describe, expect, it} from 'vitest'

import {sh} from '../../../src/transport/shell.js'
import {parseSteps, type Step, stepsScript} from '../../../src/transport/steps.js'
import {tempDir} from '../../helpers/tools.js'

const tmp = tempDir('nexus-steps-')
afterAll(() => tmp.cleanup())
const NONCE = '0123456789abcdef0123456789abcdef'

async function run(steps: readonly Step[]) {
  const {script, stdin} = stepsScript(steps, NONCE)
  const result = await execa('/bin/bash', ['-c', script], {input: stdin, reject: false})
  return {result, outcome: parseSteps('gw-1', {...result, exitCode: result.exitCode ?? null}, NONCE, steps)}
}

describe('steps in one round trip', () => {
  it('runs every step in order, each with its own stdout, stderr and input', async () => {
    const file = join(tmp.path, 'order')
    const {outcome, result} = await run([
      {id: 'one', what: 'first', script: sh`echo one >> ${file}; echo out-one; echo err-one >&2`},
      // Reads exactly its own bytes of the shared stdin.
      {id: 'two', what: 'second', script: 'head -c 5', stdin: 'abcde'},
      {id: 'three', what: 'third', script: sh`head -c 3; echo three >> ${file}`, stdin: 'xyz'},
    ])

    expect(result.exitCode).toBe(0)
    expect(outcome.ok).toBe(true)
    expect(outcome.sections.get('one')).toEqual({stdout: 'out-one\n', stderr: 'err-one', exitCode: 0})
    expect(outcome.sections.get('two')?.stdout).toBe('abcde')
    expect(outcome.sections.get('three')?.stdout).toBe('xyz')
    expect(readFileSync(file, 'utf8')).toBe('one\nthree\n')
  })

  it('stops at the first step that fails: nothing after it runs, and the failure names the step', async () => {
    const after = join(tmp.path, 'after-failure')
    const {outcome, result} = await run([
      {id: 'ok', what: 'getting ready', script: 'true'},
      {id: 'bad', what: 'restarting dnsmasq', script: 'echo "dnsmasq: bad option" >&2; exit 3'},
      {id: 'later', what: 'the next thing', script: sh`touch ${after}`},
    ])

    expect(result.exitCode).toBe(1)
    expect(existsSync(after)).toBe(false)
    expect(outcome.ok).toBe(false)
    if (outcome.ok) return
    expect(outcome.failed.id).toBe('bad')
    expect(outcome.section?.exitCode).toBe(3)
    expect(outcome.message).toBe('restarting dnsmasq on node gw-1 failed (exit 3): dnsmasq: bad option')
  })

  it("keeps a step's set -e, exit and syntax errors its own", async () => {
    const {outcome} = await run([
      // set -e stops this step at `false`, and only this step.
      {id: 'strict', what: 'strict', script: 'set -e\nfalse\necho not-reached'},
    ])
    expect(outcome.ok).toBe(false)
    if (!outcome.ok) expect(outcome.section).toMatchObject({exitCode: 1, stdout: ''})

    const broken = await run([
      {id: 'syntax', what: 'a broken reload command', script: 'if then fi'},
      {id: 'never', what: 'never', script: 'echo never'},
    ])
    expect(broken.outcome.ok).toBe(false)
    if (!broken.outcome.ok) {
      expect(broken.outcome.failed.id).toBe('syntax')
      expect(broken.outcome.message).toMatch(/^a broken reload command on node gw-1 failed \(exit 2\): .*syntax error/)
    }
    expect(broken.outcome.sections.has('never')).toBe(false)
  })

  it('gives a step without input none of the next step’s', async () => {
    const {outcome} = await run([
      {id: 'greedy', what: 'greedy', script: 'cat'},
      {id: 'reader', what: 'reader', script: 'head -c 6', stdin: 'secret'},
    ])
    expect(outcome.ok).toBe(true)
    expect(outcome.sections.get('greedy')?.stdout).toBe('')
    expect(outcome.sections.get('reader')?.stdout).toBe('secret')
  })

  it('passes quotes and dollars in a step through literally', async () => {
    const {outcome} = await run([{id: 'quote', what: 'quote', script: `printf '%s\\n' "it's \\$HOME" '$PATH'`}])
    expect(outcome.sections.get('quote')?.stdout).toBe("it's $HOME\n$PATH\n")
  })

  it('reports a script that died before a step as that step, with the whole stderr', () => {
    const steps: Step[] = [
      {id: 'a', what: 'step a', script: 'true'},
      {id: 'b', what: 'step b', script: 'true'},
    ]
    const outcome = parseSteps('gw-1', {exitCode: null, signal: 'KILL', stdout: '', stderr: 'Killed'}, NONCE, steps)
    expect(outcome).toMatchObject({
      ok: false,
      failed: {id: 'a'},
      message: 'step a on node gw-1 failed (the script stopped before it, exit KILL): Killed',
    })
  })

  it('refuses step ids that would not frame a section', () => {
    expect(() => stepsScript([{id: 'Bad Id', what: 'x', script: 'true'}], NONCE)).toThrow(/bad step id/)
  })
})
