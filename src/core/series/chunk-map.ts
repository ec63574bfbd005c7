/**
 * Chunk records held in a Map by index, as in-memory stores keep them
 * (the read-only series' fixed store, the test memory store): values are
 * copied in and out, so no caller can change what is held.
 */
import type { ChunkRecord } from '../ports.ts'

export function copyChunk(c: ChunkRecord): ChunkRecord {
  return c.root
    ? { index: c.index, count: c.count, data: c.data.slice(), root: c.root.slice() }
    : { index: c.index, count: c.count, data: c.data.slice() }
}

/** Copies of the chunks with index in [from, to), in order; missing ones are absent. */
export function chunksIn(chunks: ReadonlyMap<number, ChunkRecord>, from: number, to: number): ChunkRecord[] {
  const out: ChunkRecord[] = []
  for (let k = from; k < to; k++) {
    const c = chunks.get(k)
    if (c) out.push(copyChunk(c))
  }
  return out
}

/** Copies of the roots of sealed chunks with index in [from, to), stopping at the first without one. */
export function rootsIn(chunks: ReadonlyMap<number, ChunkRecord>, from: number, to: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let k = from; k < to; k++) {
    const r = chunks.get(k)?.root
    if (!r) break
    out.push(r.slice())
  }
  return out
}
