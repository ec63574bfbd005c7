/**
 * Full verification of a stored series, chunk by chunk in batches: every
 * entry decodes canonically, claims its seq and links to the one before;
 * every sealed chunk's stored root is its entries' root; the tree of chunk
 * roots is the signed checkpoint's root, and the signature verifies. Stops at
 * the first problem and says where it is.
 */
import type { Clock, EventStore, SignedCheckpoint, Verifier } from '../ports.ts'
import { verifyCheckpoint } from './checkpoint.ts'
import { checkChain } from './chunk.ts'
import { unframeEntries } from './frames.ts'
import { bytesEqual, toHex, ZERO_HASH } from './hash.ts'
import { MerkleFrontier, mth } from './merkle.ts'
import type { Problem, VerifyReport } from './types.ts'

const ZERO_HEX = toHex(ZERO_HASH)
const BATCH = 32

export interface VerifyTarget {
  store: EventStore
  chunkSize: number
  clock: Clock
  verifier: Verifier
  /** The author's public key. */
  publicKey: Uint8Array
  /** Entries to verify: the durable size. */
  size: number
  checkpoint: SignedCheckpoint | null
  /**
   * Asked once the chain is checked: the hash the chain must end at (the
   * head's last hash, which the next append links to), or null when the
   * series has moved past `size` meanwhile and there is nothing to compare.
   */
  headLastHash: () => string | null
}

export async function verifyStored(t: VerifyTarget): Promise<VerifyReport> {
  const started = t.clock.now()
  const { size, checkpoint } = t
  const problems: Problem[] = []
  const C = t.chunkSize
  const frontier = new MerkleFrontier() // over chunk roots, the last possibly partial
  let prev = ZERO_HEX
  let checked = 0
  const nChunks = Math.ceil(size / C)
  outer: for (let from = 0; from < nChunks; from += BATCH) {
    const to = Math.min(nChunks, from + BATCH)
    const records = await t.store.readChunks(from, to)
    let r = 0
    for (let k = from; k < to; k++) {
      const rec = records[r]?.index === k ? records[r++] : undefined
      const expected = Math.min(C, size - k * C)
      if (!rec) {
        problems.push({ seq: k * C, reason: `chunk ${k} is missing` })
        break outer
      }
      if (rec.count < expected) {
        problems.push({
          seq: k * C + rec.count,
          reason: `chunk ${k} is truncated: ${rec.count} of ${expected} entries`,
        })
        break outer
      }
      const framed = unframeEntries(rec.data)
      if (framed.entries.length < expected) {
        const why = framed.ok ? 'fewer entries than recorded' : framed.reason
        problems.push({ seq: k * C + framed.entries.length, reason: `chunk ${k}: ${why}` })
        break outer
      }
      const chain = checkChain(framed.entries.slice(0, expected), k * C, prev)
      checked += chain.entries.length
      if (chain.problem) {
        problems.push(chain.problem)
        break outer
      }
      prev = chain.last ?? prev
      const chunkRoot = mth(chain.leaves)
      frontier.push(chunkRoot)
      if (expected === C) {
        if (!rec.root || !bytesEqual(rec.root, chunkRoot)) {
          // Every link checked out, so if this is the last chunk its last entry is the one that
          // can have changed unnoticed; the signed checkpoint decides which of the two is wrong.
          const lastChanged = k === nChunks - 1 && checkpoint !== null && checkpoint.root !== toHex(frontier.root())
          problems.push(
            lastChanged
              ? { seq: size - 1, reason: 'entry does not match the signed checkpoint' }
              : { seq: k * C, reason: `chunk ${k}: stored root does not match its entries` },
          )
          break outer
        }
      }
    }
  }
  if (problems.length === 0 && size > 0) {
    const lastHash = t.headLastHash()
    // The head's last hash is what the next append links to: it must be the chain's end.
    if (lastHash !== null && prev !== lastHash) {
      problems.push({ seq: size - 1, reason: 'stored head does not match the last entry' })
    }
  }
  if (problems.length === 0) {
    if (!checkpoint) {
      if (size > 0) problems.push({ seq: size - 1, reason: 'no checkpoint covers the series' })
    } else if (checkpoint.size !== size) {
      problems.push({ seq: size - 1, reason: `checkpoint covers ${checkpoint.size} entries, series has ${size}` })
    } else if (checkpoint.root !== toHex(frontier.root())) {
      problems.push({ seq: size - 1, reason: 'entry does not match the signed checkpoint' })
    } else {
      const c = await verifyCheckpoint(checkpoint, t.publicKey, t.verifier)
      if (!c.ok) problems.push({ seq: size - 1, reason: `checkpoint: ${c.reason}` })
    }
  }
  return { ok: problems.length === 0, size, checked, problems, checkpoint, ms: t.clock.now() - started }
}
