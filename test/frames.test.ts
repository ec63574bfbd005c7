import { describe, expect, it } from 'vitest'
import { decodeFrame, encodeFrame, MAX_FRAME_BYTES, type Frame } from '../src/core/mesh/frames.ts'
import { createSeededRng } from '../src/core/testing/manual-clock.ts'

const id = 'a'.repeat(32)
const key = 'b'.repeat(64)
const s = 'c'.repeat(128)
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v))

const good: Frame[] = [
  { t: 'hello', p: { id, key, to: id, t: 1 }, s },
  { t: 'peer', p: { id, key, t: 1, peers: [id], h: [[id, 3]] }, s, ttl: 3 },
  { t: 'sig', p: { from: id, key, to: id, n: 'abc', i: true, d: { sdp: 'x' }, t: 1 }, s, ttl: 4 },
  {
    t: 'intent',
    p: { id, origin: id, key, kind: 'ping', body: { a: [1] }, t: 1, deadline: 2, targets: null },
    s,
    ttl: 5,
    hops: 1,
  },
  {
    t: 'resp',
    p: { intent: id, origin: id, from: id, key, answer: 'no', data: null, reason: 'load', retryAfter: 5, t: 1 },
    s,
    relay: false,
  },
  { t: 'ping', n: 7 },
]

describe('frames', () => {
  it('round-trips every frame type', () => {
    for (const f of good) expect(decodeFrame(encodeFrame(f))).toEqual({ ok: true, frame: f })
  })

  it('rejects frames with a missing, extra or mistyped field, with a reason', () => {
    for (const f of good) {
      const raw = JSON.parse(JSON.stringify(f)) as Record<string, unknown>
      const target = (raw['p'] as Record<string, unknown> | undefined) ?? raw
      const first = Object.keys(target).find((k) => k !== 't')!
      const missing = structuredClone(raw)
      delete ((missing['p'] as Record<string, unknown> | undefined) ?? missing)[first]
      expect(decodeFrame(enc(missing)).ok, `${f.t} without ${first}`).toBe(false)
      const extra = structuredClone(raw)
      ;((extra['p'] as Record<string, unknown> | undefined) ?? extra)['x'] = 1
      expect(decodeFrame(enc(extra)).ok, `${f.t} with an extra field`).toBe(false)
      const typed = structuredClone(raw)
      ;((typed['p'] as Record<string, unknown> | undefined) ?? typed)[first] = { not: 'right' }
      expect(decodeFrame(enc(typed)).ok, `${f.t} with ${first} mistyped`).toBe(false)
    }
    expect(decodeFrame(enc({ t: 'intent', p: {}, s, ttl: 99, hops: 0 }))).toEqual({ ok: false, reason: 'bad intent' })
    expect(decodeFrame(enc({ t: 'what' }))).toEqual({ ok: false, reason: 'unknown type' })
    expect(decodeFrame(new Uint8Array(MAX_FRAME_BYTES + 1))).toEqual({ ok: false, reason: 'oversize' })
    expect(decodeFrame(new Uint8Array([0xc3, 0x28]))).toEqual({ ok: false, reason: 'not JSON' })
  })

  it('never throws on 20,000 random or mutated inputs (seeded)', () => {
    const seed = 4242
    const rng = createSeededRng(seed)
    const r = (n: number) => Math.floor(rng.next() * n)
    for (let i = 0; i < 20_000; i++) {
      let bytes: Uint8Array
      if (i % 2 === 0) bytes = Uint8Array.from({ length: r(300) }, () => r(256))
      else {
        bytes = encodeFrame(good[r(good.length)]!).slice()
        for (let j = 0; j < 1 + r(4); j++) bytes[r(bytes.length)] = r(256)
      }
      expect(() => decodeFrame(bytes), `seed ${seed} case ${i}`).not.toThrow()
    }
  })
})
