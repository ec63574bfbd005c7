/**
 * RFC 6962 / RFC 9162 Merkle tree hashing over leaf hashes.
 *
 * Every function here takes leaves that are already hashed and never adds the
 * 0x00 leaf prefix itself, so the same code serves the tree of entry hashes and
 * the tree whose "leaves" are sealed chunk roots. Interior nodes are
 * `nodeHash(left, right)` = SHA-256(0x01 || left || right); the root of the
 * empty tree is SHA-256 of the empty string.
 *
 * Provides the reference root (`mth`), an incremental root (`MerkleFrontier`,
 * amortized O(1) hashes per append, O(log n) per root), audit paths and consistency proofs with their verifiers
 * (RFC 9162 §2.1.3 and §2.1.4), and an in-memory tree (`MemoryMerkle`) that
 * caches perfect subtrees so that any range a proof needs costs O(log n) hashes.
 *
 * Hashes are treated as immutable values: inputs are stored without copying,
 * and returned hashes never alias internal storage except the elements of
 * `MerkleFrontier.peaks()`, which must not be mutated.
 */
import { Ir3Error } from '../errors.ts'
import { HASH_BYTES, bytesEqual, nodeHash, sha256Bytes } from './hash.ts'

/** Returns MTH of leaves [start, end) of some tree; end > start. */
export type HashRange = (start: number, end: number) => Uint8Array

const EMPTY_ROOT = sha256Bytes(new Uint8Array(0))

/** RFC 6962 MTH({}): SHA-256 of the empty string. Returns a fresh copy. */
export function emptyRoot(): Uint8Array {
  return EMPTY_ROOT.slice()
}

/** The largest power of two strictly less than `n` (the RFC 6962 split point k). Requires n >= 2. */
export function largestPowerOfTwoLessThan(n: number): number {
  if (!Number.isSafeInteger(n) || n < 2) throw new Ir3Error('ERR_BAD_SIZE', `largestPowerOfTwoLessThan(${n})`)
  if (n <= 0x1_0000_0000) return 2 ** (31 - Math.clz32(n - 1))
  let k = 0x1_0000_0000
  while (k * 2 < n) k *= 2
  return k
}

/**
 * RFC 6962 Merkle Tree Hash of `leaves[start..end)` (leaf hashes, not entries).
 * Returns `emptyRoot()` for an empty range.
 */
export function mth(leaves: readonly Uint8Array[], start = 0, end: number = leaves.length): Uint8Array {
  if (!isIndex(start) || !isIndex(end) || start > end || end > leaves.length) {
    throw new Ir3Error('ERR_BAD_RANGE', `mth [${start}, ${end}) of ${leaves.length} leaves`)
  }
  return start === end ? emptyRoot() : mthRange(leaves, start, end)
}

function mthRange(leaves: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const n = end - start
  if (n === 1) return leaves[start]!
  const mid = start + largestPowerOfTwoLessThan(n)
  return nodeHash(mthRange(leaves, start, mid), mthRange(leaves, mid, end))
}

/**
 * The compact state of an append-only Merkle tree: the roots ("peaks") of the
 * perfect subtrees that the binary digits of `size` describe, largest first.
 * Appending is amortized O(1) hashes; the root costs popcount(size) - 1 hashes.
 */
export class MerkleFrontier {
  #size = 0
  #peaks: Uint8Array[] = []

  /** Rebuilds a frontier from its size and peaks (largest subtree first), e.g. as persisted. */
  static from(size: number, peaks: readonly Uint8Array[]): MerkleFrontier {
    if (!isIndex(size)) throw new Ir3Error('ERR_BAD_FRONTIER', `size ${size}`)
    const expected = popcount(size)
    if (peaks.length !== expected) {
      throw new Ir3Error('ERR_BAD_FRONTIER', `size ${size} needs ${expected} peaks, got ${peaks.length}`)
    }
    for (const p of peaks) {
      if (p.length !== HASH_BYTES) throw new Ir3Error('ERR_BAD_FRONTIER', `peak of ${p.length} bytes`)
    }
    const f = new MerkleFrontier()
    f.#size = size
    f.#peaks = peaks.slice()
    return f
  }

  /** Number of leaves appended so far. */
  get size(): number {
    return this.#size
  }

  /** Appends one leaf hash. */
  push(leafHash: Uint8Array): void {
    if (leafHash.length !== HASH_BYTES) throw new Ir3Error('ERR_BAD_HASH', `leaf of ${leafHash.length} bytes`)
    const peaks = this.#peaks
    peaks.push(leafHash)
    // Like a binary counter increment: each trailing 1-bit of the old size is a
    // perfect subtree of equal height to the new one, so they merge.
    for (let s = this.#size; s % 2 === 1; s = (s - 1) / 2) {
      const right = peaks.pop()!
      const left = peaks.pop()!
      peaks.push(nodeHash(left, right))
    }
    this.#size++
  }

