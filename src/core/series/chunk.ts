/**
 * Verifying a sealed chunk that came from anywhere (a peer, a torrent, a
 * file): its framed entries must decode canonically, carry the right seqs,
 * link to each other, and their Merkle subtree root must be included — by the
 * given audit path — in the root of a signed checkpoint of the chunk's author
 * that covers it. The transport's own checksums are never trusted for this.
 */
import type { SignedCheckpoint, Verifier } from '../ports.ts'
import { verifyCheckpoint } from './checkpoint.ts'
import { decodeEntry, type Entry } from './encoding.ts'
import { unframeEntries } from './frames.ts'
import { fromHex, leafHash, toHex } from './hash.ts'
import { mth, verifyInclusion } from './merkle.ts'

export interface ChunkClaim {
  /** Chunk index k: entries [k·C, (k+1)·C). */
  index: number
  chunkSize: number
  /** Framed entry bytes as stored and seeded. */
  data: Uint8Array
  /** Author's public key (its id must match the checkpoint's author). */
  publicKey: Uint8Array
  checkpoint: SignedCheckpoint
  /** Hex audit path of the chunk root among the chunk roots of the checkpoint's tree. */
  path: readonly string[]
}

export type ChunkVerdict = { ok: true; entries: Entry[]; root: string } | { ok: false; seq: number; reason: string }

export async function verifyChunk(claim: ChunkClaim, verifier: Verifier): Promise<ChunkVerdict> {
  const { index: k, chunkSize: C, checkpoint } = claim
  const first = k * C
  if (!Number.isSafeInteger(k) || k < 0) return { ok: false, seq: 0, reason: 'bad chunk index' }
  if (checkpoint.size < first + C) return { ok: false, seq: first, reason: 'checkpoint does not cover the chunk' }
  const framed = unframeEntries(claim.data, C)
  if (!framed.ok) return { ok: false, seq: first + framed.entries.length, reason: framed.reason }
  if (framed.entries.length !== C)
    return {
      ok: false,
      seq: first + framed.entries.length,
      reason: `chunk holds ${framed.entries.length} of ${C} entries`,
    }
  const entries: Entry[] = []
  const leaves: Uint8Array[] = []
  let prev: string | null = null
  for (let i = 0; i < C; i++) {
    const bytes = framed.entries[i]!
    const d = decodeEntry(bytes)
    if (!d.ok) return { ok: false, seq: first + i, reason: `entry does not decode: ${d.reason}` }
    if (d.entry.seq !== first + i) return { ok: false, seq: first + i, reason: `entry claims seq ${d.entry.seq}` }
    if (prev !== null && d.entry.prev !== prev)
      return { ok: false, seq: first + i, reason: 'prev does not match the hash of the previous entry' }
    const leaf = leafHash(bytes)
    prev = toHex(leaf)
    leaves.push(leaf)
    entries.push(d.entry)
  }
  const root = mth(leaves)
  const path: Uint8Array[] = []
  for (const h of claim.path) {
    const b = fromHex(h)
    if (!b || b.length !== 32) return { ok: false, seq: first, reason: 'malformed proof' }
    path.push(b)
  }
  const cpRoot = fromHex(checkpoint.root)
  if (!cpRoot || cpRoot.length !== 32) return { ok: false, seq: first, reason: 'malformed checkpoint root' }
  if (!verifyInclusion(k, Math.ceil(checkpoint.size / C), root, path, cpRoot)) {
    return { ok: false, seq: first, reason: 'chunk is not included in the checkpoint' }
  }
  const c = await verifyCheckpoint(checkpoint, claim.publicKey, verifier)
  if (!c.ok) return { ok: false, seq: first, reason: `checkpoint: ${c.reason}` }
  return { ok: true, entries, root: toHex(root) }
}
