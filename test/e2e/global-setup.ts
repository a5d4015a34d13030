/**
 * Before and after the e2e suite, in vitest's main process: removes what
 * earlier runs left behind when their process died (namespaces, processes,
 * run dirs), and after the run whatever this run's test process could not
 * clean up itself (it was killed). Runs of a live process are left alone.
 */
import {removeLeftovers} from './harness/world.js'

export function setup(): void {
  const removed = removeLeftovers()
  if (removed.length > 0) process.stderr.write(`e2e: removed leftovers of ${removed.join(', ')}\n`)
}

export function teardown(): void {
  const removed = removeLeftovers()
  if (removed.length > 0) process.stderr.write(`e2e: removed leftovers of ${removed.join(', ')}\n`)
}
