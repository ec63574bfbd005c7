/** A clock tests move by hand: timers fire only inside `advance`. */
import type { Clock, Rng } from '../ports.ts'

export interface ManualClock extends Clock {
  advance(ms: number): void
  /** Timers not yet fired. */
  readonly pending: number
}

export function createManualClock(start = 1_700_000_000_000): ManualClock {
  let now = start
  let nextId = 0
  const timers = new Map<number, { at: number; fn: () => void }>()
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++
      timers.set(id, { at: now + Math.max(0, ms), fn })
      return () => timers.delete(id)
    },
    advance(ms) {
      const end = now + ms
      for (;;) {
        let best: [number, { at: number; fn: () => void }] | null = null
        for (const t of timers) if (t[1].at <= end && (!best || t[1].at < best[1].at)) best = t
        if (!best) break
        timers.delete(best[0])
        now = best[1].at
        best[1].fn()
      }
      now = end
    },
    get pending() {
      return timers.size
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
