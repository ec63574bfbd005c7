/**
 * The ChunkSwarm port over WebTorrent, with peers made from our own mesh.
 *
 * A torrent is one segment of a series: up to 64 sealed chunks, one file per
 * chunk (`000.chunk`…), 256 KiB pieces, named `ir3-<author>-<segment>`; the
 * same chunks give the same infohash at every holder. Torrents are made on
 * demand (a holder seeds a segment when a peer asks for it, from IndexedDB)
 * and dropped when idle, so the live torrents per tab stay bounded whatever
 * the series' length.
 *
 * Peers: no tracker. The fetcher asks each holder over the mesh (`wt`
 * direct frames, request and reply through the core's request channel) to
 * open the segment on a pre-agreed data channel
 * (`negotiated: true`, an id the fetcher picks: even ids from the link's
 * initiator, odd from the other side) on the RTCPeerConnection the two
 * already share; both ends hand WebTorrent a stream over that channel. No
 * new RTCPeerConnection (Chromium allows 500 per page), no server after
 * bootstrap. Holders are grouped by the infohash they report, and the
 * largest group is downloaded from all its members at once.
 *
 *   fetcher → holder  { r, q: 'open', a, s, n, ch }   seed segment `s` (`n` chunks) of author `a`, peer on channel `ch`
 *   holder → fetcher  { r, ih, tf? }                  its infohash, and the torrent file (base64) when small
 *   holder → fetcher  { r, err }                      refused: not held, too busy, no link, bad request
 *
 * Integrity is not this adapter's job: WebTorrent checks pieces against the
 * infohash the holder named; the core checks every chunk against its
 * author's checkpoint.
 */
import SimplePeer from 'simple-peer'
import type WebTorrentClass from 'webtorrent'
import type { WtTorrent } from 'webtorrent'
import { fromBase64, toBase64 } from '../core/base64.ts'
import { checkTorrentMeta, MAX_TORRENT_FILE_BYTES } from '../core/chunks/torrent-limits.ts'
import {
  createRequestChannel,
  emptyRequestStats,
  INVALID,
  readEnvelope,
  REPLY,
  type ChannelMsg,
  type RequestChannel,
  type RequestStats,
  type Wire,
} from '../core/chunks/request.ts'
import type {
  ChunkSwarm,
  Clock,
  SegmentSource,
  SwarmFetch,
  SwarmLinks,
  SwarmProgress,
  SwarmResult,
} from '../core/ports.ts'
import { realClock } from './real-clock.ts'

const PIECE = 256 * 1024
const MAX_SEEDED = 24
const IDLE_MS = 120_000
const ASK_TIMEOUT_MS = 10_000
const STALL_MS = 30_000
/** Segment channels one peer may have open with this node at once. */
const MAX_CHANNELS_PER_PEER = 16

export interface WebTorrentSwarmStats {
  seeded: number
  /** Time spent making torrents to seed (reading chunks, hashing pieces), ms. */
  seedMs: number
  /** Time fetch torrents spent from add to the last wanted byte, ms. */
  downloadMs: number
  fetched: number
  asked: number
  refused: number
  channels: number
  errors: string[]
  /** The `wt` channel: requests, replies, and the messages dropped and counted. */
  requests: RequestStats
}

export interface WebTorrentSwarmOptions {
  /** Times `open` requests out. Default: the tab's clock. */
  clock?: Clock
}

export interface WebTorrentSwarm extends ChunkSwarm {
  readonly stats: WebTorrentSwarmStats
  /** Stops seeding every torrent of `author` (its chunks changed under it). */
  forget(author: string): void
  /** Torrents now: what, its role, peers, bytes. */
  torrents(): {
    name: string
    infoHash: string
    role: 'seed' | 'fetch'
    peers: number
    downloaded: number
    uploaded: number
  }[]
}

