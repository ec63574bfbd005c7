/**
 * Who holds what. Outgoing: this node's signed peer record says which series
 * it holds (`h`: `[author, chunks]`, its own included; 0 chunks = the head
 * and open chunk only, so a series with nothing sealed has holders too), set
 * on the mesh whenever that changes. Incoming: peer records only mark their
 * node as seen; every `SUMMARY_EVERY_MS` one `chunk-holders` summary entry
 * `{ changes: [[node, author, chunks], …] }` (−1: no longer held, or its
 * record went stale) records what changed since derived state last said,
 * and only when something did. Growth is coarse (a quarter segment, or after
 * 30 s). Whatever records arrive, a node appends at most one such entry per
 * `SUMMARY_EVERY_MS` with at most `MAX_CHANGES` changes, at most
 * `MAX_PER_NODE` of them about one node; nodes it links to come first, then
 * the longest known, so a flood of fresh ids waits behind the honest nodes.
 * `adverts()` is the fresh view replication and `want-chunk` work from.
 */
import type { PeerRecord } from '../mesh/frames.ts'
import type { ChunksContext } from './context.ts'
import { SEGMENT_CHUNKS } from './head.ts'
import { holderFits, type ChunksState } from './reducers.ts'

/** One summary entry at most this often. */
export const SUMMARY_EVERY_MS = 10_000
/** Changes in one summary entry, and about one node. */
export const MAX_CHANGES = 64
export const MAX_PER_NODE = 8
/** Peer records older than this say nothing about holdings. */
const FRESH_MS = 60_000
/** Growth smaller than a quarter segment is recorded at most this often. */
const GROWTH_EVERY_MS = 30_000
/** Nodes remembered for their first record (priority) and for growth times. */
const MAX_REMEMBERED = 4096

export interface Holders {
  /** Puts this node's holdings in its next peer record, and tells listeners. */
  advertise(): void
  /** author → node → sealed chunks (0: head only), from fresh peer records (and this node's own holdings). */
  adverts(): Map<string, Map<string, number>>
  /** Notes a verified peer record of another node (cheap: no entry is appended here). */
  onRecord(r: PeerRecord): void
  /** Appends one summary of holder changes, if any. */
  summarize(): void
  /** Starts the summary tick; returns its cancellation. */
  start(): () => void
}

type Change = [node: string, author: string, chunks: number]

export function createHolders(ctx: ChunksContext): Holders {
  const { deps } = ctx
  const firstSeen = new Map<string, number>()
  const recordedAt = new Map<string, number>()
  let dirty = false

  function advertise(): void {
    const h: [string, number][] = []
    const own = ctx.ownChunks()
    if (own > 0 || (deps.series.checkpoint?.size ?? 0) > 0) h.push([deps.id, own])
    for (const s of ctx.held.values()) if (s.checkpoint.size > 0) h.push([s.author, s.chunks])
    deps.mesh.setHoldings(h)
    ctx.changed()
  }

  function adverts(): Map<string, Map<string, number>> {
    const now = deps.clock.now()
    const out = new Map<string, Map<string, number>>()
    const add = (author: string, node: string, n: number) => {
      if (n < 0) return
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
    if (!firstSeen.has(r.id) && firstSeen.size < MAX_REMEMBERED) firstSeen.set(r.id, deps.clock.now())
    dirty = true
  }

  /** What changed between fresh records and derived state, most trusted nodes first, within the caps. */
  function changes(st: ChunksState, now: number): Change[] {
    const fresh = new Map<string, Map<string, number>>()
    for (const k of deps.mesh.known())
      if (k.id !== deps.id && now - k.gossipAt <= FRESH_MS) fresh.set(k.id, new Map(k.holds))
    const byNode = new Map<string, Change[]>()
    const push = (c: Change) => {
      let l = byNode.get(c[0])
      if (!l) byNode.set(c[0], (l = []))
      if (l.length < MAX_PER_NODE) l.push(c)
    }
    for (const [node, holds] of fresh)
      for (const [author, n] of holds) {
        const was = st.holders[author]?.[node]
        if (was === n) continue
        const key = `${node}:${author}`
        const grewLittle = was !== undefined && n > was && n - was < SEGMENT_CHUNKS / 4
        if (grewLittle && now - (recordedAt.get(key) ?? 0) < GROWTH_EVERY_MS) continue
        if (was === undefined && !holderFits(st, author, node)) continue
        push([node, author, n])
      }
    // Holders whose fresh record no longer lists a series, or whose record went stale.
    for (const [author, of] of Object.entries(st.holders))
      for (const node of Object.keys(of)) if (!fresh.get(node)?.has(author)) push([node, author, -1])
    const rank = (node: string) => (deps.mesh.isReady(node) ? 0 : 1)
    const order = [...byNode.keys()].sort(
      (a, b) => rank(a) - rank(b) || (firstSeen.get(a) ?? now) - (firstSeen.get(b) ?? now) || (a < b ? -1 : 1),
    )
    const out: Change[] = []
    for (const node of order) {
      for (const c of byNode.get(node)!) if (out.length < MAX_CHANGES) out.push(c)
      if (out.length >= MAX_CHANGES) break
    }
    return out
  }

  function summarize(): void {
    const now = deps.clock.now()
    const out = changes(ctx.chunksState(), now)
    // Something left over (caps) or new records: look again next time; otherwise rest.
    dirty = out.length >= MAX_CHANGES
    if (out.length === 0) return
    for (const [node, author] of out) recordedAt.set(`${node}:${author}`, now)
    deps.record('chunk-holders', { changes: out })
    if (recordedAt.size > MAX_REMEMBERED) recordedAt.clear()
    if (firstSeen.size >= MAX_REMEMBERED) {
      const known = new Set(deps.mesh.known().map((k) => k.id))
      for (const id of firstSeen.keys()) if (!known.has(id)) firstSeen.delete(id)
    }
  }

  function start(): () => void {
    let cancel: (() => void) | null = null
    let ended = false
    let quietTicks = 0
    const tick = (): void => {
      if (ended || ctx.stopped) return
      // Records going stale change holders too: look at least every sixth tick even without news.
      if (dirty || ++quietTicks >= 6) {
        quietTicks = 0
        summarize()
      }
      cancel = deps.clock.setTimeout(tick, SUMMARY_EVERY_MS)
    }
    cancel = deps.clock.setTimeout(tick, SUMMARY_EVERY_MS)
    return () => {
      ended = true
      cancel?.()
    }
  }

  return { advertise, adverts, onRecord, summarize, start }
}
