/**
 * The intents under the review's measured attacks (seeded simulation; each
 * test prints its seed): a stranger's input costs a receiver O(1) and is
 * charged to the link that delivered it.
 *
 *   - 2,520 intents from throwaway origins in 10 s: entries appended per
 *     honest node stay within the answer budgets, refused intents are not
 *     forwarded, most are dropped before their signature is checked, no
 *     response link is dialed to a throwaway origin;
 *   - 200 answers from non-targets, late or with 60 KB of data: the
 *     declarer's series grows by its own entries only;
 *   - default targets are live nodes, not ids strangers made up.
 */
import { describe, expect, it } from 'vitest'
import { createSim, entriesOf, pickSeed, until } from './support/sim.ts'
import { createSeededRng } from '../src/core/testing/manual-clock.ts'
import { encodeFrame, type IntentPayload } from '../src/core/mesh/frames.ts'
import type { JsonValue } from '../src/core/json.ts'
import type { Ir3Node } from '../src/core/node.ts'
import type { LimitsState } from '../src/core/intents/limits.ts'
import { decide, DEFAULT_BUDGETS, limitsReducer } from '../src/core/intents/limits.ts'
import {
  ANSWERS_BURST,
  ANSWERS_PER_S,
  DIALS_BURST,
  DIALS_PER_S,
  REFUSALS_BURST,
  REFUSALS_PER_S,
  SUMMARY_EVERY_MS,
} from '../src/core/intents/intents.ts'
import { hexId, strangers, type Stranger } from './support/strangers.ts'

const storage = (n: Ir3Node) => (n.series.current['limits'] as LimitsState).storageUsed

describe('the limiters, from summarized intents', () => {
  const entry = (seq: number, t: number, kind: string, body: JsonValue) => ({ seq, t, kind, body, prev: '' })
  const reduce = (entries: ReturnType<typeof entry>[]) =>
    entries.reduce((s, e) => limitsReducer.reduce(s, e as never, 100), limitsReducer.initial)

  it('counts a summary’s intents as load for 30 s, and its declarers against the per-declarer limit', () => {
    const o = 'a'.repeat(32)
    const L = DEFAULT_BUDGETS.loadMax
    const s = reduce([entry(0, 1000, 'intents-summarized', { received: L + 10, origins: { [o]: 25 } })])
    expect(decide(s, 'b'.repeat(32), 'ping', 2000)).toMatchObject({ answer: 'no', reason: 'load' })
    expect(decide(s, 'b'.repeat(32), 'ping', 1000 + 30_001)).toEqual({ answer: 'yes' })
    expect(decide(s, o, 'ping', 1000 + 30_001)).toMatchObject({ answer: 'no', reason: 'flood' })
    // Not yet summarized: passed as pending.
    const quiet = reduce([entry(0, 1000, 'limits-set', { budgets: {} })])
    expect(decide(quiet, o, 'ping', 2000, { total: L + 1, origin: 1 })).toMatchObject({ reason: 'load' })
    expect(decide(quiet, o, 'ping', 2000, { total: L, origin: 1 })).toEqual({ answer: 'yes' })
  })
})

