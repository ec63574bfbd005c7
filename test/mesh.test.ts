import { describe, expect, it } from 'vitest'
import { createSim, entriesOf, pickSeed } from './support/sim.ts'
import { encodeFrame } from '../src/core/mesh/frames.ts'
import type { Ir3Node } from '../src/core/node.ts'

describe('the mesh', () => {
  it('connects two nodes through the server and records it on both sides', async () => {
    const seed = pickSeed('two nodes')
    const sim = await createSim({ seed })
    const a = await sim.add()
    const b = await sim.add()
    await sim.run(3000)
    expect(a.mesh!.isReady(b.id), `seed ${seed}`).toBe(true)
    expect(b.mesh!.isReady(a.id), `seed ${seed}`).toBe(true)
    const ca = await entriesOf(a, 'peer-connected')
    const cb = await entriesOf(b, 'peer-connected')
    expect(ca).toHaveLength(1)
    expect(ca[0]!.body).toMatchObject({ peer: b.id, via: 'server' })
    expect(cb[0]!.body).toMatchObject({ peer: a.id, via: 'server' })
    expect(Object.keys((a.series.current['peers'] as { connected: object }).connected)).toEqual([b.id])
  })

  it('negotiates new connections through the mesh once the server is gone', async () => {
    const seed = pickSeed('mesh signaling')
    const sim = await createSim({ seed, mesh: { targetDegree: 2, maxDegree: 4 } })
    const [a, b, c] = [await sim.add(), await sim.add(), await sim.add()]
    await sim.run(3000)
    // Everyone is connected to everyone (degree 2 in a triangle); cut the server, then drop a-c.
    sim.net.setServer(false)
    await sim.run(500)
    expect(a.mesh!.isReady(c.id), `seed ${seed}`).toBe(true)
    a.mesh!._testOnlyCloseLink(c.id)
    await sim.run(6000)
    expect(a.mesh!.isReady(c.id), `seed ${seed}`).toBe(true)
    const viaMesh = [...(await entriesOf(a, 'peer-connected')), ...(await entriesOf(c, 'peer-connected'))].filter(
      (e) => e.body['via'] === 'mesh',
    )
    expect(viaMesh.length, `seed ${seed}`).toBeGreaterThan(0)
    expect(a.mesh!.stats.connected.mesh + c.mesh!.stats.connected.mesh).toBeGreaterThan(0)
    expect(b.mesh!.stats.signalsRelayed, `seed ${seed}`).toBeGreaterThan(0)
  })

  it('drops and counts malformed frames, and disconnects a peer that keeps sending them', async () => {
    const seed = pickSeed('bad frames')
    const sim = await createSim({ seed, mesh: { maxBadFrames: 5 } })
    const a = await sim.add()
    const evil = await sim.add()
    await sim.run(3000)
    const garbage = [
      new Uint8Array([0xff, 0x00]),
      new TextEncoder().encode('{"t":"intent"}'),
      new TextEncoder().encode('[1,2]'),
      new Uint8Array(70_000),
    ]
    for (const g of garbage) evil.mesh!._testOnlySendRaw(a.id, g)
    await sim.run(200)
    expect(a.mesh!.stats.dropped.malformed + a.mesh!.stats.dropped.oversize).toBe(4)
    expect(a.mesh!.isReady(evil.id)).toBe(true)
    for (let i = 0; i < 5; i++) evil.mesh!._testOnlySendRaw(a.id, new TextEncoder().encode(`{"t":"nope${i}"}`))
    await sim.run(500)
    expect(a.mesh!.isReady(evil.id)).toBe(false)
    const dropped = await entriesOf(a, 'peer-dropped')
    expect(dropped[0]!.body).toMatchObject({ peer: evil.id })
    expect(String(dropped[0]!.body['reason'])).toMatch(/abuse: 6 bad frames/)
  })

  it('disconnects a peer that floods frames over the rate', async () => {
    const seed = pickSeed('flood')
    const sim = await createSim({ seed, mesh: { frameRate: 50, frameBurst: 50, maxFloodFrames: 100 } })
    const a = await sim.add()
    const evil = await sim.add()
    await sim.run(3000)
    const ping = encodeFrame({ t: 'ping', n: 1 })
    for (let i = 0; i < 400; i++) evil.mesh!._testOnlySendRaw(a.id, ping)
    await sim.run(500)
    expect(a.mesh!.stats.dropped.flood).toBeGreaterThan(100)
    expect(a.mesh!.isReady(evil.id)).toBe(false)
    expect(String((await entriesOf(a, 'peer-dropped'))[0]!.body['reason'])).toMatch(/flooding/)
  })

  it('rejects an intent whose signature is forged and records nothing for it', async () => {
    const seed = pickSeed('forged intent')
    const sim = await createSim({ seed })
    const a = await sim.add()
    const b = await sim.add()
    await sim.run(3000)
    const p = {
      id: 'f'.repeat(32),
      origin: b.id,
      key: b.publicKey,
      kind: 'ping',
      body: null,
      t: sim.clock.now(),
      deadline: sim.clock.now() + 5000,
      targets: null,
    }
    b.mesh!._testOnlySendRaw(a.id, encodeFrame({ t: 'intent', p, s: 'ab'.repeat(64), ttl: 3, hops: 1 }))
    await sim.run(200)
    expect(a.mesh!.stats.dropped.badSignature).toBe(1)
    expect(await entriesOf(a, 'intent-received')).toHaveLength(0)
  })
})

