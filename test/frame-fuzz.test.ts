/**
 * A hostile peer writes ≥ 10,000 malformed, oversize and replayed frames of
 * every type into a live node's data channel (`_testOnlySendRaw`): random
 * bytes, truncated and mutated valid frames, JSON of the wrong shape, deep
 * nesting, frames over the size cap, and replays of valid signed frames. The
 * node drops and counts them, throws nothing unhandled, its series grows by a
 * bounded amount, and it still answers an honest peer's ping afterwards. The
 * link's abuse limits are raised so that every frame reaches the parser
 * (disconnecting abusers is tested in mesh.test.ts). Prints its seed.
 */
import { afterEach, beforeEach, expect, it } from 'vitest'
import { createSim, pickSeed, until } from './support/sim.ts'
import { createSeededRng } from '../src/core/testing/manual-clock.ts'
import { encodeFrame, MAX_FRAME_BYTES, type Frame } from '../src/core/mesh/frames.ts'
import type { JsonValue } from '../src/core/json.ts'
import { hexId, strangers } from './support/strangers.ts'

const unhandled: unknown[] = []
const onUnhandled = (e: unknown) => void unhandled.push(e)
beforeEach(() => {
  unhandled.length = 0
  process.on('unhandledRejection', onUnhandled)
  process.on('uncaughtException', onUnhandled)
})
afterEach(() => {
  process.off('unhandledRejection', onUnhandled)
  process.off('uncaughtException', onUnhandled)
})

const text = new TextEncoder()

