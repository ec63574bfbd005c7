/**
 * Chunks against hostile peers and short histories (memory network, manual
 * clock, seeded): peer records from fresh ids cost a bounded, coarse number
 * of `chunk-holders` entries; fake YES answers to `want-chunk` cost bounded
 * time; a hostile head cannot make a reader pull more than it declared; and a
 * series of a few entries outlives its tab.
 */
import { describe, expect, it } from 'vitest'
import { entriesOf, pickSeed, seededSigner, until, type Sim, createChunkSim } from './support/sim.ts'
import type { Ir3Node } from '../src/core/node.ts'
import { encodeFrame, signedBytes, type PeerRecord } from '../src/core/mesh/frames.ts'
import { nodeIdFromPublicKey } from '../src/core/identity.ts'
import { toHex } from '../src/core/series/hash.ts'
import { createSeededRng } from '../src/core/testing/manual-clock.ts'
import { MAX_CHANGES, SUMMARY_EVERY_MS } from '../src/core/chunks/holders.ts'
import { HEAD_PHASE_MS, HEAD_ASK_MS } from '../src/core/chunks/fetch.ts'
import { OPEN_WITHIN_MS } from '../src/core/chunks/open.ts'
import { MAX_HEAD_ROOTS } from '../src/core/chunks/head-fetch.ts'
import { chunksReducer, MAX_HOLDERS, type ChunksState } from '../src/core/chunks/reducers.ts'
import type { Entry } from '../src/core/series/encoding.ts'
import type { ChunksOptions } from '../src/core/chunks/service.ts'

const C = 16

const mesh = (seed: number, n: number, chunks: ChunksOptions = {}): Promise<Sim> => createChunkSim(seed, n, C, chunks)

/** Nodes other than the author holding at least `sealed` of `author`'s chunks. */
function holdersOf(sim: Sim, author: Ir3Node, sealed: number): Ir3Node[] {
  return sim.nodes.filter((n) => n.id !== author.id && (n.chunkService?.held_(author.id)?.chunks ?? 0) >= sealed)
}

async function untilTrue(sim: Sim, ms: number, done: () => boolean): Promise<boolean> {
  for (let t = 0; t < ms && !done(); t += 200) await sim.run(200, 10)
  return done()
}

async function writeNotes(node: Ir3Node, count: number): Promise<void> {
  for (let i = 0; i < count; i++) node.append('note-added', { text: `note ${i} of ${node.name}` })
  await node.flush()
}

/** `count` signed peer records of fresh ids, each claiming 32 series. */
async function forgedRecords(seed: number, count: number, t: number): Promise<Uint8Array[]> {
  const rng = createSeededRng(seed ^ 0x5eed)
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(rng.next() * 16).toString(16)).join('')
  const out: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const signer = seededSigner(rng)
    const id = nodeIdFromPublicKey(signer.publicKey)
    const p: PeerRecord = {
      id,
      key: toHex(signer.publicKey),
      t,
      peers: [],
      h: Array.from({ length: 32 }, (): [string, number] => [hex(32), 5]),
    }
    const s = toHex(await signer.sign(signedBytes('peer', p)))
    out.push(encodeFrame({ t: 'peer', p, s, ttl: 3 }))
  }
  return out
}

async function amplification(
  records: number,
): Promise<{ entries: number[]; changes: number; ms: number; window: number }> {
  const seed = pickSeed(`amplification ${records}`)
  const sim = await mesh(seed, 7, { replicate: false })
  const [evil, ...honest] = sim.nodes as [Ir3Node, ...Ir3Node[]]
  const before = await Promise.all(honest.map(async (n) => (await entriesOf(n, 'chunk-holders')).length))
  const frames = await forgedRecords(seed, records, sim.clock.now())
  const t0 = performance.now()
  const start = sim.clock.now()
  // As fast as links carry them, to every node the attacker links to.
  const links = honest.filter((n) => evil.mesh!.isReady(n.id))
  for (let i = 0; i < frames.length; i += 50) {
    for (const f of frames.slice(i, i + 50)) for (const n of links) evil.mesh!._testOnlySendRaw(n.id, f)
    await sim.run(100, 10)
  }
  await sim.run(2 * SUMMARY_EVERY_MS, 10)
  const ms = performance.now() - t0
  const window = sim.clock.now() - start
  const entries: number[] = []
  let changes = 0
  for (const [i, n] of honest.entries()) {
    const e = (await entriesOf(n, 'chunk-holders')).slice(before[i])
    entries.push(e.length)
    for (const x of e) changes = Math.max(changes, (x.body['changes'] as unknown[]).length)
  }
  for (const n of sim.nodes) n.destroy()
  return { entries, changes, ms, window }
}

