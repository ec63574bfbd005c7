import { describe, it, expect } from 'vitest'
import { fromHex, leafHash, nodeHash, toHex } from '../src/core/series/hash.ts'
import type { HashRange } from '../src/core/series/merkle.ts'
import {
  MemoryMerkle,
  MerkleFrontier,
  consistencyProof,
  emptyRoot,
  inclusionProof,
  largestPowerOfTwoLessThan,
  mth,
  rootFromInclusion,
  verifyConsistency,
  verifyInclusion,
} from '../src/core/series/merkle.ts'

import { createSeededRng } from '../src/core/testing/manual-clock.ts'

const SEED = 0x5eed1234

function mulberry32(seed: number): () => number {
  const rng = createSeededRng(seed)
  return () => rng.next()
}

function randomHashes(count: number, seed: number): Uint8Array[] {
  const rand = mulberry32(seed)
  return Array.from({ length: count }, () => {
    const h = new Uint8Array(32)
    for (let i = 0; i < 32; i++) h[i] = Math.floor(rand() * 256)
    return h
  })
}

function hex(h: string): Uint8Array {
  const bytes = fromHex(h)
  if (bytes === null) throw new Error(`bad hex ${h}`)
  return bytes
}

function flipped(h: Uint8Array, byte: number): Uint8Array {
  const copy = h.slice()
  copy[byte] = copy[byte]! ^ 0x01
  return copy
}

/**
 * The integers lo..hi: all of them for small ranges, otherwise both ends, their
 * neighbours, the middle and one random pick (tamper checks cost many hashes).
 */
function sample(lo: number, hi: number, rand: () => number): number[] {
  if (hi - lo < 12) return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i)
  const mid = Math.floor((lo + hi) / 2)
  return [...new Set([lo, lo + 1, mid, hi - 1, hi, lo + Math.floor(rand() * (hi - lo + 1))])]
}

function rangeOver(leaves: readonly Uint8Array[]): HashRange {
  return (start, end) => mth(leaves, start, end)
}

