/**
 * Reading any node's series: fetch it (the author if online, else its
 * holders; one more try if bad seeders left it short), then open the copy
 * read-only through the same `Series` code as one's own — load-time checks,
 * background verification, derived state by the same reducers, time travel.
 * What was fetched is kept and served like any held series.
 *
 * Called as soon as the node is up, nobody may be known yet: while no fresh
 * record names the author or a holder of its series, it waits for the mesh
 * and tries again (every `RETRY_MS`, up to `OPEN_WITHIN_MS`) before it
 * gives up with ERR_NOT_FOUND.
 */
import { Ir3Error } from '../errors.ts'
import type { HeldSeries } from '../ports.ts'
import { openReadOnlySeries } from '../series/read-only.ts'
import type { Series } from '../series/series.ts'
import type { ChunksContext } from './context.ts'
import type { Fetcher } from './fetch.ts'
import type { Holders } from './holders.ts'
import { SEGMENT_CHUNKS } from './head.ts'
import { NODE_ID } from './series-codec.ts'

/** How long `openSeries` waits for the mesh to name a holder, and how often it tries meanwhile. */
export const OPEN_WITHIN_MS = 30_000
const RETRY_MS = 1_000
const ASK_ANYWAY_MS = 5_000

/** A series opened read-only from the network (or one's own). */
export interface OpenedSeries {
  author: string
  series: Series
  /** Where the head came from. */
  from: string | null
}

export async function openSeries(
  ctx: ChunksContext,
  fetcher: Fetcher,
  holders: Holders,
  author: string,
): Promise<OpenedSeries> {
  const { deps, C } = ctx
  if (!NODE_ID.test(author)) throw new Ir3Error('ERR_BAD_RANGE', 'a node id is 32 hex digits')
  if (author === deps.id) return { author, series: deps.series, from: null }
  const end = deps.clock.now() + OPEN_WITHIN_MS
  const named = () => (holders.adverts().get(author)?.size ?? 0) > 0
  let fetched = await fetcher.fetchSeries(author, 'open')
  // Nobody named yet (the mesh is still forming): wait for a record that names the author or a holder.
  let askedAt = deps.clock.now()
  while (!fetched && !ctx.stopped && deps.clock.now() < end) {
    const wait = new Promise<void>((r) => deps.clock.setTimeout(r, RETRY_MS))
    await Promise.race([wait, ctx.whenStopped])
    const now = deps.clock.now()
    if (!named() && now - askedAt < ASK_ANYWAY_MS) continue
    askedAt = now
    const wasNamed = named()
    fetched = await fetcher.fetchSeries(author, 'open')
    // Holders were named and still gave nothing: no use waiting longer.
    if (wasNamed) break
  }
  // Bad seeders found on the way now stand lower: one more try prefers the others.
  if (fetched && fetched.chunks < Math.floor(fetched.checkpoint.size / C))
    fetched = (await fetcher.fetchSeries(author, 'open')) ?? fetched
  const h = fetched ?? ctx.held.get(author) ?? null
  if (!h) throw new Ir3Error('ERR_NOT_FOUND', `no holder of ${author.slice(0, 8)} answered`)
  const sealed = Math.floor(h.checkpoint.size / C)
  if (h.chunks < sealed)
    throw new Ir3Error('ERR_NOT_FOUND', `holders gave ${h.chunks} of ${sealed} chunks of ${author.slice(0, 8)}`)
  const series = await readOnlySeries(ctx, h)
  return { author, series, from: fetched ? 'mesh' : 'local' }
}

/** A Series over a held copy: verified on open like one's own, read-only. */
async function readOnlySeries(ctx: ChunksContext, h: HeldSeries): Promise<Series> {
  const { deps, C } = ctx
  const sealed = Math.floor(h.checkpoint.size / C)
  const chunks: Uint8Array[] = []
  for (let k = 0; k < sealed; k += SEGMENT_CHUNKS)
    for (const c of await deps.store.chunks(h.author, k, Math.min(sealed, k + SEGMENT_CHUNKS))) chunks.push(c.data)
  return openReadOnlySeries(
    { author: h.author, publicKey: h.publicKey, checkpoint: h.checkpoint, sealed: chunks, tail: h.tail },
    { verifier: deps.verifier, clock: deps.clock, reducers: deps.reducers, chunkSize: C },
  )
}
