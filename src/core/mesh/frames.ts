/**
 * Frames on a data channel. Every frame is one UTF-8 JSON object tagged by
 * `t`. Frames that speak for a node carry a payload `p` signed by that node:
 * `s` is the hex Ed25519 signature over `ir3/frame/v1\n<t>\n` followed by the
 * canonical JSON of `p`. Fields outside `p` (ttl, hops, relay) are changed by
 * forwarders and are not signed.
 *
 *   hello   first frame each way on a new link: who I am, to whom, when
 *   peer    a node's signed peer record (its current neighbours and the
 *           series whose sealed chunks it holds), gossiped
 *   sig     a WebRTC signal from one node to another, carried hop by hop
 *   intent  a declared intent, flooded with a TTL
 *   resp    a YES / NO answer to an intent, sent directly or relayed back
 *   x       a direct request or reply between two linked nodes on a named
 *           channel (unsigned: the link's hello authenticated both ends)
 *   ping    link-level round-trip probe (unsigned), answered by pong
 *   probe   unsigned flood used to measure the mesh itself (no signing, no
 *           series): each node forwards it once and echoes it back the way
 *           an answer would go (`echo`); the mesh benchmark's baseline
 *
 * `decodeFrame` never throws: it returns null and the reason, and the caller
 * drops and counts the frame.
 */
import { canonicalJson, utf8 } from '../series/encoding.ts'
import type { JsonValue } from '../json.ts'

export const MAX_FRAME_BYTES = 64 * 1024
export const MAX_TTL = 16
const HEX32 = /^[0-9a-f]{32}$/
const HEX64 = /^[0-9a-f]{64}$/
const HEX128 = /^[0-9a-f]{128}$/
const KIND = /^[a-z][a-z0-9-]{0,63}$/
const NONCE = /^[0-9a-z]{1,32}$/
export const MAX_RECORD_PEERS = 64
export const MAX_TARGETS = 1024
export const MAX_RECORD_HOLDS = 64
const CHANNEL = /^[a-z][a-z0-9-]{0,15}$/

export interface HelloPayload {
  [k: string]: JsonValue
  id: string
  key: string
  to: string
  t: number
}

export interface PeerRecord {
  [k: string]: JsonValue
  id: string
  key: string
  t: number
  peers: string[]
  /** Series whose sealed chunks this node holds: [author, chunks held from chunk 0]. Its own series included. */
  h: [string, number][]
  /**
   * The node's key-agreement public key, for encrypting to it (messages):
   * `x25519:<64 hex>` or `p256:<130 hex>` (raw uncompressed point). Optional:
   * records of nodes without one omit it.
   */
  ek?: string
}

/** An encryption (key-agreement) public key as peer records carry it. */
export const AGREEMENT_KEY = /^(x25519:[0-9a-f]{64}|p256:04[0-9a-f]{128})$/

export interface SignalPayload {
  [k: string]: JsonValue
  from: string
  key: string
  to: string
  /** Link nonce: offer and answer of one link share it. */
  n: string
  /** True on the initiator's signals. */
  i: boolean
  d: JsonValue
  t: number
}

export interface IntentPayload {
  [k: string]: JsonValue
  id: string
  origin: string
  key: string
  kind: string
  body: JsonValue
  t: number
  deadline: number
  /** Only these nodes are asked to answer; null: anyone. */
  targets: string[] | null
}

export type Answer = 'yes' | 'no'

export interface ResponsePayload {
  [k: string]: JsonValue
  intent: string
  origin: string
  from: string
  key: string
  answer: Answer
  /** YES: what the responder gives (e.g. ping data). */
  data: JsonValue
  /** NO: why, and when to ask again (ms). */
  reason: string | null
  retryAfter: number | null
  t: number
}

