/**
 * Bootstrap signaling: a WebSocket endpoint (mounted at `/signal` by
 * server.ts) where a node proves its identity, learns a small random sample of
 * the other nodes present in its mesh, and exchanges WebRTC offers, answers and
 * candidates with them. The wire protocol — messages, codes, formats, the
 * message flow — is `src/core/wire/signaling.ts`, shared with the client; it
 * is specified in docs/SIGNALING.md.
 *
 * The server keeps nothing beyond live sockets: no payload is logged, stored
 * or inspected beyond relaying it. Every frame that reaches it ends in exactly
 * one outcome counter (see `SignalCounters`); nothing a client sends can throw
 * into the socket loop.
 */
import { randomInt } from 'node:crypto'
import type http from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import { nodeIdFromPublicKey } from '../src/core/identity.ts'
import { fromHex, toHex } from '../src/core/series/hash.ts'
import {
  decodeClientMessage,
  DEFAULT_MAX_FRAME_BYTES,
  helloMessage,
  MESH_NAME,
  NODE_ID_HEX,
  PUBLIC_KEY_HEX,
  SIGNAL_CLOSE_CODES,
  SIGNATURE_HEX,
  type ClientMessage,
  type ErrorMessage,
  type HelloMessage,
  type PeerInfo,
  type RelayedSignalMessage,
  type ServerMessage,
  type SignalErrorCode,
} from '../src/core/wire/signaling.ts'

/** Null when `hello` proves possession of its key for this `nonce`; otherwise why not. */
export async function verifyHello(nonce: string, hello: HelloMessage): Promise<string | null> {
  if (!MESH_NAME.test(hello.mesh)) return `mesh must match ${String(MESH_NAME)}`
  if (!NODE_ID_HEX.test(hello.id)) return 'id must be 32 lowercase hex'
  const publicKey = PUBLIC_KEY_HEX.test(hello.publicKey) ? fromHex(hello.publicKey) : null
  if (!publicKey) return 'publicKey must be 64 lowercase hex'
  const sig = SIGNATURE_HEX.test(hello.sig) ? fromHex(hello.sig) : null
  if (!sig) return 'sig must be 128 lowercase hex'
  if (nodeIdFromPublicKey(publicKey) !== hello.id) return 'id does not match publicKey'
  try {
    const subtle = globalThis.crypto.subtle
    const key = await subtle.importKey('raw', new Uint8Array(publicKey), { name: 'Ed25519' }, false, ['verify'])
    const text = new TextEncoder().encode(helloMessage(nonce, hello.mesh, hello.id))
    if (await subtle.verify({ name: 'Ed25519' }, key, new Uint8Array(sig), text)) return null
  } catch {
    // An unusable key (e.g. not a curve point) is just a bad hello.
  }
  return 'signature does not verify'
}

// ---------------------------------------------------------------------------
// Options and counters

export interface SignalOptions {
  /** Peers in a welcome or peers reply, at most. Default 8. */
  sampleSize?: number
  /** Largest frame accepted, in bytes (ws `maxPayload`: bigger frames close the socket with 1009). Default 16 KiB. */
  maxFrameBytes?: number
  /** Sustained frames per second per socket (token bucket). Default 20. */
  ratePerSecond?: number
  /** Token bucket size: frames a socket may send at once. Default 60. */
  rateBurst?: number
  /**
   * Frames a socket may have dropped by the rate limit before it is closed
   * with 4008. The count restarts once the socket has been quiet long enough
   * to refill its bucket. Default 200.
   */
  abuseLimit?: number
  /** Authenticated sockets per mesh. Default 1000. */
  maxPerMesh?: number
  /** Sockets per remote address, authenticated or not. Default 256. */
  maxPerAddress?: number
  /** A socket without a successful hello by then gets HELLO_TIMEOUT and is closed. Default 10 s. */
  helloTimeoutMs?: number
  /** Ping interval; a socket that has not answered the previous ping is terminated. Default 15 s. */
  heartbeatMs?: number
  /** A socket whose unsent output exceeds this is too slow a reader and is terminated. Default 1 MiB. */
  maxBufferedBytes?: number
  /** How long a closing handshake may take before the socket is destroyed. Default 2 s. */
  closeTimeoutMs?: number
  /** Unexpected internal errors (bugs), already counted in `signalErrors`. Default: stderr. */
  onError?: (err: unknown) => void
}

