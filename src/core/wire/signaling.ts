/**
 * The signaling wire protocol (docs/SIGNALING.md), for both ends: the server
 * (`signaling/signal.ts`) and the client (`src/adapters/ws-bootstrap.ts`).
 * Message types, error and close codes, field formats, the text a hello
 * signs, the frame limit, and a decoder for what each end receives.
 *
 * Message flow (JSON text frames on the `/signal` WebSocket):
 *
 *   server → challenge {nonce}
 *   client → hello {mesh, id, publicKey, sig}     sig = Ed25519(helloMessage(nonce, mesh, id))
 *   server → welcome {id, mesh, peers}             or error BAD_HELLO | MESH_FULL
 *   client → sample                                → peers {peers}
 *   client → signal {to, data}                     → `to` gets signal {from, data}, or error NOT_PRESENT | DROPPED
 *   server → error {code, message}                 for every frame it drops
 *
 * Frames are untrusted on both ends: the decoders check shape and field
 * formats and return data (or null / a reason), never throw.
 */
import { isPlainObject, type JsonObject } from '../json.ts'

// ---------------------------------------------------------------------------
// Field formats and limits

/** A mesh (room) name. */
export const MESH_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/
/** A node id: 32 lowercase hex, the first 16 bytes of SHA-256(publicKey). */
export const NODE_ID_HEX = /^[0-9a-f]{32}$/
/** A raw 32-byte Ed25519 public key: 64 lowercase hex. */
export const PUBLIC_KEY_HEX = /^[0-9a-f]{64}$/
/** An Ed25519 signature: 128 lowercase hex. */
export const SIGNATURE_HEX = /^[0-9a-f]{128}$/
/** A challenge nonce: 32 random bytes, 64 lowercase hex. */
export const NONCE_HEX = /^[0-9a-f]{64}$/
/** An error code as a client accepts it: any UPPER_SNAKE, so codes a newer server adds still arrive. */
export const ERROR_CODE_FORMAT = /^[A-Z][A-Z0-9_]{0,63}$/

/** The server's default largest frame; a bigger one closes the socket with 1009. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024
/** A relayed signal is this much longer than the one sent (`"from"` for `"to"`); it too must fit the limit. */
export const RELAY_EXTRA_BYTES = 2

/** The text a hello signs (as UTF-8): binds the key to this socket's nonce, the mesh and the id. */
export function helloMessage(nonce: string, mesh: string, id: string): string {
  return `ir3/hello/v1\n${nonce}\n${mesh}\n${id}`
}

// ---------------------------------------------------------------------------
// Messages

/** A present, authenticated node as the server reports it. */
export interface PeerInfo {
  /** 32 lowercase hex: the first 16 bytes of SHA-256(publicKey). */
  id: string
  /** 64 lowercase hex: the raw 32-byte Ed25519 public key. */
  publicKey: string
}

export interface HelloMessage {
  type: 'hello'
  /** Matches `MESH_NAME`. */
  mesh: string
  /** 32 lowercase hex, `nodeIdFromPublicKey(publicKey)`. */
  id: string
  /** 64 lowercase hex, raw Ed25519 public key. */
  publicKey: string
  /** 128 lowercase hex, Ed25519 signature over UTF-8 of `helloMessage(nonce, mesh, id)`. */
  sig: string
}

export interface SampleMessage {
  type: 'sample'
}

export interface SignalMessage {
  type: 'signal'
  /** Id of a node present in the sender's mesh. */
  to: string
  /** Relayed verbatim (as re-serialized JSON); never inspected. */
  data: JsonObject
}

/** What a client may send. */
export type ClientMessage = HelloMessage | SampleMessage | SignalMessage

export const SIGNAL_ERROR_CODES = [
  'MALFORMED',
  'TOO_LARGE',
  'RATE_LIMITED',
  'BAD_HELLO',
  'MESH_FULL',
  'ADDRESS_FULL',
  'NOT_AUTHENTICATED',
  'ALREADY_AUTHENTICATED',
  'NOT_PRESENT',
  'REPLACED',
  'HELLO_TIMEOUT',
  'DROPPED',
  'SERVER_FULL',
] as const
export type SignalErrorCode = (typeof SIGNAL_ERROR_CODES)[number]

export interface ChallengeMessage {
  type: 'challenge'
  /** 64 lowercase hex: 32 random bytes, fresh for each socket. */
  nonce: string
}

export interface WelcomeMessage {
  type: 'welcome'
  id: string
  mesh: string
  /** A uniformly random sample of at most `sampleSize` other nodes of the mesh. */
  peers: PeerInfo[]
}

export interface PeersMessage {
  type: 'peers'
  peers: PeerInfo[]
}

export interface RelayedSignalMessage {
  type: 'signal'
  /** Set by the server: the authenticated id of the sender. */
  from: string
  data: JsonObject
}

