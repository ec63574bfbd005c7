import { describe, expect, it } from 'vitest'
import { canonicalJson, decodeEntry, encodeEntry, MAX_ENTRY_BYTES, type Entry } from '../src/core/series/encoding.ts'
import { frameEntries, unframeEntries } from '../src/core/series/frames.ts'
import { createSeededRng } from '../src/core/testing/manual-clock.ts'
import type { JsonValue } from '../src/core/json.ts'

const prev = '0'.repeat(64)
const entry = (body: JsonValue, over: Partial<Entry> = {}): Entry => ({
  seq: 0,
  t: 1,
  kind: 'note-added',
  body,
  prev,
  ...over,
})

function randomJson(rng: () => number, depth = 0): JsonValue {
  const r = rng()
  if (depth > 3 || r < 0.3) {
    const p = rng()
    if (p < 0.2) return null
    if (p < 0.4) return rng() < 0.5
    if (p < 0.7) return Math.round((rng() - 0.5) * 1e6) / (rng() < 0.5 ? 1 : 7)
    return String.fromCharCode(...Array.from({ length: Math.floor(rng() * 6) }, () => Math.floor(rng() * 0xd7ff)))
  }
  if (r < 0.6) return Array.from({ length: Math.floor(rng() * 4) }, () => randomJson(rng, depth + 1))
  const o: Record<string, JsonValue> = {}
  for (let i = 0; i < Math.floor(rng() * 4); i++) o[`k${Math.floor(rng() * 100)}`] = randomJson(rng, depth + 1)
  return o
}

describe('canonical encoding', () => {
  it('sorts object keys and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 0, y: -1.5 } })).toBe(
      '{"a":[true,null,"x"],"b":1,"c":{"y":-1.5,"z":0}}',
    )
  })

  it('encodes the same value the same way whatever the key insertion order', () => {
    expect(canonicalJson({ x: 1, y: { b: 2, a: 1 } })).toBe(canonicalJson({ y: { a: 1, b: 2 }, x: 1 }))
  })

  it('rejects values that are not plain JSON', () => {
    for (const bad of [NaN, Infinity, undefined, () => 1, new Date(0), new Uint8Array(1), { a: undefined }, 10n]) {
      expect(() => canonicalJson(bad), String(bad)).toThrow(/ERR_NOT_JSON/)
    }
  })

  it('round-trips random entries byte for byte (seeded)', () => {
    const seed = 0xc0ffee
    const rng = createSeededRng(seed)
    for (let i = 0; i < 2000; i++) {
      const e = entry(
        randomJson(() => rng.next()),
        { seq: i, t: 1_700_000_000_000 + i },
      )
      const bytes = encodeEntry(e)
      const d = decodeEntry(bytes)
      expect(d.ok, `seed ${seed} case ${i}`).toBe(true)
      if (d.ok) expect(encodeEntry(d.entry), `seed ${seed} case ${i}`).toEqual(bytes)
    }
  })

  it('accepts only canonical bytes when decoding', () => {
    const text = new TextDecoder().decode(encodeEntry(entry({ a: 1, b: 2 })))
    const enc = (s: string) => new TextEncoder().encode(s)
    expect(decodeEntry(enc(text)).ok).toBe(true)
    expect(decodeEntry(enc(text.replace('"a":1,"b":2', '"b":2,"a":1')))).toEqual({ ok: false, reason: 'not canonical' })
    expect(decodeEntry(enc(text.replace(',', ', ')))).toEqual({ ok: false, reason: 'not canonical' })
    expect(decodeEntry(enc(text.replace('"a":1', '"a":1.0')))).toEqual({ ok: false, reason: 'not canonical' })
  })

  it('says why malformed bytes are rejected', () => {
    const enc = (s: string) => new TextEncoder().encode(s)
    expect(decodeEntry(new Uint8Array([0xff, 0xfe]))).toEqual({ ok: false, reason: 'not valid UTF-8' })
    expect(decodeEntry(enc('{"body":'))).toEqual({ ok: false, reason: 'not valid JSON' })
    expect(decodeEntry(enc('[1]'))).toEqual({ ok: false, reason: 'not an object' })
    expect(decodeEntry(enc(`{"body":1,"kind":"x","prev":"${prev}","seq":-1,"t":1}`))).toEqual({
      ok: false,
      reason: 'bad seq',
    })
    expect(decodeEntry(enc(`{"body":1,"kind":"Bad Kind","prev":"${prev}","seq":0,"t":1}`))).toEqual({
      ok: false,
      reason: 'bad kind',
    })
    expect(decodeEntry(enc(`{"body":1,"kind":"x","prev":"zz","seq":0,"t":1}`))).toEqual({
      ok: false,
      reason: 'bad prev',
    })
    expect(decodeEntry(enc(`{"body":1,"extra":2,"kind":"x","prev":"${prev}","seq":0,"t":1}`))).toEqual({
      ok: false,
      reason: 'wrong fields',
    })
  })

  it('refuses bad kinds and oversize entries when encoding', () => {
    expect(() => encodeEntry(entry(1, { kind: 'Has Spaces' }))).toThrow(/ERR_BAD_KIND/)
    expect(() => encodeEntry(entry(1, { kind: 'x", "evil' }))).toThrow(/ERR_BAD_KIND/)
    expect(() => encodeEntry(entry('x'.repeat(MAX_ENTRY_BYTES)))).toThrow(/ERR_ENTRY_TOO_LARGE/)
  })

  it('keeps unicode and escapes lone surrogates deterministically', () => {
    const e = entry({ s: 'héllo ✓ 𝄞 \ud800 "q" \n' })
    const d = decodeEntry(encodeEntry(e))
    expect(d.ok && d.entry.body).toEqual(e.body)
  })
})

describe('chunk framing', () => {
  it('round-trips framed entries', () => {
    const parts = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(300).fill(9)]
    const r = unframeEntries(frameEntries(parts))
    expect(r.ok).toBe(true)
    expect(r.entries).toEqual(parts)
  })

  it('reports truncation instead of reading past the end', () => {
    const data = frameEntries([new Uint8Array(10), new Uint8Array(10)])
    expect(unframeEntries(data.subarray(0, data.length - 1))).toMatchObject({
      ok: false,
      reason: 'truncated entry',
      entries: [expect.any(Uint8Array)],
    })
    expect(unframeEntries(data.subarray(0, 16))).toMatchObject({ ok: false, reason: 'truncated length prefix' })
    expect(unframeEntries(data, 1)).toMatchObject({ ok: false, reason: 'more entries than declared' })
  })
})
