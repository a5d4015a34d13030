/**
 * Before and after the e2e suite, in vitest's main process: removes what
 * earlier runs left behind when their process died (namespaces, processes,
 * run dirs, and with NEXUS_TEST_DATABASE_URL their state schemas), and after
 * the run whatever this run's test process could not clean up itself (it was
 * killed). Runs of a live process are left alone.
 */
import {dropLeftoverSchemas} from './harness/state.js'
import {removeLeftovers} from './harness/world.js'

async function clean(): Promise<void> {
  const removed = removeLeftovers()
  if (removed.length > 0) process.stderr.write(`e2e: removed leftovers of ${removed.join(', ')}\n`)
  // An unreachable database is the suite's to report (it needs it), not this cleanup's.
  const dropped = await dropLeftoverSchemas().catch((error: unknown) => {
    process.stderr.write(`e2e: could not look for leftover state schemas: ${String(error)}\n`)
    return []
  })
  if (dropped.length > 0) process.stderr.write(`e2e: dropped leftover state schemas ${dropped.join(', ')}\n`)
}

export const setup = clean
export const teardown = clean
