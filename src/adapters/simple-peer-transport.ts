/**
 * The `Transport` port over WebRTC data channels, through simple-peer 9.
 *
 * Signal flow, with trickle ICE off:
 *
 *   initiator link                          responder link
 *     onSignal({type:'offer', sdp})  ──────►  signal(offer)
 *     signal(answer)                 ◄──────  onSignal({type:'answer', sdp})
 *     onOpen()                                onOpen()
 *     send(bytes) ───── ordered, reliable data channel ─────► onData(bytes)
 *
 * Each side emits exactly one signal, carrying all of its ICE candidates in
 * the SDP. Trickle ICE would emit one signal per candidate; every signal is a
 * message the caller must carry (and, over the mesh, sign), so one offer and
 * one answer is cheaper and simpler, and on loopback or a LAN gathering ends
 * within milliseconds, so waiting for it costs almost nothing.
 *
 * Untrusted input (remote signals) never throws into the caller: a malformed
 * or unexpected signal closes the link with a reason. Handlers are never
 * called synchronously from `createLink`, `signal` or `close`.
 */
import SimplePeer from 'simple-peer'
import type { JsonValue } from '../core/json.ts'
import type { Link, LinkHandlers, Transport } from '../core/ports.ts'

type Peer = SimplePeer.Instance

/** Options of `createSimplePeerTransport`. */
export interface SimplePeerTransportOptions {
  /**
   * A WebRTC implementation (`RTCPeerConnection`, `RTCSessionDescription`,
   * `RTCIceCandidate`), e.g. `@roamhq/wrtc` in Node. Default: the browser's.
   */
  wrtc?: unknown
  /**
   * Passed to `createDataChannel`. The `Link` contract needs an ordered,
   * reliable channel: leave `ordered`, `maxRetransmits` and
   * `maxPacketLifeTime` alone.
   */
  channelConfig?: RTCDataChannelInit
  /**
   * `send` refuses (returns false) while the channel's queued bytes plus the
   * message would exceed this. Default 8 MiB.
   */
  maxBufferedBytes?: number
  /** A link that is not open this long after `createLink` is closed with `connect-timeout`. Default 15 s. */
  connectTimeoutMs?: number
}

/** Event counts since the transport was made (for the inspector and tests). */
export interface SimplePeerTransportStats {
  linksCreated: number
  linksOpened: number
  linksClosed: number
  connectTimeouts: number
  /** Signals that were not a well-formed offer/answer/candidate, or that WebRTC refused. */
  malformedSignals: number
  /** A second offer or answer for a link that already has one, or any signal after open: ignored. */
  ignoredSignals: number
  messagesSent: number
  bytesSent: number
  messagesReceived: number
  bytesReceived: number
  /** `send` on a link that is not open. */
  sendsNotOpen: number
  /** `send` refused because the channel already held `maxBufferedBytes`. */
  sendsBackpressured: number
  /** `send` of a zero-length message (simple-peer 9 would silently drop it on the receiving side). */
  sendsEmpty: number
  /** `send` that the data channel threw on (e.g. a message over the SCTP max message size). */
  sendErrors: number
}

/** A `Transport` with counters. */
export interface SimplePeerTransport extends Transport {
  readonly stats: Readonly<SimplePeerTransportStats>
}

export const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024
export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000

/** Close reasons this transport gives `onClose` (errors add `error <CODE>: <message>`). */
export const LINK_CLOSE_REASONS = {
  local: 'closed',
  remote: 'remote-closed',
  timeout: 'connect-timeout',
  malformed: 'malformed-signal',
  overflow: 'early-data-overflow',
} as const

/**
 * Makes a transport whose links are simple-peer connections with
 * `{ trickle: false, config: { iceServers: [] } }`: no STUN or TURN, so peers
 * reach each other only on addresses they share (the same host or LAN).
 */
