/**
 * Where the Series finds its chunks: the open chunk, chunks sealed in memory
 * and not yet durable, a small cache of recently read ones, and the store
 * (read lazily). Also keeps the sealed chunks' roots, loaded from the store
 * once and extended as chunks are sealed.
 */
import { Ir3Error } from '../errors.ts'
import type { EventStore } from '../ports.ts'
import { ChunkView } from './chunk-view.ts'
import { leafHash } from './hash.ts'
import { mth } from './merkle.ts'
import type { OpenChunk, PendingChunk } from './open-chunk.ts'
import type { EntryView } from './types.ts'

const CACHE_CHUNKS = 128

export class ChunkReader {
  private readonly store: EventStore
  private readonly chunkSize: number
  private readonly open: OpenChunk
  /** Sealed in memory, not yet durable. */
  private readonly pending = new Map<number, PendingChunk>()
  private readonly cache = new Map<number, ChunkView>()
  private roots: Uint8Array[] = []

  constructor(store: EventStore, chunkSize: number, open: OpenChunk) {
    this.store = store
    this.chunkSize = chunkSize
    this.open = open
  }

  /** Chunk `k` was just sealed in memory. */
  sealed(k: number, chunk: PendingChunk): void {
    this.pending.set(k, chunk)
    this.roots[k] = chunk.root
  }

  /** The sealed chunk `k`, if it is not durable yet. */
  pendingChunk(k: number): PendingChunk | undefined {
    return this.pending.get(k)
  }

  /** Sealed chunk `k` is now durable: from here on it is read from the cache or the store. */
  stored(k: number): void {
    const s = this.pending.get(k)
    this.pending.delete(k)
    if (s) this.remember(k, s.view)
  }

  /** Chunk k from memory, cache or store, read lazily. */
  async chunk(k: number): Promise<ChunkView | undefined> {
    if (k === this.open.index) return this.open.view()
    const s = this.pending.get(k)
    if (s) return s.view
    const cached = this.cache.get(k)
    if (cached) return cached
    const [rec] = await this.store.readChunks(k, k + 1)
    if (!rec) return undefined
    const view = new ChunkView(rec.data)
    this.remember(k, view)
    return view
  }

  /** Leaf hashes of the first `count` entries of chunk `k`. */
  async leaves(k: number, count: number): Promise<Uint8Array[]> {
    const c = await this.chunk(k)
    if (!c || c.length < count) throw new Ir3Error('ERR_DAMAGED', `chunk ${k} is missing or short`)
    const leaves: Uint8Array[] = []
    for (let i = 0; i < count; i++) leaves.push(leafHash(c.bytes(i)!))
    return leaves
  }

  /** Roots of the chunks covering the first `size` entries; the last may be a partial chunk's root. */
  async rootsOf(size: number): Promise<Uint8Array[]> {
    const C = this.chunkSize
    const full = Math.floor(size / C)
    let missingFrom = -1
    for (let k = 0; k < full; k++) {
      if (!this.roots[k]) {
        missingFrom = k
        break
      }
    }
    if (missingFrom >= 0) {
      const loaded = await this.store.readRoots(missingFrom, full)
      loaded.forEach((r, i) => {
        if (!this.roots[missingFrom + i]) this.roots[missingFrom + i] = r
      })
    }
    const roots = this.roots.slice(0, full)
    if (roots.length < full || roots.some((r) => !r)) throw new Ir3Error('ERR_DAMAGED', 'chunk roots are missing')
    if (size % C !== 0) roots.push(mth(await this.leaves(full, size % C)))
    return roots
  }

  /** Stored bytes of sealed chunks [from, to) among the first `durable` entries (missing ones end the list). */
  async sealedData(from: number, to: number, durable: number): Promise<Uint8Array[]> {
    const C = this.chunkSize
    const end = Math.min(to, Math.floor(durable / C))
    const out: Uint8Array[] = []
    for (let k = Math.max(0, from); k < end; k++) {
      const s = this.pending.get(k)
      if (s) {
        out.push(s.data)
        continue
      }
      const [rec] = await this.store.readChunks(k, k + 1)
      if (!rec || rec.count !== C) break
      out.push(rec.data)
    }
    return out
  }

  /** Entries [from, to) with their hashes; the range must be within the series. */
  async entries(from: number, to: number): Promise<EntryView[]> {
    const out: EntryView[] = []
    if (to <= from) return out
    const C = this.chunkSize
    for (let k = Math.floor(from / C); k * C < to; k++) {
      const chunk = await this.chunk(k)
      if (!chunk) break
      const lo = Math.max(from - k * C, 0)
      const hi = Math.min(to - k * C, chunk.length)
      for (let i = lo; i < hi; i++) {
        const e = chunk.entry(i)
        if (!e) break
        out.push({ ...e, hash: chunk.hash(i)!, bytes: chunk.bytes(i)!.length })
      }
    }
    return out
  }

  private remember(k: number, chunk: ChunkView): void {
    this.cache.delete(k)
    this.cache.set(k, chunk)
    if (this.cache.size > CACHE_CHUNKS) {
      const oldest = this.cache.keys().next().value
      if (oldest !== undefined) this.cache.delete(oldest)
    }
  }
}
