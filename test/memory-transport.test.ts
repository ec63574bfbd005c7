import { describe, it } from 'vitest'
import { transportContract } from './contract/transport-contract.ts'
import { createMemoryNetwork } from '../src/core/testing/memory-network.ts'
import { createSeededRng } from '../src/core/testing/manual-clock.ts'
import type { Clock } from '../src/core/ports.ts'

// The contract runs in real time, so the memory network gets the real clock here.
const realClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const h = setTimeout(fn, ms)
    return () => clearTimeout(h)
  },
}

describe('Transport contract: memory network', () => {
  for (const c of transportContract) {
    it(
      c.name,
      async () => {
        const net = createMemoryNetwork({ clock: realClock, rng: createSeededRng(11), latencyMs: [0, 3] })
        await c.run(async () => ({ a: net.transport('a'), b: net.transport('b') }))
      },
      30_000,
    )
  }
})