export const DEFAULT_SIGNAL_OPTIONS = {
  sampleSize: 8,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  ratePerSecond: 20,
  rateBurst: 60,
  abuseLimit: 200,
  maxPerMesh: 1000,
  maxPerAddress: 256,
  helloTimeoutMs: 10_000,
  heartbeatMs: 15_000,
  maxBufferedBytes: 1024 * 1024,
  closeTimeoutMs: 2_000,
} as const satisfies Required<Omit<SignalOptions, 'onError'>>

/**
 * Live gauges (`signalConnections`, `signalAuthenticated`, `meshes`) and event
 * counts. Every frame the server receives counts once in `signalFrames` and
 * once in exactly one of: hellos, helloFailures, alreadyAuthenticated,
 * meshFull, samples, relayed, notPresent, malformed, tooLarge, rateLimited,
 * notAuthenticated, signalErrors. The rest count sockets.
 */
export interface SignalCounters {
  /** Live: open sockets on /signal (refused ones excluded). */
  signalConnections: number
  /** Live: sockets that completed a hello. */
  signalAuthenticated: number
  /** Live: meshes with at least one authenticated socket. */
  meshes: number
  /** Frames received, including oversize and undecodable ones. */
  signalFrames: number
  hellos: number
  helloFailures: number
  alreadyAuthenticated: number
  meshFull: number
  samples: number
  relayed: number
  notPresent: number
  malformed: number
  tooLarge: number
  rateLimited: number
  notAuthenticated: number
  /** Sockets replaced by a newer one with the same id in the same mesh. */
  replaced: number
  /** Sockets refused because their address had `maxPerAddress` open. */
  addressFull: number
  helloTimeouts: number
  /** Sockets terminated for not answering a ping. */
  deadSockets: number
  /** Sockets closed for exceeding the rate limit `abuseLimit` times. */
  closedForAbuse: number
  /** Sockets terminated for not reading their output. */
  slowConsumers: number
  /** Internal errors caught in a handler (bugs, not bad input). */
  signalErrors: number
}

export function createSignalCounters(): SignalCounters {
  return {
    signalConnections: 0,
    signalAuthenticated: 0,
    meshes: 0,
    signalFrames: 0,
    hellos: 0,
    helloFailures: 0,
    alreadyAuthenticated: 0,
    meshFull: 0,
    samples: 0,
    relayed: 0,
    notPresent: 0,
    malformed: 0,
    tooLarge: 0,
    rateLimited: 0,
    notAuthenticated: 0,
    replaced: 0,
    addressFull: 0,
    helloTimeouts: 0,
    deadSockets: 0,
    closedForAbuse: 0,
    slowConsumers: 0,
    signalErrors: 0,
  }
}

// ---------------------------------------------------------------------------
// The server

