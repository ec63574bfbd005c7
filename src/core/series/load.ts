/**
 * Opening a stored series quickly: read the head (size, last hash, Merkle
 * frontier, checkpoint), check the checkpoint's signature and that its root
 * is the frontier's, and take over the open chunk after checking it against
 * the head. The full chain is verified later, in the background (verify.ts).
 */
import type { EventStore, SignedCheckpoint, Verifier } from '../ports.ts'
import { verifyCheckpoint } from './checkpoint.ts'
import { checkChain } from './chunk.ts'
import { unframeEntries } from './frames.ts'
import { toHex } from './hash.ts'
import { MerkleFrontier } from './merkle.ts'
import { seriesFrontier, type OpenChunk } from './open-chunk.ts'
import type { Problem } from './types.ts'

export interface RestoredHead {
  size: number
  lastHash: string
  checkpoint: SignedCheckpoint | null
  /** Over the sealed chunks' roots; empty when the stored frontier is malformed (then `problems` says so). */
  sealedFrontier: MerkleFrontier
  /** What is wrong already; empty if the head and the open chunk check out. */
  problems: Problem[]
}

/** Reads and checks the head, and restores the open chunk into `open`. Null for an empty series. */
export async function restoreHead(
  store: EventStore,
  chunkSize: number,
  open: OpenChunk,
  publicKey: Uint8Array,
  verifier: Verifier,
): Promise<RestoredHead | null> {
  const head = await store.loadHead()
  if (!head || head.size === 0) return null
  const C = chunkSize
  const problems: Problem[] = []
  const last = head.size - 1
  const cp = head.checkpoint
  let stored: MerkleFrontier | null = null
  let sealedFrontier = new MerkleFrontier()
  const sealedCount = Math.floor(head.size / C)
  try {
    stored = MerkleFrontier.from(head.size, head.peaks)
    sealedFrontier = MerkleFrontier.from(sealedCount, head.peaks.slice(0, popcount(sealedCount)))
  } catch {
    // Stored data, not code, is what fails here (wrong peak count or length, or not bytes at all).
    problems.push({ seq: last, reason: 'stored Merkle frontier is malformed' })
  }
  if (!cp) problems.push({ seq: last, reason: 'no checkpoint covers the series' })
  else if (cp.size !== head.size)
    problems.push({ seq: last, reason: `checkpoint covers ${cp.size} entries, head says ${head.size}` })
  else if (stored && cp.root !== toHex(stored.root())) {
    problems.push({ seq: last, reason: 'checkpoint root does not match the stored frontier' })
  } else {
    const c = await verifyCheckpoint(cp, publicKey, verifier)
    if (!c.ok) problems.push({ seq: last, reason: `checkpoint: ${c.reason}` })
  }
  open.index = sealedCount
  const openCount = head.size % C
  if (openCount > 0) {
    const [rec] = await store.readChunks(open.index, open.index + 1)
    const framed = rec ? unframeEntries(rec.data).entries.slice(0, openCount) : []
    // The open chunk's first link is checked by the background verification.
    const chain = checkChain(framed, open.index * C, null)
    if (chain.problem) problems.push(chain.problem)
    open.restore(rec?.data, framed, chain.leaves)
    if (problems.length === 0 && (open.count !== openCount || chain.last !== head.lastHash)) {
      problems.push({ seq: open.index * C + open.count, reason: 'open chunk does not match the head' })
    } else if (
      problems.length === 0 &&
      cp &&
      toHex(seriesFrontier(head.size, sealedFrontier, open).root()) !== cp.root
    ) {
      problems.push({ seq: last, reason: 'entry does not match the signed checkpoint' })
    }
  }
  return { size: head.size, lastHash: head.lastHash, checkpoint: cp, sealedFrontier, problems }
}

function popcount(n: number): number {
  let c = 0
  for (; n > 0; n = Math.floor(n / 2)) c += n % 2
  return c
}