/** A chunk store in memory (pieces of one torrent); WebTorrent's default (OPFS) would be shared by every node of the origin. */
class MemStore {
  private chunks: (Uint8Array | undefined)[] = []
  private closed = false
  constructor(readonly chunkLength: number) {}
  put(index: number, buf: Uint8Array, cb: (err: Error | null) => void = () => {}): void {
    if (this.closed) return queueMicrotask(() => cb(new Error('Storage is closed')))
    this.chunks[index] = buf
    queueMicrotask(() => cb(null))
  }
  get(
    index: number,
    opts: { offset?: number; length?: number } | null | ((err: Error | null, buf?: Uint8Array) => void),
    cb: (err: Error | null, buf?: Uint8Array) => void = () => {},
  ): void {
    if (typeof opts === 'function') return this.get(index, null, opts)
    if (this.closed) return queueMicrotask(() => cb(new Error('Storage is closed')))
    const buf = this.chunks[index]
    if (!buf) {
      const e = Object.assign(new Error('Chunk not found'), { notFound: true })
      return queueMicrotask(() => cb(e))
    }
    const offset = opts?.offset ?? 0
    const len = opts?.length ?? buf.length - offset
    queueMicrotask(() => cb(null, offset === 0 && len === buf.length ? buf : buf.subarray(offset, offset + len)))
  }
  close(cb: (err: Error | null) => void = () => {}): void {
    this.closed = true
    this.chunks = []
    queueMicrotask(() => cb(null))
  }
  destroy(cb: (err: Error | null) => void = () => {}): void {
    this.close(cb)
  }
}

// simple-peer 9 extends readable-stream's Duplex: the same class WebTorrent pipes wires through.
type DuplexCtor = new (opts: object) => {
  push(chunk: Uint8Array | null): boolean
  destroy(err?: Error): void
  emit(ev: string, ...a: unknown[]): boolean
}
const Duplex = Object.getPrototypeOf(SimplePeer.prototype).constructor as DuplexCtor

/** A stream over one data channel, shaped like the simple-peer connection WebTorrent expects. */
class ChannelStream extends Duplex {
  connected: boolean
  constructor(
    readonly id: string,
    private readonly dc: RTCDataChannel,
  ) {
    super({ allowHalfOpen: false })
    dc.binaryType = 'arraybuffer'
    dc.bufferedAmountLowThreshold = 256 * 1024
    this.connected = dc.readyState === 'open'
    dc.addEventListener('open', () => {
      this.connected = true
      this.emit('connect')
    })
    dc.addEventListener('message', (e: MessageEvent) => {
      this.push(new Uint8Array(e.data as ArrayBuffer))
    })
    dc.addEventListener('close', () => this.destroy())
    dc.addEventListener('error', () => this.destroy())
  }
  _read(): void {}
  _write(chunk: Uint8Array, _enc: string, cb: (err?: Error) => void): void {
    if (this.dc.bufferedAmount > 1 << 20)
      this.dc.addEventListener('bufferedamountlow', () => this.send(chunk, cb), { once: true })
    else this.send(chunk, cb)
  }
  private send(chunk: Uint8Array, cb: (err?: Error) => void): void {
    try {
      this.dc.send(chunk as Uint8Array<ArrayBuffer>)
    } catch (e: unknown) {
      return cb(e instanceof Error ? e : new Error(String(e)))
    }
    cb()
  }
  _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    try {
      this.dc.close()
    } catch {
      // already closed
    }
    cb(err)
  }
}

interface Seeded {
  torrent: WtTorrent
  usedAt: number
  ready: Promise<string>
}

const fileIndex = (t: WtTorrent, i: number): number => {
  const m = /(\d+)\.chunk$/.exec(t.files[i]!.name)
  return m ? Number(m[1]) : i
}

const OPEN = 'open'

/** A fetcher's request to open a segment on data channel `channel`. */
interface OpenRequest {
  type: typeof OPEN
  r: string
  author: string
  segment: number
  count: number
  channel: number
}

type OpenReply = { ok: true; ih: string; tf: Uint8Array | null } | { ok: false }

/** Reads one untrusted `wt` message (null: no usable id). */
function decodeWt(json: unknown): ChannelMsg<OpenRequest> | null {
  const env = readEnvelope(json)
  if (!env) return null
  const { r, q, m } = env
  if (q === undefined) return { type: REPLY, r, body: m }
  const { a, s, n, ch } = m
  if (
    q !== OPEN ||
    typeof a !== 'string' ||
    !/^[0-9a-f]{32}$/.test(a) ||
    typeof s !== 'number' ||
    typeof n !== 'number' ||
    typeof ch !== 'number' ||
    !Number.isSafeInteger(ch) ||
    ch < 1000 ||
    ch > 65_535
  )
    return { type: INVALID, r }
  return { type: OPEN, r, author: a, segment: s, count: n, channel: ch }
}

/** Reads a holder's answer to `open` (null: neither an infohash nor a refusal). */
function readOpenReply(b: Wire): OpenReply | null {
  const ih = b['ih']
  if (typeof ih !== 'string') return typeof b['err'] === 'string' ? { ok: false } : null
  if (!/^[0-9a-f]{40}$/.test(ih)) return null
  // A torrent file longer than any a holder sends is ignored unread (the infohash alone is used).
  const tf = b['tf']
  const file = typeof tf === 'string' && tf.length <= Math.ceil(MAX_TORRENT_FILE_BYTES / 3) * 4 ? fromBase64(tf) : null
  return { ok: true, ih, tf: file }
}

