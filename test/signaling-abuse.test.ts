// @vitest-environment node
//
// The findings of the adversarial review of the signaling server, each
// reproduced at the scale it was measured at, with real WebSocket clients
// against the real server on loopback, and each held to its bound. Distinct
// source addresses are loopback aliases (127.0.0.x), as in the fuzz test.
import { readdirSync } from 'node:fs'
import { connect as connectTcp, type Socket } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WebSocket } from 'ws'
import { createServer, type Server, type ServerOptions } from '../signaling/server.ts'
import type { SignalOptions } from '../signaling/signal.ts'
import { toHex } from '../src/core/series/hash.ts'
import { helloMessage, type ErrorMessage, type ServerMessage } from '../src/core/wire/signaling.ts'
import { makeKeys, type Keys } from './support/keys.ts'

const MESH = 'room'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const running: Server[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})

async function start(signal: SignalOptions = {}, http: Omit<ServerOptions, 'signal'> = {}) {
  // These tests stand in for remote hosts with loopback addresses: no loopback allowance.
  const server = createServer({ staticDir: '/nonexistent', signal: { loopbackPerAddress: 0, ...signal }, ...http })
  running.push(server)
  const { url, port } = await server.listen()
  return { server, counters: server.counters, port, wsUrl: url.replace(/^http/, 'ws') + 'signal' }
}

async function sign(keys: Keys, nonce: string, mesh: string): Promise<string> {
  const text = new TextEncoder().encode(helloMessage(nonce, mesh, keys.id))
  return toHex(new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, keys.privateKey, text)))
}

interface Client {
  ws: WebSocket
  inbox: ServerMessage[]
  /** Bytes of every frame received. */
  received: { bytes: number }
  closeCode: Promise<number>
  isClosed(): boolean
  nonce: Promise<string>
  send(message: unknown): void
  next(match: (m: ServerMessage) => boolean, timeout?: number): Promise<ServerMessage>
  errors(code: string): ErrorMessage[]
}

/** Opens a socket from `localAddress`; resolves once the server has answered (challenge or refusal) or closed it. */
function open(wsUrl: string, localAddress = '127.0.0.1'): Promise<Client> {
  const ws = new WebSocket(wsUrl, { localAddress })
  const inbox: ServerMessage[] = []
  const received = { bytes: 0 }
  let closed = false
  const closeCode = new Promise<number>((resolve) =>
    ws.on('close', (code) => {
      closed = true
      resolve(code)
    }),
  )
  ws.on('error', () => {})
  let firstFrame: () => void = () => {}
  const answered = new Promise<void>((resolve) => (firstFrame = resolve))
  let nonce: (n: string) => void = () => {}
  const client: Client = {
    ws,
    inbox,
    received,
    closeCode,
    isClosed: () => closed,
    nonce: new Promise<string>((resolve) => (nonce = resolve)),
    send: (message) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(typeof message === 'string' ? message : JSON.stringify(message))
    },
    next: (match, timeout = 5000) =>
      vi.waitFor(
        () => {
          const i = inbox.findIndex(match)
          if (i < 0) throw new Error(`no matching message; inbox: ${JSON.stringify(inbox).slice(0, 300)}`)
          return inbox.splice(i, 1)[0]!
        },
        { timeout, interval: 2 },
      ),
    errors: (code) => inbox.filter((m): m is ErrorMessage => m.type === 'error' && m.code === code),
  }
  ws.on('message', (data) => {
    const text = String(data)
    received.bytes += Buffer.byteLength(text)
    const m = JSON.parse(text) as ServerMessage
    if (m.type === 'challenge') nonce(m.nonce)
    inbox.push(m)
    firstFrame()
  })
  return Promise.race([answered, closeCode]).then(() => client)
}