describe('direct channels', () => {
  it('gives a channel to one handler, refuses a second, and frees it on unsubscribe', async () => {
    const seed = pickSeed('direct channel')
    const sim = await createSim({ seed })
    const a = await sim.add()
    const b = await sim.add()
    await sim.run(3000)
    expect(a.mesh!.isReady(b.id), `seed ${seed}`).toBe(true)
    const got: unknown[] = []
    const off = a.mesh!.onDirect('demo', (from, d) => void got.push([from, d]))
    expect(() => a.mesh!.onDirect('demo', () => undefined)).toThrow(/ERR_DUPLICATE_MODULE/)
    expect(b.mesh!.sendDirect(a.id, 'demo', { n: 1 })).toBe(true)
    await sim.run(200)
    expect(got).toEqual([[b.id, { n: 1 }]])
    off()
    const malformed = a.mesh!.stats.dropped.malformed
    b.mesh!.sendDirect(a.id, 'demo', { n: 2 })
    await sim.run(200)
    expect(got).toHaveLength(1)
    expect(a.mesh!.stats.dropped.malformed).toBe(malformed + 1)
    a.mesh!.onDirect('demo', () => undefined)
  })
})

describe('intents', () => {
  it('records YES, NO (rate-limited), SILENCE (gone) and late answers in the declarer’s series', async () => {
    const seed = pickSeed('outcomes')
    const sim = await createSim({ seed, mesh: { targetDegree: 4 } })
    const [origin, yes1, yes2, limited, leaver, slow] = [
      await sim.add(),
      await sim.add(),
      await sim.add(),
      await sim.add(),
      await sim.add(),
      // Without the ping app: this node answers pings with its own (slow) handler.
      await sim.add({ apps: [] }),
    ]
    await sim.run(5000)
    limited.setLimits({ loadMax: 0 })
    let release!: () => void
    slow.handle('ping', () => new Promise((r) => (release = () => r({ answer: 'yes', data: 'slow' }))))
    await sim.run(2000)
    const targets = [yes1.id, yes2.id, limited.id, leaver.id, slow.id]
    leaver.destroy()
    const { id } = origin.declare('ping', { hello: 1 }, { deadlineMs: 3000, ttl: 6, targets })
    await sim.run(3500)
    release()
    await sim.run(1000)
    const s = origin.intent(id)!
    expect(s, `seed ${seed}`).toMatchObject({ targets: 5, yes: 2, no: 1, silence: 2, late: 1 })
    expect(s.insights.available.sort()).toEqual([yes1.id, yes2.id].sort())
    expect(s.insights.congested).toEqual([limited.id])
    expect(s.insights.unknown.sort()).toEqual([leaver.id, slow.id].sort())
    const no = s.responders.find((r) => r.id === limited.id)!
    expect(no.reason).toBe('load')
    const silences = (await entriesOf(origin, 'silence-recorded')).map((e) => e.body['peer']).sort()
    expect(silences).toEqual([leaver.id, slow.id].sort())
    const late = (await entriesOf(origin, 'response-received')).find((e) => e.body['from'] === slow.id)!
    expect(late.body).toMatchObject({ late: true, answer: 'yes', data: 'slow' })
    const pongs = (await entriesOf(origin, 'response-received')).filter((e) => e.body['from'] === yes1.id)
    expect(pongs[0]!.body['data']).toMatchObject({ id: yes1.id })
  })

  it('answers a flooding declarer NO, then with silence', async () => {
    const seed = pickSeed('flooding declarer')
    const sim = await createSim({ seed })
    const flooder = await sim.add()
    const victim = await sim.add()
    await sim.run(3000)
    victim.setLimits({ perOriginMax: 3, loadMax: 1000 })
    await sim.run(100)
    const ids = Array.from(
      { length: 10 },
      () => flooder.declare('ping', null, { targets: [victim.id], deadlineMs: 2000 }).id,
    )
    await sim.run(2500)
    const answers = ids.map((id) => {
      const s = flooder.intent(id)!
      return s.yes ? 'yes' : s.no ? 'no' : 'silence'
    })
    expect(answers, `seed ${seed}`).toEqual([
      'yes',
      'yes',
      'yes',
      'no',
      'no',
      'no',
      'silence',
      'silence',
      'silence',
      'silence',
    ])
  })

  it('relays an answer back along the intent’s path when the declarer is not linked to the responder', async () => {
    const seed = pickSeed('relay')
    const sim = await createSim({ seed, mesh: { targetDegree: 2, maxDegree: 3 } })
    const [a, b, c] = [await sim.add(), await sim.add(), await sim.add()]
    await sim.run(3000)
    // Make a line a - b - c: cut a-c on both ends (no redial for a minute), keep a-b and b-c.
    a.mesh!.disconnect(c.id)
    c.mesh!.disconnect(a.id)
    await sim.run(500)
    if (!a.mesh!.isReady(b.id)) expect(await connectWithin(sim, a, b.id)).toBe(true)
    if (!b.mesh!.isReady(c.id)) expect(await connectWithin(sim, b, c.id)).toBe(true)
    expect(a.mesh!.isReady(c.id), `seed ${seed}`).toBe(false)
    await sim.run(2000) // peer records catch up with the new topology
    const { id } = a.declare('ping', null, { targets: [c.id], deadlineMs: 3000 })
    await sim.run(3500)
    const s = a.intent(id)!
    expect(s, `seed ${seed}`).toMatchObject({ yes: 1, silence: 0 })
    expect(s.responders[0]).toMatchObject({ id: c.id, via: 'relayed' })
    const sent = (await entriesOf(c, 'response-sent')).find((e) => e.body['intent'] === id)!
    expect(sent.body['via']).toBe('relayed')
    expect(b.intents!.stats.responsesRelayedForOthers, `seed ${seed}`).toBe(1)
  })
})