describe('intents under attack', () => {
  it('bounds what 2,520 intents from throwaway origins cost each honest node, and forwards none it refused', async () => {
    const seed = pickSeed('intent flood')
    const sim = await createSim({ seed })
    const honest: Ir3Node[] = []
    for (let i = 0; i < 6; i++) honest.push(await sim.add())
    const evil = await sim.add({ apps: [] })
    await sim.run(4000)
    const links = honest.filter((n) => evil.mesh!.isReady(n.id))
    expect(links.length, `seed ${seed}: the attacker has no links`).toBeGreaterThan(0)
    const pool = strangers(630, seed + 1)
    const strangerIds = new Set(pool.map((s) => s.id))
    const rng = createSeededRng(seed + 2)

    // What each honest node forwards and dials, and what it appends, during the attack.
    const forwarded = new Map<string, Set<string>>()
    const dials = new Map<string, string[]>()
    const before = new Map<string, number>()
    for (const n of honest) {
      const m = n.mesh!
      const fwd = new Set<string>()
      const dialed: string[] = []
      forwarded.set(n.id, fwd)
      dials.set(n.id, dialed)
      const flood = m.flood.bind(m)
      m.flood = (f, from) => {
        if (f.t === 'intent' && strangerIds.has(f.p.origin)) fwd.add(f.p.id)
        return flood(f, from)
      }
      const connect = m.connect.bind(m)
      m.connect = (id, purpose, attempts) => {
        if (purpose === 'response') dialed.push(id)
        return connect(id, purpose, attempts)
      }
      before.set(n.id, n.length)
    }

    const TOTAL = 2520
    const SECONDS = 10
    const batches = SECONDS * 10
    for (let b = 0; b < batches; b++) {
      const now = Math.trunc(sim.clock.now())
      for (let i = Math.round((b * TOTAL) / batches); i < Math.round(((b + 1) * TOTAL) / batches); i++) {
        const s = pool[i % pool.length]!
        const p: IntentPayload = {
          id: hexId(rng),
          origin: s.id,
          key: s.key,
          kind: 'ping',
          body: null,
          t: now,
          deadline: now + 5000,
          targets: null,
        }
        const frame = encodeFrame({ t: 'intent', p, s: await s.sign('intent', p), ttl: 6, hops: 1 })
        for (const n of links) evil.mesh!._testOnlySendRaw(n.id, frame)
      }
      await sim.run(100)
    }
    await sim.run(2000)

    const seconds = SECONDS + 2
    // Own entries only for answers: YES (the load limiter lets loadMax + 1 through per 30 s), NO (the
    // refusal budget); two entries each; a summary per period; plus the mesh's own few entries.
    // YES: the load limiter's loadMax + 1 per 30 s, or the node's answer budget, whichever is tighter.
    const yes = Math.min(DEFAULT_BUDGETS.loadMax + 1, ANSWERS_BURST + ANSWERS_PER_S * seconds)
    const no = REFUSALS_BURST + REFUSALS_PER_S * seconds
    const bound = 2 * (yes + no) + Math.ceil((seconds * 1000) / SUMMARY_EVERY_MS) + 1 + 10
    for (const n of honest) {
      const grown = n.length - before.get(n.id)!
      const at = `seed ${seed}, node ${n.id.slice(0, 8)}`
      expect(grown, `${at}: appended ${grown} entries`).toBeLessThanOrEqual(bound)
      // Forwarded: what the load limiter lets through (loadMax + 1 per 30 s); the rest it refused.
      expect(forwarded.get(n.id)!.size, `${at}: forwarded refused intents`).toBeLessThanOrEqual(
        DEFAULT_BUDGETS.loadMax + 1,
      )
      expect(
        dials.get(n.id)!.filter((id) => strangerIds.has(id)),
        `${at}: dialed a throwaway origin`,
      ).toEqual([])
      expect(dials.get(n.id)!.length).toBeLessThanOrEqual(DIALS_BURST + DIALS_PER_S * seconds)
      expect(n.intents!.stats.refused, at).toBeGreaterThan(0)
    }
    // The rest was dropped before its signature was checked, and charged to the attacker's link
    // (in the summaries: the next one comes within a period).
    await sim.run(SUMMARY_EVERY_MS)
    const direct = links[0]!
    expect(direct.intents!.stats.overBudget, `seed ${seed}`).toBeGreaterThan(TOTAL / 2)
    const summaries = await entriesOf(direct, 'intents-summarized')
    const charged = summaries.reduce(
      (sum, e) => sum + ((e.body['byLink'] as Record<string, { dropped: number }>)[evil.id]?.dropped ?? 0),
      0,
    )
    expect(charged, `seed ${seed}`).toBe(direct.intents!.stats.overBudget)
    for (const e of summaries) {
      const byLink = Object.values(e.body['byLink'] as Record<string, { received: number }>)
      expect(byLink.reduce((sum, l) => sum + l.received, 0)).toBe(e.body['received'])
    }
    // The Intents panel's counts stay derivable: everything verified is counted as received.
    const state = direct.series.current['intents'] as { received: number }
    expect(state.received, `seed ${seed}`).toBe(direct.intents!.stats.received)
  })

  it('stores only targets’ answers, on time, with capped data: 200 foreign answers of 60 KB cost the declarer nothing', async () => {
    const seed = pickSeed('answer spam')
    const sim = await createSim({ seed })
    const a = await sim.add()
    const b = await sim.add()
    const evil = await sim.add({ apps: [] })
    await sim.run(4000)
    expect(a.mesh!.isReady(evil.id) && a.mesh!.isReady(b.id), `seed ${seed}`).toBe(true)
    const pool = strangers(200, seed + 1)
    const big = 'x'.repeat(60_000)
    const used = storage(a)
    const declared = a.declare('ping', null, { targets: [b.id, evil.id], deadlineMs: 2000 })
    const answer = async (s: Stranger, data: JsonValue) => {
      const p = {
        intent: declared.id,
        origin: a.id,
        from: s.id,
        key: s.key,
        answer: 'yes' as const,
        data,
        reason: null,
        retryAfter: null,
        t: Math.trunc(sim.clock.now()),
      }
      evil.mesh!._testOnlySendRaw(a.id, encodeFrame({ t: 'resp', p, s: await s.sign('resp', p), relay: false }))
    }
    await sim.run(200)
    // 100 from non-targets on time; the target `evil` with 60 KB (over the cap); then 100 late ones.
    for (const s of pool.slice(0, 100)) await answer(s, big)
    const self: Stranger = {
      id: evil.id,
      key: evil.publicKey,
      sign: (type, p) => evil.mesh!.sign(type, p),
    }
    await answer(self, big)
    await sim.run(1000)
    const outcome = await until(sim, declared.outcome)
    await sim.run(6000)
    for (const s of pool.slice(100)) await answer(s, big)
    await answer(self, 'late and small')
    await sim.run(1000)

    expect(outcome, `seed ${seed}`).toMatchObject({ targets: 2, yes: 1, silence: 1 })
    expect(Object.keys(outcome.answers)).toEqual([b.id])
    const grown = storage(a) - used
    expect(grown, `seed ${seed}: the declarer's series grew by ${grown} bytes`).toBeLessThan(8 * 1024)
    const received = await entriesOf(a, 'response-received')
    expect(received.map((e) => e.body['from'])).toEqual([b.id])
    expect(a.intents!.stats.answersDropped, `seed ${seed}`).toMatchObject({ notTarget: 200, oversize: 1, late: 1 })
    // Foreign answers are not held against the link that carried them (they may be honest, just unasked).
    expect(a.mesh!.isReady(evil.id)).toBe(true)
  })

  it('targets a default ping at live nodes only, not at ids strangers made up', async () => {
    const seed = pickSeed('default targets')
    const sim = await createSim({ seed })
    const nodes = [await sim.add(), await sim.add(), await sim.add(), await sim.add()]
    await sim.run(6000)
    const [victim] = nodes
    const rng = createSeededRng(seed + 1)
    const madeUp = Array.from({ length: 300 }, () => ({ id: hexId(rng), publicKey: '00'.repeat(32) }))
    // As if the bootstrap server (or signals from strangers) had introduced them: heard of, never live.
    ;(victim!.mesh as unknown as { records: { learn(p: typeof madeUp, s: 'server'): void } }).records.learn(
      madeUp,
      'server',
    )
    expect(victim!.mesh!.known().length).toBeGreaterThan(300)
    const { id, outcome } = victim!.declare('ping', null, { deadlineMs: 2000 })
    const o = await until(sim, outcome)
    const targets = (await entriesOf(victim!, 'intent-declared')).find((e) => e.body['id'] === id)!.body[
      'targets'
    ] as string[]
    expect(targets.sort(), `seed ${seed}`).toEqual(
      nodes
        .slice(1)
        .map((n) => n.id)
        .sort(),
    )
    expect(o, `seed ${seed}`).toMatchObject({ targets: 3, yes: 3, silence: 0 })
    expect(await entriesOf(victim!, 'silence-recorded')).toEqual([])
  })
})