// Certificate Transparency reference tree (RFC 6962 test data).
const CT_INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f']
const CT_LEAVES = CT_INPUTS.map((h) => leafHash(hex(h)))
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
]
const CT_INCLUSION: { index: number; size: number; path: string[] }[] = [
  { index: 0, size: 1, path: [] },
  {
    index: 0,
    size: 8,
    path: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    path: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { index: 2, size: 3, path: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    index: 1,
    size: 5,
    path: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
]
const CT_CONSISTENCY: { m: number; n: number; proof: string[] }[] = [
  { m: 1, n: 1, proof: [] },
  {
    m: 1,
    n: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    m: 6,
    n: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    m: 2,
    n: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
]

const MAX_PROOF_SIZE = 70
const ALL_BYTES = Array.from({ length: 32 }, (_, b) => b)
const LEAVES_70 = randomHashes(MAX_PROOF_SIZE, SEED)
const TREE_70 = new MemoryMerkle()
for (const leaf of LEAVES_70) TREE_70.push(leaf)
const ROOTS_70 = Array.from({ length: MAX_PROOF_SIZE + 1 }, (_, n) => mth(LEAVES_70, 0, n))

describe('mth', () => {
  it('matches the RFC 6962 / Certificate Transparency reference roots for sizes 1..8', () => {
    for (let n = 1; n <= 8; n++) expect(toHex(mth(CT_LEAVES, 0, n)), `size ${n}`).toBe(CT_ROOTS[n - 1])
  })

  it('returns SHA-256 of the empty string for an empty tree', () => {
    const expected = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    expect(toHex(mth([]))).toBe(expected)
    expect(toHex(emptyRoot())).toBe(expected)
    expect(toHex(mth(CT_LEAVES, 3, 3))).toBe(expected)
  })

  it('hashes a range relative to its own start', () => {
    expect(mth(CT_LEAVES, 2, 4)).toEqual(nodeHash(CT_LEAVES[2]!, CT_LEAVES[3]!))
    expect(mth(CT_LEAVES, 5, 6)).toEqual(CT_LEAVES[5])
  })

  it('does not add the leaf prefix to the hashes it is given', () => {
    const [a, b] = randomHashes(2, SEED)
    expect(mth([a!, b!])).toEqual(nodeHash(a!, b!))
  })

  it('rejects ranges outside the leaves', () => {
    expect(() => mth(CT_LEAVES, 0, 9)).toThrow(/^ERR_BAD_RANGE/)
    expect(() => mth(CT_LEAVES, 4, 3)).toThrow(/^ERR_BAD_RANGE/)
    expect(() => mth(CT_LEAVES, -1, 3)).toThrow(/^ERR_BAD_RANGE/)
  })
})

describe('largestPowerOfTwoLessThan', () => {
  it('returns the largest power of two strictly below n', () => {
    const cases: [number, number][] = [
      [2, 1],
      [3, 2],
      [4, 2],
      [5, 4],
      [8, 4],
      [9, 8],
      [1000, 512],
      [2 ** 31, 2 ** 30],
      [2 ** 31 + 1, 2 ** 31],
      [2 ** 32, 2 ** 31],
      [2 ** 32 + 1, 2 ** 32],
      [2 ** 40 + 5, 2 ** 40],
      [2 ** 53 - 1, 2 ** 52],
    ]
    for (const [n, k] of cases) expect(largestPowerOfTwoLessThan(n), `n=${n}`).toBe(k)
  })

  it('rejects n below 2', () => {
    expect(() => largestPowerOfTwoLessThan(1)).toThrow(/^ERR_BAD_SIZE/)
    expect(() => largestPowerOfTwoLessThan(0)).toThrow(/^ERR_BAD_SIZE/)
  })
})

describe('MerkleFrontier', () => {
  it('has the same root as mth after every append, for sizes 0..300', () => {
    const leaves = randomHashes(300, SEED)
    const f = new MerkleFrontier()
    expect(f.root(), `seed ${SEED}`).toEqual(emptyRoot())
    for (let n = 1; n <= 300; n++) {
      f.push(leaves[n - 1]!)
      expect(f.size).toBe(n)
      expect(toHex(f.root()), `seed ${SEED} size ${n}`).toBe(toHex(mth(leaves, 0, n)))
    }
  })

  it('matches the CT reference roots', () => {
    const f = new MerkleFrontier()
    for (let n = 1; n <= 8; n++) {
      f.push(CT_LEAVES[n - 1]!)
      expect(toHex(f.root()), `size ${n}`).toBe(CT_ROOTS[n - 1])
    }
  })

  it('keeps one peak per set bit of the size, largest subtree first', () => {
    const leaves = randomHashes(13, SEED)
    const f = new MerkleFrontier()
    for (const leaf of leaves) f.push(leaf)
    expect(f.peaks()).toEqual([mth(leaves, 0, 8), mth(leaves, 8, 12), leaves[12]])
  })

  it('round-trips through from(size, peaks) and keeps appending identically', () => {
    const leaves = randomHashes(100, SEED + 1)
    const f = new MerkleFrontier()
    for (let n = 0; n < 60; n++) {
      const restored = MerkleFrontier.from(f.size, f.peaks())
      expect(restored.size).toBe(n)
      expect(restored.root(), `seed ${SEED + 1} size ${n}`).toEqual(f.root())
      f.push(leaves[n]!)
    }
    const restored = MerkleFrontier.from(f.size, f.peaks())
    for (let n = 60; n < 100; n++) {
      f.push(leaves[n]!)
      restored.push(leaves[n]!)
    }
    expect(restored.root()).toEqual(f.root())
    expect(restored.root()).toEqual(mth(leaves))
  })

  it('throws ERR_BAD_FRONTIER when the peak count does not match the size', () => {
    const [a, b] = randomHashes(2, SEED)
    expect(() => MerkleFrontier.from(3, [a!])).toThrow(/^ERR_BAD_FRONTIER/)
    expect(() => MerkleFrontier.from(4, [a!, b!])).toThrow(/^ERR_BAD_FRONTIER/)
    expect(() => MerkleFrontier.from(0, [a!])).toThrow(/^ERR_BAD_FRONTIER/)
    expect(() => MerkleFrontier.from(-1, [])).toThrow(/^ERR_BAD_FRONTIER/)
    expect(() => MerkleFrontier.from(1, [new Uint8Array(31)])).toThrow(/^ERR_BAD_FRONTIER/)
    expect(MerkleFrontier.from(0, []).root()).toEqual(emptyRoot())
  })

  it('clones into an independent frontier', () => {
    const leaves = randomHashes(6, SEED)
    const f = new MerkleFrontier()
    for (const leaf of leaves.slice(0, 5)) f.push(leaf)
    const c = f.clone()
    f.push(leaves[5]!)
    expect(c.size).toBe(5)
    expect(c.root()).toEqual(mth(leaves, 0, 5))
    expect(f.root()).toEqual(mth(leaves, 0, 6))
  })

  it('returns a peaks array that does not alias its state', () => {
    const f = new MerkleFrontier()
    for (const leaf of randomHashes(3, SEED)) f.push(leaf)
    const peaks = f.peaks()
    peaks.pop()
    expect(f.peaks()).toHaveLength(2)
  })
})

describe('inclusion proofs', () => {
  it('match the CT reference audit paths', () => {
    for (const { index, size, path } of CT_INCLUSION) {
      const proof = inclusionProof(index, size, rangeOver(CT_LEAVES))
      expect(proof.map(toHex), `index ${index} size ${size}`).toEqual(path)
      expect(verifyInclusion(index, size, CT_LEAVES[index]!, proof, hex(CT_ROOTS[size - 1]!))).toBe(true)
    }
  })

  it('verify for every index of every size 1..70', () => {
    for (let n = 1; n <= MAX_PROOF_SIZE; n++) {
      const root = ROOTS_70[n]!
      for (let i = 0; i < n; i++) {
        const proof = TREE_70.inclusionProof(i, n)
        const ok = verifyInclusion(i, n, LEAVES_70[i]!, proof, root)
        if (!ok) expect.fail(`seed ${SEED}: inclusion ${i} in ${n} did not verify`)
        if (i === 0 || i === n - 1) expect(inclusionProof(i, n, rangeOver(LEAVES_70))).toEqual(proof)
      }
    }
  })

  it('fail when the index, leaf, proof bytes, proof length or root are wrong', () => {
    const fail = (msg: string) => expect.fail(`seed ${SEED}: ${msg}`)
    const rand = mulberry32(SEED + 5)
    for (let n = 1; n < MAX_PROOF_SIZE; n++) {
      const root = ROOTS_70[n]!
      for (const i of sample(0, n - 1, rand)) {
        const leaf = LEAVES_70[i]!
        const proof = TREE_70.inclusionProof(i, n)
        const ok = (j: number, l: Uint8Array, p: readonly Uint8Array[], r: Uint8Array) => verifyInclusion(j, n, l, p, r)
        for (const j of sample(0, n - 1, rand))
          if (j !== i && ok(j, leaf, proof, root)) fail(`index ${j} for ${i}/${n}`)
        if (n > 1 && ok(i, LEAVES_70[(i + 1) % n]!, proof, root)) fail(`wrong leaf ${i}/${n}`)
        if (ok(i, flipped(leaf, 0), proof, root)) fail(`flipped leaf ${i}/${n}`)
        if (ok(i, leaf, proof, flipped(root, 31))) fail(`flipped root ${i}/${n}`)
        for (let k = 0; k < proof.length; k++) {
          for (const byte of n <= 8 ? ALL_BYTES : [Math.floor(rand() * 32)]) {
            const bad = proof.slice()
            bad[k] = flipped(proof[k]!, byte)
            if (ok(i, leaf, bad, root)) fail(`flipped proof[${k}] byte ${byte} ${i}/${n}`)
          }
          const dropped = proof.slice(0, k).concat(proof.slice(k + 1))
          if (ok(i, leaf, dropped, root)) fail(`dropped proof[${k}] ${i}/${n}`)
        }
        if (ok(i, leaf, [...proof, root], root)) fail(`extended ${i}/${n}`)
        if (ok(i, leaf, [LEAVES_70[0]!, ...proof], root)) fail(`extended ${i}/${n}`)
        if (verifyInclusion(i, n + 1, leaf, proof, ROOTS_70[n + 1]!)) fail(`wrong size ${i}/${n}`)
      }
    }
  })

  it('fail for an index at or beyond the size, negative or fractional', () => {
    const leaf = LEAVES_70[0]!
    const proof = TREE_70.inclusionProof(0, 8)
    expect(verifyInclusion(0, 8, leaf, proof, ROOTS_70[8]!)).toBe(true)
    expect(verifyInclusion(8, 8, leaf, proof, ROOTS_70[8]!)).toBe(false)
    expect(verifyInclusion(9, 8, leaf, proof, ROOTS_70[8]!)).toBe(false)
    expect(verifyInclusion(-1, 8, leaf, proof, ROOTS_70[8]!)).toBe(false)
    expect(verifyInclusion(0.5, 8, leaf, proof, ROOTS_70[8]!)).toBe(false)
    expect(verifyInclusion(0, 0, leaf, [], emptyRoot())).toBe(false)
    expect(() => inclusionProof(8, 8, TREE_70.hashRange)).toThrow(/^ERR_BAD_RANGE/)
  })

  it('imply the root through rootFromInclusion, or null when malformed', () => {
    const proof = TREE_70.inclusionProof(5, 13)
    expect(rootFromInclusion(5, 13, LEAVES_70[5]!, proof)).toEqual(ROOTS_70[13])
    expect(rootFromInclusion(5, 13, LEAVES_70[5]!, proof.slice(1))).toBeNull()
    expect(rootFromInclusion(5, 13, LEAVES_70[5]!, [...proof, proof[0]!])).toBeNull()
    expect(rootFromInclusion(13, 13, LEAVES_70[5]!, proof)).toBeNull()
    expect(rootFromInclusion(5, 13, LEAVES_70[5]!, [proof[0]!.subarray(1), ...proof.slice(1)])).toBeNull()
    expect(rootFromInclusion(0, 1, LEAVES_70[0]!, [])).toEqual(LEAVES_70[0])
  })
})

describe('consistency proofs', () => {
  it('match the CT reference proofs', () => {
    for (const { m, n, proof: expected } of CT_CONSISTENCY) {
      const proof = consistencyProof(m, n, rangeOver(CT_LEAVES))
      expect(proof.map(toHex), `${m} -> ${n}`).toEqual(expected)
      expect(verifyConsistency(m, n, hex(CT_ROOTS[m - 1]!), hex(CT_ROOTS[n - 1]!), proof)).toBe(true)
    }
  })

  it('verify for every 1 <= m <= n <= 70', () => {
    for (let n = 1; n <= MAX_PROOF_SIZE; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = TREE_70.consistencyProof(m, n)
        if (!verifyConsistency(m, n, ROOTS_70[m]!, ROOTS_70[n]!, proof)) {
          expect.fail(`seed ${SEED}: consistency ${m} -> ${n} did not verify`)
        }
        if (m === 1 || m === n - 1) expect(consistencyProof(m, n, rangeOver(LEAVES_70))).toEqual(proof)
      }
    }
  })

  it('fail when any proof byte, the proof length, m, n or either root is wrong', () => {
    const fail = (msg: string) => expect.fail(`seed ${SEED}: ${msg}`)
    const rand = mulberry32(SEED + 4)
    for (let n = 1; n <= MAX_PROOF_SIZE; n++) {
      for (const m of sample(1, n, rand)) {
        const rootM = ROOTS_70[m]!
        const rootN = ROOTS_70[n]!
        const proof = TREE_70.consistencyProof(m, n)
        const ok = (mm: number, nn: number, rm: Uint8Array, rn: Uint8Array, p: readonly Uint8Array[]) =>
          verifyConsistency(mm, nn, rm, rn, p)
        for (let k = 0; k < proof.length; k++) {
          // Every byte for small trees; one random byte per element beyond that.
          for (const byte of n <= 8 ? ALL_BYTES : [Math.floor(rand() * 32)]) {
            const bad = proof.slice()
            bad[k] = flipped(proof[k]!, byte)
            if (ok(m, n, rootM, rootN, bad)) fail(`flipped proof[${k}] byte ${byte} ${m} -> ${n}`)
          }
          const dropped = proof.slice(0, k).concat(proof.slice(k + 1))
          if (ok(m, n, rootM, rootN, dropped)) fail(`dropped proof[${k}] ${m} -> ${n}`)
        }
        if (ok(m, n, rootM, rootN, [...proof, rootN])) fail(`appended element ${m} -> ${n}`)
        if (ok(m, n, rootM, rootN, [rootM, ...proof])) fail(`prepended element ${m} -> ${n}`)
        if (ok(m, n, flipped(rootM, 7), rootN, proof)) fail(`wrong old root ${m} -> ${n}`)
        if (ok(m, n, rootM, flipped(rootN, 7), proof)) fail(`wrong new root ${m} -> ${n}`)
        if (m < n && ok(m, n, rootN, rootM, proof)) fail(`swapped roots ${m} -> ${n}`)
        // Other sizes, each with its own true root, so only the size is wrong.
        for (const mm of [1, m - 2, m - 1, m + 1, m + 2, n]) {
          if (mm >= 1 && mm <= n && mm !== m && ok(mm, n, ROOTS_70[mm]!, rootN, proof)) {
            fail(`wrong m ${mm} for ${m} -> ${n}`)
          }
        }
        for (const nn of [m, n - 2, n - 1, n + 1, n + 2, MAX_PROOF_SIZE]) {
          if (nn >= m && nn <= MAX_PROOF_SIZE && nn !== n && ok(m, nn, rootM, ROOTS_70[nn]!, proof)) {
            fail(`wrong n ${nn} for ${m} -> ${n}`)
          }
        }
      }
    }
  })

  it('reject m = 0, m > n, and non-empty proofs between equal sizes', () => {
    const root = ROOTS_70[5]!
    expect(verifyConsistency(0, 5, emptyRoot(), root, [])).toBe(false)
    expect(verifyConsistency(0, 5, emptyRoot(), root, [root])).toBe(false)
    expect(verifyConsistency(6, 5, ROOTS_70[6]!, root, [])).toBe(false)
    expect(verifyConsistency(5, 5, root, root, [])).toBe(true)
    expect(verifyConsistency(5, 5, root, root, [root])).toBe(false)
    expect(verifyConsistency(5, 5, root, ROOTS_70[4]!, [])).toBe(false)
    expect(verifyConsistency(4, 5, ROOTS_70[4]!, root, [])).toBe(false)
    expect(() => consistencyProof(0, 5, TREE_70.hashRange)).toThrow(/^ERR_BAD_RANGE/)
    expect(() => consistencyProof(6, 5, TREE_70.hashRange)).toThrow(/^ERR_BAD_RANGE/)
    expect(consistencyProof(5, 5, TREE_70.hashRange)).toEqual([])
  })
})

describe('MemoryMerkle', () => {
  it('hashRange equals mth over the same leaves for random ranges', () => {
    const seed = SEED + 2
    const rand = mulberry32(seed)
    const leaves = randomHashes(500, seed)
    const tree = new MemoryMerkle()
    for (const leaf of leaves) tree.push(leaf)
    const { hashRange } = tree
    for (let t = 0; t < 200; t++) {
      const start = Math.floor(rand() * 499)
      const end = start + 1 + Math.floor(rand() * (500 - start))
      expect(toHex(hashRange(start, end)), `seed ${seed} [${start}, ${end})`).toBe(toHex(mth(leaves, start, end)))
    }
  })

  it('computes the root of every prefix, including the empty one', () => {
    expect(new MemoryMerkle().root()).toEqual(emptyRoot())
    for (let n = 0; n <= MAX_PROOF_SIZE; n++) expect(TREE_70.root(n), `seed ${SEED} size ${n}`).toEqual(ROOTS_70[n])
    expect(TREE_70.root()).toEqual(ROOTS_70[MAX_PROOF_SIZE])
    expect(TREE_70.size).toBe(MAX_PROOF_SIZE)
  })

  it('works over leaves that are arbitrary 32-byte hashes such as chunk roots', () => {
    const chunkRoots = Array.from({ length: 37 }, (_, c) => mth(randomHashes(16, SEED + 100 + c)))
    const tree = new MemoryMerkle()
    for (const r of chunkRoots) tree.push(r)
    expect(tree.root()).toEqual(mth(chunkRoots))
    for (let i = 0; i < chunkRoots.length; i++) {
      expect(verifyInclusion(i, 37, chunkRoots[i]!, tree.inclusionProof(i), tree.root())).toBe(true)
    }
  })

  it('returns leaves and hashes that do not alias its storage', () => {
    const tree = new MemoryMerkle()
    const leaves = randomHashes(4, SEED)
    for (const leaf of leaves) tree.push(leaf)
    tree.leaf(1).fill(0)
    tree.hashRange(0, 2).fill(0)
    tree.root().fill(0)
    expect(tree.leaf(1)).toEqual(leaves[1])
    expect(tree.root()).toEqual(mth(leaves))
  })

  it('rejects out-of-range requests and leaves that are not 32 bytes', () => {
    expect(() => TREE_70.leaf(MAX_PROOF_SIZE)).toThrow(/^ERR_BAD_RANGE/)
    expect(() => TREE_70.hashRange(3, 3)).toThrow(/^ERR_BAD_RANGE/)
    expect(() => TREE_70.hashRange(0, MAX_PROOF_SIZE + 1)).toThrow(/^ERR_BAD_RANGE/)
    expect(() => TREE_70.root(MAX_PROOF_SIZE + 1)).toThrow(/^ERR_BAD_RANGE/)
    expect(() => TREE_70.inclusionProof(0, MAX_PROOF_SIZE + 1)).toThrow(/^ERR_BAD_RANGE/)
    expect(() => TREE_70.consistencyProof(1, MAX_PROOF_SIZE + 1)).toThrow(/^ERR_BAD_RANGE/)
    expect(() => new MemoryMerkle().push(new Uint8Array(31))).toThrow(/^ERR_BAD_HASH/)
  })
})

describe('two-level tree of chunks', () => {
  it('has the same root as the flat tree when chunks of 16 leaves are hashed to chunk roots first', () => {
    const C = 16
    const leaves = randomHashes(200, SEED + 3)
    for (let n = 1; n <= 200; n++) {
      const chunkRoots: Uint8Array[] = []
      for (let start = 0; start < n; start += C) chunkRoots.push(mth(leaves, start, Math.min(start + C, n)))
      expect(toHex(mth(chunkRoots)), `seed ${SEED + 3} n ${n}`).toBe(toHex(mth(leaves, 0, n)))
    }
  })
})
