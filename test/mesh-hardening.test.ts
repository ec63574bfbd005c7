/**
 * The mesh under an adversary (issue "Hardening"): eclipse by throwaway
 * nodes under neighbour churn, clock skew between honest nodes with a third
 * party's future-dated records, abuse counters that decay, and a flood of
 * signed records from fresh ids. Seeded simulations over the memory network
 * with a manual clock; each prints its seed.
 */
import { describe, expect, it } from 'vitest'
import { Mesh, type MeshOptions } from '../src/core/mesh/mesh.ts'
import { encodeFrame, signedBytes, type PeerRecord, type SignalPayload } from '../src/core/mesh/frames.ts'
import { NEW_RECORDS_PER_LINK, SIGNALS_PER_LINK } from '../src/core/mesh/links.ts'
import { outboundReserve } from '../src/core/mesh/topology.ts'
import { FRESH_MS, resolveOptions } from '../src/core/mesh/types.ts'
import { createManualClock, createSeededRng, createSkewedClock } from '../src/core/testing/manual-clock.ts'
import { createMemoryNetwork } from '../src/core/testing/memory-network.ts'
import { nodeIdFromPublicKey } from '../src/core/identity.ts'
import { toHex } from '../src/core/series/hash.ts'
import type { JsonValue } from '../src/core/json.ts'
import type { Rng } from '../src/core/ports.ts'
import { createSim, entriesOf, pickSeed, seededSigner, syncVerifier } from './support/sim.ts'

interface MeshNode {
  id: string
  mesh: Mesh
  entries: { kind: string; body: JsonValue }[]
}

/** Mesh-only nodes (no series, no apps) over one memory network; each node may run a skewed clock. */
function createMeshSim(seed: number) {
  const clock = createManualClock()
  const rng = createSeededRng(seed)
  const net = createMemoryNetwork({ clock, rng })
  const verifier = syncVerifier()
  const settle = () => new Promise<void>((r) => setImmediate(r))
  return {
    seed,
    clock,
    rng,
    add(opts: { mesh?: MeshOptions; skewMs?: number } = {}): MeshNode {
      const signer = seededSigner(rng)
      const publicKey = toHex(signer.publicKey)
      const id = nodeIdFromPublicKey(signer.publicKey)
      const entries: MeshNode['entries'] = []
      const mesh = new Mesh({
        id,
        publicKey,
        signer,
        verifier,
        clock: opts.skewMs ? createSkewedClock(clock, opts.skewMs) : clock,
        rng,
        transport: net.transport(id),
        bootstrap: net.bootstrap({ id, publicKey }),
        record: (kind, body) => void entries.push({ kind, body }),
        ...(opts.mesh ? { options: opts.mesh } : {}),
      })
      mesh.start()
      return { id, mesh, entries }
    },
    async run(ms: number, step = 10): Promise<void> {
      for (let t = 0; t < ms; t += step) {
        clock.advance(step)
        await settle()
      }
    },
  }
}

/** A peer record signed by a fresh identity (a stranger's id costs nothing to mint). */
async function strangerRecord(rng: Rng, t: number): Promise<{ id: string; bytes: Uint8Array }> {
  const signer = seededSigner(rng)
  const key = toHex(signer.publicKey)
  const id = nodeIdFromPublicKey(signer.publicKey)
  const p: PeerRecord = { id, key, t: Math.trunc(t), peers: [], h: [] }
  const s = toHex(await signer.sign(signedBytes('peer', p)))
  return { id, bytes: encodeFrame({ t: 'peer', p, s, ttl: 3 }) }
}

const dropsOf = (n: MeshNode) => n.entries.filter((e) => e.kind === 'peer-dropped')

