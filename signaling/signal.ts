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
  type SignalMessage,
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
  /** Peers in a welcome or peers reply, at most (≤ 64: a listing is a sample, never the mesh). Default 8. */
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
  /** Authenticated sockets per remote address in one mesh; one more gets ADDRESS_FULL at its hello. Default 8. */
  maxPerAddress?: number
  /** Not yet authenticated sockets per remote address; one more gets ADDRESS_FULL on connect. Default 8. */
  maxPendingPerAddress?: number
  /**
   * Both per-address caps above for a loopback address (127.0.0.0/8, ::1): the tabs of a person
   * running the app on their own machine all come from there. Default 256. Behind a reverse proxy
   * on the same host every client looks like loopback: set this to 0 (loopback counts like any address).
   */
  loopbackPerAddress?: number
  /** Not yet authenticated sockets in all; one more gets SERVER_FULL on connect. Default 1000. */
  maxPending?: number
  /** Open /signal sockets in all; one more gets SERVER_FULL on connect. Default 10000. */
  maxConnections?: number
  /** A socket without a successful hello by then gets HELLO_TIMEOUT and is closed. Default 5 s. */
  helloTimeoutMs?: number
  /** Failed hellos a socket may send; the last one is answered BAD_HELLO and closes it with 4005. Default 3. */
  maxHelloFailures?: number
  /**
   * Failed hellos an address may send at once (token bucket per address). When
   * it is empty, hellos from that address are refused before any signature is
   * checked (BAD_HELLO, counted in `helloThrottled`). Default 10.
   */
  helloFailureBurst?: number
  /** Refill of that bucket: failed hellos per minute per address. Default 30. */
  helloFailuresPerMinute?: number
  /**
   * Relayed frames per second one recipient may receive, from all senders
   * together (token bucket); beyond it they are dropped and the sender gets
   * DROPPED. Default 50.
   */
  inboundRate?: number
  /** That bucket's size in frames. Default 200. */
  inboundBurst?: number
  /** Relayed bytes per second one recipient may receive, from all senders together. Default 64 KiB. */
  inboundBytesPerSecond?: number
  /** That bucket's size in bytes. Default 256 KiB. */
  inboundBurstBytes?: number
  /**
   * Frames a recipient may send back to a sender, for each frame it got from
   * that sender, without spending its own rate budget: the sender pays for the
   * answers it asks for. Default 8.
   */
  replyCredits?: number
  /** Ping interval; a socket that has not answered the previous ping is terminated. Default 15 s. */
  heartbeatMs?: number
  /**
   * A socket whose unsent output exceeds this is too slow a reader: relayed
   * frames to it are dropped (the sender gets DROPPED); replies to its own
   * requests beyond it terminate it. Default 1 MiB.
   */
  maxBufferedBytes?: number
  /** How long a closing handshake may take before the socket is destroyed. Default 2 s. */
  closeTimeoutMs?: number
  /** Unexpected internal errors (bugs), already counted in `signalErrors`. Default: stderr. */
  onError?: (err: unknown) => void
}

/** The largest `sampleSize` accepted. */
export const MAX_SAMPLE_SIZE = 64
/** Senders a socket keeps reply credits for; the oldest is forgotten first. */
const REPLY_CREDIT_PEERS = 256

export const DEFAULT_SIGNAL_OPTIONS = {
  sampleSize: 8,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  ratePerSecond: 20,
  rateBurst: 60,
  abuseLimit: 200,
  maxPerMesh: 1000,
  maxPerAddress: 8,
  maxPendingPerAddress: 8,
  loopbackPerAddress: 256,
  maxPending: 1000,
  maxConnections: 10_000,
  helloTimeoutMs: 5_000,
  maxHelloFailures: 3,
  helloFailureBurst: 10,
  helloFailuresPerMinute: 30,
  inboundRate: 50,
  inboundBurst: 200,
  inboundBytesPerSecond: 64 * 1024,
  inboundBurstBytes: 256 * 1024,
  replyCredits: 8,
  heartbeatMs: 15_000,
  maxBufferedBytes: 1024 * 1024,
  closeTimeoutMs: 2_000,
} as const satisfies Required<Omit<SignalOptions, 'onError'>>

/**
 * Live gauges (`signalConnections`, `signalPending`, `signalAuthenticated`,
 * `meshes`) and event counts. Every frame the server receives counts once in
 * `signalFrames` and once in exactly one of: hellos, helloFailures,
 * helloThrottled, alreadyAuthenticated, meshFull, addressFullAtHello, samples,
 * relayed, droppedOverBudget, droppedSlowReader, notPresent, malformed,
 * tooLarge, rateLimited, notAuthenticated, signalErrors. The rest count sockets.
 */