it('survives 10,000 malformed, oversize and replayed frames of every type, counts them, and still answers a ping', async () => {
  const seed = pickSeed('frame fuzz')
  const big = 1_000_000_000
  const sim = await createSim({
    seed,
    mesh: { maxBadFrames: big, maxFloodFrames: big, frameRate: big, frameBurst: big },
  })
  const victim = await sim.add()
  const honest = await sim.add()
  const evil = await sim.add({ apps: [] })
  await sim.run(4000)
  expect(victim.mesh!.isReady(evil.id) && victim.mesh!.isReady(honest.id), `seed ${seed}`).toBe(true)
  const rng = createSeededRng(seed + 1)
  const int = (n: number) => Math.floor(rng.next() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!
  const pool = strangers(8, seed + 2)
  const now = () => Math.trunc(sim.clock.now())

  // Valid frames of every type, signed where they are signed (by the attacker or by throwaway identities).
  const valid: Frame[] = []
  const add = (f: Frame) => void valid.push(f)
  add({ t: 'ping', n: 7 })
  add({ t: 'pong', n: 7 })
  add({ t: 'probe', i: hexId(rng), o: evil.id, ttl: 3 })
  add({ t: 'echo', i: hexId(rng), o: victim.id, f: evil.id })
  add({ t: 'x', c: 'nobody-listens', d: { a: [1, 2, 3] } })
  const hello = { id: evil.id, key: evil.publicKey, to: victim.id, t: now() }
  add({ t: 'hello', p: hello, s: await evil.mesh!.sign('hello', hello) })
  for (const s of pool) {
    const rec = { id: s.id, key: s.key, t: now(), peers: [hexId(rng)], h: [] as [string, number][] }
    add({ t: 'peer', p: rec, s: await s.sign('peer', rec), ttl: 2 })
    const sig = {
      from: s.id,
      key: s.key,
      to: hexId(rng),
      n: hexId(rng).slice(0, 16),
      i: true,
      d: { type: 'offer' },
      t: now(),
    }
    add({ t: 'sig', p: sig, s: await s.sign('sig', sig), ttl: 3 })
    const intent = {
      id: hexId(rng),
      origin: s.id,
      key: s.key,
      kind: 'ping',
      body: null,
      t: now(),
      deadline: now() + 60_000,
      targets: null,
    }
    add({ t: 'intent', p: intent, s: await s.sign('intent', intent), ttl: 4, hops: 1 })
    const resp = {
      intent: hexId(rng),
      origin: victim.id,
      from: s.id,
      key: s.key,
      answer: 'yes' as const,
      data: 'x'.repeat(int(2000)),
      reason: null,
      retryAfter: null,
      t: now(),
    }
    add({ t: 'resp', p: resp, s: await s.sign('resp', resp), relay: rng.next() < 0.5 })
  }
  const encoded = valid.map((f) => encodeFrame(f))

  const weird: JsonValue[] = [null, true, -1, 1e308, 2 ** 53, '', 'x'.repeat(300), [], {}, [[[]]], { t: 'ping' }]
  const mutateJson = (f: Frame): Uint8Array => {
    const o = JSON.parse(JSON.stringify(f)) as Record<string, JsonValue>
    const target = 'p' in o && rng.next() < 0.7 ? (o['p'] as Record<string, JsonValue>) : o
    const keys = Object.keys(target)
    const r = rng.next()
    if (r < 0.4) target[pick(keys)] = pick(weird)
    else if (r < 0.6) delete target[pick(keys)]
    else if (r < 0.8) target[pick(['__proto__', 'constructor', 'extra', 'toString'])] = pick(weird)
    else o['t'] = pick(['ping', 'pong', 'probe', 'echo', 'x', 'hello', 'peer', 'sig', 'intent', 'resp', 'nope', 7])
    return text.encode(JSON.stringify(o))
  }
  const generators: [string, () => Uint8Array][] = [
    ['random bytes', () => Uint8Array.from({ length: int(300) }, () => int(256))],
    [
      'truncated',
      () => {
        const e = pick(encoded)
        return e.slice(0, int(e.length))
      },
    ],
    [
      'bit flips',
      () => {
        const e = Uint8Array.from(pick(encoded))
        for (let k = 1 + int(4); k > 0; k--) {
          const at = int(e.length)
          e[at] = e[at]! ^ (1 << int(8))
        }
        return e
      },
    ],
    ['wrong shape', () => mutateJson(pick(valid))],
    ['replay', () => pick(encoded)],
    [
      'deep nesting',
      () => {
        const d = 1 + int(20_000)
        return text.encode(`{"t":"x","c":"a","d":${'['.repeat(d)}${']'.repeat(d)}}`)
      },
    ],
    ['oversize', () => new Uint8Array(MAX_FRAME_BYTES + 1 + int(40_000)).fill(0x20)],
    ['empty and tiny', () => text.encode(pick(['', '{', '}', '[]', 'null', '""', '{"t":null}', '\u0000']))],
  ]

  const before = victim.length
  const framesIn = victim.mesh!.stats.framesIn
  const dropsOf = () => Object.values(victim.mesh!.stats.dropped).reduce((a, b) => a + b, 0)
  const dropsBefore = dropsOf() + victim.intents!.stats.overBudget
  const TOTAL = 10_500
  const sent = new Map<string, number>()
  for (let i = 0, total = 0; total < TOTAL; i++) {
    const [name, gen] = i < generators.length * 50 ? generators[i % generators.length]! : pick(generators)
    // Oversize frames are costly to build: fewer of them.
    if (name === 'oversize' && i % 20 !== 0 && i >= generators.length * 50) continue
    expect(evil.mesh!._testOnlySendRaw(victim.id, gen()), `seed ${seed}: the link went away`).toBe(true)
    sent.set(name, (sent.get(name) ?? 0) + 1)
    if (++total % 250 === 0) await sim.run(20)
  }
  await sim.run(3000)
  const total = [...sent.values()].reduce((a, b) => a + b, 0)
  console.log(`seed ${seed}: sent`, Object.fromEntries(sent), 'drops', victim.mesh!.stats.dropped)

  expect(total, `seed ${seed}`).toBeGreaterThanOrEqual(10_000)
  expect(unhandled, `seed ${seed}: unhandled errors`).toEqual([])
  expect(victim.mesh!.stats.framesIn - framesIn, `seed ${seed}: frames that reached the node`).toBeGreaterThanOrEqual(
    total,
  )
  // Every frame that was not a valid, new, answerable one is dropped and counted.
  const drops = dropsOf() + victim.intents!.stats.overBudget - dropsBefore
  expect(drops, `seed ${seed}: drops counted`).toBeGreaterThan(total * 0.8)
  // Entries: at most the valid intents' answers (two each), a summary per period, and the mesh's own few.
  const grown = victim.length - before
  expect(grown, `seed ${seed}: the series grew by ${grown} entries`).toBeLessThanOrEqual(2 * pool.length + 2 + 10)

  // And an honest peer still gets its YES.
  const { outcome } = honest.declare('ping', null, { targets: [victim.id], deadlineMs: 3000 })
  const o = await until(sim, outcome)
  expect(o, `seed ${seed}`).toMatchObject({ yes: 1, silence: 0 })
  expect(unhandled, `seed ${seed}: unhandled errors`).toEqual([])
})
