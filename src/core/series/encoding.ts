/**
 * Canonical encoding of entries. An entry is UTF-8 JSON with keys in sorted
 * order and no whitespace:
 *
 *   {"body":<canonical JSON>,"kind":"<kind>","prev":"<64 hex>","seq":<int>,"t":<int>}
 *
 * Canonical JSON: object keys sorted by UTF-16 code units, strings and
 * numbers as ECMAScript JSON.stringify writes them (deterministic: the
 * shortest round-tripping form), no undefined, no non-finite numbers.
 * These bytes are hashed, stored and sent as they are, never re-encoded;
 * `decodeEntry` accepts only bytes that re-encode to themselves.
 */
import { Ir3Error } from '../errors.ts'
import type { JsonValue } from '../json.ts'

/** One event of a series. */
export interface Entry {
  seq: number
  /** Author's claimed ms time. */
  t: number
  /** Past-tense event name, e.g. `note-added`, `peer-connected`. */
  kind: string
  body: JsonValue
  /** Hex hash of entry seq-1; 64 zeros for seq 0. */
  prev: string
}

export const MAX_ENTRY_BYTES = 64 * 1024
export const KIND_PATTERN = /^[a-z][a-z0-9-]{0,63}$/
const HEX64 = /^[0-9a-f]{64}$/

const encoder = new TextEncoder()
// fatal + ignoreBOM makes decoding injective, so comparing texts is comparing bytes.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Canonical JSON text of a value; throws ERR_NOT_JSON on anything that is not plain JSON. */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw new Ir3Error('ERR_NOT_JSON', `non-finite number ${value}`)
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object': {
      if (value === null) return 'null'
      if (Array.isArray(value)) {
        let s = '['
        for (let i = 0; i < value.length; i++) {
          if (i > 0) s += ','
          s += canonicalJson(value[i])
        }
        return s + ']'
      }
      const proto = Object.getPrototypeOf(value) as unknown
      if (proto !== Object.prototype && proto !== null) {
        throw new Ir3Error('ERR_NOT_JSON', 'only plain objects, arrays and primitives are JSON')
      }
      const obj = value as Record<string, unknown>
      const keys = Object.keys(obj).sort()
      let s = '{'
      let first = true
      for (const k of keys) {
        const v = obj[k]
        if (v === undefined) throw new Ir3Error('ERR_NOT_JSON', `undefined at key ${JSON.stringify(k)}`)
        if (!first) s += ','
        first = false
        s += JSON.stringify(k) + ':' + canonicalJson(v)
      }
      return s + '}'
    }
    default:
      throw new Ir3Error('ERR_NOT_JSON', `${typeof value} is not JSON`)
  }
}

/** The canonical text of an entry. Throws ERR_BAD_KIND or ERR_NOT_JSON. */
export function entryText(entry: Entry): string {
  if (!KIND_PATTERN.test(entry.kind)) {
    throw new Ir3Error('ERR_BAD_KIND', `kind must match ${KIND_PATTERN.source}: ${JSON.stringify(entry.kind)}`)
  }
  return (
    '{"body":' +
    canonicalJson(entry.body) +
    ',"kind":"' +
    entry.kind +
    '","prev":"' +
    entry.prev +
    '","seq":' +
    entry.seq +
    ',"t":' +
    entry.t +
    '}'
  )
}

/** Encodes an entry canonically. Throws on a bad kind, non-JSON body or oversize entry. */
export function encodeEntry(entry: Entry): Uint8Array {
  const bytes = encoder.encode(entryText(entry))
  if (bytes.length > MAX_ENTRY_BYTES) {
    throw new Ir3Error('ERR_ENTRY_TOO_LARGE', `entry is ${bytes.length} bytes, limit ${MAX_ENTRY_BYTES}`)
  }
  return bytes
}

export type DecodeResult = { ok: true; entry: Entry } | { ok: false; reason: string }

/** Decodes untrusted bytes into an entry; never throws. */
export function decodeEntry(bytes: Uint8Array): DecodeResult {
  if (bytes.length > MAX_ENTRY_BYTES) return { ok: false, reason: 'entry too large' }
  let text: string
  try {
    text = decoder.decode(bytes)
  } catch {
    return { ok: false, reason: 'not valid UTF-8' }
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return { ok: false, reason: 'not valid JSON' }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'not an object' }
  const o = raw as Record<string, unknown>
  const keys = Object.keys(o)
  if (keys.length !== 5) return { ok: false, reason: 'wrong fields' }
  const { seq, t, kind, body, prev } = o
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return { ok: false, reason: 'bad seq' }
  if (typeof t !== 'number' || !Number.isSafeInteger(t)) return { ok: false, reason: 'bad t' }
  if (typeof kind !== 'string' || !KIND_PATTERN.test(kind)) return { ok: false, reason: 'bad kind' }
  if (typeof prev !== 'string' || !HEX64.test(prev)) return { ok: false, reason: 'bad prev' }
  if (body === undefined) return { ok: false, reason: 'missing body' }
  const entry: Entry = { seq, t, kind, body: body as JsonValue, prev }
  let again: string
  try {
    again = entryText(entry)
  } catch {
    return { ok: false, reason: 'body is not canonical JSON' }
  }
  if (again !== text) return { ok: false, reason: 'not canonical' }
  return { ok: true, entry }
}

export function utf8(text: string): Uint8Array {
  return encoder.encode(text)
}

/**
 * Writes `text` as UTF-8 into `buf` at `offset`; returns the byte count, or -1
 * if it might not fit (callers guarantee 3 bytes per UTF-16 unit of room).
 */
export function utf8Into(text: string, buf: Uint8Array, offset: number): number {
  if (buf.length - offset < text.length * 3) return -1
  return encoder.encodeInto(text, buf.subarray(offset)).written
}