describe('eclipse', () => {
  it('keeps links to honest nodes while throwaway degree-1 nodes dial in and honest neighbours churn', async () => {
    const seed = pickSeed('eclipse')
    const sim = createMeshSim(seed)
    let honest: MeshNode[] = []
    for (let i = 0; i < 14; i++) {
      honest.push(sim.add())
      await sim.run(100)
    }
    await sim.run(10_000)
    const victim = sim.add()
    await sim.run(15_000)
    // Throwaway nodes: they never dial anyone but the victim, and hold one link at most.
    const throwaways = Array.from({ length: 40 }, () => sim.add({ mesh: { targetDegree: 0, maxDegree: 1 } }))
    const evil = new Set(throwaways.map((t) => t.id))
    const attack = () => {
      for (const t of throwaways) {
        for (const p of t.mesh.peers()) if (p.id !== victim.id) t.mesh.disconnect(p.id, 0)
        if (!t.mesh.peers().some((p) => p.id === victim.id)) void t.mesh.connect(victim.id, 'mesh', 1)
      }
    }
    const samples: { honest: number; evil: number }[] = []
    for (let s = 1; s <= 310; s++) {
      attack()
      // Every 20 s an honest neighbour of the victim leaves and a new honest node joins.
      if (s % 20 === 0) {
        const linked = honest.filter((h) => victim.mesh.isReady(h.id))
        const gone = linked[Math.floor(sim.rng.next() * linked.length)]
        if (gone) {
          gone.mesh.stop()
          honest = honest.filter((h) => h !== gone)
        }
        honest.push(sim.add())
      }
      await sim.run(1000)
      if (s >= 60 && s % 5 === 0) {
        const ready = victim.mesh.readyPeers()
        samples.push({
          honest: ready.filter((id) => !evil.has(id)).length,
          evil: ready.filter((id) => evil.has(id)).length,
        })
      }
    }
    const minHonest = Math.min(...samples.map((x) => x.honest))
    const maxEvil = Math.max(...samples.map((x) => x.evil))
    console.log(
      `eclipse: seed ${seed}: honest links min ${minHonest}, attacker links max ${maxEvil}`,
      samples.slice(-5),
    )
    const o = resolveOptions()
    // Bound: never eclipsed — at least one honest link at every sample. The attacker holds at most the
    // inbound cap plus one outbound slot: when churn leaves fewer vouched honest nodes than the outbound
    // reserve, the victim may dial a throwaway (seed 1188260459: 8 of 10, 2 honest). Not yet the
    // ceil(D/2) honest links the reserve aims at: see docs/SECURITY.md, known gaps.
    expect(minHonest, `seed ${seed}: the victim was eclipsed`).toBeGreaterThanOrEqual(1)
    const last = samples[samples.length - 1]!
    expect(last.honest, `seed ${seed}`).toBeGreaterThanOrEqual(outboundReserve(o) - 1)
    expect(maxEvil, `seed ${seed}: more attacker links than the inbound cap and one outbound`).toBeLessThanOrEqual(
      o.maxDegree - outboundReserve(o) + 1,
    )
  }, 120_000)
})

describe('clock skew', () => {
  it('never bans an honest node whose clock is off by up to 3 s, nor a relay of future-dated records', async () => {
    const seed = pickSeed('skew')
    const sim = createMeshSim(seed)
    const honest: MeshNode[] = []
    for (let i = 0; i < 10; i++) {
      honest.push(sim.add({ skewMs: Math.round((sim.rng.next() * 2 - 1) * 3000) }))
      await sim.run(100)
    }
    const third = sim.add()
    await sim.run(10_000)
    // For 5 minutes the third party hands its neighbours records signed by fresh ids and dated
    // around the edge of what our clocks accept: honest relays whose clock runs ahead take some
    // and pass them on to honest nodes whose clock runs behind.
    for (let s = 0; s < 150; s++) {
      const now = sim.clock.now()
      for (const to of third.mesh.readyPeers()) {
        for (let i = 0; i < 2; i++) {
          const r = await strangerRecord(sim.rng, now + FRESH_MS + (sim.rng.next() * 2 - 1) * 6000)
          third.mesh._testOnlySendRaw(to, r.bytes)
        }
      }
      await sim.run(2000, 50)
    }
    const ids = new Set(honest.map((h) => h.id))
    for (const h of honest) {
      expect(dropsOf(h), `seed ${seed}: ${h.id.slice(0, 8)} dropped a peer`).toEqual([])
      expect(h.mesh.stats.abuseDisconnects, `seed ${seed}`).toBe(0)
      for (const other of ids) expect(h.mesh.isBanned(other), `seed ${seed}`).toBe(false)
    }
    expect(dropsOf(third)).toEqual([])
    // The case did happen: honest nodes dropped future-dated records that honest relays passed on.
    const fromHonestRelays = honest.reduce(
      (n, h) =>
        n +
        h.mesh
          .peers()
          .filter((p) => ids.has(p.id))
          .reduce((m, p) => m + p.dropped, 0),
      0,
    )
    console.log(`skew: seed ${seed}: ${fromHonestRelays} records from honest relays dropped, none blamed`)
    expect(fromHonestRelays, `seed ${seed}: no future-dated record was relayed`).toBeGreaterThan(0)
    for (const h of honest) expect(h.mesh.readyPeers().length, `seed ${seed}`).toBeGreaterThan(0)
  }, 120_000)

  it('still blames a node for its own future-dated records', async () => {
    const seed = pickSeed('skew-signer')
    const sim = createMeshSim(seed)
    const a = sim.add({ mesh: { maxBadFrames: 5 } })
    const b = sim.add()
    await sim.run(3000)
    expect(a.mesh.isReady(b.id), `seed ${seed}`).toBe(true)
    for (let i = 0; i < 6; i++) {
      const p: PeerRecord = {
        id: b.id,
        key: b.mesh.publicKey,
        t: sim.clock.now() + FRESH_MS + 60_000 + i,
        peers: [],
        h: [],
      }
      const s = await b.mesh.sign('peer', p)
      b.mesh._testOnlySendRaw(a.id, encodeFrame({ t: 'peer', p, s, ttl: 3 }))
    }
    await sim.run(500)
    expect(a.mesh.isReady(b.id), `seed ${seed}`).toBe(false)
    expect(String(dropsOf(a)[0]?.body && (dropsOf(a)[0]!.body as { reason: string }).reason)).toMatch(/abuse: 6 bad/)
  })
})

