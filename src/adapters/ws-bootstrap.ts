/**
 * The `Bootstrap` port over the server's signaling WebSocket (the client side
 * of docs/SIGNALING.md).
 *
 * One session per socket:
 *
 *   onState('connecting')  → new WebSocket(url)
 *   ← challenge {nonce}      sign helloMessage(nonce, mesh, id) with the Signer
 *   → hello {mesh, id, publicKey, sig}
 *   ← welcome {peers}        onState('open'), onPeers(peers); backoff resets
 *   → sample                 ← peers {peers}      onPeers(peers)
 *   → signal {to, data}      ← signal {from, data} onSignal(from, data)
 *   ← error {code, message}  onError(code, message, to?)
 *   socket closes            onState('closed', why) and, after a backoff with
 *                            jitter, a new session — except after REPLACED
 *                            (close 4001: another tab now holds this id) or stop().
 *
 * Server frames are untrusted: anything that is not a well-formed message of a
 * known type is ignored and counted, never thrown into the socket loop.
 */
import { Ir3Error, safetyCatch } from '../core/errors.ts'
import { isPlainObject } from '../core/json.ts'
import type { Bootstrap, BootstrapHandlers, BootstrapState, Clock, Signer } from '../core/ports.ts'
import { toHex } from '../core/series/hash.ts'
import {
  decodeServerMessage,
  DEFAULT_MAX_FRAME_BYTES,
  helloMessage,
  NODE_ID_HEX,
  RELAY_EXTRA_BYTES,
  SIGNAL_CLOSE_CODES,
  type ClientMessage,
  type ReceivedServerMessage,
} from '../core/wire/signaling.ts'

/** Options of `createWsBootstrap`. */
export interface WsBootstrapOptions {
  /** The signaling endpoint, e.g. `ws://127.0.0.1:4173/signal` (`ws:` or `wss:`). */
  url: string
  /** Mesh (room) to join; see `MESH_NAME` in src/core/wire/signaling.ts. */
  mesh: string
  /** This node's id: `nodeIdFromPublicKey(signer.publicKey)`. */
  id: string
  /** Signs the hello; its public key is what the server checks the id against. */
  signer: Signer
  /** WebSocket constructor. Default: the global one (browsers, Node ≥ 22); in Node 20 pass `ws`'s. */
  WebSocket?: typeof WebSocket
  /** First reconnect delay (before jitter). Default 500 ms. */
  minBackoffMs?: number
  /** Largest reconnect delay (before jitter). Default 30 s. */
  maxBackoffMs?: number
  /** Frames larger than this are refused by `signal` (the server would close the socket). Default 16 KiB, the server's default. */
  maxFrameBytes?: number
  /** Timers. Default: the global setTimeout. */
  setTimeout?: Clock['setTimeout']
  /** Uniform in [0, 1), for jitter. Default `Math.random`. */
  random?: () => number
}

/** Event counts since the bootstrap was made. */
export interface WsBootstrapStats {
  /** Sockets opened (the first connection and every reconnect). */
  connects: number
  /** Welcomes received. */
  welcomes: number
  /** Server frames that were not JSON, not an object, of unknown type or with bad fields: ignored. */
  ignoredFrames: number
  /** Entries of a peers list that were not `{id, publicKey}` hex strings: left out. */
  ignoredPeers: number
  signalsSent: number
  signalsReceived: number
  /** `signal` calls refused: not open, data not a JSON object, or the frame too large. */
  signalsRefused: number
  /** Server error frames. */
  errors: number
}

export interface WsBootstrap extends Bootstrap {
  readonly stats: Readonly<WsBootstrapStats>
}

export const DEFAULT_MIN_BACKOFF_MS = 500
export const DEFAULT_MAX_BACKOFF_MS = 30_000

/** `WebSocket.OPEN`, which `ws` and browsers both define, but not always on the instance. */
const OPEN = 1

/**
 * Makes a bootstrap client. Nothing happens until `start`; it then stays
 * connected (reconnecting with exponential backoff and jitter) until `stop`.
 */
