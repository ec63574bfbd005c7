import { describe, expect, it } from 'vitest'
import { createSim, entriesOf, pickSeed, until, type Sim } from '../../../test/support/sim.ts'
import type { Ir3Node } from '../../core/node.ts'
import { BROADCASTS_PER_SENDER, messagesApp, PER_SENDER, type MessagesApi } from './app.ts'

const api = (n: Ir3Node): MessagesApi => {
  const a = n.app(messagesApp)
  if (!a) throw new Error('messages app not running')
  return a
}

/** Until every node knows every other node's key-agreement key (peer records have spread). */
async function keysKnown(sim: Sim, nodes: Ir3Node[]): Promise<void> {
  for (let t = 0; t < 30_000; t += 250) {
    if (
      nodes.every((a) =>
        nodes.every(
          (b) =>
            a === b ||
            api(a)
              .contacts()
              .some((c) => c.id === b.id && c.ek),
        ),
      )
    )
      return
    await sim.run(250)
  }
  throw new Error(`seed ${sim.seed}: keys did not spread`)
}

describe('messages', () => {
  it('delivers a direct message, sealed: the recipient reads it and the YES is the receipt', async () => {
    const seed = pickSeed('messages delivered')
    const sim = await createSim({ seed })
    const [a, b] = [await sim.add(), await sim.add()]
    await sim.run(3000)
    await keysKnown(sim, [a, b])
    const sent = api(a).send(b.id, 'hello from a — ünïcode ✓')
    expect(sent.id).toMatch(/^[0-9a-f]{32}$/)
    const m = await until(sim, sent.outcome)
    expect(m, `seed ${seed}`).toMatchObject({
      status: 'delivered',
      from: a.id,
      to: b.id,
      text: 'hello from a — ünïcode ✓',
    })
    const inbox = await api(b).list(a.id)
    expect(inbox).toHaveLength(1)
    expect(inbox[0]).toMatchObject({ id: sent.id, dir: 'in', from: a.id, to: b.id, text: 'hello from a — ünïcode ✓' })
    expect(api(b).conversations()).toEqual([expect.objectContaining({ peer: a.id, unread: 1, count: 1 })])
    api(b).markRead(a.id)
    expect(api(b).conversations()[0]!.unread).toBe(0)
    // Neither series holds the text in the clear.
    for (const n of [a, b]) {
      const all = await n.entries(0, n.length)
      expect(all.some((e) => JSON.stringify(e.body).includes('hello from a'))).toBe(false)
    }
  })

  it('answers in both directions and keeps conversations apart', async () => {
    const seed = pickSeed('messages both ways')
    const sim = await createSim({ seed })
    const [a, b, c] = [await sim.add(), await sim.add(), await sim.add()]
    await sim.run(3000)
    await keysKnown(sim, [a, b, c])
    await until(sim, api(a).send(b.id, 'a→b').outcome)
    await until(sim, api(b).send(a.id, 'b→a').outcome)
    await until(sim, api(c).send(a.id, 'c→a').outcome)
    expect((await api(a).list(b.id)).map((m) => m.text)).toEqual(['a→b', 'b→a'])
    expect((await api(a).list(c.id)).map((m) => m.text)).toEqual(['c→a'])
    expect((await api(b).list()).map((m) => m.text)).toEqual(['a→b', 'b→a'])
  })

  it('records silence when the recipient is gone', async () => {
    const seed = pickSeed('messages silent')
    const sim = await createSim({ seed })
    const [a, b, c] = [await sim.add(), await sim.add(), await sim.add()]
    await sim.run(3000)
    await keysKnown(sim, [a, b, c])
    sim.remove(c)
    await sim.run(200)
    const m = await until(sim, api(a).send(c.id, 'are you there?').outcome)
    expect(m.status, `seed ${seed}`).toBe('silent')
    const silences = await entriesOf(a, 'silence-recorded')
    expect(silences.some((e) => e.body['peer'] === c.id)).toBe(true)
  })

  it('refuses a flood from one node with NO (rate-limited), counts it, and stores none of it', async () => {
    const seed = pickSeed('messages flood')
    const sim = await createSim({ seed })
    const [a, b] = [await sim.add(), await sim.add()]
    await sim.run(3000)
    await keysKnown(sim, [a, b])
    // The node's own limiter gives NO beyond 20 intents from one origin among 100 entries; raise it so the
    // app's limiter is what answers here.
    b.setLimits({ perOriginMax: 1000, loadMax: 1000 })
    const sends = Array.from({ length: PER_SENDER + 10 }, (_, i) => api(a).send(b.id, `m${i}`).outcome)
    const out = await until(sim, Promise.all(sends), 30_000)
    const delivered = out.filter((m) => m.status === 'delivered').length
    const refused = out.filter((m) => m.status === 'refused')
    expect(delivered, `seed ${seed}`).toBe(PER_SENDER)
    expect(refused).toHaveLength(10)
    expect(refused[0]!.reason).toBe('rate-limited')
    expect(b.modules.stats['messages']!.decided.no).toBe(10)
    expect(await entriesOf(b, 'msg-received')).toHaveLength(PER_SENDER)
    // A minute later the sender may write again.
    await sim.run(61_000)
    expect((await until(sim, api(a).send(b.id, 'later').outcome)).status).toBe('delivered')
  })

  it('delivers to a node it has no link to, over the mesh', async () => {
    const seed = pickSeed('messages relayed')
    const sim = await createSim({ seed, mesh: { targetDegree: 1, maxDegree: 2 } })
    const nodes = [await sim.add()]
    for (let i = 0; i < 4; i++) nodes.push(await sim.add())
    await sim.run(4000)
    // A pair without a link between them, but in one piece of the mesh, where the sender has the recipient's key.
    let pair: readonly [Ir3Node, Ir3Node] | undefined
    for (let t = 0; t < 30_000 && !pair; t += 500) {
      pair = nodes
        .flatMap((x) => nodes.map((y) => [x, y] as const))
        .find(
          ([x, y]) =>
            x !== y &&
            !x.mesh!.isReady(y.id) &&
            sim.component(x).has(y.id) &&
            api(x)
              .contacts()
              .some((c) => c.id === y.id && c.ek),
        )
      if (!pair) await sim.run(500)
    }
    expect(pair, `seed ${seed}: no unlinked pair with a known key`).toBeDefined()
    const [from, to] = pair!
    const m = await until(sim, api(from).send(to.id, 'far away').outcome)
    expect(m.status, `seed ${seed}`).toBe('delivered')
    const received = await entriesOf(to, 'intent-received')
    const hops = received.find((e) => e.body['kind'] === 'msg-direct')!.body['hops'] as number
    expect(hops, `seed ${seed}`).toBeGreaterThan(1)
    expect((await api(to).list(from.id))[0]!.text).toBe('far away')
  })

  it('keeps received messages across a reload, derived from the series', async () => {
    const seed = pickSeed('messages reload')
    const sim = await createSim({ seed })
    const [a, b] = [await sim.add(), await sim.add()]
    await sim.run(3000)
    await keysKnown(sim, [a, b])
    await until(sim, api(a).send(b.id, 'still here after a reload').outcome)
    await b.flush()
    const b2 = await sim.reload(b)
    expect(b2.id).toBe(b.id)
    expect((await api(b2).list(a.id)).map((m) => m.text)).toEqual(['still here after a reload'])
    await a.flush()
    const a2 = await sim.reload(a)
    expect((await api(a2).list(b.id))[0]).toMatchObject({ status: 'delivered', text: 'still here after a reload' })
  })

  it('broadcasts in the clear to every node', async () => {
    const seed = pickSeed('messages broadcast')
    const sim = await createSim({ seed })
    const nodes = [await sim.add(), await sim.add(), await sim.add(), await sim.add()]
    await sim.run(4000)
    const m = await until(sim, api(nodes[0]!).broadcast('hello everyone').outcome)
    expect(m, `seed ${seed}`).toMatchObject({ status: 'delivered', broadcast: true, to: '*', yes: 3 })
    for (const n of nodes.slice(1)) expect((await api(n).list('*')).map((x) => x.text)).toEqual(['hello everyone'])
  })

  it('refuses what it cannot send with a clear error, and sends nothing', async () => {
    const seed = pickSeed('messages refused input')
    const sim = await createSim({ seed })
    const [a, b] = [await sim.add(), await sim.add()]
    await sim.run(3000)
    await keysKnown(sim, [a, b])
    const before = a.length
    expect(() => api(a).send(b.id, 'x'.repeat(4097))).toThrow(/ERR_TEXT_TOO_LONG/)
    expect(() => api(a).send(b.id, '')).toThrow(/ERR_BAD_ARGUMENT/)
    expect(() => api(a).send('not-an-id', 'hi')).toThrow(/ERR_BAD_ARGUMENT/)
    expect(() => api(a).send(a.id, 'hi')).toThrow(/ERR_BAD_ARGUMENT/)
    expect(() => api(a).send('f'.repeat(32), 'hi')).toThrow(/ERR_NO_KEY/)
    expect(() => api(a).broadcast('y'.repeat(5000))).toThrow(/ERR_TEXT_TOO_LONG/)
    expect(a.length).toBe(before)
  })

  it('answers NO to malformed, undecryptable or forged message intents and records nothing', async () => {
    const seed = pickSeed('messages bad input')
    const sim = await createSim({ seed })
    const [a, b] = [await sim.add(), await sim.add()]
    await sim.run(3000)
    await keysKnown(sim, [a, b])
    const rk = api(a)
      .contacts()
      .find((c) => c.id === b.id)!.ek!
    const bodies = [
      null,
      { m: 'nope' },
      { m: '0'.repeat(32), ct: 'A'.repeat(60), ek: a.modules && rk, rk }, // garbage ciphertext
      { m: '1'.repeat(32), ct: 'A'.repeat(60), ek: rk, rk: 'x25519:' + '0'.repeat(64) }, // another key
    ]
    const outcomes = bodies.map((body) => a.declare('msg-direct', body, { targets: [b.id], deadlineMs: 3000 }).outcome)
    const res = await until(sim, Promise.all(outcomes))
    for (const o of res) expect(o.no, `seed ${seed}`).toBe(1)
    const reasons = res.map((o) => o.answers[b.id]!.reason)
    expect(reasons).toEqual([
      'malformed message',
      'malformed message',
      'undecryptable',
      'sealed to another key of this node',
    ])
    expect(await entriesOf(b, 'msg-received')).toHaveLength(0)
  })

  it('keeps a direct message unreadable to a holder of the sender’s chunks', async () => {
    const seed = pickSeed('messages holder')
    const sim = await createSim({ seed, chunkSize: 16, chunks: { replicationTarget: 2 } })
    const [a, b, h] = [await sim.add(), await sim.add(), await sim.add()]
    await sim.run(3000)
    await keysKnown(sim, [a, b, h])
    await until(sim, api(a).send(b.id, 'the secret is 42').outcome)
    for (let i = 0; i < 40; i++) a.append('note-added', { text: `filler ${i}` })
    await a.flush()
    const opened = await until(sim, h.openSeries(a.id), 60_000)
    const entries = await opened.series.entries(0, opened.series.length)
    const declared = entries.find(
      (e) => e.kind === 'intent-declared' && (e.body as { kind?: string }).kind === 'msg-direct',
    )
    expect(declared, `seed ${seed}: the holder has the message's entry`).toBeDefined()
    expect(entries.some((e) => JSON.stringify(e.body).includes('the secret is 42'))).toBe(false)
    // The holder cannot open it with its own key either.
    const body = (declared!.body as { body: { ct: string; ek: string } }).body
    expect(await api(h).list(a.id)).toHaveLength(0)
    expect(body.ct.length).toBeGreaterThan(40)
  })

  it('takes a direct message’s receipt from its recipient only: a third node’s forged YES does not mark it delivered', async () => {
    const seed = pickSeed('messages forged receipt')
    const sim = await createSim({ seed })
    const [a, b, c] = [await sim.add(), await sim.add(), await sim.add()]
    await sim.run(3000)
    await keysKnown(sim, [a, b, c])
    sim.remove(b)
    await sim.run(200)
    const sent = api(a).send(b.id, 'for b only')
    // c saw the intent go by; it answers YES in its own name, signed, straight to a.
    let forged = false
    for (let t = 0; t < 2000 && !forged; t += 50) {
      // c only forwards it (no entry of its own, intents.ts): its id is the declarer's, and c has a copy.
      const seen = (await entriesOf(a, 'intent-declared')).find(
        (e) => e.body['kind'] === 'msg-direct' && c.intents!.copies.has(e.body['id'] as string),
      )
      if (seen) {
        const p = {
          intent: seen.body['id'] as string,
          origin: a.id,
          from: c.id,
          key: c.publicKey,
          answer: 'yes' as const,
          data: null,
          reason: null,
          retryAfter: null,
          t: Math.trunc(sim.clock.now()),
        }
        c.mesh!.send(a.id, { t: 'resp', p, s: await c.mesh!.sign('resp', p), relay: false })
        forged = true
      } else await sim.run(50)
    }
    expect(forged, `seed ${seed}: c never saw the intent`).toBe(true)
    const m = await until(sim, sent.outcome)
    expect(m.status, `seed ${seed}`).toBe('silent')
  })

  it('refuses text that UTF-8 would change (a lone surrogate) rather than altering it', async () => {
    const seed = pickSeed('messages surrogate')
    const sim = await createSim({ seed })
    const [a, b] = [await sim.add(), await sim.add()]
    await sim.run(3000)
    await keysKnown(sim, [a, b])
    expect(() => api(a).send(b.id, 'bad \ud800 text')).toThrow(/ERR_BAD_ARGUMENT.*surrogate/)
    expect(() => api(a).broadcast('bad \udc00')).toThrow(/ERR_BAD_ARGUMENT/)
    expect((await until(sim, api(a).send(b.id, 'fine 😀').outcome)).text).toBe('fine 😀')
  })

  it('keeps broadcasts and direct messages on separate budgets: a broadcast flood does not lock out a direct message', async () => {
    const seed = pickSeed('messages budgets')
    const sim = await createSim({ seed })
    const [a, b] = [await sim.add(), await sim.add()]
    await sim.run(3000)
    await keysKnown(sim, [a, b])
    b.setLimits({ perOriginMax: 1000, loadMax: 1000 })
    const flood = Array.from({ length: BROADCASTS_PER_SENDER + 3 }, (_, i) => api(a).broadcast(`spam ${i}`).outcome)
    const res = await until(sim, Promise.all(flood), 30_000)
    expect(
      res.filter((m) => m.status === 'delivered'),
      `seed ${seed}`,
    ).toHaveLength(BROADCASTS_PER_SENDER)
    expect(res.filter((m) => m.status === 'refused')).toHaveLength(3)
    expect((await until(sim, api(a).send(b.id, 'still gets through').outcome)).status).toBe('delivered')
  })

  it('ends a message silent even when its sender reloaded before the deadline', async () => {
    const seed = pickSeed('messages sender reload')
    const sim = await createSim({ seed })
    const [a, b, c] = [await sim.add(), await sim.add(), await sim.add()]
    await sim.run(3000)
    await keysKnown(sim, [a, b, c])
    sim.remove(b)
    await sim.run(100)
    const sent = api(a).send(b.id, 'into the void')
    await sim.run(200)
    await a.flush()
    const a2 = await sim.reload(a)
    expect((await api(a2).list(b.id))[0]).toMatchObject({ id: sent.id, status: 'pending' })
    await sim.run(12_000)
    expect((await api(a2).list(b.id))[0], `seed ${sim.seed}`).toMatchObject({ id: sent.id, status: 'silent' })
    expect(() => api(a).send(b.id, 'from a destroyed node')).toThrow(/ERR_/)
  })
})