export interface SignalCounters {
  /** Live: open sockets on /signal (refused ones excluded). */
  signalConnections: number
  /** Live: of those, not (yet) authenticated. */
  signalPending: number
  /** Live: sockets that completed a hello. */
  signalAuthenticated: number
  /** Live: meshes with at least one authenticated socket. */
  meshes: number
  /** Frames received, including oversize and undecodable ones. */
  signalFrames: number
  hellos: number
  helloFailures: number
  /** Hellos refused unchecked: their address had failed too often (`helloFailureBurst`). */
  helloThrottled: number
  alreadyAuthenticated: number
  meshFull: number
  /** Valid hellos refused because their address had `maxPerAddress` nodes in that mesh. */
  addressFullAtHello: number
  samples: number
  relayed: number
  /** Of `relayed`, frames a recipient sent back to a sender on credit (`replyCredits`), its own budget spent. */
  repliesOnCredit: number
  /** Relayed frames dropped: over the recipient's inbound budget (the sender got DROPPED). */
  droppedOverBudget: number
  /** Relayed frames dropped: the recipient's unsent output was over `maxBufferedBytes` (the sender got DROPPED). */
  droppedSlowReader: number
  notPresent: number
  malformed: number
  tooLarge: number
  rateLimited: number
  notAuthenticated: number
  /** Sockets replaced by a newer one with the same id in the same mesh. */
  replaced: number
  /** Sockets refused on connect because their address had `maxPendingPerAddress` pending. */
  addressFull: number
  /** Sockets refused on connect: `maxConnections` open or `maxPending` pending. */
  serverFull: number
  helloTimeouts: number
  /** Sockets closed (4005) after `maxHelloFailures` failed hellos. */
  closedForBadHellos: number
  /** Sockets terminated for not answering a ping. */
  deadSockets: number
  /** Sockets closed for exceeding the rate limit `abuseLimit` times. */
  closedForAbuse: number
  /** Sockets terminated for not reading the replies to their own requests. */
  slowConsumers: number
  /** Internal errors caught in a handler (bugs, not bad input). */
  signalErrors: number
}