export function createWsBootstrap(opts: WsBootstrapOptions): WsBootstrap {
  const protocol = safeProtocol(opts.url)
  if (protocol !== 'ws:' && protocol !== 'wss:')
    throw new TypeError(`createWsBootstrap: not a ws: or wss: URL: ${opts.url}`)
  const Socket = opts.WebSocket ?? globalThis.WebSocket
  if (typeof Socket !== 'function') throw new TypeError('createWsBootstrap: no WebSocket here; pass opts.WebSocket')
  const minBackoff = opts.minBackoffMs ?? DEFAULT_MIN_BACKOFF_MS
  const maxBackoff = Math.max(minBackoff, opts.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS)
  const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  const random = opts.random ?? Math.random
  const later =
    opts.setTimeout ??
    ((fn: () => void, ms: number) => {
      const t = setTimeout(fn, ms)
      return () => clearTimeout(t)
    })
  const publicKey = toHex(opts.signer.publicKey)
  const encoder = new TextEncoder()

  const stats: WsBootstrapStats = {
    connects: 0,
    welcomes: 0,
    ignoredFrames: 0,
    ignoredPeers: 0,
    signalsSent: 0,
    signalsReceived: 0,
    signalsRefused: 0,
    errors: 0,
  }

  let handlers: BootstrapHandlers | null = null
  let stopped = false
  /** The live socket, if any; callbacks of older sockets check against it and do nothing. */
  let socket: WebSocket | null = null
  let welcomed = false
  let helloSent = false
  let replaced = false
  /** Reconnects since the last welcome; the backoff doubles with each. */
  let failures = 0
  let cancelRetry: (() => void) | null = null

  function setState(next: BootstrapState, detail: string): void {
    handlers?.onState(next, detail)
  }

  function connect(): void {
    cancelRetry = null
    if (stopped) return
    welcomed = false
    helloSent = false
    setState('connecting', opts.url)
    let ws: WebSocket
    try {
      ws = new Socket(opts.url)
    } catch (err: unknown) {
      // E.g. a CSP `connect-src` refusal: operational, retry later like any failed connection.
      socket = null
      retry(`could not open the socket: ${String(err)}`)
      return
    }
    socket = ws
    stats.connects++
    ws.onmessage = (ev: MessageEvent) => {
      if (socket !== ws) return
      const decoded = typeof ev.data === 'string' ? decodeServerMessage(ev.data) : null
      if (!decoded) {
        stats.ignoredFrames++
        return
      }
      stats.ignoredPeers += decoded.ignoredPeers
      onFrame(ws, decoded.message)
    }
    ws.onclose = (ev: CloseEvent) => {
      if (socket !== ws) return
      socket = null
      if (stopped) return
      if (ev.code === SIGNAL_CLOSE_CODES.REPLACED || replaced) {
        replaced = true
        setState('closed', 'replaced')
        return
      }
      retry(`socket closed (${ev.code}${ev.reason ? ` ${ev.reason}` : ''})`)
    }
    // A failed connection or a broken socket: `close` follows and decides what next.
    ws.onerror = () => {}
  }

  function retry(why: string): void {
    failures++
    const base = Math.min(maxBackoff, minBackoff * 2 ** Math.min(failures - 1, 30))
    // Equal jitter: between half and all of the base, so tabs that lost the server together spread out.
    const delay = Math.round(base / 2 + (random() * base) / 2)
    setState('closed', `${why}; reconnecting in ${delay} ms`)
    cancelRetry = later(connect, delay)
  }

  function onFrame(ws: WebSocket, frame: ReceivedServerMessage): void {
    const h = handlers
    if (!h) return
    switch (frame.type) {
      case 'challenge':
        if (helloSent) return void stats.ignoredFrames++
        helloSent = true
        void sendHello(ws, frame.nonce)
        return
      case 'welcome':
        if (!helloSent || welcomed) return void stats.ignoredFrames++
        welcomed = true
        failures = 0
        stats.welcomes++
        setState('open', `joined mesh ${opts.mesh} as ${opts.id}`)
        h.onPeers(frame.peers)
        return
      case 'peers':
        if (!welcomed) return void stats.ignoredFrames++
        h.onPeers(frame.peers)
        return
      case 'signal':
        if (!welcomed) return void stats.ignoredFrames++
        stats.signalsReceived++
        h.onSignal(frame.from, frame.data)
        return
      case 'error':
        stats.errors++
        if (frame.code === 'REPLACED') replaced = true
        if (frame.to === undefined) h.onError(frame.code, frame.message)
        else h.onError(frame.code, frame.message, frame.to)
        return
    }
  }

  async function sendHello(ws: WebSocket, nonce: string): Promise<void> {
    let sig: Uint8Array
    try {
      sig = await opts.signer.sign(encoder.encode(helloMessage(nonce, opts.mesh, opts.id)))
    } catch (e: unknown) {
      // Without a signature there is no session: drop the socket and try again later.
      safetyCatch(e)
      if (socket === ws) ws.close(1000, 'could not sign the hello')
      return
    }
    if (socket !== ws || ws.readyState !== OPEN) return
    const hello = { type: 'hello', mesh: opts.mesh, id: opts.id, publicKey, sig: toHex(sig) } satisfies ClientMessage
    ws.send(JSON.stringify(hello))
  }

  return {
    stats,

    start(h: BootstrapHandlers): void {
      if (stopped) throw new Ir3Error('ERR_STOPPED', 'this bootstrap was stopped; make a new one')
      if (handlers) throw new Ir3Error('ERR_STARTED', 'start() was already called')
      handlers = h
      connect()
    },

    requestPeers(): void {
      if (socket && welcomed && socket.readyState === OPEN)
        socket.send(JSON.stringify({ type: 'sample' } satisfies ClientMessage))
    },

    signal(to: string, data): boolean {
      if (!socket || !welcomed || socket.readyState !== OPEN || !NODE_ID_HEX.test(to) || !isPlainObject(data)) {
        stats.signalsRefused++
        return false
      }
      const text = JSON.stringify({ type: 'signal', to, data } satisfies ClientMessage)
      // Over the limit the server would refuse the relayed frame, which is a little longer.
      if (encoder.encode(text).byteLength + RELAY_EXTRA_BYTES > maxFrameBytes) {
        stats.signalsRefused++
        return false
      }
      socket.send(text)
      stats.signalsSent++
      return true
    },

    stop(): void {
      if (stopped) return
      stopped = true
      cancelRetry?.()
      cancelRetry = null
      const ws = socket
      socket = null
      welcomed = false
      ws?.close(1000, 'stopped')
      if (handlers) setState('closed', 'stopped')
    },
  }
}

function safeProtocol(url: string): string | null {
  try {
    return new URL(url).protocol
  } catch {
    return null
  }
}
