/**
 * The `series` direct channel: a reader fetches the head of a series (the
 * author's signed checkpoint, the roots of the chunks it covers, the open
 * chunk's entries) from a node that has it, paged to fit 64 KiB frames.
 *
 *   reader → holder  { r, q: 'head', a }                           the head of author `a`
 *   holder → reader  { r, ok: true, cp, key, roots, tail, chunks } its checkpoint and key, how many roots and
 *                                                                  open-chunk bytes it has, sealed chunks held
 *   reader → holder  { r, q: 'part', a, size, what: 'roots', off } up to 400 roots from `off`, of the head of `size`
 *   holder → reader  { r, ok: true, d: [hex, …] }
 *   reader → holder  { r, q: 'part', a, size, what: 'tail', off }  up to 30,000 open-chunk bytes from `off`
 *   holder → reader  { r, ok: true, d: base64 }
 *   holder → reader  { r, ok: false, reason }                      refused: not held, head gone, bad request
 *
 * `decode` reads one untrusted message into a `SeriesMsg`: null when it has
 * no usable id (dropped, counted against the link), INVALID for a request
 * whose fields do not read (answered `bad request`). Replies are read by the
 * request that waits for them (`readHeadReply`, `readRootsReply`,
 * `readTailReply`): null means a bad reply, `{ ok: false }` a refusal.
 */
import type { HeldSeries, SignedCheckpoint } from '../ports.ts'
import type { JsonValue } from '../json.ts'
import { MAX_ENTRY_BYTES } from '../series/encoding.ts'
import { fromBase64, toBase64 } from '../base64.ts'
import { INVALID, readEnvelope, REPLY, type ChannelMsg, type Wire } from './request.ts'

export const SERIES_CHANNEL = 'series'
export const HEAD = 'head'
export const PART = 'part'
export const ROOTS_PER_PART = 400
export const TAIL_PART = 30_000
/** The largest series a head may claim (2^32 entries). */
export const MAX_SERIES = 2 ** 32
export const NODE_ID = /^[0-9a-f]{32}$/

export interface HeadRequest {
  type: typeof HEAD
  r: string
  author: string
}

export interface PartRequest {
  type: typeof PART
  r: string
  author: string
  /** The size of the head served earlier whose part is asked for. */
  size: number
  what: 'roots' | 'tail'
  off: number
}

export type SeriesRequest = HeadRequest | PartRequest
export type SeriesMsg = ChannelMsg<SeriesRequest>

export type HeadReply =
  | { ok: false }
  | { ok: true; checkpoint: SignedCheckpoint; publicKey: string; roots: number; tail: number; chunks: number }
export type PartReply<T> = { ok: false } | { ok: true; d: T }

const int = (v: unknown, max: number): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max
const obj = (v: JsonValue | undefined): Wire => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {})

export function decode(json: unknown): SeriesMsg | null {
  const env = readEnvelope(json)
  if (!env) return null
  const { r, q, m } = env
  if (q === undefined) return { type: REPLY, r, body: m }
  const author = m['a']
  if (typeof author !== 'string' || !NODE_ID.test(author)) return { type: INVALID, r }
  if (q === HEAD) return { type: HEAD, r, author }
  const { size, what, off } = m
  if (q === PART && int(size, MAX_SERIES) && size > 0 && (what === 'roots' || what === 'tail') && int(off, MAX_SERIES))
    return { type: PART, r, author, size, what, off }
  return { type: INVALID, r }
}

export const headRequest = (author: string): Wire => ({ q: HEAD, a: author })

export const partRequest = (author: string, size: number, what: 'roots' | 'tail', off: number): Wire => ({
  q: PART,
  a: author,
  size,
  what,
  off,
})

export const refusal = (reason: string): Wire => ({ ok: false, reason })

export const headReply = (h: HeldSeries, chunks: number): Wire => ({
  ok: true,
  cp: h.checkpoint as unknown as JsonValue,
  key: h.publicKey,
  roots: h.roots.length,
  tail: h.tail.length,
  chunks,
})

/** The part of a served head that `req` asks for. */
export function partReply(h: HeldSeries, req: PartRequest): Wire {
  if (req.what === 'roots') return { ok: true, d: h.roots.slice(req.off, req.off + ROOTS_PER_PART) }
  return { ok: true, d: toBase64(h.tail.subarray(req.off, req.off + TAIL_PART)) }
}

/**
 * Reads a head reply, sizes bounded for chunks of `chunkSize` entries. Only
 * the checkpoint's own fields are kept (anything else would be stored and
 * served on unverified). Signatures are the caller's to check.
 */
export function readHeadReply(body: Wire, chunkSize: number): HeadReply | null {
  if (body['ok'] !== true) return { ok: false }
  const raw = obj(body['cp'])
  const { author, size, root, t, sig } = raw
  const key = body['key']
  const roots = body['roots']
  const tail = body['tail']
  if (
    typeof author !== 'string' ||
    typeof key !== 'string' ||
    !int(size, MAX_SERIES) ||
    size < 1 ||
    typeof root !== 'string' ||
    typeof t !== 'number' ||
    typeof sig !== 'string' ||
    !int(roots, Math.ceil(MAX_SERIES / chunkSize)) ||
    !int(tail, chunkSize * MAX_ENTRY_BYTES)
  )
    return null
  const chunks = body['chunks']
  return {
    ok: true,
    checkpoint: { author, size, root, t, sig },
    publicKey: key,
    roots,
    tail,
    // What the holder holds now; a missing count is no count.
    chunks: int(chunks, Number.MAX_SAFE_INTEGER) ? chunks : 0,
  }
}

export function readRootsReply(body: Wire): PartReply<string[]> | null {
  if (body['ok'] !== true) return { ok: false }
  const d = body['d']
  if (!Array.isArray(d) || d.length === 0 || !d.every((x) => typeof x === 'string')) return null
  return { ok: true, d: d as string[] }
}

export function readTailReply(body: Wire): PartReply<Uint8Array> | null {
  if (body['ok'] !== true) return { ok: false }
  const d = body['d']
  const bytes = typeof d === 'string' ? fromBase64(d) : null
  if (!bytes || bytes.length === 0) return null
  return { ok: true, d: bytes }
}
