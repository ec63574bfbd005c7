/**
 * Request and reply over direct messages between two linked nodes, for any
 * protocol that speaks this envelope on its own channel (chunks' `series`,
 * the WebTorrent adapter's `wt`):
 *
 *   requester → peer   { r, q, … }   a request; `r` is the requester's id for it
 *   peer → requester   { r, … }      its reply (no `q`), or nothing
 *
 * The requester picks ids (a counter, base 36), keeps one pending entry per
 * (peer, id) and gives up after `timeoutMs` on the injected Clock. A reply
 * nobody waits for (late, or never asked) is a stray; a reply that its
 * request's reader cannot read is a bad reply; a message without a usable id
 * is malformed. All three are dropped and counted, never thrown. The
 * protocol brings a codec (`decode`: one untrusted message → a typed request,
 * a reply, an unreadable request, or null) and `answer`, which maps one
 * request to its reply; the channel sends it.
 */
import type { JsonObject, JsonValue } from '../json.ts'
import type { Clock } from '../ports.ts'
import { safetyCatch } from '../errors.ts'

/** A message body on the wire (an object). */
export type Wire = JsonObject

/** Longest request id accepted; longer ones are malformed. */
export const MAX_REQUEST_ID = 40
/** Requests one channel keeps waiting at once; more are not sent. */
export const MAX_PENDING = 256

/** Decoded message types the channel itself handles (a protocol's requests use others). */
export const REPLY = 'reply'
export const INVALID = 'invalid'

/** A reply to one of our requests; its body is read by that request's reader. */
export interface ReplyMsg {
  type: typeof REPLY
  r: string
  body: Wire
}

/** A request with a usable id whose fields do not read: answered with the protocol's refusal. */
export interface InvalidMsg {
  type: typeof INVALID
  r: string
}

export type ChannelMsg<Req> = Req | ReplyMsg | InvalidMsg

/** What became of one request: data, never a throw. */
export type RequestResult<T> =
  | { status: 'ok'; reply: T }
  /** The peer answered with something this request's reader could not read. */
  | { status: 'bad-reply' }
  | { status: 'timeout' }
  /** Not sent: no link, too big for a frame, too many pending, or the channel closed. */
  | { status: 'unsent' }

export interface RequestStats {
  sent: number
  /** Replies that read. */
  answered: number
  timeouts: number
  unsent: number
  /** Requests received and answered. */
  served: number
  /** Messages without a usable id (dropped unread). */
  malformed: number
  /** Requests whose fields did not read (answered with a refusal). */
  badRequests: number
  /** Replies nobody waits for. */
  stray: number
  /** Replies their request's reader could not read. */
  badReplies: number
}

export const emptyRequestStats = (): RequestStats => ({
  sent: 0,
  answered: 0,
  timeouts: 0,
  unsent: 0,
  served: 0,
  malformed: 0,
  badRequests: 0,
  stray: 0,
  badReplies: 0,
})

export interface RequestChannelOptions<Req extends { type: string; r: string }> {
  clock: Clock
  /** Sends one message to a linked peer on the channel; false if it could not. */
  send(to: string, d: JsonValue): boolean
  /** Registers the channel's one handler; returns its unregistration (ports that have none return nothing). */
  listen(fn: (from: string, d: JsonValue) => void): (() => void) | void
  /** The protocol's codec: one untrusted message, or null if it cannot be read at all. */
  decode(d: JsonValue): ChannelMsg<Req> | null
  /** Maps one request to the reply the channel sends (with the request's id), or null to send none. */
  answer(from: string, req: Req): Wire | null | Promise<Wire | null>
  /** The reply to a request whose fields do not read. */
  invalid: Wire
  timeoutMs: number
  maxPending?: number
  /** Called after a malformed message or a stray reply was counted (e.g. to charge the link). */
  onDrop?(from: string, why: 'malformed' | 'stray'): void
  /** Counters to count into (default: fresh ones). */
  stats?: RequestStats
}