export type Frame =
  | { t: 'hello'; p: HelloPayload; s: string }
  | { t: 'peer'; p: PeerRecord; s: string; ttl: number }
  | { t: 'sig'; p: SignalPayload; s: string; ttl: number }
  | { t: 'intent'; p: IntentPayload; s: string; ttl: number; hops: number }
  | { t: 'resp'; p: ResponsePayload; s: string; relay: boolean }
  | { t: 'x'; c: string; d: JsonValue }
  | { t: 'ping'; n: number }
  | { t: 'pong'; n: number }
  | { t: 'probe'; i: string; o: string; ttl: number }
  | { t: 'echo'; i: string; o: string; f: string }

export type SignedFrame = Extract<Frame, { s: string }>

/** The bytes a frame's signature covers. */
export function signedBytes(type: SignedFrame['t'], p: JsonValue): Uint8Array {
  return utf8(`ir3/frame/v1\n${type}\n${canonicalJson(p)}`)
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeFrame(f: Frame): Uint8Array {
  return encoder.encode(JSON.stringify(f))
}

export type Decoded = { ok: true; frame: Frame } | { ok: false; reason: string }

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const isInt = (v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max
const isStr = (v: unknown, re: RegExp): v is string => typeof v === 'string' && re.test(v)
const isIds = (v: unknown, max: number): v is string[] =>
  Array.isArray(v) && v.length <= max && v.every((x) => isStr(x, HEX32))

function hello(p: Obj): p is HelloPayload {
  return isStr(p['id'], HEX32) && isStr(p['key'], HEX64) && isStr(p['to'], HEX32) && isInt(p['t'])
}
function record(p: Obj): p is PeerRecord {
  const h = p['h']
  return (
    isStr(p['id'], HEX32) &&
    isStr(p['key'], HEX64) &&
    isInt(p['t']) &&
    isIds(p['peers'], MAX_RECORD_PEERS) &&
    Array.isArray(h) &&
    h.length <= MAX_RECORD_HOLDS &&
    h.every((e) => Array.isArray(e) && e.length === 2 && isStr(e[0], HEX32) && isInt(e[1], 0, 2 ** 32)) &&
    (p['ek'] === undefined || isStr(p['ek'], AGREEMENT_KEY))
  )
}
function signal(p: Obj): p is SignalPayload {
  return (
    isStr(p['from'], HEX32) &&
    isStr(p['key'], HEX64) &&
    isStr(p['to'], HEX32) &&
    isStr(p['n'], NONCE) &&
    typeof p['i'] === 'boolean' &&
    p['d'] !== undefined &&
    isInt(p['t'])
  )
}
function intent(p: Obj): p is IntentPayload {
  return (
    isStr(p['id'], HEX32) &&
    isStr(p['origin'], HEX32) &&
    isStr(p['key'], HEX64) &&
    isStr(p['kind'], KIND) &&
    p['body'] !== undefined &&
    isInt(p['t']) &&
    isInt(p['deadline']) &&
    (p['targets'] === null || isIds(p['targets'], MAX_TARGETS))
  )
}
function response(p: Obj): p is ResponsePayload {
  return (
    isStr(p['intent'], HEX32) &&
    isStr(p['origin'], HEX32) &&
    isStr(p['from'], HEX32) &&
    isStr(p['key'], HEX64) &&
    (p['answer'] === 'yes' || p['answer'] === 'no') &&
    p['data'] !== undefined &&
    (p['reason'] === null || (typeof p['reason'] === 'string' && p['reason'].length <= 200)) &&
    (p['retryAfter'] === null || isInt(p['retryAfter'])) &&
    isInt(p['t'])
  )
}

/** Exactly these keys, no others (payloads are signed as a whole; extra keys would be unsigned noise). */
const exactly = (o: Obj, keys: readonly string[]) => Object.keys(o).length === keys.length && keys.every((k) => k in o)
const HELLO_KEYS = ['id', 'key', 'to', 't'] as const
const RECORD_KEYS = ['id', 'key', 't', 'peers', 'h'] as const
const RECORD_KEYS_EK = [...RECORD_KEYS, 'ek'] as const
const SIGNAL_KEYS = ['from', 'key', 'to', 'n', 'i', 'd', 't'] as const
const INTENT_KEYS = ['id', 'origin', 'key', 'kind', 'body', 't', 'deadline', 'targets'] as const
const RESPONSE_KEYS = ['intent', 'origin', 'from', 'key', 'answer', 'data', 'reason', 'retryAfter', 't'] as const

/** Decodes and validates an untrusted frame. Signatures are checked by the caller. */
export function decodeFrame(bytes: Uint8Array): Decoded {
  if (bytes.length > MAX_FRAME_BYTES) return { ok: false, reason: 'oversize' }
  let raw: unknown
  try {
    raw = JSON.parse(decoder.decode(bytes))
  } catch {
    return { ok: false, reason: 'not JSON' }
  }
  if (!isObj(raw)) return { ok: false, reason: 'not an object' }
  const { t, p, s } = raw
  switch (t) {
    case 'ping':
    case 'pong':
      return isInt(raw['n'], 0, 2 ** 32) && exactly(raw, ['t', 'n'])
        ? { ok: true, frame: { t, n: raw['n'] } }
        : { ok: false, reason: `bad ${t}` }
    case 'probe': {
      const { i, o, ttl } = raw
      return isStr(i, HEX32) && isStr(o, HEX32) && isInt(ttl, 0, MAX_TTL) && exactly(raw, ['t', 'i', 'o', 'ttl'])
        ? { ok: true, frame: { t, i, o, ttl } }
        : { ok: false, reason: 'bad probe' }
    }
    case 'x': {
      const { c, d } = raw
      return isStr(c, CHANNEL) && d !== undefined && exactly(raw, ['t', 'c', 'd'])
        ? { ok: true, frame: { t, c, d: d as JsonValue } }
        : { ok: false, reason: 'bad x' }
    }
    case 'echo': {
      const { i, o, f } = raw
      return isStr(i, HEX32) && isStr(o, HEX32) && isStr(f, HEX32) && exactly(raw, ['t', 'i', 'o', 'f'])
        ? { ok: true, frame: { t, i, o, f } }
        : { ok: false, reason: 'bad echo' }
    }
    case 'hello':
    case 'peer':
    case 'sig':
    case 'intent':
    case 'resp':
      break
    default:
      return { ok: false, reason: 'unknown type' }
  }
  if (!isObj(p) || !isStr(s, HEX128)) return { ok: false, reason: `bad ${t}` }
  switch (t) {
    case 'hello':
      return hello(p) && exactly(p, HELLO_KEYS) ? { ok: true, frame: { t, p, s } } : { ok: false, reason: 'bad hello' }
    case 'peer': {
      const ttl = raw['ttl']
      return record(p) && (exactly(p, RECORD_KEYS) || exactly(p, RECORD_KEYS_EK)) && isInt(ttl, 0, MAX_TTL)
        ? { ok: true, frame: { t, p, s, ttl } }
        : { ok: false, reason: 'bad peer' }
    }
    case 'sig': {
      const ttl = raw['ttl']
      return signal(p) && exactly(p, SIGNAL_KEYS) && isInt(ttl, 0, MAX_TTL)
        ? { ok: true, frame: { t, p, s, ttl } }
        : { ok: false, reason: 'bad sig' }
    }
    case 'intent': {
      const ttl = raw['ttl']
      const hops = raw['hops']
      return intent(p) && exactly(p, INTENT_KEYS) && isInt(ttl, 0, MAX_TTL) && isInt(hops, 0, 64)
        ? { ok: true, frame: { t, p, s, ttl, hops } }
        : { ok: false, reason: 'bad intent' }
    }
    case 'resp': {
      const relay = raw['relay']
      return response(p) && exactly(p, RESPONSE_KEYS) && typeof relay === 'boolean'
        ? { ok: true, frame: { t, p, s, relay } }
        : { ok: false, reason: 'bad resp' }
    }
  }
}