/** Connects from `localAddress` and says hello; the client, and whether it was welcomed. */
async function join(wsUrl: string, localAddress = '127.0.0.1', keys?: Keys) {
  const k = keys ?? (await makeKeys())
  const client = await open(wsUrl, localAddress)
  if (client.isClosed() || !client.inbox.some((m) => m.type === 'challenge'))
    return { client, keys: k, welcomed: false }
  const nonce = await client.nonce
  client.send({ type: 'hello', mesh: MESH, id: k.id, publicKey: k.publicKey, sig: await sign(k, nonce, MESH) })
  const reply = await Promise.race([
    client.next((m) => m.type === 'welcome' || m.type === 'error'),
    client.closeCode.then(() => null),
  ])
  return { client, keys: k, welcomed: reply?.type === 'welcome' }
}

/** Runs `task(i)` for i < n, `concurrency` at a time. */
async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await task(next++)
    }),
  )
}

function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length
}

describe('per-address caps', () => {
  it('keeps a 1,000-slot mesh open to real users when 4 addresses try to fill it with throwaway identities', async () => {
    const { wsUrl, counters } = await start()
    const attackers = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']
    const keys = await Promise.all(Array.from({ length: 1100 }, () => makeKeys()))
    const held: Client[] = []
    let welcomed = 0
    let attempt = 0
    // Each address tries 275 identities, 8 sockets at a time (its pending allowance).
    await Promise.all(
      attackers.map((address) =>
        pool(275, 8, async () => {
          const r = await join(wsUrl, address, keys[attempt++])
          if (r.welcomed) {
            welcomed++
            held.push(r.client)
          } else r.client.ws.terminate()
        }),
      ),
    )
    expect(welcomed).toBe(4 * 8)
    expect(counters.signalAuthenticated).toBe(32)
    expect(counters.addressFullAtHello).toBe(1100 - 32)
    const user = await join(wsUrl, '127.0.0.1')
    expect(user.welcomed).toBe(true)
    expect(held.every((c) => !c.isClosed())).toBe(true)
  }, 30_000)

  it('gives not yet authenticated sockets their own allowance, closed at the hello deadline', async () => {
    const { wsUrl, counters } = await start({ helloTimeoutMs: 300 })
    const nodes = await Promise.all(Array.from({ length: 8 }, () => join(wsUrl, '127.0.0.2')))
    expect(nodes.every((n) => n.welcomed)).toBe(true)
    // Eight authenticated nodes do not use up the pending allowance, nor eight idle sockets the nodes' slots.
    const idle = await Promise.all(Array.from({ length: 8 }, () => open(wsUrl, '127.0.0.2')))
    expect(idle.every((c) => c.inbox[0]?.type === 'challenge')).toBe(true)
    const ninth = await open(wsUrl, '127.0.0.2')
    expect(await ninth.closeCode).toBe(4003)
    expect(counters.addressFull).toBe(1)
    expect(counters.signalPending).toBe(8)
    expect(await Promise.all(idle.map((c) => c.closeCode))).toEqual(Array<number>(8).fill(4002))
    await vi.waitFor(() => expect(counters.signalPending).toBe(0))
    expect(nodes.every((n) => !n.client.isClosed())).toBe(true)
  })

  it('refuses sockets beyond the global caps with SERVER_FULL and drops TCP connections beyond maxConnections and maxConnectionsPerAddress', async () => {
    const { wsUrl, counters, port } = await start({ maxConnections: 10, maxPending: 4 }, { maxConnections: 40 })
    const nodes: Client[] = []
    for (let i = 0; i < 6; i++) nodes.push((await join(wsUrl, `127.0.1.${i + 1}`)).client)
    const pending = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'].map((a) => open(wsUrl, a)))
    expect(counters).toMatchObject({ signalConnections: 10, signalPending: 4 })
    // Ten open: full, whatever the address.
    const eleventh = await open(wsUrl, '127.0.2.1')
    expect(await eleventh.closeCode).toBe(1013)
    expect(eleventh.errors('SERVER_FULL').length).toBe(1)
    // Nine open, but four pending: full for one more that has not said hello.
    nodes.pop()?.ws.close()
    await vi.waitFor(() => expect(counters.signalConnections).toBe(9))
    expect(await (await open(wsUrl, '127.0.2.2')).closeCode).toBe(1013)
    expect(counters.serverFull).toBe(2)
    const raw = await Promise.all(
      Array.from(
        { length: 40 },
        () =>
          new Promise<Socket>((resolve) => {
            const s = connectTcp({ host: '127.0.0.1', port, localAddress: '127.0.3.1' }, () => resolve(s))
            s.on('error', () => resolve(s))
          }),
      ),
    )
    // Nine WebSocket connections are TCP connections too: at most 31 of these fit.
    await vi.waitFor(() => expect(counters.connectionsDropped).toBeGreaterThanOrEqual(9))
    for (const s of raw) s.destroy()
    // Nor may one address take them all.
    const { port: port2, counters: counters2 } = await start({}, { maxConnectionsPerAddress: 20 })
    const fromOne = await Promise.all(
      Array.from(
        { length: 30 },
        () =>
          new Promise<Socket>((resolve) => {
            const s = connectTcp({ host: '127.0.0.1', port: port2, localAddress: '127.0.4.1' }, () => resolve(s))
            s.on('error', () => resolve(s))
          }),
      ),
    )
    await vi.waitFor(() => expect(counters2.addressConnectionsDropped).toBe(10))
    expect((await open(wsUrl.replace(String(port), String(port2)), '127.0.4.2')).inbox[0]?.type).toBe('challenge')
    for (const s of fromOne) s.destroy()
    expect(pending.every((c) => !c.isClosed()) && nodes.every((c) => !c.isClosed())).toBe(true)
  })
})