  /** The RFC 6962 root of all leaves appended so far; `emptyRoot()` when empty. */
  root(): Uint8Array {
    const peaks = this.#peaks
    let i = peaks.length - 1
    if (i < 0) return emptyRoot()
    if (i === 0) return peaks[0]!.slice()
    let acc = peaks[i]!
    while (--i >= 0) acc = nodeHash(peaks[i]!, acc)
    return acc
  }

  /** The peaks, largest subtree first (a new array sharing the peak hashes). */
  peaks(): Uint8Array[] {
    return this.#peaks.slice()
  }

  /** An independent copy of this frontier. */
  clone(): MerkleFrontier {
    const f = new MerkleFrontier()
    f.#size = this.#size
    f.#peaks = this.#peaks.slice()
    return f
  }
}

/**
 * RFC 9162 §2.1.3.1 audit path PATH(index, D[size]), ordered from the leaf
 * upward as §2.1.3.2 verification consumes it. Requires 0 <= index < size.
 */
export function inclusionProof(index: number, size: number, hashRange: HashRange): Uint8Array[] {
  if (!isIndex(index) || !isIndex(size) || index >= size) {
    throw new Ir3Error('ERR_BAD_RANGE', `inclusion proof for index ${index} in size ${size}`)
  }
  // Descend from the root, collecting the sibling subtree at each split; the
  // path is that list read bottom-up.
  const path: Uint8Array[] = []
  let start = 0
  let end = size
  while (end - start > 1) {
    const mid = start + largestPowerOfTwoLessThan(end - start)
    if (index < mid) {
      path.push(hashRange(mid, end))
      end = mid
    } else {
      path.push(hashRange(start, mid))
      start = mid
    }
  }
  return path.reverse()
}

/**
 * The root that an audit path implies for `leaf` at `index` in a tree of
 * `size` leaves (RFC 9162 §2.1.3.2), or null if the proof is malformed: index
 * out of range, a path too long or too short, or an element not 32 bytes.
 */
export function rootFromInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
): Uint8Array | null {
  if (!isIndex(index) || !isIndex(size) || index >= size || leaf.length !== HASH_BYTES) return null
  let fn = index
  let sn = size - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0 || p.length !== HASH_BYTES) return null
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      // fn === sn with fn even: we are the last, unpaired node on this level,
      // so climb until we become a right child (or reach the left edge).
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2
        sn = Math.floor(sn / 2)
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 ? r : null
}

/** RFC 9162 §2.1.3.2: does `proof` show `leaf` at `index` in the tree of `size` leaves with `root`? */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  const r = rootFromInclusion(index, size, leaf, proof)
  return r !== null && bytesEqual(r, root)
}

/**
 * RFC 9162 §2.1.4.1 consistency proof PROOF(m, D[n]) that the tree of the
 * first `m` leaves is a prefix of the tree of `n` leaves. Requires 0 < m <= n;
 * m === n gives [].
 */
export function consistencyProof(m: number, n: number, hashRange: HashRange): Uint8Array[] {
  if (!isIndex(m) || !isIndex(n) || m === 0 || m > n) {
    throw new Ir3Error('ERR_BAD_RANGE', `consistency proof from ${m} to ${n}`)
  }
  // SUBPROOF(m, D[start:end], b) unrolled: each step appends one subtree hash
  // after the recursive part, so collect top-down and reverse at the end.
  const proof: Uint8Array[] = []
  let start = 0
  let end = n
  let rel = m
  let whole = true
  for (;;) {
    const size = end - start
    if (rel === size) {
      if (!whole) proof.push(hashRange(start, end))
      break
    }
    const mid = start + largestPowerOfTwoLessThan(size)
    if (rel <= mid - start) {
      proof.push(hashRange(mid, end))
      end = mid
    } else {
      proof.push(hashRange(start, mid))
      rel -= mid - start
      start = mid
      whole = false
    }
  }
  return proof.reverse()
}

/**
 * RFC 9162 §2.1.4.2: does `proof` show that the tree of `m` leaves with
 * `rootM` is a prefix of the tree of `n` leaves with `rootN`? For m === n the
 * proof must be empty and the roots equal; m === 0 or m > n is rejected.
 */
export function verifyConsistency(
  m: number,
  n: number,
  rootM: Uint8Array,
  rootN: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!isIndex(m) || !isIndex(n) || m === 0 || m > n) return false
  if (m === n) return proof.length === 0 && bytesEqual(rootM, rootN)
  if (proof.length === 0) return false
  for (const c of proof) if (c.length !== HASH_BYTES) return false
  // When m is a power of two the old tree is a perfect subtree of the new
  // one, so its root is the implicit first element of the path.
  const mIsPowerOfTwo = isPowerOfTwo(m)
  let i = mIsPowerOfTwo ? 0 : 1
  let fr = mIsPowerOfTwo ? rootM : proof[0]!
  let sr = fr
  let fn = m - 1
  let sn = n - 1
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2
    sn = Math.floor(sn / 2)
  }
  for (; i < proof.length; i++) {
    const c = proof[i]!
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2
        sn = Math.floor(sn / 2)
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && bytesEqual(fr, rootM) && bytesEqual(sr, rootN)
}

