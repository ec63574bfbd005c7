// @vitest-environment node
//
// Abusive clients throw random, malformed, oversize and out-of-order frames at
// the signaling endpoint while two well-behaved nodes keep signaling through
// it. Seeded: on failure the seed is printed; rerun with FUZZ_SEED=<seed>.
// (Socket timing is not seeded, so a rerun exercises the same frames, not
// necessarily the same interleaving.)
import { expect, it, onTestFailed, vi } from 'vitest'
import { WebSocket } from 'ws'
import { createServer } from '../signaling/server.ts'
import type { SignalCounters } from '../signaling/signal.ts'
import { toHex } from '../src/core/series/hash.ts'
import { helloMessage, type ServerMessage } from '../src/core/wire/signaling.ts'

const SEED = Number(process.env['FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 32))
/** Frames other than rate-limit bursts, which come on top. */
const ABUSIVE_FRAMES = 10_500
const LANES = 10
const MAX_FRAME = 16 * 1024
import { createSeededRng } from '../src/core/testing/manual-clock.ts'
import { makeKeys, type Keys } from './support/keys.ts'

const MESH = 'fuzz'
/** Abusers connect from another loopback address, so they spend their own per-address budget. */
const ABUSER_ADDRESS = '127.0.0.2'
const ABUSER_MAX_SOCKETS = 24

function createRng(seed: number): () => number {
  const rng = createSeededRng(seed)
  return () => rng.next()
}

async function helloFrame(keys: Keys, nonce: string, mesh: string): Promise<string> {
  const text = new TextEncoder().encode(helloMessage(nonce, mesh, keys.id))
  const sig = toHex(new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, keys.privateKey, text)))
  return JSON.stringify({ type: 'hello', mesh, id: keys.id, publicKey: keys.publicKey, sig })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve))

