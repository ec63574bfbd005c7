/**
 * Who holds what. Outgoing: this node's signed peer record says which series
 * it holds sealed chunks of (`h`: `[author, chunks]`, its own included), set
 * on the mesh whenever that changes. Incoming: each verified peer record of
 * another node is compared with derived state, and what changed is recorded
 * as `chunk-holders` `{ node, author, chunks }` (0: no longer held). Growth is
 * recorded coarsely (a quarter segment, or after 30 s), and each node may add
 * at most 32 such entries a minute, however much it churns its list.
 * `adverts()` is the fresh view replication and `want-chunk` work from.
 */
import type { PeerRecord } from '../mesh/frames.ts'
import type { ChunksContext } from './context.ts'
import { SEGMENT_CHUNKS } from './head.ts'

const HOLDER_ENTRIES_PER_MIN = 32
/** Peer records older than this say nothing about holdings. */
const FRESH_MS = 60_000

export interface Holders {
  /** Puts this node's holdings in its next peer record, and tells listeners. */
  advertise(): void
  /** author → node → sealed chunks, from fresh peer records (and this node's own holdings). */
  adverts(): Map<string, Map<string, number>>
  /** Records what a peer record says its node holds, when it changed. */
  onRecord(r: PeerRecord): void
}

export function createHolders(ctx: ChunksContext): Holders {
  const recordedAt = new Map<string, number>()
  const quotas = new Map<string, { since: number; left: number }>()
  const { deps } = ctx

  function advertise(): void {
    const h: [string, number][] = []
    const own = ctx.ownChunks()
    if (own > 0) h.push([deps.id, own])
    for (const s of ctx.held.values()) if (s.chunks > 0) h.push([s.author, s.chunks])
    deps.mesh.setHoldings(h)
    ctx.changed()
  }

  function adverts(): Map<string, Map<string, number>> {
    const now = deps.clock.now()
    const out = new Map<string, Map<string, number>>()
    const add = (author: string, node: string, n: number) => {
      if (n <= 0) return
      let m = out.get(author)
      if (!m) out.set(author, (m = new Map()))
      m.set(node, n)
    }
    for (const k of deps.mesh.known()) {
      if (now - k.gossipAt > FRESH_MS) continue
      for (const [a, n] of k.holds) add(a, k.id, n)
    }
    for (const h of ctx.held.values()) add(h.author, deps.id, h.chunks)
    return out
  }

  function onRecord(r: PeerRecord): void {
    const st = ctx.chunksState()
    const listed = new Map(r.h)
    const t = deps.clock.now()
    let quota = quotas.get(r.id)
    if (!quota || t - quota.since > 60_000) {
      quota = { since: t, left: HOLDER_ENTRIES_PER_MIN }
      quotas.set(r.id, quota)
    }
    if (quotas.size > 2000) for (const [k, q] of quotas) if (t - q.since > 60_000) quotas.delete(k)
    const left = quota
    const record = (body: { node: string; author: string; chunks: number }) => {
      if (left.left <= 0) return
      left.left--
      deps.record('chunk-holders', body)
    }
    // Growth is recorded coarsely so a catching-up holder does not fill every series with small steps.
    for (const [author, n] of r.h) {
      const was = st.holders[author]?.[r.id] ?? 0
      if (was === n) continue
      const key = `${r.id}:${author}`
      const last = recordedAt.get(key) ?? 0
      if (was === 0 || n < was || n - was >= SEGMENT_CHUNKS / 4 || t - last > 30_000) {
        recordedAt.set(key, t)
        record({ node: r.id, author, chunks: n })
      }
    }
    for (const [author, of] of Object.entries(st.holders))
      if (of[r.id] !== undefined && !listed.has(author)) record({ node: r.id, author, chunks: 0 })
    if (recordedAt.size > 10_000) recordedAt.clear()
  }

  return { advertise, adverts, onRecord }
}
