/**
 * What the UI and the API show of chunks: this node's own series and those
 * it holds or knows holders of, the downloads in progress, live torrents,
 * and the counters (including the `series` channel's counted drops). A
 * snapshot: nothing in it changes afterwards.
 */
import type { ChunksContext, ChunksStats, DownloadView } from './context.ts'

export interface SeriesChunksView {
  author: string
  own: boolean
  /** Sealed chunks this node holds of it. */
  chunks: number
  bytes: number
  /** Entries its checkpoint covers. */
  size: number
  /** Nodes known to hold it, with how many chunks (the author included when it advertises). */
  holders: { [node: string]: number }
  /** Whether its chunks are being served to peers that ask. */
  seeding: boolean
}

export interface ChunksView {
  series: SeriesChunksView[]
  downloads: DownloadView[]
  liveTorrents: number
  stats: ChunksStats
}

export function chunksView(ctx: ChunksContext): ChunksView {
  const { deps } = ctx
  const st = ctx.chunksState()
  const holdersOf = (a: string) => ({ ...(st.holders[a] ?? {}) })
  const ownChunks = ctx.ownChunks()
  const out: SeriesChunksView[] = [
    {
      author: deps.id,
      own: true,
      chunks: ownChunks,
      bytes: 0,
      size: deps.series.checkpoint?.size ?? 0,
      holders: holdersOf(deps.id),
      seeding: ownChunks > 0,
    },
  ]
  for (const h of ctx.held.values())
    out.push({
      author: h.author,
      own: false,
      chunks: h.chunks,
      bytes: h.bytes,
      size: h.checkpoint.size,
      holders: holdersOf(h.author),
      seeding: h.chunks > 0,
    })
  for (const a of Object.keys(st.holders))
    if (a !== deps.id && !ctx.held.has(a))
      out.push({ author: a, own: false, chunks: 0, bytes: 0, size: 0, holders: holdersOf(a), seeding: false })
  return {
    series: out,
    downloads: [...ctx.downloads.values()].map((d) => ({ ...d, holders: d.holders.slice() })),
    liveTorrents: deps.swarm.live(),
    stats: { ...ctx.stats, wire: { ...ctx.stats.wire } },
  }
}
