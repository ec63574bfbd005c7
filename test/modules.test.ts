/**
 * The module contract, run against every module the node runs (the core's and
 * every app in src/apps/index.ts): reducers are pure and incremental, a
 * snapshot plus a replay equals a replay, and a module's channel turns bad
 * input into a counted drop. Plus the host's own rules.
 */
import { describe, expect, it } from 'vitest'
import { createSim, pickSeed, until, type Sim } from './support/sim.ts'
import { appModules } from '../src/apps/index.ts'
import { coreModuleList } from '../src/core/modules/core-modules.ts'
import { checkModules } from '../src/core/modules/host.ts'
import { defineModule, select, type AnyModule } from '../src/core/modules/module.ts'
import type { JsonValue } from '../src/core/json.ts'
import type { Ir3Node } from '../src/core/node.ts'
import type { EntryView } from '../src/core/series/types.ts'
import { messagesApp } from '../src/apps/messages/app.ts'
import { notesApp } from '../src/apps/notes/app.ts'
import { pingApp } from '../src/apps/ping/app.ts'
import { encodeFrame } from '../src/core/mesh/frames.ts'

const everyModule: readonly AnyModule[] = [...coreModuleList, ...appModules]

/** A small mesh that exercised every app: links, pings, notes, messages both ways, a broadcast, a refusal, a silence. */
async function busyMesh(seed: number): Promise<{ sim: Sim; nodes: Ir3Node[] }> {
  const sim = await createSim({ seed })
  const nodes = [await sim.add(), await sim.add(), await sim.add()]
  const [a, b, c] = nodes as [Ir3Node, Ir3Node, Ir3Node]
  await sim.run(12_000)
  const msg = (n: Ir3Node) => n.app(messagesApp)!
  await until(sim, a.app(pingApp)!.ping({ deadlineMs: 2000 }).outcome)
  a.app(notesApp)!.add('first note')
  b.app(notesApp)!.add('a note of b')
  await until(sim, msg(a).send(b.id, 'hello b').outcome)
  await until(sim, msg(b).send(a.id, 'hello a').outcome)
  msg(b).markRead(a.id)
  await until(sim, msg(c).broadcast('to everyone').outcome)
  c.setLimits({ loadMax: 0 })
  await until(sim, msg(a).send(c.id, 'refused?').outcome)
  sim.remove(c)
  await until(sim, msg(a).send(c.id, 'silent?').outcome)
  return { sim, nodes: [a, b] }
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T

function replay(m: AnyModule, entries: EntryView[], from: JsonValue = m.initial): JsonValue {
  let s = from
  for (const e of entries) s = m.reduce(s, e, e.bytes)
  return s
}

describe('the module contract', () => {
  it('holds for every module: incremental reduce equals full replay; snapshot + replay equals replay', async () => {
    const seed = pickSeed('module contract')
    const { nodes } = await busyMesh(seed)
    for (const node of nodes) {
      const entries = await node.entries(0, node.length)
      expect(new Set(entries.map((e) => e.kind)).size, `seed ${seed}: a varied series`).toBeGreaterThanOrEqual(9)
      for (const m of everyModule) {
        const full = replay(m, entries)
        // Incremental (as the node applied entries on append) equals a full replay.
        expect(node.series.current[m.name], `${m.name}, seed ${seed}`).toEqual(full)
        // Snapshot (a JSON round trip, as stored) at several points, then replay, equals the full replay.
        for (const k of [1, Math.floor(entries.length / 3), Math.floor(entries.length / 2), entries.length - 1]) {
          const snap = clone(replay(m, entries.slice(0, k)))
          expect(replay(m, entries.slice(k), snap), `${m.name} from a snapshot at ${k}, seed ${seed}`).toEqual(full)
        }
        // Time travel: the state as of a past seq is the replay of the prefix.
        const at = Math.floor(entries.length / 2)
        expect(select(await node.state(at), m), `${m.name} as of ${at}, seed ${seed}`).toEqual(
          replay(m, entries.slice(0, at + 1)),
        )
        // Reducers are pure: replaying twice gives equal states and the initial state is untouched.
        expect(replay(m, entries)).toEqual(full)
        expect(m.initial).toEqual(clone(m.initial))
      }
    }
  })

  it('drops and counts malformed input on a module channel and unknown channels, and keeps the link', async () => {
    const seed = pickSeed('module channels')
    const sim = await createSim({ seed })
    const [a, b] = [await sim.add(), await sim.add()]
    await sim.run(3000)
    const withChannel = appModules.filter((m) => m.channel)
    expect(withChannel.length).toBeGreaterThan(0)
    const garbage: JsonValue[] = [
      null,
      1,
      'x',
      [],
      { t: 'nope' },
      { t: 'echo' },
      { t: 'echo', n: -1 },
      { t: 'echo', n: 1.5 },
    ]
    for (const m of withChannel) {
      for (const g of garbage) expect(b.mesh!.sendDirect(a.id, m.name, g)).toBe(true)
      await sim.run(100)
      expect(a.modules.stats[m.name]!.dropped.malformed, `${m.name}, seed ${seed}`).toBe(garbage.length)
      expect(a.modules.stats[m.name]!.received).toBe(0)
    }
    const before = a.mesh!.stats.dropped.malformed
    b.mesh!._testOnlySendRaw(a.id, encodeFrame({ t: 'x', c: 'no-such-app', d: 1 }))
    await sim.run(100)
    expect(a.mesh!.stats.dropped.malformed).toBe(before + 1)
    expect(a.mesh!.isReady(b.id)).toBe(true)
    // The channel still works for well-formed messages.
    const rtt = await until(sim, b.app(pingApp)!.rtt(a.id))
    expect(rtt, `seed ${seed}`).not.toBeNull()
    expect(a.modules.stats['ping']!.received).toBe(1)
  })

  it('stops: every registration is undone, and nothing answers for a destroyed node', async () => {
    const seed = pickSeed('module stop')
    const sim = await createSim({ seed })
    const [a, b] = [await sim.add(), await sim.add()]
    await sim.run(3000)
    const api = b.app(pingApp)!
    a.destroy()
    b.modules.stop()
    // b's ping handler is gone: another node's ping goes unanswered by b.
    const c = await sim.add()
    await sim.run(3000)
    const out = await until(sim, c.app(pingApp)!.ping({ targets: [b.id], deadlineMs: 1000 }).outcome)
    expect(out.silence, `seed ${seed}`).toBe(1)
    expect(await api.rtt(c.id)).toBeNull()
  })
})

describe('the module host', () => {
  const mod = (name: string, kinds: string[], version = 1) =>
    defineModule({ name, version, kinds, initial: null, reduce: (s: null) => s })

  it('refuses bad names, versions and kinds, and kinds claimed twice', () => {
    expect(() => checkModules([mod('Bad Name', [])])).toThrow(/ERR_BAD_MODULE/)
    expect(() => checkModules([mod('ok', [], 0)])).toThrow(/ERR_BAD_MODULE/)
    expect(() => checkModules([mod('ok', ['Not-A-Kind'])])).toThrow(/ERR_BAD_MODULE/)
    expect(() => checkModules([mod('a', []), mod('a', [])])).toThrow(/ERR_DUPLICATE_MODULE/)
    expect(() => checkModules([...coreModuleList, mod('evil', ['peer-connected'])])).toThrow(/ERR_DUPLICATE_MODULE/)
    expect(() => checkModules(everyModule)).not.toThrow()
  })

  it('lets a module record only its own kinds', async () => {
    const seed = pickSeed('module kinds')
    let ctxRecord: ((kind: string, body: JsonValue) => void) | null = null
    const spy = defineModule<null, null>({
      name: 'spy',
      version: 1,
      kinds: ['spy-seen'],
      initial: null,
      reduce: (s) => s,
      start(ctx) {
        ctxRecord = (k, b) => ctx.record(k, b)
        return null
      },
    })
    const sim = await createSim({ seed, apps: [spy] })
    const a = await sim.add()
    expect(() => ctxRecord!('note-added', { text: 'not mine' })).toThrow(/ERR_BAD_KIND/)
    const n = a.length
    ctxRecord!('spy-seen', 1)
    expect(a.length).toBe(n + 1)
  })

  it('reserves the node’s own channels and intent kinds', () => {
    const chan = defineModule({
      name: 'series',
      version: 1,
      kinds: [],
      initial: null,
      reduce: (x: null) => x,
      channel: { codec: { decode: () => null, encode: () => null }, onMessage: () => null },
    })
    expect(() => checkModules([chan])).toThrow(/ERR_DUPLICATE_MODULE/)
    const want = defineModule({
      name: 'thief',
      version: 1,
      kinds: [],
      initial: null,
      reduce: (x: null) => x,
      intents: { 'want-chunk': () => ({ answer: 'silent' as const }) },
    })
    expect(() => checkModules([want])).toThrow(/ERR_DUPLICATE_MODULE/)
    const twice = [
      defineModule({
        name: 'one',
        version: 1,
        kinds: [],
        initial: null,
        reduce: (x: null) => x,
        intents: { 'x-y': () => ({ answer: 'silent' as const }) },
      }),
      defineModule({
        name: 'two',
        version: 1,
        kinds: [],
        initial: null,
        reduce: (x: null) => x,
        intents: { 'x-y': () => ({ answer: 'silent' as const }) },
      }),
    ]
    expect(() => checkModules(twice)).toThrow(/ERR_DUPLICATE_MODULE/)
  })

  it('answers with silence, and counts it, when a decision throws or asks to record another module’s kind', async () => {
    const seed = pickSeed('module failing decisions')
    const broken = defineModule({
      name: 'broken',
      version: 1,
      kinds: ['broken-seen'],
      initial: null,
      reduce: (x: null) => x,
      intents: {
        'broken-throw': () => {
          throw new Error('internal detail that must not leave the node')
        },
        'broken-kind': () => ({
          answer: 'yes' as const,
          record: [
            { kind: 'broken-seen', body: 1 },
            { kind: 'note-added', body: {} },
          ],
        }),
      },
    })
    const sim = await createSim({ seed, apps: [broken] })
    const [a, b] = [await sim.add(), await sim.add()]
    await sim.run(3000)
    for (const kind of ['broken-throw', 'broken-kind']) {
      const o = await until(sim, a.declare(kind, null, { targets: [b.id], deadlineMs: 1000 }).outcome)
      expect(o, `${kind}, seed ${seed}`).toMatchObject({ yes: 0, no: 0, silence: 1 })
    }
    expect(b.modules.stats['broken']!.failedDecisions).toBe(2)
    // Nothing of the refused decision was recorded.
    expect((await b.entries(0, b.length)).some((e) => e.kind === 'broken-seen')).toBe(false)
  })
})