export interface RequestChannel {
  /** Sends `{ r, ...body }` to `peer` and resolves with the reply as `read` reads it (null: a bad reply). */
  request<T>(peer: string, body: Wire, read: (reply: Wire) => T | null): Promise<RequestResult<T>>
  /** Starts handling the channel; returns the unsubscribe, which also ends pending requests as unsent. */
  listen(): () => void
  readonly stats: RequestStats
  /** Requests waiting for a reply. */
  pending(): number
}

/** Reads the envelope of one untrusted message: its id, its `q` (undefined for a reply), its fields. */
export function readEnvelope(json: unknown): { r: string; q: JsonValue | undefined; m: Wire } | null {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null
  const m = json as Wire
  const r = m['r']
  if (typeof r !== 'string' || r.length === 0 || r.length > MAX_REQUEST_ID) return null
  return { r, q: m['q'], m }
}

interface Pending {
  reply(body: Wire): void
  end(): void
}

const UNSENT = { status: 'unsent' } as const

/** A request channel for a protocol whose requests are `Req` (types other than REPLY and INVALID). */
export function createRequestChannel<Req extends { type: string; r: string }>(
  opts: RequestChannelOptions<Req>,
): RequestChannel {
  const stats = opts.stats ?? emptyRequestStats()
  const maxPending = opts.maxPending ?? MAX_PENDING
  const pending = new Map<string, Pending>()
  let seq = 0
  let closed = false

  function request<T>(peer: string, body: Wire, read: (reply: Wire) => T | null): Promise<RequestResult<T>> {
    if (closed || pending.size >= maxPending) {
      stats.unsent++
      return Promise.resolve(UNSENT)
    }
    const r = (seq++).toString(36)
    const key = `${peer}/${r}`
    return new Promise((resolve) => {
      const cancel = opts.clock.setTimeout(() => {
        if (!pending.delete(key)) return
        stats.timeouts++
        resolve({ status: 'timeout' })
      }, opts.timeoutMs)
      pending.set(key, {
        reply(b) {
          cancel()
          let got: T | null = null
          try {
            got = read(b)
          } catch (e: unknown) {
            // A reader that throws is a bad reply too; a bug in it still surfaces.
            safetyCatch(e)
          }
          if (got === null) {
            stats.badReplies++
            resolve({ status: 'bad-reply' })
          } else {
            stats.answered++
            resolve({ status: 'ok', reply: got })
          }
        },
        end() {
          cancel()
          resolve(UNSENT)
        },
      })
      if (opts.send(peer, { r, ...body })) stats.sent++
      else {
        pending.delete(key)
        cancel()
        stats.unsent++
        resolve(UNSENT)
      }
    })
  }

  async function serve(from: string, req: Req): Promise<void> {
    const reply = await opts.answer(from, req)
    if (reply === null || closed) return
    stats.served++
    opts.send(from, { r: req.r, ...reply })
  }

  function receive(from: string, d: JsonValue): void {
    const m = opts.decode(d)
    if (m === null) {
      stats.malformed++
      return opts.onDrop?.(from, 'malformed')
    }
    if (m.type === REPLY) {
      const { r, body } = m as ReplyMsg
      const p = pending.get(`${from}/${r}`)
      if (!p) {
        stats.stray++
        return opts.onDrop?.(from, 'stray')
      }
      pending.delete(`${from}/${r}`)
      return p.reply(body)
    }
    if (m.type === INVALID) {
      stats.badRequests++
      opts.send(from, { r: m.r, ...opts.invalid })
      return
    }
    serve(from, m as Req).catch(safetyCatch)
  }

  return {
    request,
    stats,
    pending: () => pending.size,
    listen() {
      closed = false
      const off = opts.listen((from, d) => {
        try {
          receive(from, d)
        } catch (e: unknown) {
          safetyCatch(e)
        }
      })
      return () => {
        if (typeof off === 'function') off()
        closed = true
        const all = [...pending.values()]
        pending.clear()
        for (const p of all) p.end()
      }
    },
  }
}
