/**
 * Apply progress, from the one event stream apply emits: listr2 in a
 * terminal (a line per node, its current step underneath), plain lines
 * without one, NDJSON with --json. Progress goes to stderr in the first two
 * forms; NDJSON is the result, on stdout.
 */
import type {ChalkInstance} from 'chalk'
import {Listr, type ListrTaskWrapper} from 'listr2'

import type {ApplyEvent, ApplyEventSink} from '../apply/events.js'
import type {ApplyResult} from '../apply/run.js'

export interface ApplyReporter {
  readonly sink: ApplyEventSink
  /** Waits for the progress display to finish drawing. */
  done(): Promise<void>
}

export function ndjsonReporter(write: (line: string) => void): ApplyReporter {
  return {sink: (event) => write(`${JSON.stringify(event)}\n`), done: async () => {}}
}

export function plainReporter(write: (line: string) => void, s: ChalkInstance): ApplyReporter {
  return {
    sink: (event) => {
      const line = plainLine(event, s)
      if (line) write(`${line}\n`)
    },
    done: async () => {},
  }
}

export function plainLine(event: ApplyEvent, s: ChalkInstance): string | undefined {
  switch (event.type) {
    case 'version':
      return undefined
    case 'apply_start':
      return `apply ${event.apply_id}: ${event.nodes.length} node(s), commit ${event.git_commit?.slice(0, 12) ?? '(none)'}`
    case 'node_progress':
      return event.status === 'started'
        ? undefined
        : `${event.node}: ${event.step} ${event.status}${event.detail ? ` (${event.detail})` : ''}`
    case 'node_complete': {
      const color = event.result === 'verified' || event.result === 'unchanged' ? s.green : s.yellow
      const notes = [...event.divergences, ...event.notes].map((n) => `\n  ${s.dim(n)}`).join('')
      return `${event.node}: ${color(event.result)}${event.revision === null ? '' : ` at revision ${event.revision}`}${notes}`
    }
    case 'node_errored':
      return `${event.node}: ${s.red('failed')} at ${event.step}: ${event.error.message}${event.rolled_back ? ' (previous files restored)' : ''}${event.notes.map((n) => `\n  ${s.dim(n)}`).join('')}`
    case 'apply_complete':
      return `apply ${event.result}: ${Object.entries(event.nodes)
        .map(([node, result]) => `${node} ${result}`)
        .join(', ')}${event.error ? `\n${s.red(event.error.message)}` : ''}`
  }
}

/**
 * How the progress list runs. `registerSignalListeners: false`: listr2's own
 * SIGINT handler would `process.exit(127)` on the first Ctrl-C, before the
 * apply command's handler could finish or roll back the nodes in flight and
 * record them.
 */
const LISTR_OPTIONS = {
  concurrent: true,
  exitOnError: false,
  registerSignalListeners: false,
  rendererOptions: {collapseErrors: false},
} as const

/**
 * listr2 with one task per node, created when the apply starts and settled by
 * its node's last event. Events can come before listr2 has started a node's
 * task (an unreachable node fails at once): they wait for it.
 */
export function listrReporter(s: ChalkInstance): ApplyReporter {
  type Task = ListrTaskWrapper<unknown, never, never>
  type Ending = {ok: true} | {ok: false; error: Error}
  const tasks = new Map<string, {task: Task; settle: (ending: Ending) => void}>()
  const endings = new Map<string, Ending>()
  const titles = new Map<string, string>()
  let running: Promise<unknown> = Promise.resolve()
  const buffered: string[] = []
  const end = (node: string, ending: Ending) => {
    const entry = tasks.get(node)
    if (entry) entry.settle(ending)
    else endings.set(node, ending)
  }
  return {
    sink: (event) => {
      if (event.type === 'apply_start') {
        const listr = new Listr(
          event.nodes.map((node) => ({
            title: node,
            task: (_ctx: unknown, task: Task) =>
              new Promise<void>((resolve, reject) => {
                const settle = (ending: Ending) => {
                  const title = titles.get(node)
                  if (title) task.title = title
                  if (ending.ok) resolve()
                  else reject(ending.error)
                }
                tasks.set(node, {task, settle})
                const early = endings.get(node)
                if (early) settle(early)
              }),
          })),
          LISTR_OPTIONS as never,
        )
        running = listr.run().catch(() => {})
        return
      }
      if (event.type === 'node_progress') {
        const entry = tasks.get(event.node)
        if (entry) {
          entry.task.output = `${event.step}${event.status === 'started' ? '…' : ` ${event.status}`}${event.detail ? ` (${event.detail})` : ''}`
        }
        return
      }
      if (event.type === 'node_complete') {
        titles.set(
          event.node,
          `${event.node}: ${event.result}${event.revision === null ? '' : ` (revision ${event.revision})`}`,
        )
        for (const note of [...event.divergences, ...event.notes]) buffered.push(`${event.node}: ${note}`)
        end(event.node, {ok: true})
        return
      }
      if (event.type === 'node_errored') {
        const message = `${event.step}: ${event.error.message}${event.rolled_back ? ' (previous files restored)' : ''}`
        end(event.node, {ok: false, error: new Error(message)})
        return
      }
      if (event.type === 'apply_complete') buffered.push(plainLine(event, s) ?? '')
    },
    done: async () => {
      await running
      if (buffered.length > 0) process.stderr.write(`${buffered.join('\n')}\n`)
    },
  }
}

export function formatApplyResult(result: ApplyResult, s: ChalkInstance): string {
  switch (result.outcome) {
    case 'no_changes':
      return `${s.green('No changes.')} Nothing was written and nothing reloaded.\n`
    case 'cancelled':
      return 'Apply cancelled; nothing was changed.\n'
    case 'success':
      return `${s.green('Apply complete.')} ${summary(result)}\n`
    case 'interrupted':
      return `${s.yellow('Apply interrupted.')} ${summary(result)} Run nexus apply again to converge.\n`
    case 'lease_lost':
      return [
        `${s.red('Apply stopped: the apply lease was lost.')} ${summary(result)}`,
        `  ${result.error?.message ?? 'the apply lease was lost'}.`,
        'The nodes not started were left as they were. See nexus lock status; once no other apply runs, run nexus apply again to converge.',
        '',
      ].join('\n')
    default:
      return `${s.red(`Apply ${result.outcome}.`)} ${summary(result)} Run nexus apply again once the failures are fixed.\n`
  }
}

function summary(result: ApplyResult): string {
  const counts = new Map<string, number>()
  for (const value of Object.values(result.nodes)) counts.set(value, (counts.get(value) ?? 0) + 1)
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ') + (result.nodes ? '.' : '')
}
