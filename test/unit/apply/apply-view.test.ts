/**
 * The listr2 progress view must leave SIGINT to the apply command: listr2's
 * own handler exits 127 on the first Ctrl-C, before the nodes in flight are
 * finished or rolled back and recorded (crash.test.ts runs this in a
 * pseudo-terminal). An apply that lost its lease says so.
 */
import {describe, expect, it} from 'vitest'

import {createStyle} from '../../../src/cli/style.js'
import type {ApplyResult} from '../../../src/apply/run.js'
import type {Plan} from '../../../src/plan/types.js'
import {formatApplyResult, listrReporter, plainLine} from '../../../src/views/apply-view.js'

describe('listrReporter and SIGINT', () => {
  it('registers no SIGINT listener of its own while the progress list runs', async () => {
    const before = process.listeners('SIGINT')
    const reporter = listrReporter(createStyle(false))
    reporter.sink({type: 'apply_start', apply_id: 1, git_commit: null, state_serial: 1, nodes: ['gw-1']})
    try {
      expect(process.listeners('SIGINT')).toEqual(before)
    } finally {
      reporter.sink({
        type: 'node_complete',
        node: 'gw-1',
        result: 'verified',
        revision: 1,
        changes: 1,
        notes: [],
        divergences: [],
      })
      reporter.sink({type: 'apply_complete', result: 'success', state_serial: 2, nodes: {'gw-1': 'verified'}})
      await reporter.done()
    }
    expect(process.listeners('SIGINT')).toEqual(before)
  })
})

describe('an apply that lost its lease', () => {
  const error = {
    code: 'lease_lost',
    message:
      'the apply lease was released (nexus lock release) while this apply held it; no node was started after that',
  }

  it('ends its progress with the reason', () => {
    const line = plainLine(
      {
        type: 'apply_complete',
        result: 'lease_lost',
        state_serial: 9,
        nodes: {'gw-1': 'verified', 'gw-2': 'skipped'},
        error,
      },
      createStyle(false),
    )
    expect(line).toBe(`apply lease_lost: gw-1 verified, gw-2 skipped\n${error.message}`)
  })

  it('says the apply stopped, why, and what to do', () => {
    const result: ApplyResult = {
      outcome: 'lease_lost',
      plan: {} as Plan,
      nodes: {'gw-1': 'verified', 'gw-2': 'skipped'},
      serial: 9,
      applyId: 3,
      error,
    }
    const text = formatApplyResult(result, createStyle(false))
    expect(text).toMatch(/^Apply stopped: the apply lease was lost\. 1 verified, 1 skipped\.\n/)
    expect(text).toContain(error.message)
    expect(text).toContain('nexus lock status')
  })
})
