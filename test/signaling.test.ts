// @vitest-environment node
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WebSocket, type ClientOptions } from 'ws'
import { createServer, type Server } from '../signaling/server.ts'
import { addressKey, type SignalCounters, type SignalOptions } from '../signaling/signal.ts'
import { nodeIdFromPublicKey } from '../src/core/identity.ts'
import { toHex } from '../src/core/series/hash.ts'
import { helloMessage, type ErrorMessage, type PeerInfo, type ServerMessage } from '../src/core/wire/signaling.ts'

import { makeKeys, type Keys } from './support/keys.ts'

async function sign(keys: Keys, nonce: string, mesh: string, id = keys.id): Promise<string> {
  const text = new TextEncoder().encode(helloMessage(nonce, mesh, id))
  return toHex(new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, keys.privateKey, text)))
}

interface Client {
  ws: WebSocket
  /** Every message received and not yet taken, oldest first. */
  inbox: ServerMessage[]
  closed: Promise<{ code: number; reason: string }>
  isClosed(): boolean
  send(message: unknown): void
  /** Removes and returns the first message matching `match`, waiting for it if needed. */
  take<T extends ServerMessage>(match: (m: ServerMessage) => m is T, timeout?: number): Promise<T>
  takeType<K extends ServerMessage['type']>(type: K, timeout?: number): Promise<Extract<ServerMessage, { type: K }>>
  takeError(code: ErrorMessage['code'], timeout?: number): Promise<ErrorMessage>
  nonce: Promise<string>
}

interface Running {
  server: Server
  counters: SignalCounters
  url: string
  wsUrl: string
  connect(options?: ClientOptions): Promise<Client>
  /** Connects and says hello; returns the client and its welcome's peers. */
  join(mesh: string, keys?: Keys): Promise<{ client: Client; keys: Keys; peers: PeerInfo[] }>
}

const running: Server[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})

async function start(signal: SignalOptions = {}): Promise<Running> {
  // These tests stand in for remote hosts with loopback addresses: no loopback allowance.
  const server = createServer({ staticDir: '/nonexistent', signal: { loopbackPerAddress: 0, ...signal } })
  running.push(server)
  const { url } = await server.listen()
  const wsUrl = url.replace(/^http/, 'ws') + 'signal'

  async function connect(options: ClientOptions = {}): Promise<Client> {
    const ws = new WebSocket(wsUrl, options)
    const inbox: ServerMessage[] = []
    let closedNow = false
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.on('close', (code, reason) => {
        closedNow = true
        resolve({ code, reason: reason.toString() })
      }),
    )
    ws.on('message', (data) => inbox.push(JSON.parse(String(data)) as ServerMessage))
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    ws.on('error', () => {})
    const take = <T extends ServerMessage>(match: (m: ServerMessage) => m is T, timeout = 2000): Promise<T> =>
      vi.waitFor(
        () => {
          const i = inbox.findIndex(match)
          if (i < 0) throw new Error(`no matching message; inbox: ${JSON.stringify(inbox).slice(0, 500)}`)
          return inbox.splice(i, 1)[0] as T
        },
        { timeout, interval: 2 },
      )
    const takeType = <K extends ServerMessage['type']>(type: K, timeout?: number) =>
      take((m): m is Extract<ServerMessage, { type: K }> => m.type === type, timeout)
    const takeError = (code: ErrorMessage['code'], timeout?: number) =>
      take((m): m is ErrorMessage => m.type === 'error' && m.code === code, timeout)
    return {
      ws,
      inbox,
      closed,
      isClosed: () => closedNow,
      send: (message) => ws.send(typeof message === 'string' ? message : JSON.stringify(message)),
      take,
      takeType,
      takeError,
      nonce: takeType('challenge').then((m) => m.nonce),
    }
  }

  async function join(mesh: string, given?: Keys) {
    const keys = given ?? (await makeKeys())
    const client = await connect()
    const nonce = await client.nonce
    client.send({ type: 'hello', mesh, id: keys.id, publicKey: keys.publicKey, sig: await sign(keys, nonce, mesh) })
    const welcome = await client.takeType('welcome')
    expect(welcome).toMatchObject({ id: keys.id, mesh })
    return { client, keys, peers: welcome.peers }
  }

  return { server, counters: server.counters, url, wsUrl, connect, join }
}