describe('failing hellos', () => {
  it('closes a socket after 3 failed hellos and throttles a failing address before checking signatures; a real join still takes < 1 s', async () => {
    const { wsUrl, counters } = await start()
    const flooderKeys = await makeKeys()
    const badSig = 'ab'.repeat(64)
    let flooding = true
    let hellosSent = 0
    const closeCodes: number[] = []
    // Eight sockets (the pending allowance) from one address send well-formed hellos with bad
    // signatures as fast as they are answered, reconnecting whenever they are closed.
    const flood = pool(1_000_000, 8, async () => {
      if (!flooding) return
      const c = await open(wsUrl, '127.0.0.2')
      while (flooding && !c.isClosed()) {
        c.send({ type: 'hello', mesh: MESH, id: flooderKeys.id, publicKey: flooderKeys.publicKey, sig: badSig })
        hellosSent++
        await Promise.race([c.next((m) => m.type === 'error', 1000).catch(() => null), c.closeCode])
      }
      if (c.isClosed()) closeCodes.push(await c.closeCode)
      c.ws.terminate()
    })
    const joinMs: number[] = []
    const started = performance.now()
    await sleep(200)
    for (let i = 0; i < 10; i++) {
      const t = performance.now()
      const user = await join(wsUrl, '127.0.0.1')
      joinMs.push(performance.now() - t)
      expect(user.welcomed).toBe(true)
      user.client.ws.close()
      await sleep(200)
    }
    flooding = false
    await flood
    const seconds = (performance.now() - started) / 1000
    console.log(
      `failing-hello flood: ${hellosSent} hellos in ${seconds.toFixed(1)} s; ${counters.helloFailures} checked,`,
      `${counters.helloThrottled} throttled; joins ${joinMs.map((ms) => Math.round(ms)).join(', ')} ms`,
    )
    expect(Math.max(...joinMs)).toBeLessThan(1000)
    expect(hellosSent).toBeGreaterThan(500)
    // Signatures checked: the burst, the refill, and at most one in flight per pending socket.
    expect(counters.helloFailures).toBeLessThanOrEqual(10 + Math.ceil((30 * seconds) / 60) + 8)
    expect(counters.helloThrottled).toBeGreaterThan(hellosSent / 2)
    expect(closeCodes.length).toBeGreaterThan(100)
    expect(closeCodes.every((code) => code === 4005)).toBe(true)
    // A socket the flood stopped with may have been closed by the server before its close reached us.
    expect(counters.closedForBadHellos).toBeGreaterThanOrEqual(closeCodes.length)
    expect(counters.closedForBadHellos).toBeLessThanOrEqual(closeCodes.length + 8)
  }, 20_000)
})

