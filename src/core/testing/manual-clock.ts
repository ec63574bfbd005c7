/** A clock tests move by hand: timers fire only inside `advance`. */
import type { Clock, Rng } from '../ports.ts'

export interface ManualClock extends Clock {
  advance(ms: number): void
  /** Timers not yet fired. */
  readonly pending: number
}

export function createManualClock(start = 1_700_000_000_000): ManualClock {
  let now = start
  let seq = 0
  let live = 0
  // Binary min-heap on (at, seq): timers due at the same time fire in the order they were set.
  const heap: { at: number; seq: number; fn: (() => void) | null }[] = []
  const less = (a: (typeof heap)[number], b: (typeof heap)[number]) => a.at < b.at || (a.at === b.at && a.seq < b.seq)
  const push = (t: (typeof heap)[number]) => {
    heap.push(t)
    let i = heap.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(heap[i]!, heap[p]!)) break
      ;[heap[i], heap[p]] = [heap[p]!, heap[i]!]
      i = p
    }
  }
  const pop = () => {
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r
        if (m === i) break
        ;[heap[i], heap[m]] = [heap[m]!, heap[i]!]
        i = m
      }
    }
    return top
  }
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const t = { at: now + Math.max(0, ms), seq: seq++, fn: fn as (() => void) | null }
      push(t)
      live++
      return () => {
        if (t.fn) {
          t.fn = null
          live--
        }
      }
    },
    advance(ms) {
      const end = now + ms
      while (heap.length > 0 && heap[0]!.at <= end) {
        const t = pop()
        if (!t.fn) continue
        const fn = t.fn
        t.fn = null
        live--
        now = t.at
        fn()
      }
      now = end
    },
    get pending() {
      return live
    },
  }
}

/** mulberry32: a small seeded PRNG. Print the seed when a randomized test fails. */
export function createSeededRng(seed: number): Rng {
  let a = seed >>> 0
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0
      let t = a
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    },
  }
}

/**
 * `base` seen by a node whose clock is `skewMs` off (ahead if positive):
 * `now()` is shifted, timers run on the base clock's time. For simulating
 * honest nodes whose wall clocks disagree.
 */
export function createSkewedClock(base: Clock, skewMs: number): Clock {
  return {
    now: () => base.now() + skewMs,
    setTimeout: (fn, ms) => base.setTimeout(fn, ms),
  }
}
