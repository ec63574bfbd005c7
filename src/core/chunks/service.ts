/**
 * Chunks: every node serves its own sealed chunks and those it holds for
 * others; holders say what they hold in their signed peer records; a node
 * that wants a series declares `want-chunk` and fetches from the holders that
 * answer YES, checking every chunk against its author's signed checkpoint
 * before it is stored, served on, and recorded (`chunk-stored`). A chunk that
 * fails is rejected and recorded with its seeders (`chunk-rejected`), and
 * fetching goes on from other holders. See docs/CHUNKS.md.
 *
 * This module wires the parts to the node's mesh, intents and series:
 *
 *   holders.ts       peer records → `chunk-holders` summaries, what this node advertises
 *   serve.ts         `want-chunk` answers, `series` replies, segments for the swarm
 *   series-codec.ts  the `series` channel's messages; request.ts its requests
 *   head-fetch.ts    one head from one peer, checked
 *   fetch.ts         jobs: want-chunk, head, segments, verify, store
 *   storage.ts       the storage budget: make room, drop
 *   replicate.ts     the replication tick
 *   open.ts          opening any node's series read-only
 *   view.ts          what the UI shows
 *   torrent-limits.ts  what a fetcher accepts of a segment torrent (the adapter checks it)
 */
import { Ir3Error } from '../errors.ts'
import type { HeldSeries } from '../ports.ts'
import { createContext, type ChunksCore, type ChunksDeps, type ChunksOptions, type ChunksStats } from './context.ts'
import { createFetcher, type Fetcher, type Why } from './fetch.ts'
import type { Ask } from './head-fetch.ts'
import { createHolders, type Holders } from './holders.ts'
import { openSeries, type OpenedSeries } from './open.ts'
import { createReplicator, type Replicator } from './replicate.ts'
import { createRequestChannel, type RequestChannel } from './request.ts'
import { createServer, type Server } from './serve.ts'
import { decode, NODE_ID, refusal, SERIES_CHANNEL, type SeriesRequest } from './series-codec.ts'
import { createStorage, type Storage } from './storage.ts'
import { chunksView, type ChunksView } from './view.ts'

export type { ChunksDeps, ChunksOptions, ChunksStats, DownloadView, Source } from './context.ts'
export type { ChunksView, SeriesChunksView } from './view.ts'
export type { OpenedSeries } from './open.ts'

/** Keeps a registration's unsubscribe (mesh channels that have none yet return nothing). */
const keep = (into: (() => void)[], u: (() => void) | void): void => {
  if (typeof u === 'function') into.push(u)
}

const destroyed = () => new Ir3Error('ERR_DESTROYED', 'chunks were stopped')

export class Chunks {
  readonly stats: ChunksStats
  private readonly ctx: ChunksCore
  private readonly holders: Holders
  private readonly server: Server
  private readonly storage: Storage
  private readonly fetcher: Fetcher
  private readonly replicator: Replicator
  private readonly wire: RequestChannel
  /** Replication's registrations: ended by pause(). */
  private readonly following: (() => void)[] = []
  /** Serving's registrations: ended by stop(). */
  private readonly serving: (() => void)[] = []
  private stopped = false

  constructor(deps: ChunksDeps) {
    const ctx = (this.ctx = createContext(deps))
    this.stats = ctx.stats
    this.holders = createHolders(ctx)
    this.server = createServer(ctx)
    this.storage = createStorage(ctx, this.holders)
    const { mesh } = deps
    this.wire = createRequestChannel<SeriesRequest>({
      clock: deps.clock,
      send: (to, d) => mesh.sendDirect(to, SERIES_CHANNEL, d),
      listen: (fn) => mesh.onDirect(SERIES_CHANNEL, fn),
      decode,
      answer: (_from, req) => this.server.answer(req),
      invalid: refusal('bad request'),
      timeoutMs: ctx.o.requestTimeoutMs,
      // Unreadable frames count against the link (enough of them cost it); late replies do not.
      onDrop: (from, why) => (why === 'malformed' ? mesh.reject(from, 'malformed') : mesh.countStale()),
      stats: ctx.stats.wire,
    })
    const ask: Ask = async (peer, body, read) => {
      if (!mesh.isReady(peer) && !(await mesh.connect(peer, 'response'))) {
        ctx.stats.wire.unsent++
        return { status: 'unsent' }
      }
      return this.wire.request(peer, body, read)
    }
    this.fetcher = createFetcher(ctx, this.holders, this.storage, ask)
    this.replicator = createReplicator(ctx, this.holders, this.fetcher, this.storage)
  }

