/**
 * Bounded concurrency: a FIFO counting semaphore (at most N SSH channels on
 * one connection, research/perf-reliability.md §0.4) and a bounded parallel
 * map (observing many nodes at once).
 */

export class Semaphore {
  #active = 0
  readonly #waiting: (() => void)[] = []

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`semaphore limit must be a positive integer, got ${limit}`)
  }

  /** Holders right now. */
  get active(): number {
    return this.#active
  }

  /** Callers queued for a slot. */
  get waiting(): number {
    return this.#waiting.length
  }

  /**
   * Resolves with a release function once a slot is free. Waiters are served
   * first come, first served; releasing twice is harmless.
   */
  async acquire(): Promise<() => void> {
    if (this.#active < this.limit) {
      this.#active++
    } else {
      // The slot is handed over by release(), so #active stays counted.
      await new Promise<void>((resolve) => this.#waiting.push(resolve))
    }
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.#waiting.shift()
      if (next) next()
      else this.#active--
    }
  }

  /** Runs fn while holding a slot. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire()
    try {
      return await fn()
    } finally {
      release()
    }
  }
}

/**
 * Maps items with at most `limit` calls of fn in flight; results keep the
 * order of the items. A rejection rejects the whole map (after the calls in
 * flight settle), so fn should turn expected failures into values.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const semaphore = new Semaphore(limit)
  const settled = await Promise.allSettled(items.map((item, index) => semaphore.run(() => fn(item, index))))
  return settled.map((result) => {
    if (result.status === 'rejected') throw result.reason
    return result.value
  })
}