export function createSimplePeerTransport(opts: SimplePeerTransportOptions = {}): SimplePeerTransport {
  const maxBufferedBytes = opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
  const connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
  const stats: SimplePeerTransportStats = {
    linksCreated: 0,
    linksOpened: 0,
    linksClosed: 0,
    connectTimeouts: 0,
    malformedSignals: 0,
    ignoredSignals: 0,
    messagesSent: 0,
    bytesSent: 0,
    messagesReceived: 0,
    bytesReceived: 0,
    sendsNotOpen: 0,
    sendsBackpressured: 0,
    sendsEmpty: 0,
    sendErrors: 0,
  }

  function peerOptions(initiator: boolean): SimplePeer.Options {
    const o: SimplePeer.Options = { initiator, trickle: false, config: { iceServers: [] } }
    if (opts.wrtc) o.wrtc = opts.wrtc as NonNullable<SimplePeer.Options['wrtc']>
    if (opts.channelConfig) o.channelConfig = opts.channelConfig
    return o
  }

  function createLink({ initiator }: { initiator: boolean }, handlers: LinkHandlers): Link {
    stats.linksCreated++
    let state: 'connecting' | 'open' | 'closed' = 'connecting'
    let hasRemoteDescription = false
    // simple-peer emits 'connect' only after a getStats() round trip, while the
    // channel is already open: the remote side, connected first, may send and
    // its messages reach us before our 'connect'. We hold them until onOpen.
    let early: Uint8Array[] = []
    let earlyBytes = 0
    let peer: Peer | null = null

    const timer = setTimeout(() => {
      if (state !== 'connecting') return
      stats.connectTimeouts++
      finish(LINK_CLOSE_REASONS.timeout)
    }, connectTimeoutMs)

    function finish(reason: string): void {
      if (state === 'closed') return
      state = 'closed'
      stats.linksClosed++
      clearTimeout(timer)
      early = []
      peer?.destroy()
      // Deferred: close() and signal() may run inside the caller's own handlers or right after createLink.
      queueMicrotask(() => handlers.onClose(reason))
    }

    function deliver(chunk: unknown): void {
      if (state === 'closed') return
      const bytes = toBytes(chunk)
      stats.messagesReceived++
      stats.bytesReceived += bytes.byteLength
      if (state === 'open') return handlers.onData(bytes)
      early.push(bytes)
      earlyBytes += bytes.byteLength
      // Bounded like the send side: a peer that floods before we see 'connect' loses the link.
      if (earlyBytes > maxBufferedBytes) finish(LINK_CLOSE_REASONS.overflow)
    }

    try {
      peer = new SimplePeer(peerOptions(initiator))
    } catch (err: unknown) {
      // E.g. ERR_WEBRTC_SUPPORT: no RTCPeerConnection here and no `wrtc` given.
      finish(errorReason(err))
    }

    if (peer) {
      // simple-peer emits each event from a promise callback or a later task, never from its constructor.
      peer.on('signal', (data: unknown) => {
        if (state === 'closed') return
        handlers.onSignal(toJson(data))
      })
      peer.on('connect', () => {
        if (state !== 'connecting') return
        state = 'open'
        stats.linksOpened++
        clearTimeout(timer)
        handlers.onOpen()
        const held = early
        early = []
        earlyBytes = 0
        for (const bytes of held) {
          if (state !== 'open') break
          handlers.onData(bytes)
        }
      })
      peer.on('data', deliver)
      // simple-peer emits 'error' and then 'close' for the same failure: the first reason wins.
      peer.on('error', (err: unknown) => {
        if (state === 'closed') return
        const code = (err as { code?: unknown } | null)?.code
        if (code === 'ERR_SET_REMOTE_DESCRIPTION' || code === 'ERR_ADD_ICE_CANDIDATE') {
          // The signal had the right shape but WebRTC refused its content.
          stats.malformedSignals++
          finish(`${LINK_CLOSE_REASONS.malformed}: ${errorReason(err)}`)
        } else finish(errorReason(err))
      })
      peer.on('close', () => finish(LINK_CLOSE_REASONS.remote))
    }

    return {
      signal(data: JsonValue): void {
        if (state === 'closed' || !peer) return
        const kind = signalKind(data, initiator)
        if (kind === 'malformed') {
          stats.malformedSignals++
          finish(`${LINK_CLOSE_REASONS.malformed}: expected ${initiator ? 'an answer' : 'an offer'} or a candidate`)
          return
        }
        // With trickle off there is one description per side and nothing after open. A second
        // description (a duplicated relay) would make simple-peer renegotiate or fail: ignore it.
        if (state === 'open' || (kind === 'description' && hasRemoteDescription)) {
          stats.ignoredSignals++
          return
        }
        if (kind === 'description') hasRemoteDescription = true
        try {
          // Garbage SDP is refused asynchronously by setRemoteDescription; simple-peer then emits 'error'.
          peer.signal(data as unknown as SimplePeer.SignalData)
        } catch (err: unknown) {
          stats.malformedSignals++
          finish(`${LINK_CLOSE_REASONS.malformed}: ${errorReason(err)}`)
        }
      },

      send(data: Uint8Array): boolean {
        if (state !== 'open' || !peer?.connected) {
          stats.sendsNotOpen++
          return false
        }
        if (data.byteLength === 0) {
          stats.sendsEmpty++
          return false
        }
        if (peer.bufferSize + data.byteLength > maxBufferedBytes) {
          stats.sendsBackpressured++
          return false
        }
        try {
          peer.send(data)
        } catch {
          // The channel closed under us (its close event follows) or refused the size.
          stats.sendErrors++
          return false
        }
        stats.messagesSent++
        stats.bytesSent += data.byteLength
        return true
      },

      get bufferedAmount(): number {
        return state === 'closed' || !peer ? 0 : peer.bufferSize
      },

      get native(): unknown {
        return state === 'open' ? peer : null
      },

      close(): void {
        finish(LINK_CLOSE_REASONS.local)
      },
    }
  }

  return { createLink, stats }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** What a remote signal is, judged by shape only (WebRTC judges the SDP). */
function signalKind(data: unknown, initiator: boolean): 'description' | 'candidate' | 'malformed' {
  if (!isObject(data)) return 'malformed'
  if (typeof data['sdp'] === 'string' && data['type'] === (initiator ? 'answer' : 'offer')) return 'description'
  if (isObject(data['candidate']) && typeof data['candidate']['candidate'] === 'string') return 'candidate'
  return 'malformed'
}

/** simple-peer 9 delivers a Buffer (the `buffer` polyfill in the browser bundle); callers get a plain Uint8Array view. */
function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk)
  return new TextEncoder().encode(String(chunk))
}

/** simple-peer's signals are plain `{type, sdp}` or `{type, candidate}` objects; this makes sure of it. */
function toJson(data: unknown): JsonValue {
  return JSON.parse(JSON.stringify(data)) as JsonValue
}

function errorReason(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return `error ${typeof code === 'string' ? code : err.name}: ${err.message}`
  }
  return `error: ${String(err)}`
}