export interface SignalServer {
  /** Give it upgrades for the signaling path (server.ts `upgrade` option). */
  readonly upgrade: (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void
  readonly options: Readonly<Required<Omit<SignalOptions, 'onError'>>>
  /** Terminates every socket and stops the heartbeat. Idempotent. */
  close(): void
}

interface Session {
  readonly ws: WebSocket
  readonly address: string
  readonly nonce: string
  /** `verifying` while a hello's signature is being checked; frames meanwhile wait in `backlog`. */
  state: 'new' | 'verifying' | 'joined'
  /** Set once the server closes the socket or it closes; a hello finishing after that does not join. */
  closed: boolean
  released: boolean
  backlog: ClientMessage[]
  /** Set when joined. */
  id: string
  publicKey: string
  mesh: Mesh | null
  /** Index in `mesh.members`. */
  slot: number
  tokens: number
  refilledAt: number
  strikes: number
  alive: boolean
  helloTimer: NodeJS.Timeout | undefined
}

interface Mesh {
  readonly name: string
  /** Dense, for O(sampleSize) sampling; removal swaps the last member in. */
  readonly members: Session[]
  readonly byId: Map<string, Session>
}

type FrameOutcome =
  | 'alreadyAuthenticated'
  | 'malformed'
  | 'tooLarge'
  | 'rateLimited'
  | 'notAuthenticated'
  | 'notPresent'
  | 'helloFailures'
  | 'meshFull'

export function createSignalServer(counters: SignalCounters, opts: SignalOptions = {}): SignalServer {
  const { onError: givenOnError, ...given } = opts
  const options = { ...DEFAULT_SIGNAL_OPTIONS, ...withoutUndefined(given) }
  for (const [name, value] of Object.entries(options)) {
    const min = name === 'sampleSize' ? 0 : 1
    if (!Number.isSafeInteger(value) || value < min)
      throw new RangeError(`signal option ${name} must be an integer ≥ ${min}, got ${String(value)}`)
  }
  const onError = givenOnError ?? ((err: unknown) => console.error('signal error:', err))
  const wssOptions = {
    noServer: true,
    clientTracking: false,
    maxPayload: options.maxFrameBytes,
    perMessageDeflate: false,
    // In ws 8.23, not in @types/ws 8.18. Bounds how long a peer that never answers a close frame holds its slot.
    closeTimeout: options.closeTimeoutMs,
  }
  const wss = new WebSocketServer(wssOptions)
  const sessions = new Set<Session>()
  const perAddress = new Map<string, number>()
  const meshes = new Map<string, Mesh>()
  const heartbeat = setInterval(() => guard(beat), options.heartbeatMs)
  heartbeat.unref()
  let closed = false

  function guard(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      counters.signalErrors++
      onError(err)
    }
  }