export interface ErrorMessage {
  type: 'error'
  code: SignalErrorCode
  /** Human-readable; not part of the contract. */
  message: string
  /** With NOT_PRESENT: the id that was not present; with DROPPED: the recipient whose frame was dropped. */
  to?: string
}

/** What the server sends. */
export type ServerMessage = ChallengeMessage | WelcomeMessage | PeersMessage | RelayedSignalMessage | ErrorMessage

/** WebSocket close codes the server uses besides the ones ws sends itself (1001, 1007, 1009). */
export const SIGNAL_CLOSE_CODES = {
  REPLACED: 4001,
  HELLO_TIMEOUT: 4002,
  ADDRESS_FULL: 4003,
  MESH_FULL: 4004,
  BAD_HELLO: 4005,
  RATE_LIMITED: 4008,
  /** Standard "try again later": the server has as many sockets as it takes. */
  SERVER_FULL: 1013,
} as const satisfies Partial<Record<SignalErrorCode, number>>

// ---------------------------------------------------------------------------
// Decoding: untrusted text in, data out, never a throw.

export type DecodedClientMessage = { ok: true; message: ClientMessage } | { ok: false; reason: string }

/** Decodes one client frame (server side). Checks shape and field types only; a hello's content is checked apart. */
export function decodeClientMessage(text: string): DecodedClientMessage {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, reason: 'not JSON' }
  }
  if (!isPlainObject(value)) return { ok: false, reason: 'not a JSON object' }
  switch (value['type']) {
    case 'hello': {
      const { mesh, id, publicKey, sig } = value
      if (
        typeof mesh !== 'string' ||
        typeof id !== 'string' ||
        typeof publicKey !== 'string' ||
        typeof sig !== 'string'
      )
        return { ok: false, reason: 'hello needs string fields mesh, id, publicKey, sig' }
      return { ok: true, message: { type: 'hello', mesh, id, publicKey, sig } }
    }
    case 'sample':
      return { ok: true, message: { type: 'sample' } }
    case 'signal': {
      const { to, data } = value
      if (typeof to !== 'string' || !NODE_ID_HEX.test(to))
        return { ok: false, reason: 'signal.to must be 32 lowercase hex' }
      if (!isPlainObject(data)) return { ok: false, reason: 'signal.data must be a JSON object' }
      return { ok: true, message: { type: 'signal', to, data: data as JsonObject } }
    }
    default:
      return { ok: false, reason: 'unknown type' }
  }
}

/**
 * A server message as a client takes it: a welcome's `id` and `mesh` are not
 * needed (the client sent them), and an error may carry a code this client
 * does not know yet (`ERROR_CODE_FORMAT`).
 */
export type ReceivedServerMessage =
  ChallengeMessage | Pick<WelcomeMessage, 'type' | 'peers'> | PeersMessage | RelayedSignalMessage | ReceivedErrorMessage

export type ReceivedErrorMessage = Omit<ErrorMessage, 'code'> & { code: string }

export interface DecodedServerMessage {
  message: ReceivedServerMessage
  /** Entries of a welcome's or peers' list that were not `{id, publicKey}` in hex: left out. */
  ignoredPeers: number
}

/** Decodes one server frame (client side); null if it is not a well-formed message of a known type. */
export function decodeServerMessage(text: string): DecodedServerMessage | null {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  if (!isPlainObject(value)) return null
  switch (value['type']) {
    case 'challenge': {
      const nonce = value['nonce']
      if (typeof nonce !== 'string' || !NONCE_HEX.test(nonce)) return null
      return { message: { type: 'challenge', nonce }, ignoredPeers: 0 }
    }
    case 'welcome':
    case 'peers': {
      const list = value['peers']
      if (!Array.isArray(list)) return null
      const peers: PeerInfo[] = []
      for (const p of list as unknown[]) {
        if (
          isPlainObject(p) &&
          typeof p['id'] === 'string' &&
          NODE_ID_HEX.test(p['id']) &&
          typeof p['publicKey'] === 'string' &&
          PUBLIC_KEY_HEX.test(p['publicKey'])
        )
          peers.push({ id: p['id'], publicKey: p['publicKey'] })
      }
      return { message: { type: value['type'], peers }, ignoredPeers: list.length - peers.length }
    }
    case 'signal': {
      const { from, data } = value
      if (typeof from !== 'string' || !NODE_ID_HEX.test(from) || !isPlainObject(data)) return null
      return { message: { type: 'signal', from, data: data as JsonObject }, ignoredPeers: 0 }
    }
    case 'error': {
      const { code, message, to } = value
      if (typeof code !== 'string' || !ERROR_CODE_FORMAT.test(code)) return null
      const error: ReceivedErrorMessage = { type: 'error', code, message: typeof message === 'string' ? message : '' }
      if (typeof to === 'string') error.to = to
      return { message: error, ignoredPeers: 0 }
    }
    default:
      return null
  }
}
