/**
 * Chunks over the memory network and memory swarm (manual clock, seeded):
 * replication reaches its target within budgets, a tampered chunk is
 * rejected and the honest copy used, and an author's series survives its tab.
 */
import { describe, expect, it } from 'vitest'
import { entriesOf, pickSeed, type Sim, createChunkSim } from './support/sim.ts'
import type { Ir3Node } from '../src/core/node.ts'
import type { LimitsState } from '../src/core/intents/limits.ts'
import type { ChunksState } from '../src/core/chunks/reducers.ts'
import { verifyHead, verifySealed } from '../src/core/chunks/head.ts'
import { toHex } from '../src/core/series/hash.ts'
import { builtInReducers } from '../src/core/node.ts'
import { appModules } from '../src/apps/index.ts'
import { applyEntry, initialStates, type Reducer, type States } from '../src/core/series/reducers.ts'
import type { ChunksOptions } from '../src/core/chunks/service.ts'

/** The reducers of a sim node (the core's and every app's), as a reader opens a series with them. */
const nodeReducers: readonly Reducer[] = [...builtInReducers, ...appModules]

/** The author's derived state after each size, replayed from its entries (so it can be asked after the tab closed). */
async function statesOf(node: Ir3Node): Promise<(size: number) => States> {
  const entries = await node.entries(0, node.length)
  return (size) => {
    let s = initialStates(nodeReducers)
    for (const e of entries.slice(0, size)) s = applyEntry(nodeReducers, s, e, e.bytes)
    return s
  }
}

const C = 16

const mesh = (seed: number, n: number, chunks: ChunksOptions = {}): Promise<Sim> => createChunkSim(seed, n, C, chunks)

async function writeNotes(node: Ir3Node, count: number): Promise<void> {
  for (let i = 0; i < count; i++) node.append('note-added', { text: `note ${i} of ${node.name}` })
  await node.flush()
}

/** Nodes other than the author holding at least `sealed` of `author`'s chunks. */
function holdersOf(sim: Sim, author: Ir3Node, sealed: number): Ir3Node[] {
  return sim.nodes.filter((n) => n.id !== author.id && (n.chunkService?.held_(author.id)?.chunks ?? 0) >= sealed)
}

async function until(sim: Sim, ms: number, done: () => boolean): Promise<boolean> {
  for (let t = 0; t < ms && !done(); t += 200) await sim.run(200, 10)
  return done()
}