describe('relayed signals', () => {
  /** `n` authenticated senders, 8 per address (the per-address cap), from 127.0.0.2 up. */
  async function senders(wsUrl: string, n: number) {
    return Promise.all(Array.from({ length: n }, (_, i) => join(wsUrl, `127.0.0.${2 + Math.floor(i / 8)}`)))
  }

  it('keeps a victim that answers offers from 40 throwaway sockets: the senders pay for the answers', async () => {
    const { wsUrl, counters } = await start()
    const victim = await join(wsUrl)
    // The victim answers every signal with an answer and two candidates, as a WebRTC client does.
    victim.client.ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as ServerMessage
      if (m.type !== 'signal') return
      for (const kind of ['answer', 'candidate', 'candidate'])
        victim.client.send({ type: 'signal', to: m.from, data: { kind, sdp: 'x'.repeat(300) } })
    })
    const attackers = await senders(wsUrl, 40)
    for (let round = 0; round < 10; round++) {
      for (const a of attackers)
        a.client.send({ type: 'signal', to: victim.keys.id, data: { kind: 'offer', sdp: 'o'.repeat(1500) } })
      await sleep(100)
    }
    await sleep(300)
    const answered = attackers.reduce((n, a) => n + a.client.inbox.filter((m) => m.type === 'signal').length, 0)
    expect(victim.client.isClosed()).toBe(false)
    expect(counters.closedForAbuse).toBe(0)
    // The victim spent its own burst (60) and then answered on the senders' credit, never rate-limited.
    expect(victim.client.errors('RATE_LIMITED')).toEqual([])
    expect(answered).toBeGreaterThan(3 * 60)
    expect(counters.repliesOnCredit).toBeGreaterThan(0)
  })

  it('holds a victim flooded by 40 senders (~12 MB/s) to its inbound budget, dropping and counting the excess', async () => {
    const { wsUrl, counters } = await start()
    const victim = await join(wsUrl)
    const attackers = await senders(wsUrl, 40)
    const frame = JSON.stringify({ type: 'signal', to: victim.keys.id, data: { pad: 'x'.repeat(15_000) } })
    const relayedBytes = frame.length + 2 - victim.keys.id.length + victim.keys.id.length
    // A slow victim: it stops reading for the first second.
    victim.client.ws.pause()
    const bytesBefore = victim.client.received.bytes
    const started = performance.now()
    let offered = 0
    // Each sender at its full rate (a burst of 60, then 20 frames/s) for 2 s: 40 × 20 × 15 KB ≈ 12 MB/s.
    await Promise.all(
      attackers.map(async (a) => {
        for (let t = 0; t < 2000; t += 50) {
          const n = t === 0 ? 60 : 1
          for (let i = 0; i < n; i++) a.client.send(frame)
          offered += n * frame.length
          await sleep(50)
          if (t === 1000) victim.client.ws.resume()
        }
      }),
    )
    const seconds = (performance.now() - started) / 1000
    await sleep(300)
    const delivered = victim.client.received.bytes - bytesBefore
    console.log(
      `inbound flood: ${(offered / 1e6 / seconds).toFixed(1)} MB/s offered for ${seconds.toFixed(1)} s,`,
      `${(delivered / 1e6).toFixed(2)} MB delivered; ${counters.relayed} relayed, ${counters.droppedOverBudget} dropped`,
    )
    expect(offered / seconds).toBeGreaterThan(5e6)
    expect(victim.client.isClosed()).toBe(false)
    expect(counters.slowConsumers).toBe(0)
    expect(counters.closedForAbuse).toBe(0)
    // The budget: 256 KiB at once, then 64 KiB/s; at most 200 frames at once, then 50/s.
    expect(delivered).toBeLessThanOrEqual(256 * 1024 + 64 * 1024 * (seconds + 0.3) + relayedBytes)
    expect(counters.droppedOverBudget).toBeGreaterThan(1000)
    const told = attackers.reduce((n, a) => n + a.client.errors('DROPPED').length, 0)
    expect(told).toBe(counters.droppedOverBudget)
    expect(attackers.some((a) => a.client.errors('DROPPED')[0]?.to === victim.keys.id)).toBe(true)
  }, 20_000)
})

