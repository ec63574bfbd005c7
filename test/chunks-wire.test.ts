/**
 * The `series` channel's codec and the request channel under it: untrusted
 * messages decode to a typed message or null, requests time out on the
 * injected clock, and malformed messages, bad replies and stray replies are
 * counted drops — in the helper, and in a real node's chunks view.
 */
import { describe, expect, it } from 'vitest'
import type { JsonValue } from '../src/core/json.ts'
import { createManualClock } from '../src/core/testing/manual-clock.ts'
import {
  createRequestChannel,
  INVALID,
  MAX_REQUEST_ID,
  REPLY,
  type ChannelMsg,
  type RequestResult,
  type Wire,
} from '../src/core/chunks/request.ts'
import { decode, HEAD, PART, readHeadReply, readRootsReply, readTailReply } from '../src/core/chunks/series-codec.ts'
import { createSim, pickSeed } from './support/sim.ts'
import type { Ir3Node } from '../src/core/node.ts'

const A = 'a'.repeat(32)

describe('series codec', () => {
  it('reads head and part requests, and replies as replies', () => {
    expect(decode({ r: '1', q: 'head', a: A })).toEqual({ type: HEAD, r: '1', author: A })
    expect(decode({ r: '2', q: 'part', a: A, size: 17, what: 'tail', off: 0 })).toEqual({
      type: PART,
      r: '2',
      author: A,
      size: 17,
      what: 'tail',
      off: 0,
    })
    expect(decode({ r: '3', ok: true, d: ['x'] })).toEqual({
      type: REPLY,
      r: '3',
      body: { r: '3', ok: true, d: ['x'] },
    })
  })

  it('returns null for messages without a usable id, never throws', () => {
    for (const bad of [
      null,
      7,
      'head',
      [],
      {},
      { q: 'head' },
      { r: 5, q: 'head' },
      { r: '' },
      { r: 'x'.repeat(MAX_REQUEST_ID + 1) },
    ])
      expect(decode(bad)).toBeNull()
  })

  it('marks requests whose fields do not read as invalid (answered, not dropped)', () => {
    const invalid = [
      { r: '1', q: 'head', a: 'not-an-id' },
      { r: '2', q: 'part', a: A, size: 1, what: 'roots', off: -1 },
      { r: '3', q: 'part', a: A, size: 0, what: 'roots', off: 0 },
      { r: '4', q: 'part', a: A, size: 1, what: 'everything', off: 0 },
      { r: '5', q: 'delete', a: A },
    ]
    for (const m of invalid) expect(decode(m)).toEqual({ type: INVALID, r: m.r })
  })

  it('reads replies: a refusal, a bad reply (null), or the data', () => {
    expect(readHeadReply({ ok: false, reason: 'not held' }, 16)).toEqual({ ok: false })
    expect(readHeadReply({ ok: true, cp: {}, key: 'k', roots: 1, tail: 0 }, 16)).toBeNull()
    const cp = { author: A, size: 17, root: 'r', t: 1, sig: 's', extra: 'dropped' }
    expect(readHeadReply({ ok: true, cp, key: 'k', roots: 2, tail: 10, chunks: 1 }, 16)).toEqual({
      ok: true,
      checkpoint: { author: A, size: 17, root: 'r', t: 1, sig: 's' },
      publicKey: 'k',
      roots: 2,
      tail: 10,
      chunks: 1,
    })
    expect(readRootsReply({ ok: true, d: [] })).toBeNull()
    expect(readRootsReply({ ok: true, d: ['ab', 3] })).toBeNull()
    expect(readTailReply({ ok: true, d: '%%%' })).toBeNull()
    expect(readTailReply({ ok: true, d: btoa('hi') })).toEqual({ ok: true, d: new TextEncoder().encode('hi') })
  })
})

type Echo = { type: 'echo'; r: string; text: string }

/** Two request channels joined back to back, delivery by hand. */
function pair(opts: { maxPending?: number } = {}) {
  const clock = createManualClock()
  const handlers = new Map<string, (from: string, d: JsonValue) => void>()
  const queue: (() => void)[] = []
  const drops: string[] = []
  const make = (me: string) =>
    createRequestChannel<Echo>({
      clock,
      send: (to, d) => {
        const h = handlers.get(to)
        if (!h) return false
        queue.push(() => h(me, d))
        return true
      },
      listen: (fn) => {
        handlers.set(me, fn)
        return () => handlers.delete(me)
      },
      decode: (d): ChannelMsg<Echo> | null => {
        if (typeof d !== 'object' || d === null || Array.isArray(d) || typeof d['r'] !== 'string') return null
        if (d['q'] === undefined) return { type: REPLY, r: d['r'], body: d }
        return typeof d['text'] === 'string'
          ? { type: 'echo', r: d['r'], text: d['text'] }
          : { type: INVALID, r: d['r'] }
      },
      answer: (_from, req) => (req.text === 'silence' ? null : { echo: req.text }),
      invalid: { err: 'bad request' },
      timeoutMs: 1000,
      onDrop: (from, why) => drops.push(`${me}<-${from}:${why}`),
      ...(opts.maxPending !== undefined ? { maxPending: opts.maxPending } : {}),
    })
  const a = make('a')
  const b = make('b')
  const deliver = async () => {
    while (queue.length > 0) {
      queue.shift()!()
      await new Promise<void>((r) => setImmediate(r))
    }
  }
  const raw = (from: string, to: string, d: JsonValue) => handlers.get(to)?.(from, d)
  return { clock, a, b, stopA: a.listen(), stopB: b.listen(), deliver, raw, drops }
}