describe('hello', () => {
  it('sends every socket its own random challenge nonce', async () => {
    const { connect } = await start()
    const nonces = await Promise.all([connect(), connect(), connect()].map(async (c) => (await c).nonce))
    for (const nonce of nonces) expect(nonce).toMatch(/^[0-9a-f]{64}$/)
    expect(new Set(nonces).size).toBe(3)
  })

  it('welcomes each node with a random sample of at most sampleSize other present nodes', async () => {
    // Twenty nodes from one address: the old maxPerAddress.
    const { join, counters } = await start({ sampleSize: 5, maxPerAddress: 256 })
    const present = new Map<string, string>()
    for (let i = 0; i < 20; i++) {
      const { keys, peers } = await join('room')
      expect(peers.length).toBe(Math.min(i, 5))
      expect(new Set(peers.map((p) => p.id)).size).toBe(peers.length)
      for (const peer of peers) {
        expect(peer.id).not.toBe(keys.id)
        expect(present.get(peer.id)).toBe(peer.publicKey)
      }
      present.set(keys.id, keys.publicKey)
    }
    expect(counters.hellos).toBe(20)
    expect(counters.signalAuthenticated).toBe(20)
    expect(counters.meshes).toBe(1)
  })

  it('answers sample with a fresh random sample that in time covers the mesh', async () => {
    // Nine nodes from one address: the old maxPerAddress.
    const { join } = await start({ sampleSize: 3, ratePerSecond: 1000, rateBurst: 1000, maxPerAddress: 256 })
    const others = new Set<string>()
    for (let i = 0; i < 8; i++) others.add((await join('room')).keys.id)
    const { client, keys } = await join('room')
    const seen = new Set<string>()
    for (let i = 0; i < 60; i++) {
      client.send({ type: 'sample' })
      const { peers } = await client.takeType('peers')
      expect(peers.length).toBe(3)
      for (const peer of peers) {
        expect(peer.id).not.toBe(keys.id)
        expect(others.has(peer.id)).toBe(true)
        seen.add(peer.id)
      }
    }
    expect(seen.size).toBe(8)
  })

  it('refuses a bad signature, a foreign id, a bad mesh name or a stale nonce with BAD_HELLO and counts each', async () => {
    // Nine tries on one socket: over the defaults of maxHelloFailures (3) and helloFailureBurst (10 would do).
    const { connect, counters } = await start({ maxHelloFailures: 100, helloFailureBurst: 100 })
    const keys = await makeKeys()
    const other = await makeKeys()
    const client = await connect()
    const nonce = await client.nonce
    const good = {
      type: 'hello',
      mesh: 'room',
      id: keys.id,
      publicKey: keys.publicKey,
      sig: await sign(keys, nonce, 'room'),
    }
    const attempts = [
      { ...good, sig: await sign(other, nonce, 'room', keys.id) },
      { ...good, id: other.id, sig: await sign(keys, nonce, 'room', other.id) },
      { ...good, mesh: 'Room!', sig: await sign(keys, nonce, 'Room!') },
      { ...good, mesh: '-room' },
      { ...good, sig: await sign(keys, 'f'.repeat(64), 'room') },
      { ...good, publicKey: 'zz' + good.publicKey.slice(2) },
      { ...good, sig: good.sig.toUpperCase() },
      { ...good, publicKey: '00'.repeat(32), id: nodeIdFromPublicKey(new Uint8Array(32)) },
    ]
    for (const hello of attempts) {
      client.send(hello)
      expect(await client.takeError('BAD_HELLO')).toMatchObject({ type: 'error', code: 'BAD_HELLO' })
    }
    expect(counters.helloFailures).toBe(attempts.length)
    expect(counters.hellos).toBe(0)
    client.send(good)
    await client.takeType('welcome')
    expect(counters.hellos).toBe(1)
  })

  it('answers NOT_AUTHENTICATED before a hello and ALREADY_AUTHENTICATED to a second one', async () => {
    const { connect, join, counters } = await start()
    const stranger = await connect()
    await stranger.nonce
    stranger.send({ type: 'sample' })
    await stranger.takeError('NOT_AUTHENTICATED')
    stranger.send({ type: 'signal', to: '0'.repeat(32), data: {} })
    await stranger.takeError('NOT_AUTHENTICATED')
    expect(counters.notAuthenticated).toBe(2)

    const { client, keys } = await join('room')
    const nonce = '0'.repeat(64)
    client.send({
      type: 'hello',
      mesh: 'room',
      id: keys.id,
      publicKey: keys.publicKey,
      sig: await sign(keys, nonce, 'room'),
    })
    await client.takeError('ALREADY_AUTHENTICATED')
    expect(counters.alreadyAuthenticated).toBe(1)
  })

  it('holds frames sent right after a hello until the hello is verified', async () => {
    const { connect, join } = await start()
    const { keys: firstKeys } = await join('room')
    const keys = await makeKeys()
    const client = await connect()
    const nonce = await client.nonce
    client.send({
      type: 'hello',
      mesh: 'room',
      id: keys.id,
      publicKey: keys.publicKey,
      sig: await sign(keys, nonce, 'room'),
    })
    client.send({ type: 'sample' })
    client.send({ type: 'signal', to: firstKeys.id, data: { n: 1 } })
    await client.takeType('welcome')
    expect((await client.takeType('peers')).peers.map((p) => p.id)).toEqual([firstKeys.id])
    expect(client.inbox.filter((m) => m.type === 'error')).toEqual([])
  })

  it('closes a socket that does not say hello in time with HELLO_TIMEOUT', async () => {
    const { connect, join, counters } = await start({ helloTimeoutMs: 100 })
    const idle = await connect()
    const { client: joined } = await join('room')
    await idle.takeError('HELLO_TIMEOUT', 1000)
    expect((await idle.closed).code).toBe(4002)
    expect(counters.helloTimeouts).toBe(1)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(joined.isClosed()).toBe(false)
  })
})