describe('membership listings', () => {
  it('gives a small random sample of the mesh, never the whole of it', async () => {
    const { wsUrl } = await start({ maxPerAddress: 16 })
    const nodes = await Promise.all(Array.from({ length: 48 }, (_, i) => join(wsUrl, `127.0.0.${2 + (i % 3)}`)))
    const seen = new Set<string>()
    for (const n of nodes.slice(0, 10)) {
      n.client.send({ type: 'sample' })
      const m = await n.client.next((x) => x.type === 'peers')
      const peers = m.type === 'peers' ? m.peers : []
      expect(peers.length).toBe(8)
      for (const p of peers) seen.add(p.id)
    }
    expect(seen.size).toBeGreaterThan(8)
  })
})

describe('half-open HTTP sockets', () => {
  it('destroys 2,000 sockets that never finish their headers after headersTimeoutMs, releasing their descriptors', async () => {
    const { server, port, counters } = await start({}, { headersTimeoutMs: 3000 })
    const before = openDescriptors()
    const connections = () => new Promise<number>((resolve) => server.http.getConnections((_, n) => resolve(n)))
    const sockets: Socket[] = []
    const opening = performance.now()
    for (let batch = 0; batch < 10; batch++) {
      // Ten addresses, 200 each: under maxConnectionsPerAddress (256), which would hold one address to 256.
      const localAddress = `127.0.5.${batch + 1}`
      const opened = await Promise.all(
        Array.from(
          { length: 200 },
          () =>
            new Promise<Socket>((resolve) => {
              // allowHalfOpen: the client never closes its side, as an attacker would not.
              const s = connectTcp({ host: '127.0.0.1', port, localAddress, allowHalfOpen: true }, () => {
                s.write('GET / HTTP/1.1\r\nHost: x\r\n')
                resolve(s)
              })
              s.on('error', () => resolve(s))
            }),
        ),
      )
      sockets.push(...opened)
      // Let the server accept them before the kernel's accept queue overflows (a dropped SYN waits 1 s).
      await vi.waitFor(async () => expect(await connections()).toBe(sockets.length), { timeout: 5000, interval: 5 })
    }
    console.log(`half-open: 2000 sockets opened in ${Math.round(performance.now() - opening)} ms`)
    expect(await connections()).toBeGreaterThan(1900)
    expect(openDescriptors() - before).toBeGreaterThan(3800)
    const started = performance.now()
    await vi.waitFor(async () => expect(await connections()).toBe(0), { timeout: 10_000, interval: 50 })
    const releasedAfter = performance.now() - started
    // The timeout, then the server's check (every timeout / 4) and the 1 s the 408 may take, and a margin.
    expect(releasedAfter).toBeLessThan(3000 + 750 + 1000 + 1000)
    // Our 2,000 client ends are still open; the server's are gone.
    expect(openDescriptors() - before).toBeLessThanOrEqual(2000 + 20)
    expect(counters.headersTimeouts).toBe(2000)
    for (const s of sockets) s.destroy()
    await vi.waitFor(() => expect(openDescriptors() - before).toBeLessThanOrEqual(20))
    console.log(`half-open: 2000 server sockets released ${Math.round(releasedAfter)} ms after the last opened`)
  }, 30_000)
})

describe('loopback', () => {
  it('lets the tabs of one machine (loopback) join past the per-address caps, up to loopbackPerAddress', async () => {
    const server = createServer({ staticDir: '/nonexistent', signal: { loopbackPerAddress: 12 } })
    running.push(server)
    const { url } = await server.listen()
    const wsUrl = url.replace(/^http/, 'ws') + 'signal'
    const joined = []
    for (let i = 0; i < 13; i++) joined.push(await join(wsUrl))
    expect(joined.filter((j) => j.welcomed)).toHaveLength(12)
    expect(joined[12]!.welcomed).toBe(false)
    expect(server.counters.addressFullAtHello).toBe(1)
    for (const j of joined) j.client.ws.close()
  })
})