it('stays up and relays every good message in order through 10,000 abusive frames', async () => {
  onTestFailed(() => console.error(`signaling fuzz failed; rerun with FUZZ_SEED=${SEED}`))
  const rng = createRng(SEED)
  const int = (n: number) => Math.floor(rng() * n)
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T
  const hex = (chars: number) => Array.from({ length: chars }, () => '0123456789abcdef'[int(16)]).join('')
  const randomText = (length: number) => {
    let s = ''
    for (let i = 0; i < length; i++) {
      const kind = int(10)
      // ASCII mostly, some BMP, astral pairs and lone surrogates (sent as U+FFFD).
      s += String.fromCharCode(
        kind < 6 ? 32 + int(95) : kind < 8 ? int(0xd800) : kind < 9 ? 0xd800 + int(0x800) : int(32),
      )
    }
    return s
  }

  const server = createServer({
    staticDir: '/nonexistent',
    signal: {
      maxFrameBytes: MAX_FRAME,
      ratePerSecond: 400,
      rateBurst: 100,
      abuseLimit: 150,
      maxPendingPerAddress: ABUSER_MAX_SOCKETS,
      loopbackPerAddress: 0,
      // The old behaviour, so that garbage hellos keep reaching the verifier and the
      // inbound budget does not thin out what the fuzz means to exercise.
      maxHelloFailures: 1_000_000,
      helloFailureBurst: 1_000_000,
      inboundRate: 100_000,
      inboundBurst: 100_000,
      inboundBytesPerSecond: 1 << 30,
      inboundBurstBytes: 1 << 30,
      // Two good nodes and three abusers fit; a fourth abuser gets MESH_FULL.
      maxPerMesh: 5,
      helloTimeoutMs: 400,
      heartbeatMs: 500,
    },
  })
  const { url } = await server.listen()
  const wsUrl = url.replace(/^http/, 'ws') + 'signal'
  const counters = server.counters

  try {
    // --- the well-behaved pair -------------------------------------------------
    interface Good {
      keys: Keys
      ws: WebSocket
      received: number[]
      errors: ServerMessage[]
      closed: boolean
      sent: number
      /** Only signals from here count; abusers in the mesh may send junk too. */
      partner: string
    }
    async function joinGood(): Promise<Good> {
      const keys = await makeKeys()
      const ws = new WebSocket(wsUrl)
      const good: Good = { keys, ws, received: [], errors: [], closed: false, sent: 0, partner: '' }
      const welcomed = new Promise<void>((resolve, reject) => {
        ws.on('message', (raw) => {
          const m = JSON.parse(String(raw)) as ServerMessage
          if (m.type === 'challenge') void helloFrame(keys, m.nonce, MESH).then((f) => ws.send(f), reject)
          else if (m.type === 'welcome') resolve()
          else if (m.type === 'error') good.errors.push(m)
          else if (m.type === 'signal' && m.from === good.partner) good.received.push(m.data['seq'] as number)
        })
        ws.on('error', reject)
      })
      ws.on('close', () => (good.closed = true))
      await welcomed
      return good
    }
    const a = await joinGood()
    const b = await joinGood()
    a.partner = b.keys.id
    b.partner = a.keys.id
    const goodFrames = () => a.sent + b.sent
    let talking = true
    const talk = (from: Good, to: Good) => {
      if (!talking) return
      const pad = 'p'.repeat(int(200))
      from.ws.send(JSON.stringify({ type: 'signal', to: to.keys.id, data: { seq: from.sent++, pad } }))
    }
    const ticker = setInterval(() => {
      talk(a, b)
      talk(b, a)
    }, 3)

    // --- the abusers -------------------------------------------------------------
    const abuserKeys = await Promise.all([makeKeys(), makeKeys(), makeKeys(), makeKeys()])
    const goodIds = [a.keys.id, b.keys.id]
    let abusiveSent = 0
    let burstSent = 0
    const variedSent = () => abusiveSent - burstSent
    const seenErrors = new Map<string, number>()
    const closeCodes = new Map<number, number>()
    const count = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1)

    interface Abuser {
      ws: WebSocket
      nonce: string
      closed: Promise<void>
    }
    function openAbuser(autoPong = true): Promise<Abuser | null> {
      return new Promise((resolve) => {
        const ws = new WebSocket(wsUrl, { localAddress: ABUSER_ADDRESS, autoPong })
        const abuser: Abuser = { ws, nonce: '', closed: new Promise((done) => ws.on('close', () => done())) }
        ws.on('message', (raw, isBinary) => {
          if (isBinary) throw new Error('the server never sends binary frames')
          const m = JSON.parse(String(raw)) as ServerMessage
          if (m.type === 'challenge') abuser.nonce = m.nonce
          if (m.type === 'error') count(seenErrors, m.code)
        })
        ws.on('close', (code) => count(closeCodes, code))
        ws.on('open', () => resolve(abuser))
        ws.on('error', () => resolve(null))
      })
    }
    function send(ws: WebSocket, data: string | Buffer, options: { binary?: boolean; fin?: boolean } = {}) {
      if (ws.readyState !== WebSocket.OPEN) return
      ws.send(data, options)
      if (options.fin !== false) abusiveSent++
    }
    const randomId = () => (rng() < 0.3 ? pick(goodIds) : hex(32))
    const validShaped = (): string =>
      pick([
        () => JSON.stringify({ type: 'hello', mesh: pick([1, null, [], {}, 'x']), id: 5, publicKey: {}, sig: [] }),
        () => JSON.stringify({ type: 'signal', to: pick([1, null, hex(31), hex(33), 'Z'.repeat(32)]), data: {} }),
        () => JSON.stringify({ type: 'signal', to: hex(32), data: pick([1, 'x', null, [1], true]) }),
        () => JSON.stringify({ type: pick([1, null, 'Hello', 'SAMPLE', 'welcome', 'error', '']) }),
        () => JSON.stringify(pick([1, 'x', null, [], [{ type: 'sample' }], true])),
        () => JSON.stringify({ type: 'sample', extra: randomText(int(50)) }),
        () => JSON.stringify({ __proto__: { type: 'sample' }, constructor: 1 }),
        () => '{"type":"signal","__proto__":{"to":"' + hex(32) + '"},"data":{}}',
      ])()
    const garbageHello = (abuser: Abuser): string =>
      JSON.stringify({
        type: 'hello',
        mesh: pick([MESH, 'x', '', '-bad', 'A', 'a'.repeat(65), randomText(10)]),
        id: pick([hex(32), pick(goodIds), hex(int(40)), randomText(32)]),
        publicKey: pick([hex(64), hex(int(80)), pick(abuserKeys).publicKey]),
        sig: pick([hex(128), hex(int(140)), abuser.nonce + abuser.nonce]),
      })

    const actions: [weight: number, act: (abuser: Abuser) => void | Promise<void>][] = [
      [10, (c) => send(c.ws, Buffer.from(Array.from({ length: int(200) }, () => int(256))), { binary: true })],
      [10, (c) => send(c.ws, randomText(int(300)))],
      [
        10,
        (c) => {
          const frame = JSON.stringify({ type: 'signal', to: randomId(), data: { sdp: randomText(int(100)) } })
          send(c.ws, frame.slice(0, int(frame.length)))
        },
      ],
      [10, (c) => send(c.ws, validShaped())],
      [
        4,
        (c) =>
          send(
            c.ws,
            pick([
              () => JSON.stringify({ type: 'signal', to: randomId(), data: { x: 'h'.repeat(8000 + int(8000)) } }),
              () => JSON.stringify({ type: 't'.repeat(10000 + int(6000)) }),
              () => JSON.stringify({ type: 'hello', mesh: 'm'.repeat(12000), id: '', publicKey: '', sig: '' }),
            ])(),
          ),
      ],
      [
        3,
        (c) => {
          const depth = 500 + int(2100)
          const nested = '{"a":'.repeat(depth) + '0' + '}'.repeat(depth)
          send(
            c.ws,
            pick([`{"type":"signal","to":"${randomId()}","data":${nested}}`, '['.repeat(8000) + ']'.repeat(8000)]),
          )
        },
      ],
      [8, (c) => send(c.ws, garbageHello(c))],
      [6, async (c) => send(c.ws, await helloFrame(pick(abuserKeys), c.nonce, pick([MESH, MESH, 'other'])))],
      [6, (c) => send(c.ws, '{"type":"sample"}')],
      [10, (c) => send(c.ws, JSON.stringify({ type: 'signal', to: randomId(), data: { junk: randomText(int(60)) } }))],
      [1, (c) => send(c.ws, 'x'.repeat(MAX_FRAME + 1 + int(64)))],
      [
        0.5,
        (c) => {
          // A message fragmented so that only its total is over the limit.
          send(c.ws, 'f'.repeat(MAX_FRAME / 2), { fin: false })
          send(c.ws, 'f'.repeat(MAX_FRAME / 2 + 1 + int(64)))
        },
      ],
      [
        0.08,
        (c) => {
          const before = abusiveSent
          const n = 130 + int(270)
          for (let i = 0; i < n; i++) send(c.ws, '{"type":"sample"}')
          burstSent += abusiveSent - before
        },
      ],
      [0.5, (c) => send(c.ws, Buffer.from([0x7b, 0xff, 0xfe, 0x80, int(256)]), { binary: false })],
      [0.3, (c) => void c.ws.terminate()],
    ]
    const totalWeight = actions.reduce((sum, [w]) => sum + w, 0)
    const chooseAction = () => {
      let r = rng() * totalWeight
      for (const [w, act] of actions) if ((r -= w) < 0) return act
      return actions[0]![1]
    }

    async function lane(): Promise<void> {
      while (variedSent() < ABUSIVE_FRAMES) {
        const abuser = await openAbuser()
        if (!abuser) {
          await sleep(5)
          continue
        }
        while (abuser.ws.readyState === WebSocket.OPEN && variedSent() < ABUSIVE_FRAMES) {
          await chooseAction()(abuser)
          // Paced so most frames get past the rate limit to the decoder; bursts are an action of their own.
          if (rng() < 0.5) await sleep(1)
          else await yieldToLoop()
        }
        abuser.ws.close()
        await Promise.race([abuser.closed, sleep(50)])
        abuser.ws.terminate()
      }
    }
    async function swarm(): Promise<void> {
      // More sockets from one address than it may have; of the ones let in,
      // four say hello and then stop answering pings, the rest never say hello.
      await sleep(300)
      const sockets = await Promise.all(Array.from({ length: ABUSER_MAX_SOCKETS + 8 }, () => openAbuser(false)))
      await sleep(20)
      const admitted = sockets.filter((s): s is Abuser => s !== null && s.nonce !== '')
      for (const [i, keys] of abuserKeys.entries()) {
        const deaf = admitted[i]
        if (deaf) send(deaf.ws, await helloFrame(keys, deaf.nonce, 'deaf'))
      }
      await Promise.race([Promise.all(sockets.map((s) => s?.closed)), sleep(2000)])
      for (const s of sockets) s?.ws.terminate()
      // And one flood far over the rate, so some socket is surely closed for abuse.
      const flooder = await openAbuser()
      if (flooder) {
        for (let i = 0; i < 600; i++) send(flooder.ws, '{"type":"sample"}')
        burstSent += 600
        await Promise.race([flooder.closed, sleep(2000)])
        flooder.ws.terminate()
      }
    }

    const started = performance.now()
    await Promise.all([...Array.from({ length: LANES }, lane), swarm()])
    const fuzzMs = performance.now() - started

    // --- let the pair finish, then check ---------------------------------------
    talking = false
    clearInterval(ticker)
    await vi.waitFor(
      () => {
        expect(b.received.length).toBe(a.sent)
        expect(a.received.length).toBe(b.sent)
      },
      { timeout: 5000, interval: 10 },
    )
    const inOrder = (n: number) => Array.from({ length: n }, (_, i) => i)
    expect(b.received).toEqual(inOrder(a.sent))
    expect(a.received).toEqual(inOrder(b.sent))
    expect(a.sent).toBeGreaterThan(100)
    expect(a.errors).toEqual([])
    expect(b.errors).toEqual([])
    expect(a.closed || b.closed).toBe(false)

    const health = await fetch(new URL('/health', url))
    expect(health.status).toBe(200)
    expect(((await health.json()) as { ok: boolean }).ok).toBe(true)

    a.ws.close()
    b.ws.close()
    await vi.waitFor(() => expect(counters.signalConnections).toBe(0), { timeout: 5000, interval: 10 })
    await sleep(50) // hellos still being verified

    const c: SignalCounters = counters
    const outcomes =
      c.hellos +
      c.helloFailures +
      c.helloThrottled +
      c.alreadyAuthenticated +
      c.addressFullAtHello +
      c.droppedOverBudget +
      c.droppedSlowReader +
      c.meshFull +
      c.samples +
      c.relayed +
      c.notPresent +
      c.malformed +
      c.tooLarge +
      c.rateLimited +
      c.notAuthenticated +
      c.signalErrors
    console.log(
      `signaling fuzz seed ${SEED}: ${variedSent()} varied + ${burstSent} burst abusive frames,`,
      `${goodFrames()} good frames in ${Math.round(fuzzMs)} ms;`,
      JSON.stringify(c),
    )
    expect(variedSent()).toBeGreaterThanOrEqual(10_000)
    // Every frame the server saw ended in exactly one outcome.
    expect(c.signalFrames).toBe(outcomes)
    expect(c.signalFrames).toBeLessThanOrEqual(abusiveSent + goodFrames() + 2)
    expect(c.signalErrors).toBe(0)
    expect(c.relayed).toBeGreaterThanOrEqual(goodFrames())
    for (const name of [
      'malformed',
      'tooLarge',
      'rateLimited',
      'notAuthenticated',
      'helloFailures',
      'alreadyAuthenticated',
      'notPresent',
      'closedForAbuse',
      'addressFull',
      'hellos',
      'samples',
      'meshFull',
      'replaced',
      'helloTimeouts',
      'deadSockets',
    ] as const) {
      expect(c[name], name).toBeGreaterThan(0)
    }
    // What the abusers saw is a lower bound of what the server counted (error
    // frames racing a close may be lost, never invented).
    expect(c.tooLarge).toBeGreaterThanOrEqual((closeCodes.get(1009) ?? 0) + (seenErrors.get('TOO_LARGE') ?? 0))
    expect(c.malformed).toBeGreaterThanOrEqual((seenErrors.get('MALFORMED') ?? 0) + (closeCodes.get(1007) ?? 0))
    expect(c.rateLimited).toBeGreaterThanOrEqual(seenErrors.get('RATE_LIMITED') ?? 0)
    expect(c.notAuthenticated).toBeGreaterThanOrEqual(seenErrors.get('NOT_AUTHENTICATED') ?? 0)
    expect(c.helloFailures).toBeGreaterThanOrEqual(seenErrors.get('BAD_HELLO') ?? 0)
    expect(c.closedForAbuse).toBeGreaterThanOrEqual(closeCodes.get(4008) ?? 0)
    expect(c.addressFull).toBe(closeCodes.get(4003) ?? 0)
    expect(closeCodes.get(1009)).toBeGreaterThan(0)
    expect(c).toMatchObject({ signalConnections: 0, signalAuthenticated: 0, meshes: 0 })
  } finally {
    await server.close()
  }
}, 30_000)