describe('abuse counters', () => {
  it('never bans a link that sends one bad frame every 3 s for an hour, but still bans a burst', async () => {
    const seed = pickSeed('decay')
    const sim = createMeshSim(seed)
    const a = sim.add()
    const b = sim.add()
    await sim.run(3000)
    expect(a.mesh.isReady(b.id), `seed ${seed}`).toBe(true)
    const bad = new TextEncoder().encode('{"t":"nope"}')
    for (let i = 0; i < 1200; i++) {
      b.mesh._testOnlySendRaw(a.id, bad)
      await sim.run(3000, 100)
    }
    expect(a.mesh.stats.dropped.malformed, `seed ${seed}`).toBe(1200)
    expect(a.mesh.isReady(b.id), `seed ${seed}: an hour of rare bad frames got a link banned`).toBe(true)
    expect(dropsOf(a)).toEqual([])
    const maxBad = resolveOptions().maxBadFrames
    for (let i = 0; i <= maxBad + 1; i++) b.mesh._testOnlySendRaw(a.id, bad)
    await sim.run(500)
    expect(a.mesh.isReady(b.id), `seed ${seed}: a burst of bad frames went unpunished`).toBe(false)
    expect(String((dropsOf(a)[0]!.body as { reason: string }).reason)).toMatch(/abuse: \d+ bad frames/)
    expect(a.mesh.isBanned(b.id)).toBe(true)
  }, 120_000)
  it('never bans a link for short bursts over the rate now and then, but still bans a flood', async () => {
    const seed = pickSeed('flood-decay')
    const sim = createMeshSim(seed)
    const options = { frameRate: 50, frameBurst: 50 }
    const a = sim.add({ mesh: options })
    const b = sim.add({ mesh: options })
    await sim.run(3000)
    expect(a.mesh.isReady(b.id), `seed ${seed}`).toBe(true)
    const ping = encodeFrame({ t: 'ping', n: 1 })
    // 100 frames at once every 10 s: about 50 over the rate each time, 9,000 in 30 min (the limit is 1,000).
    for (let i = 0; i < 180; i++) {
      for (let k = 0; k < 100; k++) b.mesh._testOnlySendRaw(a.id, ping)
      await sim.run(10_000, 100)
    }
    expect(a.mesh.stats.dropped.flood, `seed ${seed}`).toBeGreaterThan(resolveOptions().maxFloodFrames)
    expect(a.mesh.isReady(b.id), `seed ${seed}: rare bursts got a link banned`).toBe(true)
    for (let k = 0; k < 1200; k++) b.mesh._testOnlySendRaw(a.id, ping)
    await sim.run(500)
    expect(a.mesh.isReady(b.id), `seed ${seed}: a flood went unpunished`).toBe(false)
    expect(String((dropsOf(a)[0]!.body as { reason: string }).reason)).toMatch(/flooding/)
  }, 60_000)
})