describe('relaying', () => {
  it('relays signals both ways with from set by the server, not the sender', async () => {
    const { join, counters } = await start()
    const a = await join('room')
    const b = await join('room')
    expect(b.peers).toEqual([{ id: a.keys.id, publicKey: a.keys.publicKey }])

    const offer = { sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1', nested: { list: [1, 'two', null, true] } }
    a.client.send({ type: 'signal', to: b.keys.id, from: b.keys.id, data: offer })
    expect(await b.client.takeType('signal')).toEqual({ type: 'signal', from: a.keys.id, data: offer })

    b.client.send({ type: 'signal', to: a.keys.id, data: { answer: true, from: 'spoofed' } })
    expect(await a.client.takeType('signal')).toEqual({
      type: 'signal',
      from: b.keys.id,
      data: { answer: true, from: 'spoofed' },
    })
    expect(counters.relayed).toBe(2)
  })

  it('answers NOT_PRESENT for an id that is not in the mesh', async () => {
    const { join, counters } = await start()
    const a = await join('room')
    const absent = (await makeKeys()).id
    a.client.send({ type: 'signal', to: absent, data: {} })
    expect(await a.client.takeError('NOT_PRESENT')).toMatchObject({ to: absent })
    expect(counters.notPresent).toBe(1)
  })

  it('keeps meshes apart for samples and signals', async () => {
    const { join, counters } = await start({ ratePerSecond: 1000, rateBurst: 1000 })
    const inA = await join('a')
    const inB = [await join('b'), await join('b'), await join('b')]
    for (const node of inB) {
      node.client.send({ type: 'sample' })
      const { peers } = await node.client.takeType('peers')
      expect(peers.map((p) => p.id)).not.toContain(inA.keys.id)
      expect(peers.length).toBe(2)
      node.client.send({ type: 'signal', to: inA.keys.id, data: { hi: 1 } })
      await node.client.takeError('NOT_PRESENT')
    }
    inA.client.send({ type: 'sample' })
    expect((await inA.client.takeType('peers')).peers).toEqual([])
    expect(inA.client.inbox.filter((m) => m.type === 'signal')).toEqual([])
    expect(counters.meshes).toBe(2)
  })

  it('lets the same id in the same mesh replace its old socket', async () => {
    const { join, counters } = await start()
    const peer = await join('room')
    const first = await join('room')
    const second = await join('room', first.keys)
    expect(second.peers).toEqual([{ id: peer.keys.id, publicKey: peer.keys.publicKey }])
    await first.client.takeError('REPLACED')
    expect((await first.client.closed).code).toBe(4001)
    expect(counters.replaced).toBe(1)
    expect(counters.signalAuthenticated).toBe(2)

    peer.client.send({ type: 'signal', to: first.keys.id, data: { n: 1 } })
    expect(await second.client.takeType('signal')).toMatchObject({ from: peer.keys.id, data: { n: 1 } })
    peer.client.send({ type: 'sample' })
    expect((await peer.client.takeType('peers')).peers).toEqual([
      { id: first.keys.id, publicKey: first.keys.publicKey },
    ])
  })

  it('removes a node from its mesh when its socket closes', async () => {
    const { join, counters } = await start()
    const a = await join('room')
    const b = await join('room')
    b.client.ws.close()
    await b.client.closed
    await vi.waitFor(() => expect(counters.signalConnections).toBe(1))
    a.client.send({ type: 'signal', to: b.keys.id, data: {} })
    await a.client.takeError('NOT_PRESENT')
    a.client.ws.close()
    await vi.waitFor(() => expect(counters).toMatchObject({ signalConnections: 0, signalAuthenticated: 0, meshes: 0 }))
  })
})

describe('hardening', () => {
  it('answers MALFORMED to binary frames, non-JSON, non-objects, unknown types and bad fields, and stays open', async () => {
    const { connect, join, counters } = await start()
    const { client } = await join('room')
    const stranger = await connect()
    await stranger.nonce
    const frames: (string | Buffer)[] = [
      Buffer.from([1, 2, 3]),
      'not json',
      '{"type":"sample"',
      '[1,2]',
      'null',
      '"hello"',
      '{"type":"bogus"}',
      '{"notype":1}',
      '{"type":"signal","to":"nope","data":{}}',
      `{"type":"signal","to":"${'a'.repeat(32)}","data":"not an object"}`,
      `{"type":"signal","to":"${'a'.repeat(32)}","data":[1]}`,
      `{"type":"signal","to":"${'A'.repeat(32)}","data":{}}`,
      '{"type":"hello","mesh":1,"id":"x","publicKey":"y","sig":"z"}',
      '{"type":"hello"}',
    ]
    for (const frame of frames) {
      client.ws.send(frame)
      await client.takeError('MALFORMED')
      stranger.ws.send(frame)
      await stranger.takeError('MALFORMED')
    }
    expect(counters.malformed).toBe(frames.length * 2)
    expect(client.isClosed() || stranger.isClosed()).toBe(false)
  })

  it('accepts a frame of exactly maxFrameBytes and closes the socket with 1009 on a bigger one', async () => {
    const { join, counters } = await start({ maxFrameBytes: 1024 })
    const a = await join('room')
    const b = await join('room')
    const frame = (size: number) => {
      const head = `{"type":"signal","to":"${b.keys.id}","data":{"x":"`
      return head + 'y'.repeat(size - head.length - 3) + '"}}'
    }
    // The relayed frame carries `from` instead of `to`: 2 bytes more than the sender's.
    a.client.send(frame(1022))
    expect(((await b.client.takeType('signal')).data['x'] as string).length).toBe(1022 - 3 - 23 - 32 - 15)
    a.client.send(frame(1024))
    await a.client.takeError('TOO_LARGE')
    expect(counters.tooLarge).toBe(1)
    a.client.send(frame(1025))
    expect((await a.client.closed).code).toBe(1009)
    expect(counters.tooLarge).toBe(2)
    expect(b.client.isClosed()).toBe(false)
  })

  it('closes with 1009 a fragmented message whose fragments are small but whose total is over maxFrameBytes', async () => {
    const { connect, counters } = await start({ maxFrameBytes: 1024 })
    const client = await connect()
    await client.nonce
    client.ws.send('{"type":"sample","pad":"' + 'x'.repeat(600), { fin: false })
    client.ws.send('x'.repeat(600) + '"}', { fin: true })
    expect((await client.closed).code).toBe(1009)
    expect(counters.tooLarge).toBe(1)
    expect(counters.signalFrames).toBe(1)
  })

  it('answers RATE_LIMITED beyond the rate and closes a socket that keeps flooding', async () => {
    const { join, counters } = await start({ ratePerSecond: 10, rateBurst: 5, abuseLimit: 20 })
    const { client } = await join('room')
    for (let i = 0; i < 40; i++) client.send({ type: 'sample' })
    await client.takeError('RATE_LIMITED')
    expect((await client.closed).code).toBe(4008)
    expect(counters.closedForAbuse).toBe(1)
    expect(counters.rateLimited).toBeGreaterThanOrEqual(20)
    // One hello was spent on join, so at most the rest of the burst got through.
    expect(client.inbox.filter((m) => m.type === 'peers').length).toBeLessThanOrEqual(5)
  })

  it('forgives rate-limit strikes once a socket has calmed down', async () => {
    const { join, counters } = await start({ ratePerSecond: 100, rateBurst: 5, abuseLimit: 10 })
    const { client } = await join('room')
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 12; i++) client.send({ type: 'sample' })
      await client.takeError('RATE_LIMITED')
      await new Promise((resolve) => setTimeout(resolve, 120))
    }
    expect(counters.closedForAbuse).toBe(0)
    expect(client.isClosed()).toBe(false)
  })

  it('refuses not yet authenticated sockets beyond maxPendingPerAddress with ADDRESS_FULL', async () => {
    const { connect, counters } = await start({ maxPendingPerAddress: 3 })
    const clients = [await connect(), await connect(), await connect()]
    const fourth = await connect()
    await fourth.takeError('ADDRESS_FULL')
    expect((await fourth.closed).code).toBe(4003)
    expect(counters.addressFull).toBe(1)
    clients[0]?.ws.close()
    await vi.waitFor(() => expect(counters.signalConnections).toBe(2))
    const again = await connect()
    expect(await again.nonce).toMatch(/^[0-9a-f]{64}$/)
  })

  it('refuses nodes beyond maxPerMesh with MESH_FULL but still takes replacements and other meshes', async () => {
    const { connect, join, counters } = await start({ maxPerMesh: 2 })
    const a = await join('room')
    await join('room')
    const keys = await makeKeys()
    const third = await connect()
    const nonce = await third.nonce
    third.send({
      type: 'hello',
      mesh: 'room',
      id: keys.id,
      publicKey: keys.publicKey,
      sig: await sign(keys, nonce, 'room'),
    })
    await third.takeError('MESH_FULL')
    expect((await third.closed).code).toBe(4004)
    expect(counters.meshFull).toBe(1)
    await join('room', a.keys)
    await join('other', keys)
  })

  it('terminates a socket that stops answering pings and keeps the ones that answer', async () => {
    const { join, connect, counters } = await start({ heartbeatMs: 100 })
    const { client: live } = await join('room')
    const deaf = await connect({ autoPong: false })
    await deaf.closed
    expect(counters.deadSockets).toBe(1)
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect(live.isClosed()).toBe(false)
  })

  it('drops relayed frames to a socket that stops reading once its unsent output passes maxBufferedBytes, and keeps it', async () => {
    // Inbound budgets out of the way: this is about the output buffer.
    const { join, counters } = await start({
      maxBufferedBytes: 64 * 1024,
      ratePerSecond: 100_000,
      rateBurst: 100_000,
      inboundRate: 100_000,
      inboundBurst: 100_000,
      inboundBytesPerSecond: 1 << 30,
      inboundBurstBytes: 1 << 30,
    })
    const sender = await join('room')
    const reader = await join('room')
    reader.client.ws.pause()
    const frame = JSON.stringify({ type: 'signal', to: reader.keys.id, data: { pad: 'x'.repeat(15_000) } })
    // Enough to fill the kernel's socket buffers on loopback, then ours.
    for (let i = 0; i < 2000 && counters.droppedSlowReader === 0; i++) {
      sender.client.send(frame)
      if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1))
    }
    await vi.waitFor(() => expect(counters.droppedSlowReader).toBeGreaterThan(0))
    expect(await sender.client.takeError('DROPPED')).toMatchObject({ to: reader.keys.id })
    expect(counters.slowConsumers).toBe(0)
    sender.client.send({ type: 'sample' })
    expect((await sender.client.takeType('peers')).peers.map((p) => p.id)).toEqual([reader.keys.id])
    reader.client.ws.resume()
    expect(reader.client.isClosed()).toBe(false)
  })

  it('closes every signaling socket when the server closes', async () => {
    const { server, join, connect } = await start()
    const clients = [(await join('room')).client, (await join('room')).client, await connect()]
    await server.close()
    await Promise.all(clients.map((c) => c.closed))
  })

  it('refuses nonsensical options at once', () => {
    expect(() => createServer({ signal: { sampleSize: -1 } })).toThrow(RangeError)
    expect(() => createServer({ signal: { ratePerSecond: 0 } })).toThrow(RangeError)
    expect(() => createServer({ signal: { maxFrameBytes: 1.5 } })).toThrow(RangeError)
    expect(() => createServer({ signal: { sampleSize: 65 } })).toThrow(RangeError)
    expect(() => createServer({ signal: { maxFrameBytes: 4096, inboundBurstBytes: 4095 } })).toThrow(RangeError)
    expect(() => createServer({ headersTimeoutMs: 0 })).toThrow(RangeError)
  })

  it('counts addresses by host for IPv4 and by /64 for IPv6', () => {
    expect(addressKey('127.0.0.1')).toBe('127.0.0.1')
    expect(addressKey('::ffff:10.0.0.7')).toBe('10.0.0.7')
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:db8:1:2::ffff')).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64')
    expect(addressKey('::1')).toBe('0:0:0:0::/64')
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
    expect(addressKey(undefined)).toBe('unknown')
  })
})

describe('/health', () => {
  it('reports the signaling counters next to the HTTP ones', async () => {
    const { url, join, connect } = await start()
    const a = await join('room')
    a.client.send({ type: 'signal', to: '0'.repeat(32), data: {} })
    await a.client.takeError('NOT_PRESENT')
    const stranger = await connect()
    stranger.ws.send('garbage')
    await stranger.takeError('MALFORMED')
    const body = (await (await fetch(new URL('/health', url))).json()) as {
      ok: boolean
      connections: number
      counters: Record<string, unknown>
    }
    expect(body.ok).toBe(true)
    expect(body.connections).toBe(2)
    expect(body.counters).toMatchObject({
      signalConnections: 2,
      signalAuthenticated: 1,
      meshes: 1,
      hellos: 1,
      notPresent: 1,
      malformed: 1,
      signalFrames: 3,
      httpRequests: 1,
    })
    for (const [name, value] of Object.entries(body.counters)) {
      expect(name).toMatch(/^[a-z][a-zA-Z]*$/)
      expect(value, name).toBeTypeOf('number')
    }
  })
})
