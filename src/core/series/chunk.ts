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

export interface ChainCheck {
  /** Entries that checked out, in order. */
  entries: Entry[]
  /** Their leaf hashes. */
  leaves: Uint8Array[]
  /** Hex hash of the last entry that checked out (the given `prev` if none). */
  last: string | null
  /** The first problem, if any: the entries above stop just before it. */
  problem: { seq: number; reason: string } | null
}

/**
 * Checks encoded entries that should be entries `firstSeq…` of one series:
 * each decodes canonically, claims its seq, and links to the one before
 * (`prev` for the first; null skips that first link). Used by full
 * verification, by loading, and for chunks from anywhere.
 */
export function checkChain(encoded: readonly Uint8Array[], firstSeq: number, prev: string | null): ChainCheck {
  const out: ChainCheck = { entries: [], leaves: [], last: prev, problem: null }
  for (let i = 0; i < encoded.length; i++) {
    const seq = firstSeq + i
    const bytes = encoded[i]!
    const d = decodeEntry(bytes)
    if (!d.ok) out.problem = { seq, reason: `entry does not decode: ${d.reason}` }
    else if (d.entry.seq !== seq) out.problem = { seq, reason: `entry claims seq ${d.entry.seq}` }
    else if (out.last !== null && d.entry.prev !== out.last) {
      out.problem = { seq, reason: 'prev does not match the hash of the previous entry' }
    }
    if (out.problem || !d.ok) return out
    const leaf = leafHash(bytes)
    out.entries.push(d.entry)
    out.leaves.push(leaf)
    out.last = toHex(leaf)
  }
  return out
}

/** A sealed chunk's entries, checked (canonical framing, all C of them, seqs, links) and its Merkle root. */
export type SealedChunk =
  { ok: true; entries: Entry[]; leaves: Uint8Array[]; root: Uint8Array } | { ok: false; seq: number; reason: string }

export function readSealedChunk(data: Uint8Array, index: number, chunkSize: number): SealedChunk {
  const C = chunkSize
  const first = index * C
  const framed = unframeEntries(data, C)
  if (!framed.ok) return { ok: false, seq: first + framed.entries.length, reason: framed.reason }
  if (framed.entries.length !== C)
    return {
      ok: false,
      seq: first + framed.entries.length,
      reason: `chunk holds ${framed.entries.length} of ${C} entries`,
    }
  const chain = checkChain(framed.entries, first, null)
  if (chain.problem) return { ok: false, ...chain.problem }
  return { ok: true, entries: chain.entries, leaves: chain.leaves, root: mth(chain.leaves) }
}

export async function verifyChunk(claim: ChunkClaim, verifier: Verifier): Promise<ChunkVerdict> {
  const { index: k, chunkSize: C, checkpoint } = claim
  const first = k * C
  if (!Number.isSafeInteger(k) || k < 0) return { ok: false, seq: 0, reason: 'bad chunk index' }
  if (checkpoint.size < first + C) return { ok: false, seq: first, reason: 'checkpoint does not cover the chunk' }
  const chunk = readSealedChunk(claim.data, k, C)
  if (!chunk.ok) return chunk
  const { entries, root } = chunk
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
