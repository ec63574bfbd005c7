/**
 * Proofs over a series' chunks (RFC 6962 / 9162): the tree of entries is the
 * tree of chunk roots over the trees of each chunk's entries, so a proof is
 * an inner path within one chunk plus an outer path among chunk roots. Also
 * the head snapshot another node needs to check any chunk of the series.
 */
import { Ir3Error } from '../errors.ts'
import type { SignedCheckpoint } from '../ports.ts'
import type { ChunkReader } from './chunk-reader.ts'
import { frameEntries } from './frames.ts'
import { toHex } from './hash.ts'
import { consistencyProof, inclusionProof, mth } from './merkle.ts'
import type { HeadSnapshot, InclusionProof } from './types.ts'

/** Inclusion proof of entry `seq` in the tree of the first `size` entries; the caller checks the range. */
export async function proveInclusion(
  chunks: ChunkReader,
  chunkSize: number,
  seq: number,
  size: number,
): Promise<InclusionProof> {
  const C = chunkSize
  const k = Math.floor(seq / C)
  const leaves = await chunks.leaves(k, Math.min(C, size - k * C))
  const inner = inclusionProof(seq - k * C, leaves.length, (a, b) => mth(leaves, a, b))
  const m = Math.ceil(size / C)
  const roots = await chunks.rootsOf(size)
  const outer = m > 1 ? inclusionProof(k, m, (a, b) => mth(roots, a, b)) : []
  return { seq, size, leaf: toHex(leaves[seq - k * C]!), path: [...inner, ...outer].map(toHex) }
}

/** Consistency proof between the trees of sizes m and n; the caller checks the range. */
export async function proveConsistency(
  chunks: ChunkReader,
  chunkSize: number,
  m: number,
  n: number,
): Promise<string[]> {
  const C = chunkSize
  const roots = await chunks.rootsOf(n)
  const partial = new Map<number, Uint8Array[]>()
  for (const k of new Set([Math.floor((m - 1) / C), Math.floor((n - 1) / C)])) {
    partial.set(k, await chunks.leaves(k, Math.min(C, n - k * C)))
  }
  const hashRange = (a: number, b: number): Uint8Array => {
    const k = Math.floor(a / C)
    if (b - a <= C && Math.floor((b - 1) / C) === k) {
      if (a % C === 0 && b - a === C) return roots[k]!
      const leaves = partial.get(k)
      if (!leaves) throw new Ir3Error('ERR_BAD_RANGE', `unexpected range [${a}, ${b})`)
      return mth(leaves, a - k * C, b - k * C)
    }
    return mth(roots, k, Math.ceil(b / C))
  }
  return consistencyProof(m, n, hashRange).map(toHex)
}

/** The roots and open-chunk entries `cp` covers; null if the open chunk is short of it. */
export async function headSnapshotAt(
  chunks: ChunkReader,
  chunkSize: number,
  cp: SignedCheckpoint,
): Promise<HeadSnapshot | null> {
  const C = chunkSize
  const roots = await chunks.rootsOf(cp.size)
  const count = cp.size % C
  let tail: Uint8Array = new Uint8Array(0)
  if (count > 0) {
    const c = await chunks.chunk(Math.floor(cp.size / C))
    if (!c || c.length < count) return null
    const framed: Uint8Array[] = []
    for (let i = 0; i < count; i++) framed.push(c.bytes(i)!)
    tail = frameEntries(framed)
  }
  return { checkpoint: cp, roots, tail }
}
