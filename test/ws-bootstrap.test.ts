// @vitest-environment node
/**
 * The WebSocket bootstrap adapter against the real signaling server
 * (signaling/server.ts on an ephemeral port), with WebCrypto Ed25519 keys.
 * Node 20 has no global WebSocket: the adapter is given `ws`'s.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Duplex } from 'node:stream'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { WebSocket as WsWebSocket, WebSocketServer } from 'ws'
import { createServer, type Server } from '../signaling/server.ts'
import { verifyHello, type SignalOptions } from '../signaling/signal.ts'
import { createWsBootstrap, type WsBootstrap, type WsBootstrapOptions } from '../src/adapters/ws-bootstrap.ts'
import { createWebCryptoSigner, generateKeyPair } from '../src/adapters/webcrypto-signer.ts'
import { nodeIdFromPublicKey } from '../src/core/identity.ts'
import type { JsonValue } from '../src/core/json.ts'
import type { BootstrapState, PeerInfo, Signer } from '../src/core/ports.ts'
import { toHex } from '../src/core/series/hash.ts'
import type { HelloMessage } from '../src/core/wire/signaling.ts'

const staticDir = mkdtempSync(path.join(tmpdir(), 'ir3-ws-bootstrap-'))
writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>test</title>')
afterAll(() => rmSync(staticDir, { recursive: true, force: true }))

const MESH = 'test-mesh'
const SIGNAL: SignalOptions = { heartbeatMs: 1_000, helloTimeoutMs: 2_000 }

interface Identity {
  id: string
  publicKey: string
  signer: Signer
}

async function identity(): Promise<Identity> {
  const pair = await generateKeyPair()
  return {
    id: nodeIdFromPublicKey(pair.publicKey),
    publicKey: toHex(pair.publicKey),
    signer: createWebCryptoSigner(pair),
  }
}

const servers: Server[] = []
const clients: WsBootstrap[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.stop()
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

async function startServer(port = 0, extra: Parameters<typeof createServer>[0] = {}) {
  const server = createServer({ staticDir, port, signal: SIGNAL, ...extra })
  servers.push(server)
  const { port: actual, url } = await server.listen()
  return { server, port: actual, wsUrl: `${url.replace(/^http/, 'ws')}signal` }
}

interface Client {
  bootstrap: WsBootstrap
  me: Identity
  states: [BootstrapState, string][]
  peers: PeerInfo[][]
  signals: [string, JsonValue][]
  errors: [string, string, string | undefined][]
  state(): BootstrapState | undefined
}

function client(url: string, me: Identity, extra: Partial<WsBootstrapOptions> = {}): Client {
  const bootstrap = createWsBootstrap({
    url,
    mesh: MESH,
    id: me.id,
    signer: me.signer,
    WebSocket: WsWebSocket as unknown as typeof WebSocket,
    minBackoffMs: 20,
    maxBackoffMs: 200,
    ...extra,
  })
  clients.push(bootstrap)
  const c: Client = {
    bootstrap,
    me,
    states: [],
    peers: [],
    signals: [],
    errors: [],
    state: () => c.states.at(-1)?.[0],
  }
  bootstrap.start({
    onState: (state, detail) => void c.states.push([state, detail]),
    onPeers: (peers) => void c.peers.push(peers),
    onSignal: (from, data) => void c.signals.push([from, data]),
    onError: (code, message, to) => void c.errors.push([code, message, to]),
  })
  return c
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('WebSocket bootstrap against the signaling server', () => {
  it('welcomes two clients, shows each to the other and relays signals both ways', async () => {
    const { wsUrl } = await startServer()
    const a = client(wsUrl, await identity())
    await expect.poll(a.state).toBe('open')
    expect(a.states.map(([s]) => s)).toEqual(['connecting', 'open'])
    expect(a.peers).toEqual([[]])

    const b = client(wsUrl, await identity())
    expect(b.bootstrap.signal(a.me.id, { type: 'offer' })).toBe(false) // not open yet
    await expect.poll(b.state).toBe('open')
    expect(b.peers).toEqual([[{ id: a.me.id, publicKey: a.me.publicKey }]])

    a.bootstrap.requestPeers()
    await expect.poll(() => a.peers.length).toBe(2)
    expect(a.peers[1]).toEqual([{ id: b.me.id, publicKey: b.me.publicKey }])

    expect(a.bootstrap.signal(b.me.id, { type: 'offer', sdp: 'v=0 from a' })).toBe(true)
    expect(b.bootstrap.signal(a.me.id, { type: 'answer', sdp: 'v=0 from b' })).toBe(true)
    await expect.poll(() => b.signals.length).toBe(1)
    await expect.poll(() => a.signals.length).toBe(1)
    expect(b.signals[0]).toEqual([a.me.id, { type: 'offer', sdp: 'v=0 from a' }])
    expect(a.signals[0]).toEqual([b.me.id, { type: 'answer', sdp: 'v=0 from b' }])

    const absent = '0'.repeat(32)
    expect(a.bootstrap.signal(absent, { type: 'offer' })).toBe(true)
    await expect.poll(() => a.errors.length).toBe(1)
    expect(a.errors[0]?.[0]).toBe('NOT_PRESENT')
    expect(a.errors[0]?.[2]).toBe(absent)

    // Refused locally: not an object, not an id, or a frame the server would refuse as too large.
    expect(a.bootstrap.signal(b.me.id, [1, 2])).toBe(false)
    expect(a.bootstrap.signal('B', { type: 'offer' })).toBe(false)
    expect(a.bootstrap.signal(b.me.id, { sdp: 'x'.repeat(17_000) })).toBe(false)
    expect(a.bootstrap.stats.signalsRefused).toBe(3)
  })

  it('reconnects after the server restarts on the same port', async () => {
    const first = await startServer()
    const a = client(first.wsUrl, await identity())
    const b = client(first.wsUrl, await identity())
    await expect.poll(() => a.state() === 'open' && b.state() === 'open').toBe(true)

    await first.server.close()
    await expect.poll(() => a.state() !== 'open' && b.state() !== 'open').toBe(true)
    expect(a.states.find(([s]) => s === 'closed')?.[1]).toMatch(/reconnecting in \d+ ms/)
    await sleep(300) // a few failed attempts while nothing listens

    await startServer(first.port)
    await expect.poll(() => a.state() === 'open' && b.state() === 'open', { timeout: 5_000 }).toBe(true)
    expect(a.bootstrap.stats.welcomes).toBe(2)
    expect(a.bootstrap.signal(b.me.id, { again: true })).toBe(true)
    await expect.poll(() => b.signals.length).toBe(1)
    expect(b.signals[0]).toEqual([a.me.id, { again: true }])
  })

  it('stops reconnecting once another connection with the same id replaces it', async () => {
    const { server, wsUrl } = await startServer()
    const me = await identity()
    const first = client(wsUrl, me)
    await expect.poll(first.state).toBe('open')
    const second = client(wsUrl, me)
    await expect.poll(second.state).toBe('open')
    await expect.poll(first.state).toBe('closed')
    expect(first.states.at(-1)).toEqual(['closed', 'replaced'])
    expect(first.errors.map(([code]) => code)).toEqual(['REPLACED'])

    await sleep(1_000) // five times maxBackoffMs
    expect(first.states.at(-1)).toEqual(['closed', 'replaced'])
    expect(first.bootstrap.stats.connects).toBe(1)
    expect(second.state()).toBe('open')
    expect(server.counters.replaced).toBe(1)
    expect(server.counters.signalAuthenticated).toBe(1)
  })

  it('ignores garbage frames from the server and keeps the session', async () => {
    // A fake endpoint beside the real one: it says whatever it likes, then a correct handshake.
    const wss = new WebSocketServer({ noServer: true })
    const nonce = 'ab'.repeat(32)
    const sender = await identity()
    const bad = [
      'not json',
      '[1,2]',
      'null',
      '{"type":"nope"}',
      '{"type":"challenge","nonce":"xyz"}',
      '{"type":"welcome","id":"x","mesh":"y","peers":[]}', // before any hello
      '{"type":"signal","from":"zz","data":{}}',
      '{"type":"peers","peers":"none"}',
      '{"type":"error","code":7}',
    ]
    wss.on('connection', (ws) => {
      for (const frame of bad) ws.send(frame)
      ws.send(Buffer.from([1, 2, 3]), { binary: true })
      ws.send(JSON.stringify({ type: 'challenge', nonce }))
      ws.on('message', async (data) => {
        const hello = JSON.parse(String(data)) as HelloMessage
        expect(await verifyHello(nonce, hello)).toBeNull()
        ws.send(
          JSON.stringify({
            type: 'welcome',
            id: hello.id,
            mesh: hello.mesh,
            peers: [{ id: sender.id, publicKey: sender.publicKey }, { id: 'bad' }, 5],
          }),
        )
        ws.send('{"type":"signal","from":"' + sender.id + '","data":[1]}')
        ws.send(JSON.stringify({ type: 'signal', from: sender.id, data: { ok: true } }))
        ws.send('}{')
      })
    })
    const { wsUrl } = await startServer(0, {
      upgrade: {
        '/evil': (req: IncomingMessage, socket: Duplex, head: Buffer) =>
          wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)),
      },
    })
    const c = client(wsUrl.replace(/signal$/, 'evil'), await identity())
    await expect.poll(c.state).toBe('open')
    await expect.poll(() => c.signals.length).toBe(1)
    await sleep(100)
    expect(c.states.map(([s]) => s)).toEqual(['connecting', 'open'])
    expect(c.peers).toEqual([[{ id: sender.id, publicKey: sender.publicKey }]])
    expect(c.signals).toEqual([[sender.id, { ok: true }]])
    expect(c.errors).toEqual([])
    expect(c.bootstrap.stats.ignoredFrames).toBe(bad.length + 1 + 2) // + binary, + data [1] and '}{'
    expect(c.bootstrap.stats.ignoredPeers).toBe(2)
    c.bootstrap.stop()
    wss.close()
  })

  it('backs off exponentially with jitter while the server is unreachable', async () => {
    const { server, wsUrl } = await startServer()
    await server.close()
    const delays: number[] = []
    const c = client(wsUrl, await identity(), {
      minBackoffMs: 100,
      maxBackoffMs: 1_000,
      random: () => 0.999,
      setTimeout: (fn, ms) => {
        delays.push(ms)
        const t = setTimeout(fn, 1)
        return () => clearTimeout(t)
      },
    })
    await expect.poll(() => delays.length).toBeGreaterThanOrEqual(6)
    c.bootstrap.stop()
    expect(delays.slice(0, 6)).toEqual([100, 200, 400, 800, 1_000, 1_000])
    expect(c.states.at(-1)).toEqual(['closed', 'stopped'])
    const attempts = c.bootstrap.stats.connects
    await sleep(50)
    expect(c.bootstrap.stats.connects).toBe(attempts)
  })

  it('stop closes the session for good, and start is single-use', async () => {
    const { server, wsUrl } = await startServer()
    const c = client(wsUrl, await identity())
    await expect.poll(c.state).toBe('open')
    c.bootstrap.stop()
    c.bootstrap.stop()
    expect(c.states.at(-1)).toEqual(['closed', 'stopped'])
    expect(c.bootstrap.signal('0'.repeat(32), {})).toBe(false)
    await expect.poll(() => server.counters.signalConnections).toBe(0)
    await sleep(300)
    expect(c.states.filter(([s]) => s === 'connecting')).toHaveLength(1)
    expect(() => c.bootstrap.start({ onState() {}, onPeers() {}, onSignal() {}, onError() {} })).toThrow(/ERR_STOPPED/)
  })
})