export function createSignalCounters(): SignalCounters {
  return {
    signalConnections: 0,
    signalPending: 0,
    signalAuthenticated: 0,
    meshes: 0,
    signalFrames: 0,
    hellos: 0,
    helloFailures: 0,
    helloThrottled: 0,
    alreadyAuthenticated: 0,
    meshFull: 0,
    addressFullAtHello: 0,
    samples: 0,
    relayed: 0,
    repliesOnCredit: 0,
    droppedOverBudget: 0,
    droppedSlowReader: 0,
    notPresent: 0,
    malformed: 0,
    tooLarge: 0,
    rateLimited: 0,
    notAuthenticated: 0,
    replaced: 0,
    addressFull: 0,
    serverFull: 0,
    helloTimeouts: 0,
    closedForBadHellos: 0,
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
  readonly address: AddressState
  readonly nonce: string
  /** `verifying` while a hello's signature is being checked; frames meanwhile wait in `backlog`. */
  state: 'new' | 'verifying' | 'joined'
  /** Counted in `signalPending` and its address's `pending` until it joins or goes. */
  pending: boolean
  /** Set once the server closes the socket or it closes; a hello finishing after that does not join. */
  closed: boolean
  released: boolean
  backlog: ClientMessage[]
  helloFailures: number
  /** Set when joined. */
  id: string
  publicKey: string
  mesh: Mesh | null
  /** Index in `mesh.members`. */
  slot: number
  tokens: number
  refilledAt: number
  strikes: number
  /** What this socket may still receive as relayed signals (frames, bytes). */
  readonly inboundFrames: Bucket
  readonly inboundBytes: Bucket
  /** Sender id → frames this socket may send back to it without spending its own tokens. */
  readonly credits: Map<string, number>
  alive: boolean
  helloTimer: NodeJS.Timeout | undefined
}

interface AddressState {
  readonly key: string
  /** Open sockets, pending or not. */
  sockets: number
  pending: number
  /** Mesh name → authenticated sockets of this address in it. */
  readonly joined: Map<string, number>
  /** Failed hellos this address may still send. */
  readonly helloBudget: Bucket
}

/** A token bucket: `tokens` as of `at` (performance.now()). */
interface Bucket {
  tokens: number
  at: number
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
    const min = name === 'sampleSize' || name === 'replyCredits' || name === 'loopbackPerAddress' ? 0 : 1
    if (!Number.isSafeInteger(value) || value < min)
      throw new RangeError(`signal option ${name} must be an integer ≥ ${min}, got ${String(value)}`)
  }
  if (options.sampleSize > MAX_SAMPLE_SIZE)
    throw new RangeError(`signal option sampleSize must be ≤ ${MAX_SAMPLE_SIZE}: a listing is a sample, not the mesh`)
  if (options.inboundBurstBytes < options.maxFrameBytes)
    throw new RangeError('signal option inboundBurstBytes must be ≥ maxFrameBytes, or a largest frame never passes')
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
  const addresses = new Map<string, AddressState>()
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

  /** Sends `code` and closes: for a socket refused before it became a session. */
  function refuse(ws: WebSocket, code: 'ADDRESS_FULL' | 'SERVER_FULL', message: string): void {
    sendMessage(ws, error(code, message))
    ws.close(SIGNAL_CLOSE_CODES[code], code)
  }

  function onConnection(ws: WebSocket, req: http.IncomingMessage): void {
    // ws emits 'error' for protocol violations; unhandled, that would throw.
    ws.on('error', () => {})
    if (sessions.size >= options.maxConnections || counters.signalPending >= options.maxPending) {
      counters.serverFull++
      return refuse(ws, 'SERVER_FULL', 'too many sockets; try again later')
    }
    const key = addressKey(req.socket.remoteAddress)
    const now = performance.now()
    const address = addresses.get(key) ?? {
      key,
      sockets: 0,
      pending: 0,
      joined: new Map<string, number>(),
      helloBudget: { tokens: options.helloFailureBurst, at: now },
    }
    const maxPending =
      options.loopbackPerAddress > 0 && isLoopback(key) ? options.loopbackPerAddress : options.maxPendingPerAddress
    if (address.pending >= maxPending) {
      counters.addressFull++
      return refuse(ws, 'ADDRESS_FULL', `at most ${maxPending} sockets per address before hello`)
    }
    addresses.set(key, address)
    address.sockets++
    address.pending++
    counters.signalConnections++
    counters.signalPending++
    const s: Session = {
      ws,
      address,
      nonce: toHex(globalThis.crypto.getRandomValues(new Uint8Array(32))),
      state: 'new',
      pending: true,
      closed: false,
      released: false,
      backlog: [],
      helloFailures: 0,
      id: '',
      publicKey: '',
      mesh: null,
      slot: -1,
      tokens: options.rateBurst,
      refilledAt: now,
      strikes: 0,
      inboundFrames: { tokens: options.inboundBurst, at: now },
      inboundBytes: { tokens: options.inboundBurstBytes, at: now },
      credits: new Map(),
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
    if (!takeToken(s)) {
      // Out of budget: an answer to a sender that asked for it still goes, on that sender's credit.
      const decoded = !isBinary && s.credits.size > 0 ? decodeClientMessage(rawText(data)) : null
      if (decoded?.ok && decoded.message.type === 'signal' && s.mesh && useCredit(s, decoded.message.to))
        return relay(s, s.mesh, decoded.message, true)
      return onRateLimited(s)
    }
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
      const budget = refill(s.address.helloBudget, options.helloFailuresPerMinute / 60_000, options.helloFailureBurst)
      if (budget.tokens < 1)
        return helloFailed(s, 'helloThrottled', 'too many failed hellos from this address; try again later')
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
    relay(s, mesh, message, false)
  }

  /** Hands `message` to its recipient if it is present and can take it now; `onCredit`: paid by the recipient's earlier frames. */
  function relay(s: Session, mesh: Mesh, message: SignalMessage, onCredit: boolean): void {
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
    const bytes = Buffer.byteLength(text)
    if (bytes > options.maxFrameBytes)
      return reject(s, 'tooLarge', 'TOO_LARGE', `relayed frame would exceed ${options.maxFrameBytes} bytes`)
    if (target.ws.bufferedAmount + bytes > options.maxBufferedBytes) {
      counters.droppedSlowReader++
      return sendDropped(s, message.to, 'the recipient is not reading; frame dropped')
    }
    if (!takeInbound(target, bytes)) {
      counters.droppedOverBudget++
      return sendDropped(s, message.to, 'the recipient is receiving too much; frame dropped')
    }
    counters.relayed++
    if (onCredit) counters.repliesOnCredit++
    // Only frames the sender paid for earn the recipient answers: credit never buys credit.
    else grantCredit(target, s.id)
    if (target.ws.readyState === WebSocket.OPEN) target.ws.send(text)
  }

  function sendDropped(s: Session, to: string, message: string): void {
    send(s, { ...error('DROPPED', message), to })
  }

  function takeInbound(target: Session, bytes: number): boolean {
    const frames = refill(target.inboundFrames, options.inboundRate / 1000, options.inboundBurst)
    const volume = refill(target.inboundBytes, options.inboundBytesPerSecond / 1000, options.inboundBurstBytes)
    if (frames.tokens < 1 || volume.tokens < bytes) return false
    frames.tokens -= 1
    volume.tokens -= bytes
    return true
  }

  function grantCredit(target: Session, from: string): void {
    if (options.replyCredits === 0) return
    const credit = Math.min(options.rateBurst, (target.credits.get(from) ?? 0) + options.replyCredits)
    target.credits.delete(from)
    target.credits.set(from, credit)
    if (target.credits.size > REPLY_CREDIT_PEERS) {
      const oldest = target.credits.keys().next()
      if (!oldest.done) target.credits.delete(oldest.value)
    }
  }

  function useCredit(s: Session, to: string): boolean {
    const credit = s.credits.get(to)
    if (!credit) return false
    if (credit > 1) s.credits.set(to, credit - 1)
    else s.credits.delete(to)
    return true
  }

  function helloFailed(s: Session, outcome: 'helloFailures' | 'helloThrottled', message: string): void {
    counters[outcome]++
    if (++s.helloFailures < options.maxHelloFailures) return send(s, error('BAD_HELLO', message))
    counters.closedForBadHellos++
    shut(s, 'BAD_HELLO', `${message} (${s.helloFailures} failed hellos: closing)`)
  }

  function onVerified(s: Session, hello: HelloMessage, failure: string | null): void {
    s.state = 'new'
    if (s.closed) counters.helloFailures++
    else if (failure !== null) {
      const budget = s.address.helloBudget
      budget.tokens = Math.max(0, budget.tokens - 1)
      helloFailed(s, 'helloFailures', failure)
    } else join(s, hello)
    // Frames that came in meanwhile get their outcome even if the socket closed (their replies go nowhere).
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
    const fromHere = s.address.joined.get(hello.mesh) ?? 0
    const maxHere =
      options.loopbackPerAddress > 0 && isLoopback(s.address.key) ? options.loopbackPerAddress : options.maxPerAddress
    if (previous?.address !== s.address && fromHere >= maxHere) {
      counters.addressFullAtHello++
      shut(s, 'ADDRESS_FULL', `at most ${maxHere} nodes per address in a mesh`)
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
    unpend(s)
    s.address.joined.set(mesh.name, fromHere + 1)
    clearTimeout(s.helloTimer)
    if (previous) {
      // A reloaded tab reconnects before its old socket is noticed dead: the newest proof wins.
      counters.replaced++
      s.slot = previous.slot
      mesh.members[s.slot] = s
      previous.state = 'new'
      previous.mesh = null
      previous.slot = -1
      unjoin(previous.address, mesh.name)
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

  function unpend(s: Session): void {
    if (!s.pending) return
    s.pending = false
    s.address.pending--
    counters.signalPending--
  }

  function unjoin(address: AddressState, mesh: string): void {
    const n = (address.joined.get(mesh) ?? 1) - 1
    if (n > 0) address.joined.set(mesh, n)
    else address.joined.delete(mesh)
  }

  function leave(s: Session): void {
    const mesh = s.mesh
    if (s.state !== 'joined' || !mesh) return
    s.state = 'new'
    s.mesh = null
    mesh.byId.delete(s.id)
    unjoin(s.address, mesh.name)
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
    // Addresses without sockets are kept only while they still owe failed hellos.
    for (const address of addresses.values()) forgetIfIdle(address)
  }

  function forgetIfIdle(address: AddressState): void {
    if (address.sockets > 0) return
    const budget = refill(address.helloBudget, options.helloFailuresPerMinute / 60_000, options.helloFailureBurst)
    if (budget.tokens >= options.helloFailureBurst) addresses.delete(address.key)
  }

  function release(s: Session): void {
    if (s.released) return
    s.released = true
    s.closed = true
    clearTimeout(s.helloTimer)
    leave(s)
    unpend(s)
    sessions.delete(s)
    counters.signalConnections--
    s.address.sockets--
    forgetIfIdle(s.address)
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

  /** Replies to `s`'s own frames: a socket that does not read them is terminated. */
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

/** `bucket` refilled at `perMs` tokens per millisecond up to `burst`, as of now. */
function refill(bucket: Bucket, perMs: number, burst: number): Bucket {
  const now = performance.now()
  bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) * perMs)
  bucket.at = now
  return bucket
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

/** Whether an address key (see addressKey) is the loopback interface. */
export function isLoopback(key: string): boolean {
  return /^127\./.test(key) || key === '0:0:0:0::/64'
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
