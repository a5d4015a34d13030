import {describe, expect, it} from 'vitest'

import type {ApplyEvent} from '../../../src/apply/events.js'
import {createStyle} from '../../../src/cli/style.js'
import {listrReporter, ndjsonReporter, plainLine} from '../../../src/views/apply-view.js'

const plain = createStyle(false)

const EVENTS: ApplyEvent[] = [
  {type: 'version', format_version: '1'},
  {type: 'apply_start', apply_id: 7, git_commit: '0123456789abcdef', state_serial: 3, nodes: ['gw-1', 'gw-2']},
  {
    type: 'node_errored',
    node: 'gw-1',
    step: 'connect',
    error: {code: 'node_unreachable', message: 'cannot reach 127.0.0.1:1'},
    rolled_back: false,
    notes: [],
  },
  {type: 'node_progress', node: 'gw-2', step: 'upload', status: 'done', detail: '2 file(s)'},
  {
    type: 'node_complete',
    node: 'gw-2',
    result: 'verified',
    revision: 4,
    changes: 2,
    notes: ['xray: not checked'],
    divergences: [],
  },
  {type: 'apply_complete', result: 'partial', state_serial: 5, nodes: {'gw-1': 'unreachable', 'gw-2': 'verified'}},
]

describe('apply views', () => {
  it('settles every node in listr2 even when its events come before listr2 started its task', async () => {
    const reporter = listrReporter(plain)
    for (const event of EVENTS) reporter.sink(event)
    const finished = await Promise.race([
      reporter.done().then(() => 'done'),
      new Promise((resolve) => setTimeout(() => resolve('hung'), 5000)),
    ])
    expect(finished).toBe('done')
  })

  it('prints NDJSON: one event per line, the version first', () => {
    const lines: string[] = []
    const reporter = ndjsonReporter((line) => lines.push(line))
    for (const event of EVENTS) reporter.sink(event)
    expect(lines.every((line) => line.endsWith('\n') && !line.slice(0, -1).includes('\n'))).toBe(true)
    expect(JSON.parse(lines[0] as string)).toEqual({type: 'version', format_version: '1'})
    expect(JSON.parse(lines.at(-1) as string)).toMatchObject({type: 'apply_complete', result: 'partial'})
  })

  it('prints plain lines without a terminal', () => {
    expect(EVENTS.map((e) => plainLine(e, plain)).filter(Boolean)).toEqual([
      'apply 7: 2 node(s), commit 0123456789ab',
      'gw-1: failed at connect: cannot reach 127.0.0.1:1',
      'gw-2: upload done (2 file(s))',
      'gw-2: verified at revision 4\n  xray: not checked',
      'apply partial: gw-1 unreachable, gw-2 verified',
    ])
  })
})