const readEcho = (w: Wire) => (typeof w['echo'] === 'string' ? w['echo'] : null)

describe('request channel', () => {
  it('answers a request and resolves the requester with the reply as its reader reads it', async () => {
    const p = pair()
    const got = p.a.request('b', { q: 'echo', text: 'hello' }, readEcho)
    await p.deliver()
    expect(await got).toEqual({ status: 'ok', reply: 'hello' })
    expect(p.a.stats).toMatchObject({ sent: 1, answered: 1 })
    expect(p.b.stats).toMatchObject({ served: 1 })
    expect(p.a.pending()).toBe(0)
  })

  it('times out on the injected clock, and a late reply is a counted stray', async () => {
    const p = pair()
    let result: RequestResult<string> | null = null
    void p.a.request('b', { q: 'echo', text: 'late' }, readEcho).then((r) => (result = r))
    p.clock.advance(999)
    await Promise.resolve()
    expect(result).toBeNull()
    p.clock.advance(1)
    await Promise.resolve()
    expect(result).toEqual({ status: 'timeout' })
    await p.deliver()
    expect(p.a.stats).toMatchObject({ timeouts: 1, stray: 1 })
    expect(p.drops).toEqual(['a<-b:stray'])
  })

  it('counts malformed messages, unknown replies, bad requests and bad replies without throwing', async () => {
    const p = pair()
    p.raw('b', 'a', 'not an object')
    p.raw('b', 'a', { r: 42 })
    p.raw('b', 'a', { r: 'nobody-asked', echo: 'x' })
    p.raw('b', 'a', { r: '9', q: 'echo' }) // no text: answered with the refusal
    const bad = p.a.request('b', { q: 'echo', text: 'x' }, () => null)
    await p.deliver()
    expect(await bad).toEqual({ status: 'bad-reply' })
    expect(p.a.stats).toMatchObject({ malformed: 2, stray: 1, badRequests: 1, badReplies: 1 })
    // The refusal went back to b, which never asked: a stray there.
    expect(p.drops).toEqual(['a<-b:malformed', 'a<-b:malformed', 'a<-b:stray', 'b<-a:stray'])
    expect(p.b.stats.stray).toBe(1)
  })

  it('refuses requests beyond the pending limit and ends pending ones when unsubscribed', async () => {
    const p = pair({ maxPending: 2 })
    const first = p.a.request('b', { q: 'echo', text: 'silence' }, readEcho)
    const second = p.a.request('b', { q: 'echo', text: 'silence' }, readEcho)
    expect(await p.a.request('b', { q: 'echo', text: 'x' }, readEcho)).toEqual({ status: 'unsent' })
    expect(p.a.pending()).toBe(2)
    p.stopA()
    expect(await first).toEqual({ status: 'unsent' })
    expect(await second).toEqual({ status: 'unsent' })
    expect(p.a.pending()).toBe(0)
    expect(await p.a.request('b', { q: 'echo', text: 'x' }, readEcho)).toEqual({ status: 'unsent' })
    expect(await p.b.request('a', { q: 'echo', text: 'x' }, readEcho)).toEqual({ status: 'unsent' })
    expect(p.a.stats.unsent).toBe(2)
  })
})

describe('series channel on a real node', () => {
  it('counts malformed messages, bad requests and stray replies in the chunks view, and still serves', async () => {
    const seed = pickSeed('series wire')
    const sim = await createSim({ seed, latencyMs: [1, 10], chunkSize: 16, chunks: { replicate: false } })
    const a = await sim.add()
    const evil = await sim.add()
    await sim.run(3000, 10)
    for (let i = 0; i < 40; i++) a.append('note-added', { text: `note ${i}` })
    await a.flush()
    for (let t = 0; t < 5000 && !a.mesh!.isReady(evil.id); t += 100) await sim.run(100, 10)
    expect(a.mesh!.isReady(evil.id), `seed ${seed}`).toBe(true)
    const sent: JsonValue[] = []
    // evil's own chunks give the channel up, so the test can listen on it.
    evil.chunkService!.stop()
    evil.mesh!.onDirect('series', (_from, d) => void sent.push(d))
    const raw = (d: unknown) =>
      evil.mesh!._testOnlySendRaw(a.id, new TextEncoder().encode(JSON.stringify({ t: 'x', c: 'series', d })))
    const wire = () => (a.chunkService as NonNullable<Ir3Node['chunkService']>).view().stats.wire
    const before = { ...wire() }
    raw([1, 2]) // not an object
    raw({ q: 'head', a: a.id }) // no request id
    raw({ r: 'y'.repeat(41), q: 'head', a: a.id }) // id too long
    raw({ r: 'nobody-asked', ok: true, cp: {} }) // a reply to nothing
    raw({ r: 'q1', q: 'part', a: a.id, size: 'big', what: 'roots', off: 0 }) // a request that does not read
    raw({ r: 'q2', q: 'head', a: a.id }) // a good one
    await sim.run(500, 10)
    const after = wire()
    expect(after.malformed - before.malformed).toBe(3)
    expect(after.stray - before.stray).toBe(1)
    expect(after.badRequests - before.badRequests).toBe(1)
    expect(after.served - before.served).toBe(1)
    const replies = sent as { r: string; ok: boolean; reason?: string; chunks?: number }[]
    expect(replies.find((m) => m.r === 'q1')).toMatchObject({ ok: false, reason: 'bad request' })
    expect(replies.find((m) => m.r === 'q2')).toMatchObject({ ok: true, chunks: 2 })
    expect(a.status).not.toBe('damaged')
    for (const n of sim.nodes) n.destroy()
  })
})