  async start(): Promise<void> {
    const { mesh, intents, swarm, series, store } = this.ctx.deps
    for (const h of await store.heads()) this.ctx.held.set(h.author, h)
    swarm.serve((author, segment, count) => this.server.source(author, segment, count), {
      connect: (id) => mesh.connect(id, 'response'),
      send: (id, d) => mesh.sendDirect(id, 'wt', d),
      onMessage: (fn) => keep(this.serving, mesh.onDirect('wt', fn)),
      native: (id) => mesh.native(id),
    })
    this.serving.push(
      this.wire.listen(),
      intents.handle('want-chunk', (intent) => this.server.onWant(intent.body)),
    )
    this.following.push(
      mesh.onPeerRecord((r) => this.holders.onRecord(r)),
      series.subscribe((e) => {
        if (e.type === 'durable') this.holders.advertise()
      }),
    )
    this.holders.advertise()
    this.following.push(this.holders.start(), this.replicator.start())
  }

  /**
   * Stops replicating and fetching: the tick ends, running jobs end at their
   * next step, peer records are no longer followed. Serving goes on.
   */
  pause(): void {
    this.ctx.pause()
    for (const u of this.following.splice(0)) u()
  }

  /** Pauses, then detaches every handler (serving ends too). Idempotent. */
  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.pause()
    for (const u of this.serving.splice(0)) u()
  }

  /** Called (coalesced by the caller) when holdings or downloads change. */
  subscribe(fn: () => void): () => void {
    return this.ctx.subscribe(fn)
  }

  get options(): Readonly<Required<ChunksOptions>> {
    return this.ctx.o
  }

  /** Own and held series, with holders and seeding state, and downloads in progress. */
  view(): ChunksView {
    return chunksView(this.ctx)
  }

  held_(author: string): HeldSeries | null {
    return this.ctx.held.get(author) ?? null
  }

  /**
   * Fetches `author`'s series from the mesh (the author if online, else its
   * holders), verifies it and opens it read-only, with derived state and
   * time travel. What was fetched is kept and served like any held series.
   * Called before the mesh has formed, it waits for a record naming a
   * holder (up to 30 s). Rejects with ERR_BAD_RANGE for a malformed id,
   * ERR_NOT_FOUND if no holder gave it all, ERR_DESTROYED after stop().
   */
  openSeries(author: string): Promise<OpenedSeries> {
    if (this.stopped) return Promise.reject(destroyed())
    return openSeries(this.ctx, this.fetcher, this.holders, author)
  }

  /**
   * Brings this node's copy of `author`'s series up to date: want-chunk, the
   * head from the best YES, then the missing segments, each chunk verified
   * before it is stored. Resolves with what is held afterwards (null if
   * nothing could be fetched). One job per author at a time. Rejects with
   * ERR_BAD_RANGE for a malformed id, ERR_DESTROYED after stop().
   */
  fetchSeries(
    author: string,
    why: Why,
    sources?: { id: string; chunks: number; size: number }[],
  ): Promise<HeldSeries | null> {
    if (this.stopped) return Promise.reject(destroyed())
    if (!NODE_ID.test(author)) return Promise.reject(new Ir3Error('ERR_BAD_RANGE', 'a node id is 32 hex digits'))
    return this.fetcher.fetchSeries(author, why, sources)
  }

  /** Stops holding `author`'s series (recorded as `chunk-dropped`). */
  drop(author: string, reason: string): Promise<void> {
    return this.storage.drop(author, reason)
  }

  /** One replication step: catch up a held series that grew, or take on one that lacks holders. */
  replicateOnce(): Promise<void> {
    return this.replicator.once()
  }
}
