/**
 * The listr2 progress view must leave SIGINT to the apply command: listr2's
 * own handler exits 127 on the first Ctrl-C, before the nodes in flight are
 * finished or rolled back and recorded (crash.test.ts runs this in a
 * pseudo-terminal).
 */
import {describe, expect, it} from 'vitest'

import {createStyle} from '../../../src/cli/style.js'
import {listrReporter} from '../../../src/views/apply-view.js'

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
