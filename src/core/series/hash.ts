/**
 * Hashing for the series. SHA-256 is computed synchronously (sha256.ts) so
 * that `append` can return its hash at once, with identical results in Node
 * and in the browser. Domain separation follows RFC 6962: leaves are hashed
 * as SHA-256(0x00 || bytes), interior nodes as SHA-256(0x01 || left || right).
 */
import { sha256Of } from './sha256.ts'

export const HASH_BYTES = 32
export const ZERO_HASH: Uint8Array = new Uint8Array(HASH_BYTES)

export function sha256Bytes(data: Uint8Array): Uint8Array {
  return sha256Of(-1, data)
}

/** RFC 6962 leaf hash: SHA-256(0x00 || entryBytes). This is an entry's hash. */
export function leafHash(entryBytes: Uint8Array): Uint8Array {
  return sha256Of(0, entryBytes)
}

/** RFC 6962 interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256Of(1, left, right)
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

export function toHex(bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!]
  return s
}

/** Parses lowercase/uppercase hex; returns null for odd length or non-hex characters. */
export function fromHex(hex: string): Uint8Array | null {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return null
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
