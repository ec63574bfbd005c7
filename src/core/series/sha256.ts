/**
 * SHA-256 (FIPS 180-4) for the series' hot path: many small inputs (entries
 * of ~100–300 bytes, 64-byte node pairs), one at a time, synchronously. It
 * reuses one message schedule and one scratch buffer and reads words with
 * shifts rather than a DataView, so hashing an entry allocates only its
 * 32-byte result. Cross-checked against Node's crypto and @noble/hashes in
 * test/sha256.test.ts. Not reentrant (JavaScript is single-threaded per realm).
 */

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
])
const W = new Int32Array(64)
const H = new Int32Array(8)
let scratch = new Uint8Array(1024)

function compress(buf: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++) {
    const j = off + (i << 2)
    W[i] = (buf[j]! << 24) | (buf[j + 1]! << 16) | (buf[j + 2]! << 8) | buf[j + 3]!
  }
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15]!
    const w2 = W[i - 2]!
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3)
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10)
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0
  }
  let a = H[0]!
  let b = H[1]!
  let c = H[2]!
  let d = H[3]!
  let e = H[4]!
  let f = H[5]!
  let g = H[6]!
  let h = H[7]!
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i]! + W[i]!) | 0
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0
    h = g
    g = f
    f = e
    e = (d + t1) | 0
    d = c
    c = b
    b = a
    a = (t1 + t2) | 0
  }
  H[0] = (H[0]! + a) | 0
  H[1] = (H[1]! + b) | 0
  H[2] = (H[2]! + c) | 0
  H[3] = (H[3]! + d) | 0
  H[4] = (H[4]! + e) | 0
  H[5] = (H[5]! + f) | 0
  H[6] = (H[6]! + g) | 0
  H[7] = (H[7]! + h) | 0
}

/**
 * SHA-256 of `prefix ‖ a ‖ b` where `prefix` is one byte (or -1 for none) and
 * `b` may be omitted. Covers plain hashing, RFC 6962 leaves (0x00 ‖ entry)
 * and nodes (0x01 ‖ left ‖ right) without concatenating first.
 */
export function sha256Of(prefix: number, a: Uint8Array, b?: Uint8Array): Uint8Array {
  const p = prefix >= 0 ? 1 : 0
  const len = p + a.length + (b ? b.length : 0)
  const padded = (len + 9 + 63) & ~63
  if (scratch.length < padded) scratch = new Uint8Array(padded * 2)
  const buf = scratch
  if (p) buf[0] = prefix
  buf.set(a, p)
  if (b) buf.set(b, p + a.length)
  buf[len] = 0x80
  buf.fill(0, len + 1, padded - 8)
  const bits = len * 8
  const hi = Math.floor(bits / 0x100000000)
  buf[padded - 8] = hi >>> 24
  buf[padded - 7] = hi >>> 16
  buf[padded - 6] = hi >>> 8
  buf[padded - 5] = hi
  buf[padded - 4] = bits >>> 24
  buf[padded - 3] = bits >>> 16
  buf[padded - 2] = bits >>> 8
  buf[padded - 1] = bits
  H[0] = 0x6a09e667
  H[1] = 0xbb67ae85 | 0
  H[2] = 0x3c6ef372
  H[3] = 0xa54ff53a | 0
  H[4] = 0x510e527f
  H[5] = 0x9b05688c | 0
  H[6] = 0x1f83d9ab
  H[7] = 0x5be0cd19
  for (let off = 0; off < padded; off += 64) compress(buf, off)
  const out = new Uint8Array(32)
  for (let i = 0; i < 8; i++) {
    const v = H[i]!
    out[i * 4] = v >>> 24
    out[i * 4 + 1] = v >>> 16
    out[i * 4 + 2] = v >>> 8
    out[i * 4 + 3] = v
  }
  return out
}
