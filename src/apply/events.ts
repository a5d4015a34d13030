/**
 * What an apply reports while it runs: one event stream that the views turn
 * into listr2 progress (TTY), plain lines, or NDJSON (`--json`), whose first
 * line is a version message.
 */
import type {NodeStep} from './node-apply.js'

export const APPLY_EVENTS_VERSION = '1'

export type NodeResult = 'verified' | 'diverged' | 'failed' | 'unchanged' | 'skipped' | 'unreachable'

export type ApplyEvent =
  | {readonly type: 'version'; readonly format_version: typeof APPLY_EVENTS_VERSION}
  | {
      readonly type: 'apply_start'
      readonly apply_id: number
      readonly git_commit: string | null
      readonly state_serial: number
      readonly nodes: readonly string[]
    }
  | {
      readonly type: 'node_progress'
      readonly node: string
      readonly step: NodeStep | 'connect'
      readonly status: 'started' | 'done' | 'skipped'
      readonly detail?: string
    }
  | {
      readonly type: 'node_complete'
      readonly node: string
      readonly result: Exclude<NodeResult, 'failed' | 'unreachable'>
      readonly revision: number | null
      readonly changes: number
      readonly notes: readonly string[]
      readonly divergences: readonly string[]
    }
  | {
      readonly type: 'node_errored'
      readonly node: string
      readonly step: NodeStep | 'connect'
      readonly error: {readonly code: string; readonly message: string}
      readonly rolled_back: boolean
      readonly notes: readonly string[]
    }
  | {
      readonly type: 'apply_complete'
      /**
       * `no_changes`: nothing to do (no apply was started; the stream is then just version and this).
       * `lease_lost`: the apply lease was lost part way; no node was started after that (see `error`).
       */
      readonly result: 'success' | 'partial' | 'failed' | 'interrupted' | 'lease_lost' | 'no_changes'
      readonly state_serial: number
      readonly nodes: Readonly<Record<string, NodeResult>>
      /** Why the apply stopped early (`lease_lost`). */
      readonly error?: {readonly code: string; readonly message: string}
    }

export type ApplyEventSink = (event: ApplyEvent) => void