export function createWebTorrentSwarm(opts: WebTorrentSwarmOptions = {}): WebTorrentSwarm {
  const clock = opts.clock ?? realClock
  let client: WebTorrentClass | null = null
  let loading: Promise<WebTorrentClass> | null = null
  let source: SegmentSource | null = null
  let links: SwarmLinks | null = null
  let closed = false
  const seeded = new Map<string, Seeded>()
  const fetching = new Set<WtTorrent>()
  let wire: RequestChannel | null = null
  let unlisten: (() => void) | null = null
  const nextChannel = new Map<string, number>()
  const openChannels = new Map<string, number>()
  const stats: WebTorrentSwarmStats = {
    seeded: 0,
    seedMs: 0,
    downloadMs: 0,
    fetched: 0,
    asked: 0,
    refused: 0,
    channels: 0,
    errors: [],
    requests: emptyRequestStats(),
  }
  const note = (e: unknown) => {
    stats.errors.push(e instanceof Error ? e.message : String(e))
    if (stats.errors.length > 20) stats.errors.shift()
  }

  async function wt(): Promise<WebTorrentClass> {
    if (client) return client
    loading ??= import('webtorrent').then(({ default: WebTorrent }) => {
      // No DHT, no LSD, no public trackers or STUN: peers come only from our mesh.
      client = new WebTorrent({
        tracker: { rtcConfig: { iceServers: [] } },
        dht: false,
        lsd: false,
        webSeeds: false,
        utp: false,
      })
      client.on('error', note)
      return client
    })
    return loading
  }

  /** A negotiated data channel on the link to `peer`, or null without an open link. */
  function channel(peer: string, id?: number): { dc: RTCDataChannel; id: number } | null {
    const n = links?.native(peer)
    const pc = (n?.link as { _pc?: RTCPeerConnection } | undefined)?._pc
    if (!n || !pc || pc.connectionState === 'closed') return null
    // Even ids are the link initiator's to pick, odd ones the other side's; a new link may swap roles.
    const mine = n.initiator ? 0 : 1
    let ch = id
    if (ch === undefined) {
      const prev = nextChannel.get(peer)
      const next = prev !== undefined && prev % 2 === mine ? prev : 1000 + mine
      ch = next
      nextChannel.set(peer, next + 2 > 65_000 ? 1000 + mine : next + 2)
    } else if (ch % 2 === mine) return null
    const open = openChannels.get(peer) ?? 0
    if (open >= MAX_CHANNELS_PER_PEER) return null
    let dc: RTCDataChannel
    try {
      dc = pc.createDataChannel(`wt-${ch}`, { negotiated: true, id: ch, ordered: true })
    } catch (e: unknown) {
      note(e)
      return null
    }
    stats.channels++
    openChannels.set(peer, open + 1)
    dc.addEventListener('close', () => {
      const left = (openChannels.get(peer) ?? 1) - 1
      if (left > 0) openChannels.set(peer, left)
      else openChannels.delete(peer)
    })
    return { dc, id: ch }
  }

  function evictIdle(): void {
    const now = Date.now()
    const byAge = [...seeded.entries()].sort((a, b) => a[1].usedAt - b[1].usedAt)
    // Torrents with peers are never evicted: a busy holder refuses new segments instead.
    for (const [key, s] of byAge) {
      if (s.torrent.numPeers > 0) continue
      if (now - s.usedAt > IDLE_MS || seeded.size > MAX_SEEDED) {
        seeded.delete(key)
        s.torrent.destroy({ destroyStore: true })
      }
    }
  }

  async function seed(author: string, segment: number, count: number): Promise<Seeded | null> {
    const key = `${author}:${segment}:${count}`
    const have = seeded.get(key)
    if (have) {
      have.usedAt = Date.now()
      return have
    }
    const started = performance.now()
    const data = await source?.(author, segment, count)
    if (!data) return null
    const again = seeded.get(key)
    if (again) return again
    evictIdle()
    if (seeded.size >= MAX_SEEDED) return null
    const c = await wt()
    const files = data.map((d, i) => new File([d as Uint8Array<ArrayBuffer>], `${String(i).padStart(3, '0')}.chunk`))
    const torrent = c.seed(files, {
      name: `ir3-${author}-${segment}`,
      pieceLength: PIECE,
      announce: [],
      store: MemStore,
      storeCacheSlots: 0,
      // The info dictionary must be the same at every holder: no dates or client names that vary.
      createdBy: 'ir3',
      creationDate: new Date(0),
    })
    const ready = new Promise<string>((resolve, reject) => {
      torrent.once('ready', () => {
        stats.seedMs += performance.now() - started
        resolve(torrent.infoHash)
      })
      torrent.once('error', (e) => reject(e instanceof Error ? e : new Error(String(e))))
    })
    const s: Seeded = { torrent, usedAt: Date.now(), ready }
    seeded.set(key, s)
    stats.seeded++
    return s
  }

  /** Seeds the segment a fetcher asks for and adds it as a peer on its channel; returns the reply. */
  async function answerOpen(from: string, req: OpenRequest): Promise<Wire> {
    try {
      const sd = await seed(req.author, req.segment, req.count)
      if (!sd) {
        stats.refused++
        return { err: 'not held, or too busy' }
      }
      const ih = await withTimeout(sd.ready, STALL_MS, 'segment not ready')
      const c = channel(from, req.channel)
      if (!c) return { err: 'no link' }
      sd.torrent.addPeer(new ChannelStream(`${from}:${req.channel}`, c.dc))
      sd.usedAt = Date.now()
      // The torrent file (info dictionary, ~1 KB) spares the fetcher a metadata round trip;
      // WebTorrent checks it against the infohash.
      const file = (sd.torrent as unknown as { torrentFile?: Uint8Array }).torrentFile
      return file && file.length < MAX_TORRENT_FILE_BYTES ? { ih, tf: toBase64(file) } : { ih }
    } catch (e: unknown) {
      note(e)
      return { err: e instanceof Error ? e.message.slice(0, 200) : 'failed' }
    }
  }

  /** Asks `peer` to open the segment on a new channel; resolves with the infohash and our end of the channel. */
  async function ask(
    peer: string,
    req: SwarmFetch,
  ): Promise<{ peer: string; ih: string; tf: Uint8Array | null; stream: ChannelStream } | null> {
    if (!links || !wire || !(await links.connect(peer))) return null
    const c = channel(peer)
    if (!c) return null
    stats.asked++
    const res = await wire.request(
      peer,
      { q: OPEN, a: req.author, s: req.segment, n: req.count, ch: c.id },
      readOpenReply,
    )
    if (res.status !== 'ok' || !res.reply.ok) {
      c.dc.close()
      return null
    }
    const { ih, tf } = res.reply
    return { peer, ih, tf, stream: new ChannelStream(`${peer}:${c.id}`, c.dc) }
  }

  async function download(
    req: SwarmFetch,
    ih: string,
    tf: Uint8Array | null,
    streams: ChannelStream[],
    onProgress?: (p: SwarmProgress) => void,
  ): Promise<Map<number, Uint8Array>> {
    const c = await wt()
    const started = performance.now()
    // A torrent of this infohash still here (e.g. seeded from chunks since dropped) would make add() refuse.
    for (const t of c.torrents.filter((t) => t.infoHash === ih)) {
      for (const [key, sd] of seeded) if (sd.torrent === t) seeded.delete(key)
      t.destroy({ destroyStore: true })
    }
    const open = async (id: string | Uint8Array) => {
      const t = c.add(id as string, { announce: [], store: MemStore, storeCacheSlots: 0, deselect: true })
      if (!t.infoHash) await waitFor(t, 'infoHash', 10_000)
      if (t.infoHash !== ih) {
        t.destroy()
        throw new Error('torrent file does not match the infohash')
      }
      return t
    }
    // With the holder's torrent file the torrent is ready at once; a bad or mismatching one is
    // dropped and the infohash alone is used (metadata then comes from the peers).
    let torrent: WtTorrent
    try {
      torrent = await open(tf ?? ih)
    } catch (e: unknown) {
      if (!tf) throw e
      note(e)
      torrent = await open(ih)
    }
    fetching.add(torrent)
    try {
      for (const s of streams) torrent.addPeer(s)
      if (!torrent.ready) await waitFor(torrent, 'ready', STALL_MS)
      // The metadata is bounded before any file is selected: nothing unbounded goes into memory.
      const meta = torrent as unknown as { name?: string; pieceLength?: number }
      const bad = checkTorrentMeta(
        { name: meta.name ?? '', pieceLength: meta.pieceLength ?? 0, files: torrent.files },
        req,
      )
      if (bad) throw new Error(`torrent refused: ${bad}`)
      const wanted = new Set(req.files)
      const files = torrent.files.map((f, i) => ({ f, k: fileIndex(torrent, i) })).filter(({ k }) => wanted.has(k))
      const total = files.reduce((n, { f }) => n + f.length, 0)
      for (const { f } of files) f.select()
      let last = Date.now()
      const onDownload = () => {
        last = Date.now()
        onProgress?.({ bytes: Math.min(torrent.downloaded, total), total, peers: torrent.numPeers })
      }
      torrent.on('download', onDownload)
      try {
        for (;;) {
          if (files.every(({ f }) => f.done)) break
          if (torrent.destroyed || closed) throw new Error('torrent closed')
          if (Date.now() - last > STALL_MS)
            throw new Error(`no progress for ${STALL_MS / 1000} s from ${torrent.numPeers} peers`)
          await new Promise((r) => setTimeout(r, 50))
        }
      } finally {
        torrent.removeListener('download', onDownload)
      }
      onProgress?.({ bytes: total, total, peers: torrent.numPeers })
      const out = new Map<number, Uint8Array>()
      for (const { f, k } of files) out.set(k, new Uint8Array(await f.arrayBuffer()))
      stats.fetched++
      stats.downloadMs += performance.now() - started
      return out
    } finally {
      fetching.delete(torrent)
      torrent.destroy({ destroyStore: true })
    }
  }

  return {
    stats,
    serve(src, l) {
      source = src
      links = l
      wire = createRequestChannel<OpenRequest>({
        clock,
        send: (to, d) => links?.send(to, d) ?? false,
        listen: (fn) => l.onMessage(fn),
        decode: decodeWt,
        answer: answerOpen,
        invalid: { err: 'bad request' },
        timeoutMs: ASK_TIMEOUT_MS,
        stats: stats.requests,
      })
      unlisten = wire.listen()
    },
    async fetch(req, onProgress): Promise<SwarmResult> {
      if (closed) throw new Error('swarm closed')
      const offers = (await Promise.all(req.holders.slice(0, 8).map((h) => ask(h, req).catch(() => null)))).filter(
        (o): o is NonNullable<typeof o> => o !== null,
      )
      const groups = new Map<string, typeof offers>()
      for (const o of offers) groups.set(o.ih, [...(groups.get(o.ih) ?? []), o])
      const best = [...groups.values()].sort((a, b) => b.length - a.length)[0]
      for (const g of groups.values()) if (g !== best) for (const o of g) o.stream.destroy()
      if (!best) throw new Error(`none of ${req.holders.length} holders opened the segment`)
      let files: Map<number, Uint8Array>
      try {
        files = await download(
          req,
          best[0]!.ih,
          best.find((o) => o.tf)?.tf ?? null,
          best.map((o) => o.stream),
          onProgress,
        )
      } catch (e: unknown) {
        for (const o of best) o.stream.destroy()
        throw e
      }
      return { files, from: best.map((o) => o.peer) }
    },
    forget(author) {
      for (const [key, sd] of seeded)
        if (key.startsWith(`${author}:`)) {
          seeded.delete(key)
          sd.torrent.destroy({ destroyStore: true })
        }
    },
    live() {
      evictIdle()
      return seeded.size + fetching.size
    },
    torrents() {
      const row = (t: WtTorrent, role: 'seed' | 'fetch') => ({
        name: t.files[0]?.path.split('/')[0] ?? '',
        infoHash: t.infoHash,
        role,
        peers: t.numPeers,
        downloaded: t.downloaded,
        uploaded: t.uploaded,
      })
      return [...[...seeded.values()].map((s) => row(s.torrent, 'seed')), ...[...fetching].map((t) => row(t, 'fetch'))]
    },
    close() {
      closed = true
      unlisten?.()
      unlisten = null
      client?.destroy()
      client = null
    },
  }
}

function waitFor(t: WtTorrent, ev: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null) => {
      clearTimeout(timer)
      t.removeListener(ev, onEvent)
      t.removeListener('error', onError)
      t.removeListener('close', onClose)
      if (err) reject(err)
      else resolve()
    }
    const onEvent = () => done(null)
    const onError = (e: unknown) => done(e instanceof Error ? e : new Error(String(e)))
    const onClose = () => done(new Error(`torrent closed before ${ev}`))
    const timer = setTimeout(() => done(new Error(`no ${ev} within ${ms / 1000} s`)), ms)
    t.once(ev, onEvent)
    t.once('error', onError)
    t.once('close', onClose)
  })
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms)
    p.then(
      (v) => {
        clearTimeout(timer)
        resolve(v)
      },
      (e: unknown) => {
        clearTimeout(timer)
        reject(e instanceof Error ? e : new Error(String(e)))
      },
    )
  })
}
