import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sha256 } from '@noble/hashes/sha2.js'
import { sha256Of } from '../src/core/series/sha256.ts'
import { leafHash, nodeHash, sha256Bytes, toHex } from '../src/core/series/hash.ts'
import { createSeededRng } from '../src/core/testing/manual-clock.ts'

const node = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

describe('sha256', () => {
  it('matches the FIPS 180-4 test vectors', () => {
    const enc = (s: string) => new TextEncoder().encode(s)
    expect(toHex(sha256Bytes(enc('')))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    expect(toHex(sha256Bytes(enc('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(toHex(sha256Bytes(enc('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    )
  })

  it('agrees with node:crypto and @noble/hashes on every length 0..1100 and random data (seeded)', () => {
    const seed = 20261122
    const rng = createSeededRng(seed)
    for (let n = 0; n <= 1100; n++) {
      const b = Uint8Array.from({ length: n }, () => Math.floor(rng.next() * 256))
      const want = node(b)
      expect(toHex(sha256Of(-1, b)), `seed ${seed} len ${n}`).toBe(want)
      expect(toHex(sha256(b)), `noble len ${n}`).toBe(want)
    }
  })

  it('computes RFC 6962 leaf and node hashes with their prefixes', () => {
    const a = Uint8Array.from({ length: 150 }, (_, i) => i)
    const l = new Uint8Array(32).fill(1)
    const r = new Uint8Array(32).fill(2)
    expect(toHex(leafHash(a))).toBe(node(Uint8Array.from([0, ...a])))
    expect(toHex(nodeHash(l, r))).toBe(node(Uint8Array.from([1, ...l, ...r])))
  })

  it('returns a fresh array each time', () => {
    const x = sha256Bytes(new Uint8Array(3))
    const y = sha256Bytes(new Uint8Array(4))
    expect(x).not.toBe(y)
    expect(toHex(x)).toBe(node(new Uint8Array(3)))
  })
})
