/**
 * Another node's series, opened read-only from its chunks (fetched, held or
 * imported from a file) and its author's signed checkpoint: the same Series
 * code as one's own, so it is checked on open (checkpoint signature against
 * the Merkle frontier), verified in full in the background, and derives state
 * and time-travels the same way. It cannot be appended to or signed.
 */
import { Ir3Error } from '../errors.ts'
import type { ChunkRecord, Clock, EventStore, SeriesHead, SignedCheckpoint, Verifier } from '../ports.ts'
import { unframeEntries } from './frames.ts'
import { fromHex, leafHash, toHex, ZERO_HASH } from './hash.ts'
import { MerkleFrontier, mth } from './merkle.ts'
import type { Reducer } from './reducers.ts'
import { Series } from './series.ts'
import { chunksIn, copyChunk, rootsIn } from './chunk-map.ts'

export interface ReadOnlySource {
  author: string
  /** Hex Ed25519 public key of the author. */
  publicKey: string
  checkpoint: SignedCheckpoint
  /** Framed data of sealed chunks 0…n-1 (n = checkpoint.size / chunkSize, rounded down). */
  sealed: Uint8Array[]
  /** Framed entries of the open chunk up to the checkpoint. */
  tail: Uint8Array
}

export async function openReadOnlySeries(
  src: ReadOnlySource,
  deps: { verifier: Verifier; clock: Clock; reducers: readonly Reducer[]; chunkSize: number },
): Promise<Series> {
  const C = deps.chunkSize
  const size = src.checkpoint.size
  const sealed = Math.floor(size / C)
  if (src.sealed.length !== sealed)
    throw new Ir3Error('ERR_DAMAGED', `expected ${sealed} sealed chunks, got ${src.sealed.length}`)
  const key = fromHex(src.publicKey)
  if (!key || key.length !== 32) throw new Ir3Error('ERR_DAMAGED', 'malformed public key')
  const records: ChunkRecord[] = []
  const rootsFrontier = new MerkleFrontier()
  let last: Uint8Array = ZERO_HASH
  for (const [k, data] of src.sealed.entries()) {
    // Roots are recomputed here; the Series checks them against the signed checkpoint on open.
    const leaves = unframeEntries(data, C).entries.map((e) => leafHash(e))
    const root = mth(leaves)
    records.push({ index: k, count: C, data, root })
    rootsFrontier.push(root)
    if (leaves.length > 0) last = leaves[leaves.length - 1]!
  }
  const tailFrontier = new MerkleFrontier()
  const tailEntries = unframeEntries(src.tail, C).entries
  for (const e of tailEntries) tailFrontier.push((last = leafHash(e)))
  if (tailEntries.length > 0) records.push({ index: sealed, count: tailEntries.length, data: src.tail })
  const store = fixedEventStore(records, {
    size,
    lastHash: toHex(last),
    peaks: [...rootsFrontier.peaks(), ...tailFrontier.peaks()],
    checkpoint: src.checkpoint,
  })
  return Series.open({
    author: src.author,
    signer: {
      publicKey: key,
      sign: () => Promise.reject(new Ir3Error('ERR_READ_ONLY', 'another node’s series is read-only')),
    },
    verifier: deps.verifier,
    store,
    clock: deps.clock,
    reducers: deps.reducers,
    chunkSize: C,
    readOnly: true,
  })
}

/**
 * The store under a read-only series: the given chunks and head, copied in
 * and out like any store's values, never written (a commit is refused).
 */
function fixedEventStore(records: readonly ChunkRecord[], head: SeriesHead): EventStore {
  const chunks = new Map(records.map((c) => [c.index, copyChunk(c)]))
  const stored = structuredClone(head)
  return {
    async loadHead() {
      return structuredClone(stored)
    },
    async commit() {
      throw new Ir3Error('ERR_READ_ONLY', 'another node’s series is read-only')
    },
    readChunks: async (from, to) => chunksIn(chunks, from, to),
    async readSnapshot() {
      return null
    },
    readRoots: async (from, to) => rootsIn(chunks, from, to),
    close() {},
  }
}
