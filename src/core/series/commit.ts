/**
 * What one group commit writes, in one store transaction: the chunks sealed
 * since the durable size, the open chunk (rewritten whole), the snapshots due
 * by then, and the head with one checkpoint signed over the new size.
 */
import type { ChunkRecord, Clock, CommitBatch, SeriesHead, SignedCheckpoint, Signer, Snapshot } from '../ports.ts'
import { signCheckpoint } from './checkpoint.ts'
import type { ChunkReader } from './chunk-reader.ts'
import { toHex } from './hash.ts'
import type { MerkleFrontier } from './merkle.ts'
import type { OpenChunk } from './open-chunk.ts'

export interface CommitSource {
  author: string
  signer: Signer
  clock: Clock
  chunkSize: number
  chunks: ChunkReader
  open: OpenChunk
  /** Entries already durable. */
  durable: number
  /** Entries to make durable: every one appended so far. */
  size: number
  lastHash: string
  /** The series' frontier at `size`. */
  frontier: MerkleFrontier
  /** Snapshots taken in memory and not yet committed. */
  pending: readonly Snapshot[]
}

export interface CommitPlan {
  batch: CommitBatch
  checkpoint: SignedCheckpoint
  /** Indexes of sealed chunks the batch makes durable. */
  sealed: number[]
}

export async function prepareCommit(src: CommitSource): Promise<CommitPlan> {
  const C = src.chunkSize
  const target = src.size
  const chunks: ChunkRecord[] = []
  const sealed: number[] = []
  for (let k = Math.floor(src.durable / C); k <= src.open.index; k++) {
    const s = src.chunks.pendingChunk(k)
    if (s) {
      chunks.push({ index: k, count: C, data: s.data, root: s.root })
      sealed.push(k)
    } else if (k === src.open.index && src.open.count > 0) {
      chunks.push({ index: k, count: src.open.count, data: src.open.copy() })
    }
  }
  const snapshots = src.pending.filter((p) => p.size <= target)
  const head: SeriesHead = { size: target, lastHash: src.lastHash, peaks: src.frontier.peaks(), checkpoint: null }
  const root = toHex(src.frontier.root())
  const checkpoint = await signCheckpoint(
    { author: src.author, size: target, root, t: Math.trunc(src.clock.now()) },
    src.signer,
  )
  head.checkpoint = checkpoint
  return { batch: { chunks, head, snapshots }, checkpoint, sealed }
}