  function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (closed) return void socket.destroy()
    wss.handleUpgrade(req, socket, head, (ws) => guard(() => onConnection(ws, req)))
  }

  function onConnection(ws: WebSocket, req: http.IncomingMessage): void {
    // ws emits 'error' for protocol violations; unhandled, that would throw.
    ws.on('error', () => {})
    const address = addressKey(req.socket.remoteAddress)
    const open = perAddress.get(address) ?? 0
    if (open >= options.maxPerAddress) {
      counters.addressFull++
      sendMessage(ws, error('ADDRESS_FULL', `at most ${options.maxPerAddress} sockets per address`))
      ws.close(SIGNAL_CLOSE_CODES.ADDRESS_FULL, 'ADDRESS_FULL')
      return
    }
    perAddress.set(address, open + 1)
    counters.signalConnections++
    const s: Session = {
      ws,
      address,
      nonce: toHex(globalThis.crypto.getRandomValues(new Uint8Array(32))),
      state: 'new',
      closed: false,
      released: false,
      backlog: [],
      id: '',
      publicKey: '',
      mesh: null,
      slot: -1,
      tokens: options.rateBurst,
      refilledAt: performance.now(),
      strikes: 0,
      alive: true,
      helloTimer: undefined,
    }
    sessions.add(s)
    s.helloTimer = setTimeout(() => guard(() => onHelloTimeout(s)), options.helloTimeoutMs)
    s.helloTimer.unref()
    ws.on('message', (data, isBinary) => guard(() => onFrame(s, data, isBinary)))
    ws.on('error', (err: Error & { code?: string }) =>
      guard(() => {
        // A frame ws refused to deliver; it has already started closing the socket.
        counters.signalFrames++
        if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') counters.tooLarge++
        else counters.malformed++
        s.closed = true
        leave(s)
      }),
    )
    ws.on('pong', () => (s.alive = true))
    ws.on('close', () => guard(() => release(s)))
    send(s, { type: 'challenge', nonce: s.nonce })
  }

  function onFrame(s: Session, data: RawData, isBinary: boolean): void {
    counters.signalFrames++
    if (!takeToken(s)) return onRateLimited(s)
    if (isBinary) return reject(s, 'malformed', 'MALFORMED', 'binary frames are not part of the protocol')
    const decoded = decodeClientMessage(rawText(data))
    if (!decoded.ok) return reject(s, 'malformed', 'MALFORMED', decoded.reason)
    if (verifying(s)) s.backlog.push(decoded.message)
    else dispatch(s, decoded.message)
  }

  function takeToken(s: Session): boolean {
    const now = performance.now()
    s.tokens = Math.min(options.rateBurst, s.tokens + ((now - s.refilledAt) * options.ratePerSecond) / 1000)
    s.refilledAt = now
    if (s.tokens >= options.rateBurst) s.strikes = 0
    if (s.tokens < 1) return false
    s.tokens -= 1
    return true
  }

  function onRateLimited(s: Session): void {
    counters.rateLimited++
    if (++s.strikes === options.abuseLimit) {
      counters.closedForAbuse++
      shut(s, 'RATE_LIMITED', 'too many frames over the rate limit')
    } else {
      send(s, error('RATE_LIMITED', `at most ${options.ratePerSecond} frames/s, bursts of ${options.rateBurst}`))
    }
  }

  function dispatch(s: Session, message: ClientMessage): void {
    if (message.type === 'hello') {
      if (s.state === 'joined') return reject(s, 'alreadyAuthenticated', 'ALREADY_AUTHENTICATED', 'hello already done')
      s.state = 'verifying'
      verifyHello(s.nonce, message)
        .catch((err: unknown) => {
          onError(err)
          return 'could not verify'
        })
        .then((failure) => guard(() => onVerified(s, message, failure)))
      return
    }
    const mesh = s.mesh
    if (s.state !== 'joined' || !mesh) return reject(s, 'notAuthenticated', 'NOT_AUTHENTICATED', 'send hello first')
    if (message.type === 'sample') {
      counters.samples++
      send(s, { type: 'peers', peers: sample(mesh, s) })
      return
    }
    const target = mesh.byId.get(message.to)
    if (!target) {
      counters.notPresent++
      send(s, { ...error('NOT_PRESENT', 'no such node in this mesh'), to: message.to })
      return
    }
    let text: string
    try {
      text = JSON.stringify({ type: 'signal', from: s.id, data: message.data } satisfies RelayedSignalMessage)
    } catch {
      // JSON.stringify recurses: data nested deeper than the stack allows.
      return reject(s, 'malformed', 'MALFORMED', 'signal.data nested too deeply')
    }
    if (Buffer.byteLength(text) > options.maxFrameBytes)
      return reject(s, 'tooLarge', 'TOO_LARGE', `relayed frame would exceed ${options.maxFrameBytes} bytes`)
    counters.relayed++
    sendText(target, text)
  }

  function onVerified(s: Session, hello: HelloMessage, failure: string | null): void {
    s.state = 'new'
    if (s.closed) counters.helloFailures++
    else if (failure !== null) reject(s, 'helloFailures', 'BAD_HELLO', failure)
    else join(s, hello)
    while (!verifying(s)) {
      const next = s.backlog.shift()
      if (!next) break
      dispatch(s, next)
    }
  }

  function join(s: Session, hello: HelloMessage): void {
    let mesh = meshes.get(hello.mesh)
    const previous = mesh?.byId.get(hello.id)
    if (mesh && !previous && mesh.members.length >= options.maxPerMesh) {
      counters.meshFull++
      shut(s, 'MESH_FULL', `at most ${options.maxPerMesh} nodes per mesh`)
      return
    }
    if (!mesh) {
      mesh = { name: hello.mesh, members: [], byId: new Map() }
      meshes.set(mesh.name, mesh)
      counters.meshes++
    }
    s.id = hello.id
    s.publicKey = hello.publicKey
    s.mesh = mesh
    s.state = 'joined'
    clearTimeout(s.helloTimer)
    if (previous) {
      // A reloaded tab reconnects before its old socket is noticed dead: the newest proof wins.
      counters.replaced++
      s.slot = previous.slot
      mesh.members[s.slot] = s
      previous.state = 'new'
      previous.mesh = null
      previous.slot = -1
      shut(previous, 'REPLACED', 'the same id connected again')
    } else {
      s.slot = mesh.members.length
      mesh.members.push(s)
      counters.signalAuthenticated++
    }
    mesh.byId.set(s.id, s)
    counters.hellos++
    send(s, { type: 'welcome', id: s.id, mesh: mesh.name, peers: sample(mesh, s) })
  }

  function leave(s: Session): void {
    const mesh = s.mesh
    if (s.state !== 'joined' || !mesh) return
    s.state = 'new'
    s.mesh = null
    mesh.byId.delete(s.id)
    const last = mesh.members.pop()
    if (last && last !== s) {
      mesh.members[s.slot] = last
      last.slot = s.slot
    }
    s.slot = -1
    counters.signalAuthenticated--
    if (mesh.members.length === 0) {
      meshes.delete(mesh.name)
      counters.meshes--
    }
  }

  /** Uniformly random `sampleSize`-subset of the mesh without `self` (Floyd's algorithm), in random order. */
  function sample(mesh: Mesh, self: Session): PeerInfo[] {
    const n = mesh.members.length - 1
    const k = Math.min(options.sampleSize, n)
    const picked = new Set<number>()
    for (let j = n - k; j < n; j++) {
      const t = randomInt(j + 1)
      picked.add(picked.has(t) ? j : t)
    }
    const peers: PeerInfo[] = []
    for (const index of picked) {
      const member = mesh.members[index >= self.slot ? index + 1 : index]
      if (member) peers.push({ id: member.id, publicKey: member.publicKey })
    }
    for (let i = peers.length - 1; i > 0; i--) {
      const j = randomInt(i + 1)
      ;[peers[i], peers[j]] = [peers[j]!, peers[i]!]
    }
    return peers
  }

  function onHelloTimeout(s: Session): void {
    if (s.state === 'joined' || s.closed) return
    counters.helloTimeouts++
    shut(s, 'HELLO_TIMEOUT', `no valid hello within ${options.helloTimeoutMs} ms`)
  }

  function beat(): void {
    for (const s of sessions) {
      if (!s.alive) {
        counters.deadSockets++
        s.ws.terminate()
        release(s)
        continue
      }
      s.alive = false
      guard(() => s.ws.ping())
    }
  }

  function release(s: Session): void {
    if (s.released) return
    s.released = true
    s.closed = true
    clearTimeout(s.helloTimer)
    leave(s)
    sessions.delete(s)
    counters.signalConnections--
    const open = (perAddress.get(s.address) ?? 1) - 1
    if (open > 0) perAddress.set(s.address, open)
    else perAddress.delete(s.address)
  }

  function reject(s: Session, outcome: FrameOutcome, code: SignalErrorCode, message: string): void {
    counters[outcome]++
    send(s, error(code, message))
  }

  /** Sends the error, leaves the mesh at once (the closing handshake may take a while) and closes. */
  function shut(s: Session, code: keyof typeof SIGNAL_CLOSE_CODES, message: string): void {
    send(s, error(code, message))
    s.closed = true
    leave(s)
    s.ws.close(SIGNAL_CLOSE_CODES[code], code)
  }

  function send(s: Session, message: ServerMessage): void {
    sendText(s, JSON.stringify(message))
  }

  function sendText(s: Session, text: string): void {
    if (s.ws.readyState !== WebSocket.OPEN) return
    if (s.ws.bufferedAmount > options.maxBufferedBytes) {
      counters.slowConsumers++
      s.ws.terminate()
      release(s)
      return
    }
    s.ws.send(text)
  }

  return {
    upgrade,
    options,
    close() {
      if (closed) return
      closed = true
      clearInterval(heartbeat)
      for (const s of sessions) {
        s.ws.terminate()
        release(s)
      }
      wss.close()
    },
  }
}

/** Frames arriving while a hello is being verified wait, so a client may send right after its hello. */
function verifying(s: Session): boolean {
  return s.state === 'verifying'
}

function error(code: SignalErrorCode, message: string): ErrorMessage {
  return { type: 'error', code, message }
}

function sendMessage(ws: WebSocket, message: ServerMessage): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message))
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8')
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  return Buffer.from(data).toString('utf8')
}

/**
 * The key `maxPerAddress` counts by: the IPv4 address (IPv4-mapped IPv6
 * unwrapped), or for IPv6 its /64 prefix, since one host is routinely given a
 * whole /64.
 */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown'
  const bare = address.replace(/%.*$/s, '')
  if (!bare.includes(':')) return bare
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(bare)) return bare.slice(7)
  const [head = '', tail] = bare.split('::', 2)
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return (
    groups
      .slice(0, 4)
      .map((g) => (parseInt(g, 16) || 0).toString(16))
      .join(':') + '::/64'
  )
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
