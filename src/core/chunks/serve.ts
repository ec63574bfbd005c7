/**
 * The holder's side: what this node gives others of its own series and of
 * those it holds.
 *
 * - `want-chunk` intent `{ author, from, to }` → YES `{ chunks, size }` (sealed
 *   chunks held, entries its head covers), NO `uploads` (more than
 *   `maxUploads` segments served in 10 s, retry after 5 s), or silence when
 *   nothing of the series is here. The generic limiters run before this.
 * - `series` channel requests → their replies (`answer`; see series-codec.ts).
 *   A head served is kept a minute so its parts stay the same while the
 *   series moves on.
 * - Segments for the swarm (`source`): the chunk bytes, or null.
 */
import { safetyCatch } from '../errors.ts'
import type { Decision } from '../intents/intents.ts'
import type { JsonValue } from '../json.ts'
import type { HeldSeries } from '../ports.ts'
import { toHex } from '../series/hash.ts'
import type { ChunksContext } from './context.ts'
import { SEGMENT_CHUNKS } from './head.ts'
import type { Wire } from './request.ts'
import { HEAD, headReply, NODE_ID, partReply, refusal, type SeriesRequest } from './series-codec.ts'

/** Heads kept for their parts, and for how long. */
const SERVED_KEEP = 16
const SERVED_MS = 60_000
const UPLOAD_WINDOW_MS = 10_000

export interface Server {
  source(author: string, segment: number, count: number): Promise<Uint8Array[] | null>
  onWant(body: JsonValue): Decision
  /** Reads one `series` request and returns its reply; the caller sends it. */
  answer(req: SeriesRequest): Promise<Wire>
}

export function createServer(ctx: ChunksContext): Server {
  const { deps } = ctx
  const uploads: number[] = []
  const served = new Map<string, { head: HeldSeries; at: number }>()

  async function source(author: string, segment: number, count: number): Promise<Uint8Array[] | null> {
    const from = segment * SEGMENT_CHUNKS
    if (!Number.isSafeInteger(from) || count < 1 || count > SEGMENT_CHUNKS) return null
    let out: Uint8Array[]
    if (author === deps.id) out = await deps.series.sealedChunks(from, from + count)
    else {
      const h = ctx.held.get(author)
      if (!h || h.chunks < from + count) return null
      out = (await deps.store.chunks(author, from, from + count)).map((c) => c.data)
    }
    if (out.length !== count) return null
    ctx.stats.servedSegments++
    uploads.push(deps.clock.now())
    return out
  }

  function onWant(body: JsonValue): Decision {
    const author = typeof body === 'object' && body !== null && !Array.isArray(body) ? body['author'] : undefined
    if (typeof author !== 'string' || !NODE_ID.test(author)) return { answer: 'silent' }
    const size = author === deps.id ? (deps.series.checkpoint?.size ?? 0) : (ctx.held.get(author)?.checkpoint.size ?? 0)
    if (size === 0) return { answer: 'silent' }
    const now = deps.clock.now()
    while (uploads.length > 0 && uploads[0]! < now - UPLOAD_WINDOW_MS) uploads.shift()
    if (uploads.length >= ctx.o.maxUploads) return { answer: 'no', reason: 'uploads', retryAfter: 5000 }
    return { answer: 'yes', data: { chunks: ctx.chunksHeld(author), size } }
  }

  async function headFor(author: string): Promise<HeldSeries | null> {
    if (author !== deps.id) return ctx.held.get(author) ?? null
    const snap = await deps.series.headSnapshot()
    if (!snap) return null
    return {
      author,
      publicKey: deps.publicKey,
      checkpoint: snap.checkpoint,
      roots: snap.roots.map(toHex),
      tail: snap.tail,
      chunks: ctx.ownChunks(),
      bytes: 0,
    }
  }

  function remember(h: HeldSeries): void {
    const now = deps.clock.now()
    for (const [k, s] of served) if (now - s.at > SERVED_MS) served.delete(k)
    served.set(`${h.author}:${h.checkpoint.size}`, { head: h, at: now })
    while (served.size > SERVED_KEEP) served.delete(served.keys().next().value!)
  }

  async function answer(req: SeriesRequest): Promise<Wire> {
    try {
      if (req.type === HEAD) {
        const h = await headFor(req.author)
        if (!h) return refusal('not held')
        remember(h)
        ctx.stats.headsServed++
        return headReply(h, ctx.chunksHeld(req.author))
      }
      const s = served.get(`${req.author}:${req.size}`)
      return s ? partReply(s.head, req) : refusal('head gone; ask again')
    } catch (e: unknown) {
      safetyCatch(e)
      return refusal(e instanceof Error ? e.message.slice(0, 200) : 'failed')
    }
  }

  return { source, onWant, answer }
}
