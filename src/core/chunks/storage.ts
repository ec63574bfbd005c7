/**
 * The storage budget for chunks held for others. They count against the same
 * budget as the node's own series (`limits.storageUsed`, kept from
 * `chunk-stored` and `chunk-dropped`). To make room, the held series with the
 * most holders goes (`chunk-dropped` `{ author, chunks, bytes, reason }`);
 * never one a fetch job is filling.
 */
import type { LimitsState } from '../intents/limits.ts'
import type { HeldSeries } from '../ports.ts'
import type { ChunksContext } from './context.ts'
import type { Holders } from './holders.ts'

export interface Storage {
  /**
   * Frees room for `bytes` more of `author` within the budget and reserves it
   * (concurrent fetches cannot both take the same room); false if nothing can
   * go. The caller releases the reservation once it recorded what it stored.
   */
  makeRoom(author: string, bytes: number): Promise<boolean>
  release(bytes: number): void
  /** Stops holding `author`'s series (recorded as `chunk-dropped`). */
  drop(author: string, reason: string): Promise<void>
}

export function createStorage(ctx: ChunksContext, holders: Holders): Storage {
  const { deps } = ctx

  async function makeRoom(author: string, bytes: number): Promise<boolean> {
    for (;;) {
      const limits = deps.state()['limits'] as LimitsState
      if (limits.storageUsed + ctx.reserved + bytes <= limits.budgets.storageBytes) {
        ctx.reserved += bytes
        return true
      }
      const st = ctx.chunksState()
      let victim: HeldSeries | null = null
      let most = -1
      for (const h of ctx.held.values()) {
        // A series a job is filling right now would go on being written into a dropped copy.
        if (h.author === author || ctx.jobs.has(h.author)) continue
        const n = Object.keys(st.holders[h.author] ?? {}).length
        if (n > most) {
          most = n
          victim = h
        }
      }
      if (!victim) return false
      await drop(victim.author, 'storage budget')
    }
  }

  async function drop(author: string, reason: string): Promise<void> {
    const h = ctx.held.get(author)
    if (!h) return
    ctx.held.delete(author)
    deps.swarm.forget?.(author)
    await deps.store.drop(author)
    deps.record('chunk-dropped', { author, chunks: h.chunks, bytes: h.bytes, reason })
    holders.advertise()
  }

  const release = (bytes: number) => {
    ctx.reserved = Math.max(0, ctx.reserved - bytes)
  }

  return { makeRoom, drop, release }
}
