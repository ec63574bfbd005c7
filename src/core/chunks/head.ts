/**
 * Checking another node's series piece by piece. A head — the author's signed
 * checkpoint, the roots of the chunks it covers, and the open chunk's entries
 * up to it — is checked once (signature, roots against the checkpoint root,
 * open chunk against the last root). Each sealed chunk then checks against its
 * root alone, so a bad chunk is pinned to its index and its seeder.
 */
import type { HeldSeries, SignedCheckpoint, Verifier } from '../ports.ts'
import { nodeIdFromPublicKey } from '../identity.ts'
import { verifyCheckpoint } from '../series/checkpoint.ts'
import { checkChain, readSealedChunk } from '../series/chunk.ts'
import { unframeEntries } from '../series/frames.ts'
import { fromHex, toHex } from '../series/hash.ts'
import { mth } from '../series/merkle.ts'

/** Sealed chunks per torrent: 64 × 256 entries; a 1M-entry series is 62 segments. */
export const SEGMENT_CHUNKS = 64

export type Check = { ok: true } | { ok: false; seq: number; reason: string }

const HEX64 = /^[0-9a-f]{64}$/

/** The head's claim: the key is the author's, the checkpoint is the author's, non-empty and signed by it. */
export async function verifyHeadKey(
  h: Pick<HeldSeries, 'author' | 'publicKey' | 'checkpoint'>,
  verifier: Verifier,
): Promise<Check> {
  const cp = h.checkpoint
  const key = fromHex(h.publicKey)
  if (!key || key.length !== 32 || nodeIdFromPublicKey(key) !== h.author || cp.author !== h.author)
    return { ok: false, seq: 0, reason: 'key or checkpoint of another node' }
  if (!Number.isSafeInteger(cp.size) || cp.size < 1) return { ok: false, seq: 0, reason: 'empty checkpoint' }
  const sig = await verifyCheckpoint(cp, key, verifier)
  if (!sig.ok) return { ok: false, seq: cp.size - 1, reason: `checkpoint: ${sig.reason}` }
  return { ok: true }
}

/** The head's data against its (already checked) checkpoint: roots hash to its root, the open chunk to the last root. */
export function verifyHeadData(h: Pick<HeldSeries, 'checkpoint' | 'roots' | 'tail'>, chunkSize: number): Check {
  const cp = h.checkpoint
  const C = chunkSize
  const last = cp.size - 1
  if (h.roots.length !== Math.ceil(cp.size / C) || !h.roots.every((r) => HEX64.test(r)))
    return { ok: false, seq: last, reason: `expected ${Math.ceil(cp.size / C)} chunk roots` }
  const roots = h.roots.map((r) => fromHex(r)!)
  if (toHex(mth(roots)) !== cp.root)
    return { ok: false, seq: last, reason: 'chunk roots do not match the checkpoint root' }
  const count = cp.size % C
  const k = Math.floor(cp.size / C)
  const framed = unframeEntries(h.tail, C)
  if (!framed.ok || framed.entries.length !== count)
    return { ok: false, seq: k * C, reason: `open chunk should hold ${count} entries` }
  if (count > 0) {
    const chain = checkChain(framed.entries, k * C, null)
    if (chain.problem) return { ok: false, ...chain.problem }
    if (toHex(mth(chain.leaves)) !== h.roots[k])
      return { ok: false, seq: k * C, reason: 'open chunk does not match its root' }
  }
  return { ok: true }
}

/** Checks a head that came from anywhere: its claim, then its data. `chunks`/`bytes` are not part of it. */
export async function verifyHead(
  h: Pick<HeldSeries, 'author' | 'publicKey' | 'checkpoint' | 'roots' | 'tail'>,
  chunkSize: number,
  verifier: Verifier,
): Promise<Check> {
  const claim = await verifyHeadKey(h, verifier)
  return claim.ok ? verifyHeadData(h, chunkSize) : claim
}

/** Checks sealed chunk `index` against a verified head's root for it. */
export function verifySealed(
  index: number,
  data: Uint8Array,
  roots: readonly string[],
  size: number,
  chunkSize: number,
): Check {
  const C = chunkSize
  const first = index * C
  if (!Number.isSafeInteger(index) || index < 0 || first + C > size)
    return { ok: false, seq: first, reason: 'the checkpoint does not cover this chunk' }
  const chunk = readSealedChunk(data, index, C)
  if (!chunk.ok) return chunk
  if (toHex(chunk.root) !== roots[index])
    return { ok: false, seq: first, reason: 'chunk does not match its root in the checkpoint' }
  return { ok: true }
}

export type { SignedCheckpoint }
