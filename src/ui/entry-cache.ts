/**
 * Entries for the list, loaded lazily: the list asks for the seqs it is about
 * to show, and the cache fetches the blocks covering them through
 * `node.entries(from, to)`. Blocks are BLOCK seqs long and aligned to BLOCK
 * (the series' chunk size, so one block is one stored chunk); the last
 * MAX_BLOCKS blocks used are kept. The open block at the end of the series is
 * fetched again once the series has grown past what it holds.
 */
import type { Ir3Node } from '../core/node.ts'
import type { EntryView } from '../core/series/series.ts'
import { createFrameScheduler } from './frame.ts'

export const BLOCK = 256
const MAX_BLOCKS = 64

export type EntryState = 'loaded' | 'loading' | 'missing'

export interface EntryCache {
  get(seq: number): EntryView | undefined
  /** 'missing': the series has this seq but it could not be read (a damaged store). */
  state(seq: number): EntryState
  /** Starts loading whatever [from, to) needs. */
  ensureRange(from: number, to: number): void
  /** Starts loading whatever these seqs (ascending) need. */
  ensureSeqs(seqs: readonly number[]): void
  /** Called (at most once a frame) when blocks arrive. */
  subscribe(fn: () => void): () => void
  /** Changes whenever blocks arrive; for useSyncExternalStore. */
  version(): number
  dispose(): void
}

interface Block {
  entries: EntryView[]
  /** node.length when fetched: a short block is fetched again only once the series has grown past it. */
  asOf: number
  /** Fewer entries came back than the series had: unreadable. */
  short: boolean
}

export function createEntryCache(node: Ir3Node): EntryCache {
  const blocks = new Map<number, Block>()
  const inflight = new Set<number>()
  const listeners = new Set<() => void>()
  let version = 0
  let disposed = false

  const notify = createFrameScheduler(() => {
    version++
    for (const fn of listeners) fn()
  })

  const put = (k: number, block: Block) => {
    blocks.delete(k)
    blocks.set(k, block)
    while (blocks.size > MAX_BLOCKS) {
      const oldest = blocks.keys().next().value
      if (oldest === undefined) break
      blocks.delete(oldest)
    }
  }

  const load = (k: number) => {
    const length = node.length
    const want = Math.min(BLOCK, length - k * BLOCK)
    if (want <= 0 || disposed) return
    const have = blocks.get(k)
    if (have) {
      // Touch: the block is in use, so it is the last to be evicted.
      blocks.delete(k)
      blocks.set(k, have)
      if (have.entries.length >= want || have.asOf >= length) return
    }
    if (inflight.has(k)) return
    inflight.add(k)
    const from = k * BLOCK
    node
      .entries(from, from + BLOCK)
      .then(
        (entries) => ({ entries, asOf: length, short: entries.length < want }),
        (): Block => ({ entries: have?.entries ?? [], asOf: length, short: true }),
      )
      .then((block) => {
        inflight.delete(k)
        if (disposed) return
        put(k, block)
        notify.schedule()
      })
  }

  return {
    get(seq) {
      const block = blocks.get(Math.floor(seq / BLOCK))
      return block?.entries[seq % BLOCK]
    },
    state(seq) {
      const block = blocks.get(Math.floor(seq / BLOCK))
      if (!block) return 'loading'
      if (seq % BLOCK < block.entries.length) return 'loaded'
      return block.short && seq < block.asOf && !inflight.has(Math.floor(seq / BLOCK)) ? 'missing' : 'loading'
    },
    ensureRange(from, to) {
      for (let k = Math.floor(Math.max(0, from) / BLOCK); k * BLOCK < to; k++) load(k)
    },
    ensureSeqs(seqs) {
      let last = -1
      for (const seq of seqs) {
        const k = Math.floor(seq / BLOCK)
        if (k !== last) load(k)
        last = k
      }
    },
    subscribe(fn) {
      listeners.add(fn)
      return () => listeners.delete(fn)
    },
    version: () => version,
    dispose() {
      disposed = true
      notify.cancel()
      listeners.clear()
      blocks.clear()
    },
  }
}