describe('chunks', () => {
  it('head and sealed-chunk checks pin damage to a seq', async () => {
    const seed = pickSeed('chunk checks')
    const sim = await mesh(seed, 1)
    const a = sim.nodes[0]!
    await writeNotes(a, 5 * C + 3)
    const snap = (await a.series.headSnapshot())!
    const head = {
      author: a.id,
      publicKey: a.publicKey,
      checkpoint: snap.checkpoint,
      roots: snap.roots.map(toHex),
      tail: snap.tail,
    }
    expect(await verifyHead(head, C, { verify: async () => true })).toEqual({ ok: true })
    const [chunk] = await a.series.sealedChunks(2, 3)
    expect(verifySealed(2, chunk!, head.roots, head.checkpoint.size, C)).toEqual({ ok: true })
    const bad = chunk!.slice()
    bad[bad.length - 3]! ^= 1
    const r = verifySealed(2, bad, head.roots, head.checkpoint.size, C)
    expect(r.ok).toBe(false)
    expect(verifySealed(3, chunk!, head.roots, head.checkpoint.size, C).ok).toBe(false)
    const wrongRoot = { ...head, roots: head.roots.map((x, i) => (i === 1 ? head.roots[0]! : x)) }
    expect(await verifyHead(wrongRoot, C, { verify: async () => true })).toMatchObject({ ok: false })
    const tailBad = head.tail.slice()
    tailBad[tailBad.length - 2]! ^= 1
    expect(await verifyHead({ ...head, tail: tailBad }, C, { verify: async () => true })).toMatchObject({ ok: false })
    sim.remove(a)
  })

  it('replication reaches the target and stays within storage budgets', async () => {
    const seed = pickSeed('replication')
    const sim = await mesh(seed, 7)
    const author = sim.nodes[0]!
    // A node with room for its own series and not much more.
    const tight = sim.nodes[6]!
    const budget = (tight.series.current['limits'] as LimitsState).storageUsed + 6_000
    tight.setLimits({ storageBytes: budget })
    await writeNotes(author, 40 * C + 5)
    const sealed = Math.floor(author.length / C)
    const reached = await until(sim, 120_000, () => holdersOf(sim, author, sealed).length >= 3)
    expect(reached, `seed ${seed}: ${holdersOf(sim, author, sealed).length} holders`).toBe(true)
    // Every holder's copy is complete and its own accounting stays within its budget.
    for (const n of sim.nodes) {
      const l = n.series.current['limits'] as LimitsState
      if (n !== tight)
        expect(l.storageUsed, `seed ${seed}: ${n.name} over budget`).toBeLessThanOrEqual(l.budgets.storageBytes)
    }
    // The tight node's own series grows past its budget by itself; what it took on for others stays within it.
    expect(sim.chunkStore(tight).bytes, `seed ${seed}`).toBeLessThanOrEqual(6_000)
    const tightHeld = (tight.series.current['chunks'] as ChunksState).held
    expect(Object.values(tightHeld).reduce((n, h) => n + h.bytes, 0)).toBe(sim.chunkStore(tight).bytes)
    // Every other node's derived state learns the holders from their signed records.
    const derived = (n: Ir3Node) =>
      Object.keys((n.series.current['chunks'] as ChunksState).holders[author.id] ?? {}).length
    expect(
      await until(sim, 20_000, () => sim.nodes.every((n) => n === author || derived(n) >= 2)),
      `seed ${seed}: holders in derived state ${sim.nodes.map(derived).join(',')}`,
    ).toBe(true)
    for (const n of sim.nodes) n.destroy()
  }, 120_000)

  it('a tampered chunk is rejected with its seeders and the honest copy is used', async () => {
    const seed = pickSeed('tampered')
    const sim = await mesh(seed, 5, { replicationTarget: 3 })
    const author = sim.nodes[0]!
    await writeNotes(author, 20 * C + 4)
    const sealed = Math.floor(author.length / C)
    expect(await until(sim, 60_000, () => holdersOf(sim, author, sealed).length >= 3), `seed ${seed}`).toBe(true)
    const stateAt = await statesOf(author)
    sim.remove(author)
    // Holders catch up with each other (the newest head, the chunks under it), then all but one collude:
    // the same flipped byte in chunk 5, so their torrent is the larger group.
    const heldSize = (h: Ir3Node) => h.chunkService!.held_(author.id)?.checkpoint.size ?? 0
    // Every node holding any of it, so none is still catching up when the reader asks.
    const converged = () => {
      const hs = holdersOf(sim, author, 1)
      const n = (h: Ir3Node) => h.chunkService!.held_(author.id)!.chunks
      return hs.length >= 3 && hs.every((h) => n(h) === Math.floor(heldSize(h) / C) && n(h) === n(hs[0]!))
    }
    const settled = () => converged() && sim.nodes.every((n) => n.chunkService!.view().downloads.length === 0)
    expect(await until(sim, 30_000, settled), `seed ${seed}: holders did not converge`).toBe(true)
    // Freeze replication (serving goes on), so no node takes the series on or catches up after this.
    for (const n of sim.nodes) n.chunkService!.pause()
    await sim.run(1000, 10)
    expect(converged(), `seed ${seed}: holders moved on`).toBe(true)
    const holders = holdersOf(sim, author, 1)
    const liars = holders.slice(1)
    for (const liar of liars) sim.chunkStore(liar)._testOnlyChunk(author.id, 5)![40]! ^= 0x20
    const reader = await sim.add({ chunks: { replicate: false } })
    await sim.run(3000, 10)
    const opening = reader.openSeries(author.id)
    let opened: Awaited<typeof opening> | null = null
    void opening.then((o) => (opened = o))
    await until(sim, 30_000, () => opened !== null)
    expect(opened, `seed ${seed}: series not opened`).not.toBeNull()
    const o = opened!
    expect(o.series.length).toBeGreaterThanOrEqual(sealed * C)
    await sim.run(500, 10)
    expect((await o.series.verified).ok).toBe(true)
    expect(await o.series.state()).toEqual(stateAt(o.series.length))
    const rejected = await entriesOf(reader, 'chunk-rejected')
    expect(rejected.length, `seed ${seed}`).toBeGreaterThan(0)
    expect(rejected[0]!.body['index']).toBe(5)
    const blamed = rejected[0]!.body['seeders'] as string[]
    expect(blamed.length).toBeGreaterThan(0)
    for (const b of blamed) expect(liars.map((h) => h.id)).toContain(b)
    const standing = (reader.series.current['chunks'] as ChunksState).standing
    for (const b of blamed) expect(standing[b]).toBeLessThan(0)
    expect(standing[holders[0]!.id] ?? 0).toBe(0)
    for (const n of sim.nodes) n.destroy()
  }, 120_000)

  it('malformed direct requests and stray answers are dropped and counted; a peer that keeps sending them is cut off', async () => {
    const seed = pickSeed('bad direct')
    const sim = await mesh(seed, 2, { replicate: false })
    const [a, evil] = sim.nodes as [Ir3Node, Ir3Node]
    await writeNotes(a, 3 * C)
    expect(await until(sim, 5000, () => a.mesh!.isReady(evil.id))).toBe(true)
    const raw = (d: unknown, c = 'series') =>
      evil.mesh!._testOnlySendRaw(a.id, new TextEncoder().encode(JSON.stringify({ t: 'x', c, d })))
    const before = { ...a.mesh!.stats.dropped }
    raw({ q: 'head' }) // no request id
    raw({ r: 'x'.repeat(100), q: 'head', a: a.id }) // oversized id
    raw({ r: '1', ok: true, cp: {} }) // an answer nobody asked for
    raw({ r: '2', q: 'head', a: 'not-an-id' }) // answered with an error, not a crash
    raw({ r: '3', q: 'part', a: a.id, size: 1, what: 'roots', off: -1 })
    raw({ r: '4', q: 'open', a: a.id }, 'nope') // a channel nobody serves
    await sim.run(500, 10)
    expect(a.mesh!.stats.dropped.malformed - before.malformed).toBe(3)
    expect(a.mesh!.stats.dropped.stale - before.stale).toBe(1)
    expect(a.status).not.toBe('damaged')
    // A node that keeps it up loses the link (and it is recorded).
    for (let i = 0; i < 30; i++) raw({ q: 'head' })
    await sim.run(500, 10)
    expect(a.mesh!.isReady(evil.id)).toBe(false)
    const dropped = await entriesOf(a, 'peer-dropped')
    expect(dropped.some((e) => e.body['peer'] === evil.id)).toBe(true)
    for (const n of sim.nodes) n.destroy()
  })

  it('a head whose roots do not match its signed checkpoint is rejected with the seeder', async () => {
    const seed = pickSeed('forged head')
    const sim = await mesh(seed, 3, { replicationTarget: 1 })
    const [author] = sim.nodes as [Ir3Node, Ir3Node, Ir3Node]
    await writeNotes(author, 4 * C + 1)
    expect(await until(sim, 30_000, () => holdersOf(sim, author, 4).length >= 1)).toBe(true)
    // The author goes; once the holders' jobs have settled, every holder lies about a root in the head it serves.
    sim.remove(author)
    await sim.run(5000, 10)
    const liars = holdersOf(sim, author, 1)
    for (const h of liars) {
      const held = h.chunkService!.held_(author.id)!
      held.roots[1] = held.roots[0]!
    }
    const reader = await sim.add({ chunks: { replicate: false } })
    await sim.run(3000, 10)
    let outcome: unknown = null
    void reader.openSeries(author.id).then(
      (o) => (outcome = o),
      (e: unknown) => (outcome = e),
    )
    await until(sim, 20_000, () => outcome !== null)
    if (outcome instanceof Error) expect(String(outcome)).toMatch(/ERR_NOT_FOUND/)
    else {
      // An honest holder that took the series on while it was short may still serve that older head: fine, never the forged one.
      const o = outcome as Awaited<ReturnType<Ir3Node['openSeries']>>
      expect(o.series.length, `seed ${seed}`).toBeLessThan(4 * C)
      await sim.run(500, 10)
      expect((await o.series.verified).ok).toBe(true)
    }
    const rejected = await entriesOf(reader, 'chunk-rejected')
    expect(rejected.length).toBeGreaterThan(0)
    expect(rejected[0]!.body).toMatchObject({ author: author.id, index: -1 })
    expect(liars.map((h) => h.id)).toContain((rejected[0]!.body['seeders'] as string[])[0])
    expect(String(rejected[0]!.body['reason'])).toMatch(/roots do not match/)
    expect((await entriesOf(reader, 'chunk-stored')).length).toBe(0)
    for (const n of sim.nodes) n.destroy()
  })

  it('the author going away loses nothing once the target is reached; time travel matches', async () => {
    const seed = pickSeed('author gone')
    const sim = await mesh(seed, 6)
    const author = sim.nodes[0]!
    await writeNotes(author, 30 * C + 7)
    const sealed = Math.floor(author.length / C)
    expect(await until(sim, 60_000, () => holdersOf(sim, author, sealed).length >= 3), `seed ${seed}`).toBe(true)
    // Holders follow the open chunk while the author is online: every note is in some holder's head.
    const notes = author.length
    expect(
      await until(sim, 30_000, () =>
        holdersOf(sim, author, 1).some((h) => {
          const held = h.chunkService!.held_(author.id)!
          return held.checkpoint.size >= notes && held.chunks === Math.floor(held.checkpoint.size / C)
        }),
      ),
      `seed ${seed}: no holder has the notes' head`,
    ).toBe(true)
    const stateAt = await statesOf(author)
    sim.remove(author)
    const reader = await sim.add({ chunks: { replicate: false } })
    await sim.run(3000, 10)
    let opened: Awaited<ReturnType<Ir3Node['openSeries']>> | null = null
    void reader.openSeries(author.id).then((o) => (opened = o))
    await until(sim, 30_000, () => opened !== null)
    expect(opened, `seed ${seed}`).not.toBeNull()
    const o = opened!
    const size = o.series.length
    expect(size).toBeGreaterThanOrEqual(notes)
    expect(await o.series.state()).toEqual(stateAt(size))
    expect(await o.series.state(7 * C + 3)).toEqual(stateAt(7 * C + 4))
    expect((await entriesOf(reader, 'chunk-stored')).filter((e) => e.body['author'] === author.id).length).toBe(
      Math.floor(size / C),
    )
    for (const n of sim.nodes) n.destroy()
  }, 120_000)
})
