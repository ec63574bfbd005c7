/**
 * Replication policy, as the origin's BitTorrent node does it. Every
 * `replicateEveryMs` (±25 %) one step looks at the series advertised in fresh
 * peer records and
 *
 * - catches up a held series when someone advertises more sealed chunks
 *   (at most every 10 s per series) or its author is online (a newer open
 *   chunk: every 30 s), directly from the nodes known to have more (no
 *   want-chunk flood); one such series per step;
 * - and takes on a series with fewer holders than the target besides
 *   its author, fewest first, if this node's limiters say YES to
 *   `replicate`. About as many nodes step in at once as holders are missing;
 *   a try that got nothing waits ~15 s (fetch.ts).
 */
import { safetyCatch } from '../errors.ts'
import { decide, type LimitsState } from '../intents/limits.ts'
import type { ChunksContext, Source } from './context.ts'
import type { Fetcher } from './fetch.ts'
import type { Holders } from './holders.ts'
import type { Storage } from './storage.ts'

const CATCH_UP_EVERY_MS = 10_000
const FOLLOW_EVERY_MS = 30_000
/** An author whose record is this fresh is online. */
const ONLINE_MS = 30_000

export interface Replicator {
  /** Starts the tick; returns its cancellation. */
  start(): () => void
  /** One step: catch up a held series that grew, or take on one that lacks holders. */
  once(): Promise<void>
}

export function createReplicator(ctx: ChunksContext, holders: Holders, fetcher: Fetcher, storage: Storage): Replicator {
  const { deps, o, C } = ctx
  const lastHeadCheck = new Map<string, number>()
  let running = false

  async function once(): Promise<void> {
    if (!o.replicate || running || ctx.stopped) return
    running = true
    try {
      const now = deps.clock.now()
      for (const [a, at] of ctx.retryAt) if (at < now) ctx.retryAt.delete(a)
      // A budget lowered below what is held (limits-set) is honoured: held series go until it fits.
      const before = deps.state()['limits'] as LimitsState
      if (before.storageUsed > before.budgets.storageBytes) await storage.makeRoom('', 0)
      const adverts = holders.adverts()
      for (const h of ctx.held.values()) {
        const most = Math.max(0, ...(adverts.get(h.author)?.values() ?? []))
        const online = deps.mesh.known().some((k) => k.id === h.author && now - k.gossipAt < ONLINE_MS)
        const checked = lastHeadCheck.get(h.author) ?? 0
        if (deps.mesh.isBanned(h.author)) continue
        // Each held series at most every 10 s when someone has more sealed chunks, every 30 s to follow an
        // online author's open chunk; one per step, and taking on goes on in the same step.
        const due = most > h.chunks ? CATCH_UP_EVERY_MS : online ? FOLLOW_EVERY_MS : Infinity
        if (now - checked > due) {
          lastHeadCheck.set(h.author, now)
          const sources: Source[] = [...(adverts.get(h.author) ?? new Map<string, number>())]
            .filter(([node, n]) => node !== deps.id && (n > h.chunks || node === h.author))
            .map(([id, n]) => ({ id, chunks: n, size: id === h.author ? Number.MAX_SAFE_INTEGER : n * C }))
          if (online && !sources.some((x) => x.id === h.author))
            sources.push({ id: h.author, chunks: h.chunks, size: Number.MAX_SAFE_INTEGER })
          await fetcher.fetchSeries(h.author, 'replicate', sources)
          break
        }
      }
      const limits = deps.state()['limits'] as LimitsState
      // Taking on a series stores it: the economic limiter applies (unlike to serving one).
      if (decide(limits, deps.id, 'replicate', now).answer !== 'yes') return
      // Series with fewer holders than the target, fewest first; random among equals.
      const candidates: { author: string; holders: number }[] = []
      for (const [author, of] of adverts) {
        if (author === deps.id || ctx.held.has(author) || deps.mesh.isBanned(author)) continue
        if ((ctx.retryAt.get(author) ?? 0) > now) continue
        const n = [...of.keys()].filter((node) => node !== author).length
        if (n < o.replicationTarget) candidates.push({ author, holders: n })
      }
      if (candidates.length === 0) return
      const fewest = Math.min(...candidates.map((c) => c.holders))
      const pool = candidates.filter((c) => c.holders === fewest)
      const pick = pool[Math.floor(deps.rng.next() * pool.length)]!
      // Spread the work: about as many nodes step in at once as holders are missing.
      const missing = o.replicationTarget - pick.holders
      if (deps.rng.next() > Math.min(1, missing / Math.max(1, deps.mesh.known().length / 2))) return
      await fetcher.fetchSeries(pick.author, 'replicate')
    } finally {
      running = false
    }
  }

  function start(): () => void {
    let cancel: (() => void) | null = null
    let ended = false
    const tick = (): void => {
      if (ended || ctx.stopped) return
      void once()
        .catch(safetyCatch)
        .finally(() => {
          if (ended || ctx.stopped) return
          const jitter = 0.75 + deps.rng.next() * 0.5
          cancel = deps.clock.setTimeout(tick, o.replicateEveryMs * jitter)
        })
    }
    tick()
    return () => {
      ended = true
      cancel?.()
    }
  }

  return { start, once }
}
