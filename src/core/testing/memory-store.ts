/**
 * An in-memory EventStore with the same contract as the IndexedDB store:
 * commits are atomic and values are copied in and out, so a caller can't
 * mutate what was stored. `corrupt` is a test seam to damage stored data.
 */
import type { ChunkRecord, CommitBatch, EventStore, SeriesHead, Snapshot } from '../ports.ts'

export interface MemoryEventStore extends EventStore {
  /** Test seam: direct access to stored chunk records (mutate to simulate damage). */
  readonly _testOnlyChunks: Map<number, ChunkRecord>
  _testOnlyHead(): SeriesHead | null
  _testOnlySetHead(head: SeriesHead | null): void
  /** Makes the next `n` commits fail (simulates a full disk). */
  _testOnlyFailCommits(n: number): void
}

export function createMemoryEventStore(): MemoryEventStore {
  const chunks = new Map<number, ChunkRecord>()
  const snapshots = new Map<number, Snapshot>()
  let head: SeriesHead | null = null
  let failures = 0
  const copyChunk = (c: ChunkRecord): ChunkRecord =>
    c.root
      ? { index: c.index, count: c.count, data: c.data.slice(), root: c.root.slice() }
      : { index: c.index, count: c.count, data: c.data.slice() }
  return {
    async loadHead() {
      return head ? structuredClone(head) : null
    },
    async commit(batch: CommitBatch) {
      await Promise.resolve()
      if (failures > 0) {
        failures--
        throw new Error('QuotaExceededError (simulated)')
      }
      for (const c of batch.chunks) chunks.set(c.index, copyChunk(c))
      for (const s of batch.snapshots) snapshots.set(s.size, structuredClone(s))
      head = structuredClone(batch.head)
    },
    async readChunks(from, to) {
      const out: ChunkRecord[] = []
      for (let k = from; k < to; k++) {
        const c = chunks.get(k)
        if (c) out.push(copyChunk(c))
      }
      return out
    },
    async readSnapshot(size) {
      let best: Snapshot | null = null
      for (const s of snapshots.values()) if (s.size <= size && (!best || s.size > best.size)) best = s
      return best ? structuredClone(best) : null
    },
    async readRoots(from, to) {
      const out: Uint8Array[] = []
      for (let k = from; k < to; k++) {
        const r = chunks.get(k)?.root
        if (!r) break
        out.push(r.slice())
      }
      return out
    },
    close() {},
    _testOnlyChunks: chunks,
    _testOnlyHead: () => head,
    _testOnlySetHead(h) {
      head = h
    },
    _testOnlyFailCommits(n) {
      failures = n
    },
  }
}
