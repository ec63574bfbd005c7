/** The tab's clock and randomness, as the core's ports (`Clock`, `Rng`). */
import type { Clock, Rng } from '../core/ports.ts'

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const h = setTimeout(fn, ms)
    return () => clearTimeout(h)
  },
}

export const realRng: Rng = { next: () => Math.random() }