describe('records from strangers', () => {
  it('bounds what 1,000 signed records of fresh ids through one link add, and charges that link', async () => {
    const seed = pickSeed('known-flood')
    const sim = await createSim({ seed })
    const victim = await sim.add()
    const attacker = await sim.add()
    const others = [await sim.add(), await sim.add()]
    await sim.run(5000)
    expect(victim.mesh!.isReady(attacker.id), `seed ${seed}`).toBe(true)
    const known0 = victim.mesh!.known().length
    const othersKnown0 = others.map((o) => o.mesh!.known().length)
    const budget0 = victim.mesh!.stats.dropped.budget
    const t0 = sim.clock.now()
    const forged = new Set<string>()
    const mint = createSeededRng(seed ^ 0x5eed)
    // 50 every 200 ms: under the per-link frame rate, so only the record budget stands in the way.
    for (let batch = 0; batch < 20; batch++) {
      for (let i = 0; i < 50; i++) {
        const r = await strangerRecord(mint, sim.clock.now())
        forged.add(r.id)
        attacker.mesh!._testOnlySendRaw(victim.id, r.bytes)
      }
      await sim.run(200)
    }
    await sim.run(1000)
    const took = victim.mesh!.known().filter((k) => forged.has(k.id))
    // The link's bucket: NEW_RECORDS_PER_LINK at once, the same per minute after.
    const bound = NEW_RECORDS_PER_LINK + Math.ceil(((sim.clock.now() - t0) / 60_000) * NEW_RECORDS_PER_LINK)
    console.log(`known-flood: seed ${seed}: ${took.length} of ${forged.size} taken (bound ${bound})`)
    expect(took.length, `seed ${seed}`).toBeLessThanOrEqual(bound)
    expect(victim.mesh!.known().length - known0, `seed ${seed}`).toBeLessThanOrEqual(bound)
    expect(
      took.every((k) => !k.vouched),
      `seed ${seed}: a stranger's record vouched for`,
    ).toBe(true)
    expect(victim.mesh!.stats.dropped.budget - budget0, `seed ${seed}`).toBeGreaterThanOrEqual(forged.size - bound)
    const link = victim.mesh!.peers().find((p) => p.id === attacker.id)!
    expect(link.dropped, `seed ${seed}: the drops were not charged to the delivering link`).toBeGreaterThanOrEqual(
      forged.size - bound,
    )
    // What the victim passed on is bounded the same way.
    others.forEach((o, i) =>
      expect(o.mesh!.known().length - othersKnown0[i]!, `seed ${seed}`).toBeLessThanOrEqual(bound),
    )
    // A ping to the default targets: entries naming a stranger are at most the intent and one silence per taken record.
    const len0 = victim.length
    victim.declare('ping', null, { deadlineMs: 2000 })
    await sim.run(3000)
    const naming = (await victim.entries(len0, victim.length)).filter((e) =>
      [...forged].some((id) => JSON.stringify(e.body).includes(id)),
    )
    console.log(`known-flood: seed ${seed}: ${naming.length} entries name a stranger after a ping`)
    expect(naming.length, `seed ${seed}`).toBeLessThanOrEqual(1 + bound)
    expect(await entriesOf(victim, 'peer-dropped'), `seed ${seed}`).toEqual([])
  }, 60_000)

  it('checks at most a link’s budget of signals from fresh ids, and drops the rest unverified, charged to that link', async () => {
    const seed = pickSeed('signal-flood')
    const sim = createMeshSim(seed)
    const relay = sim.add()
    const sender = sim.add()
    const target = sim.add()
    await sim.run(5000)
    expect(relay.mesh.isReady(sender.id), `seed ${seed}`).toBe(true)
    const t0 = sim.clock.now()
    const mint = createSeededRng(seed ^ 0x51)
    for (let batch = 0; batch < 10; batch++) {
      for (let i = 0; i < 100; i++) {
        const signer = seededSigner(mint)
        const p: SignalPayload = {
          from: nodeIdFromPublicKey(signer.publicKey),
          key: toHex(signer.publicKey),
          to: target.id,
          n: `n${batch}x${i}`,
          i: true,
          d: { type: 'offer', token: 'none' },
          t: sim.clock.now(),
        }
        const s = toHex(await signer.sign(signedBytes('sig', p)))
        sender.mesh._testOnlySendRaw(relay.id, encodeFrame({ t: 'sig', p, s, ttl: 4 }))
      }
      await sim.run(200)
    }
    const bound = SIGNALS_PER_LINK + Math.ceil(((sim.clock.now() - t0) / 60_000) * SIGNALS_PER_LINK)
    console.log(
      `signal-flood: seed ${seed}: relayed ${relay.mesh.stats.signalsRelayed}, over budget ${relay.mesh.stats.dropped.budget} (bound ${bound})`,
    )
    expect(relay.mesh.stats.dropped.budget, `seed ${seed}`).toBeGreaterThanOrEqual(1000 - bound)
    // Checked (and so possibly relayed) from that link: at most the bound; the rest charged to it.
    const link = relay.mesh.peers().find((p) => p.id === sender.id)!
    expect(link.dropped, `seed ${seed}`).toBeGreaterThanOrEqual(1000 - bound)
    expect(dropsOf(relay), `seed ${seed}`).toEqual([])
  })
})