/**
 * An in-memory append-only Merkle tree holding every leaf hash plus the hash of
 * every perfect, aligned subtree (one packed buffer per level). `hashRange`
 * costs O(log n) hashes for every range an RFC 6962 proof or root asks for
 * (start a multiple of the largest power of two below the range length);
 * other ranges are computed correctly but only reuse the smaller subtrees that
 * are aligned at their start.
 */
export class MemoryMerkle {
  /** levels[h] packs the hashes of aligned subtrees of 2^h leaves, 32 bytes each. */
  #levels: Uint8Array[] = []
  #counts: number[] = []

  /** Number of leaves. */
  get size(): number {
    return this.#counts[0] ?? 0
  }

  /** Appends one leaf hash (32 bytes). */
  push(leaf: Uint8Array): void {
    if (leaf.length !== HASH_BYTES) throw new Ir3Error('ERR_BAD_HASH', `leaf of ${leaf.length} bytes`)
    let h = 0
    let i = this.#append(0, leaf)
    // A completed right child completes its parent: carry upward.
    while (i % 2 === 1) {
      const parent = nodeHash(this.#node(h, i - 1), this.#node(h, i))
      i = this.#append(++h, parent)
    }
  }

  /** The leaf hash at `index` (a copy). */
  leaf(index: number): Uint8Array {
    if (!isIndex(index) || index >= this.size) throw new Ir3Error('ERR_BAD_RANGE', `leaf ${index} of ${this.size}`)
    return this.#node(0, index).slice()
  }

  /** The RFC 6962 root of the first `size` leaves; `emptyRoot()` for 0. */
  root(size: number = this.size): Uint8Array {
    if (!isIndex(size) || size > this.size) throw new Ir3Error('ERR_BAD_RANGE', `root of ${size} > ${this.size} leaves`)
    return size === 0 ? emptyRoot() : this.hashRange(0, size)
  }

  /** MTH of leaves [start, end), end > start. Bound, so it can be passed as a `HashRange`. */
  readonly hashRange: HashRange = (start, end) => {
    if (!isIndex(start) || !isIndex(end) || start >= end || end > this.size) {
      throw new Ir3Error('ERR_BAD_RANGE', `hashRange [${start}, ${end}) of ${this.size}`)
    }
    return this.#cached(start, end)?.slice() ?? this.#range(start, end)
  }

  /** RFC 9162 audit path for leaf `index` in the tree of the first `size` leaves. */
  inclusionProof(index: number, size: number = this.size): Uint8Array[] {
    if (size > this.size) throw new Ir3Error('ERR_BAD_RANGE', `proof for size ${size} > ${this.size}`)
    return inclusionProof(index, size, this.hashRange)
  }

  /** RFC 9162 consistency proof from the first `m` leaves to the first `n`. */
  consistencyProof(m: number, n: number = this.size): Uint8Array[] {
    if (n > this.size) throw new Ir3Error('ERR_BAD_RANGE', `proof for size ${n} > ${this.size}`)
    return consistencyProof(m, n, this.hashRange)
  }

  #range(start: number, end: number): Uint8Array {
    const cached = this.#cached(start, end)
    if (cached !== null) return cached
    const mid = start + largestPowerOfTwoLessThan(end - start)
    return nodeHash(this.#range(start, mid), this.#range(mid, end))
  }

  /** A view of the cached hash of [start, end) if it is a perfect, aligned subtree. */
  #cached(start: number, end: number): Uint8Array | null {
    const n = end - start
    if (!isPowerOfTwo(n) || start % n !== 0) return null
    let level = 0
    while (2 ** level < n) level++
    return this.#node(level, start / n)
  }

  #node(level: number, index: number): Uint8Array {
    const offset = index * HASH_BYTES
    return this.#levels[level]!.subarray(offset, offset + HASH_BYTES)
  }

  /** Appends a hash to a level and returns its index there. */
  #append(level: number, hash: Uint8Array): number {
    const index = this.#counts[level] ?? 0
    let buf = this.#levels[level]
    const offset = index * HASH_BYTES
    if (buf === undefined || offset + HASH_BYTES > buf.length) {
      const grown = new Uint8Array(Math.max(16 * HASH_BYTES, (buf?.length ?? 0) * 2))
      if (buf !== undefined) grown.set(buf)
      buf = grown
      this.#levels[level] = buf
    }
    buf.set(hash, offset)
    this.#counts[level] = index + 1
    return index
  }
}

function isIndex(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0
}

function isPowerOfTwo(n: number): boolean {
  return n === 1 || (n > 1 && largestPowerOfTwoLessThan(n) * 2 === n)
}

function popcount(n: number): number {
  let count = 0
  for (; n > 0; n = Math.floor(n / 2)) count += n % 2
  return count
}
