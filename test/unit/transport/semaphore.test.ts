import {describe, expect, it} from 'vitest'

import {mapLimit, Semaphore} from '../../../src/transport/semaphore.js'

const tick = () => new Promise((resolve) => setTimeout(resolve, 1))

describe('Semaphore', () => {
  it('never lets more than the limit hold a slot', async () => {
    const semaphore = new Semaphore(3)
    let active = 0
    let peak = 0
    await Promise.all(
      Array.from({length: 20}, (_, i) =>
        semaphore.run(async () => {
          active++
          peak = Math.max(peak, active)
          expect(semaphore.active).toBeLessThanOrEqual(3)
          await new Promise((resolve) => setTimeout(resolve, (i % 4) + 1))
          active--
        }),
      ),
    )
    expect(peak).toBe(3)
    expect(semaphore.active).toBe(0)
    expect(semaphore.waiting).toBe(0)
  })

  it('serves waiters first come, first served', async () => {
    const semaphore = new Semaphore(1)
    const first = await semaphore.acquire()
    const order: number[] = []
    const waiters = [1, 2, 3].map((n) => semaphore.acquire().then((release) => (order.push(n), release)))
    expect(semaphore.waiting).toBe(3)
    first()
    for (const waiter of waiters) (await waiter)()
    expect(order).toEqual([1, 2, 3])
  })

  it('ignores a second release of the same slot', async () => {
    const semaphore = new Semaphore(1)
    const release = await semaphore.acquire()
    release()
    release()
    const a = await semaphore.acquire()
    let second = false
    void semaphore.acquire().then(() => (second = true))
    await tick()
    expect(second).toBe(false)
    a()
    await tick()
    expect(second).toBe(true)
  })

  it('frees the slot when the task throws', async () => {
    const semaphore = new Semaphore(1)
    await expect(semaphore.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(semaphore.active).toBe(0)
    await expect(semaphore.run(async () => 'ok')).resolves.toBe('ok')
  })

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new Semaphore(0)).toThrow(RangeError)
    expect(() => new Semaphore(1.5)).toThrow(RangeError)
  })
})

describe('mapLimit', () => {
  it('keeps the order of the items and the bound', async () => {
    let active = 0
    let peak = 0
    const results = await mapLimit([5, 1, 4, 2, 3, 0, 6], 2, async (n, i) => {
      active++
      peak = Math.max(peak, active)
      await new Promise((resolve) => setTimeout(resolve, n))
      active--
      return `${i}:${n}`
    })
    expect(results).toEqual(['0:5', '1:1', '2:4', '3:2', '4:3', '5:0', '6:6'])
    expect(peak).toBe(2)
  })

  it('rejects with the first failure after the calls in flight settle', async () => {
    const done: number[] = []
    await expect(
      mapLimit([1, 2, 3], 3, async (n) => {
        if (n === 2) throw new Error('two')
        await tick()
        done.push(n)
        return n
      }),
    ).rejects.toThrow('two')
    expect(done.sort()).toEqual([1, 3])
  })
})