describe('chunks hardening', () => {
  it('peer records from fresh ids cost each node at most one coarse holders entry per 10 s, in linear time', async () => {
    const small = await amplification(300)
    const large = await amplification(1000)
    console.log(
      `amplification: 300 → ${small.entries.join(',')} entries in ${small.ms.toFixed(0)} ms; 1000 → ${large.entries.join(',')} in ${large.ms.toFixed(0)} ms`,
    )
    for (const r of [small, large]) {
      // The stated bound: one summary per SUMMARY_EVERY_MS of the window (+1 for the tick in flight).
      const bound = Math.ceil(r.window / SUMMARY_EVERY_MS) + 1
      for (const n of r.entries) expect(n).toBeLessThanOrEqual(bound)
      expect(r.changes).toBeLessThanOrEqual(MAX_CHANGES)
      // The records did arrive: the summaries carry (capped) changes.
      expect(r.changes).toBeGreaterThan(0)
    }
    // 300 records: window 2.6 s of sending + 20 s → at most 4 entries, not ~9,600.
    expect(Math.max(...small.entries)).toBeLessThanOrEqual(4)
    // Linear: 3.3× the records may not cost more than 8× the time (quadratic would be 11×).
    expect(large.ms / small.ms).toBeLessThan(8)
  }, 240_000)

  it('fake YES answers to want-chunk cost an open at most the head phase, and it succeeds from the honest holders', async () => {
    const seed = pickSeed('fake yes')
    const sim = await mesh(seed, 12, { replicationTarget: 2 })
    const [author, ...rest] = sim.nodes as [Ir3Node, ...Ir3Node[]]
    // Eight nodes answer YES with the biggest, most complete claims, then never serve a head.
    const fakes = rest.slice(0, 8)
    for (const f of fakes) {
      f.chunkService!.stop()
      f.mesh!.setHoldings([])
      f.intents!.handle('want-chunk', () => ({ answer: 'yes', data: { chunks: 1_000_000, size: 1_000_000 * C } }))
    }
    await writeNotes(author, 10 * C + 3)
    const sealed = Math.floor(author.length / C)
    const honest = () => rest.slice(8).filter((n) => (n.chunkService!.held_(author.id)?.chunks ?? 0) >= sealed)
    // The honest nodes take the series on (directly: replication has every node's short series to spread too).
    for (const n of rest.slice(8)) await until(sim, n.chunkService!.fetchSeries(author.id, 'replicate'), 30_000)
    expect(honest().length, `seed ${seed}`).toBeGreaterThanOrEqual(2)
    // Now the fakes also advertise the whole series in their signed records, so want-chunk targets them.
    for (const f of fakes) f.mesh!.setHoldings([[author.id, 1_000_000]])
    await sim.run(12_000, 10)
    const length = author.length
    sim.remove(author)
    await sim.run(2000, 10)
    const reader = await sim.add({ chunks: { replicate: false } })
    await sim.run(3000, 10)
    const t0 = sim.clock.now()
    const o = await until(sim, reader.openSeries(author.id), 60_000)
    const took = sim.clock.now() - t0
    const asked = reader.chunkService!.stats.wire.timeouts
    console.log(`fake yes: opened in ${took} ms of simulated time; ${asked} requests timed out`)
    // want-chunk deadline + head claims + the head phase, and the segments (memory swarm: fast).
    expect(took, `seed ${seed}`).toBeLessThanOrEqual(2_500 + HEAD_ASK_MS + HEAD_PHASE_MS)
    expect(o.series.length).toBeGreaterThanOrEqual(sealed * C)
    expect(o.series.length).toBeLessThanOrEqual(length)
    await sim.run(500, 10)
    expect((await o.series.verified).ok).toBe(true)
    for (const n of sim.nodes) n.destroy()
  }, 120_000)

  it('a head is size-checked against its checkpoint before any part is fetched, and each part is exactly its size', async () => {
    const seed = pickSeed('bounded head')
    const sim = await mesh(seed, 3, { replicationTarget: 1 })
    const [author] = sim.nodes as [Ir3Node, Ir3Node, Ir3Node]
    await writeNotes(author, 4 * C + 1)
    expect(await untilTrue(sim, 30_000, () => holdersOf(sim, author, 4).length >= 1), `seed ${seed}`).toBe(true)
    sim.remove(author)
    await sim.run(5000, 10)
    const liars = holdersOf(sim, author, 1)
    // Every holder serves junk roots (not 64 hex digits) and pads its open chunk.
    for (const h of liars) {
      const held = h.chunkService!.held_(author.id)!
      held.roots[0] = 'x'.repeat(50_000)
    }
    const reader = await sim.add({ chunks: { replicate: false } })
    await sim.run(3000, 10)
    const wireBefore = reader.chunkService!.stats.wire.sent
    const failure = await until(
      sim,
      reader.openSeries(author.id).then(
        () => null,
        (e: unknown) => e,
      ),
      60_000,
    )
    if (failure !== null) expect(String(failure)).toMatch(/ERR_NOT_FOUND/)
    const rejected = await entriesOf(reader, 'chunk-rejected')
    expect(
      rejected.some((e) => /roots part at 0/.test(String(e.body['reason']))),
      `seed ${seed}`,
    ).toBe(true)
    // One junk part per liar and try, not a minute of them.
    expect(reader.chunkService!.stats.wire.sent - wireBefore).toBeLessThan(20)
    expect(MAX_HEAD_ROOTS).toBe(65_536)
    for (const n of sim.nodes) n.destroy()
  }, 120_000)

  it('a series of five entries outlives its tab: holders keep its head and open chunk and serve it', async () => {
    const seed = pickSeed('short history')
    const sim = await mesh(seed, 5)
    const author = sim.nodes[0]!
    await writeNotes(author, 5)
    const entries = await author.entries(0, author.length)
    const size = author.length
    const keep = () =>
      sim.nodes.filter((n) => n !== author && (n.chunkService!.held_(author.id)?.checkpoint.size ?? 0) >= size)
    expect(await untilTrue(sim, 60_000, () => keep().length >= 2), `seed ${seed}: ${keep().length} holders`).toBe(true)
    sim.remove(author)
    await sim.run(2000, 10)
    const reader = await sim.add({ chunks: { replicate: false } })
    await sim.run(3000, 10)
    const o = await until(sim, reader.openSeries(author.id), 60_000)
    expect(o.series.length, `seed ${seed}`).toBeGreaterThanOrEqual(size)
    const got = await o.series.entries(0, size)
    expect(got.map((e) => e.hash)).toEqual(entries.map((e) => e.hash))
    await sim.run(500, 10)
    expect((await o.series.verified).ok).toBe(true)
    for (const n of sim.nodes) n.destroy()
  }, 120_000)

  it('openSeries issued right after a node is added waits for the mesh and succeeds', async () => {
    const seed = pickSeed('open early')
    const sim = await mesh(seed, 3)
    const author = sim.nodes[0]!
    await writeNotes(author, 2 * C + 3)
    await sim.run(2000, 10)
    const reader = await sim.add({ chunks: { replicate: false } })
    const t0 = sim.clock.now()
    const o = await until(sim, reader.openSeries(author.id), OPEN_WITHIN_MS + 30_000)
    expect(sim.clock.now() - t0, `seed ${seed}`).toBeLessThan(OPEN_WITHIN_MS)
    expect(o.series.length).toBeGreaterThanOrEqual(2 * C + 3)
    await sim.run(500, 10)
    expect((await o.series.verified).ok).toBe(true)
    for (const n of sim.nodes) n.destroy()
  }, 120_000)

  it('holder summaries: 0 is the head alone, -1 is gone, and a series keeps at most MAX_HOLDERS holders', () => {
    const e = (body: Entry['body']): Entry => ({ seq: 0, t: 0, kind: 'chunk-holders', body, prev: '' })
    const a = 'a'.repeat(32)
    const node = (i: number) => i.toString(16).padStart(32, '0')
    let s: ChunksState = chunksReducer.initial
    s = chunksReducer.reduce(
      s,
      e({
        changes: [
          [node(1), a, 0],
          [node(2), a, 5],
        ],
      }),
      0,
    )
    expect(s.holders[a]).toEqual({ [node(1)]: 0, [node(2)]: 5 })
    s = chunksReducer.reduce(
      s,
      e({
        changes: [
          [node(1), a, -1],
          [node(2), a, -1],
          [node(3), a, 2],
        ],
      }),
      0,
    )
    expect(s.holders[a]).toEqual({ [node(3)]: 2 })
    // The older one-holder form: 0 meant gone.
    s = chunksReducer.reduce(s, e({ node: node(3), author: a, chunks: 0 }), 0)
    expect(s.holders[a]).toBeUndefined()
    const many = Array.from({ length: MAX_HOLDERS + 10 }, (_, i) => [node(i + 10), a, 1])
    s = chunksReducer.reduce(s, e({ changes: many }), 0)
    expect(Object.keys(s.holders[a]!)).toHaveLength(MAX_HOLDERS)
    expect(chunksReducer.version).toBe(2)
  })
})
