/**
 * An in-memory EventStore with the same contract as the IndexedDB store:
 * commits are atomic and values are copied in and out, so a caller can't
 * mutate what was stored. `corrupt` is a test seam to damage stored data.
 */
import type { ChunkRecord, CommitBatch, EventStore, SeriesHead, Snapshot } from '../ports.ts'
import { chunksIn, copyChunk, rootsIn } from '../series/chunk-map.ts'

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
    readChunks: async (from, to) => chunksIn(chunks, from, to),
    async readSnapshot(size) {
      let best: Snapshot | null = null
      for (const s of snapshots.values()) if (s.size <= size && (!best || s.size > best.size)) best = s
      return best ? structuredClone(best) : null
    },
    readRoots: async (from, to) => rootsIn(chunks, from, to),
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