async function connectWithin(sim: Awaited<ReturnType<typeof createSim>>, from: Ir3Node, to: string): Promise<boolean> {
  const p = from.mesh!.connect(to)
  await sim.run(6000)
  return p
}

describe('capacity', () => {
  it('answers an offer it cannot take with a signed busy, so the dialer fails fast', async () => {
    const seed = pickSeed('busy')
    const sim = await createSim({ seed, mesh: { targetDegree: 1, maxDegree: 1 } })
    const a = await sim.add()
    const b = await sim.add()
    await sim.run(3000)
    expect(a.mesh!.isReady(b.id)).toBe(true)
    const c = await sim.add()
    await sim.run(200)
    const started = sim.clock.now()
    const ok = c.mesh!.connect(a.id)
    let done = false
    void ok.then(() => (done = true))
    await sim.run(1000)
    expect(done, `seed ${seed}: the dialer still waits`).toBe(true)
    expect(await ok).toBe(false)
    expect(sim.clock.now() - started).toBeLessThan(2000)
    expect(c.mesh!.stats.refusedBusy, `seed ${seed}`).toBeGreaterThan(0)
  })
})

describe('hostile peers (review findings)', () => {
  async function line() {
    const seed = pickSeed('hostile')
    const sim = await createSim({ seed, mesh: { targetDegree: 2, maxDegree: 3, maxBadFrames: 5 } })
    const [a, b, c] = [await sim.add(), await sim.add(), await sim.add()]
    await sim.run(3000)
    a.mesh!.disconnect(c.id)
    c.mesh!.disconnect(a.id)
    await sim.run(500)
    if (!a.mesh!.isReady(b.id)) await connectWithin(sim, a, b.id)
    if (!b.mesh!.isReady(c.id)) await connectWithin(sim, b, c.id)
    await sim.run(2000)
    return { seed, sim, a, b, c }
  }

  it('does not blame an honest relay for forged answers it passed on', async () => {
    const { seed, sim, a, b, c } = await line()
    const { id } = a.declare('ping', null, { targets: [c.id], deadlineMs: 5000 })
    await sim.run(300)
    for (let i = 0; i < 25; i++) {
      const from = i.toString(16).padStart(32, '0')
      const p = {
        intent: id,
        origin: a.id,
        from,
        key: c.publicKey,
        answer: 'yes',
        data: null,
        reason: null,
        retryAfter: null,
        t: sim.clock.now(),
      }
      c.mesh!._testOnlySendRaw(b.id, encodeFrame({ t: 'resp', p, s: 'ab'.repeat(64), relay: true } as never))
    }
    await sim.run(1000)
    expect(a.mesh!.isReady(b.id), `seed ${seed}: a dropped its honest neighbour`).toBe(true)
    expect((await entriesOf(a, 'peer-dropped')).length).toBe(0)
    expect(b.mesh!.isReady(c.id), `seed ${seed}: the forger should be dropped by the relay`).toBe(false)
  })

  it('forwards an intent whose unsigned hops is already at the cap, instead of making it invalid', async () => {
    const { seed, sim, a, b, c } = await line()
    const p = {
      id: 'e'.repeat(32),
      origin: a.id,
      key: a.publicKey,
      kind: 'ping',
      body: null,
      t: sim.clock.now(),
      deadline: sim.clock.now() + 3000,
      targets: null,
    }
    const s = await a.mesh!.sign('intent', p)
    a.mesh!._testOnlySendRaw(b.id, encodeFrame({ t: 'intent', p, s, ttl: 5, hops: 64 }))
    await sim.run(500)
    expect(
      (await entriesOf(c, 'intent-received')).map((e) => e.body['id']),
      `seed ${seed}`,
    ).toContain(p.id)
    expect(c.mesh!.stats.dropped.malformed).toBe(0)
  })

  it('counts expired intents without holding them against the sender', async () => {
    const { seed, sim, a, b } = await line()
    for (let i = 0; i < 30; i++) a.declare('ping', null, { deadlineMs: 1 })
    await sim.run(1000)
    expect(b.mesh!.isReady(a.id), `seed ${seed}`).toBe(true)
    expect(b.mesh!.stats.dropped.stale).toBeGreaterThan(0)
  })

  it('refuses to declare what neighbours would have to drop', async () => {
    const { a } = await line()
    expect(() => a.declare('Ping', null)).toThrow(/ERR_BAD_KIND/)
    expect(() => a.declare('ping', null, { targets: ['not-an-id'] })).toThrow(/ERR_BAD_RANGE/)
    expect(() => a.declare('ping', 'x'.repeat(70_000))).toThrow(/ERR_ENTRY_TOO_LARGE/)
  })

  it('does not relay a signal whose signature is forged', async () => {
    const { sim, a, b, c } = await line()
    const p = {
      from: a.id,
      key: a.publicKey,
      to: c.id,
      n: 'forged',
      i: true,
      d: { type: 'offer', token: 'x' },
      t: sim.clock.now(),
    }
    a.mesh!._testOnlySendRaw(b.id, encodeFrame({ t: 'sig', p, s: 'cd'.repeat(64), ttl: 16 }))
    await sim.run(500)
    expect(b.mesh!.stats.dropped.badSignature).toBe(1)
    expect(b.mesh!.stats.signalsRelayed).toBe(0)
  })
})
