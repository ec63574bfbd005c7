/**
 * Chunks: every node serves its own sealed chunks and those it holds for
 * others; holders say what they hold in their signed peer records; a node
 * that wants a series declares `want-chunk` and fetches from the holders that
 * answer YES, checking every chunk against its author's signed checkpoint
 * before it is stored, served on, and recorded (`chunk-stored`). A chunk that
 * fails is rejected and recorded with its seeders (`chunk-rejected`), and
 * fetching goes on from other holders.
 *
 * Replication, as the origin's BitTorrent node does it: nodes learn of other
 * series from peer records and replicate those with fewer holders than the
 * target (default 3 besides the author), as far as their storage budget
 * allows; the open chunk travels with the head, directly over the mesh.
 *
 * The head (checkpoint, chunk roots, open chunk) goes directly between
 * linked nodes on the `series` channel, paged to fit frames; chunk bytes go
 * through the ChunkSwarm port (WebTorrent in the tab).
 */
import { Ir3Error } from '../errors.ts'
import type { JsonValue } from '../json.ts'
import type {
  ChunkStore,
  ChunkSwarm,
  Clock,
  HeldSeries,
  Rng,
  SignedCheckpoint,
  SwarmProgress,
  Verifier,
} from '../ports.ts'
import type { Mesh } from '../mesh/mesh.ts'
import type { Intents } from '../intents/intents.ts'
import type { IntentsState } from '../intents/reducers.ts'
import { decide, type LimitsState } from '../intents/limits.ts'
import type { PeerRecord } from '../mesh/frames.ts'
import type { Series } from '../series/series.ts'
import type { Reducer, States } from '../series/reducers.ts'
import { toHex } from '../series/hash.ts'
import { MAX_ENTRY_BYTES } from '../series/encoding.ts'
import { openReadOnlySeries } from '../series/read-only.ts'
import { fromBase64, SEGMENT_CHUNKS, toBase64, verifyHeadData, verifyHeadKey, verifySealed } from './head.ts'
import type { ChunksState } from './reducers.ts'

export interface ChunksOptions {
  /** Holders wanted per series besides its author. Default 3. */
  replicationTarget?: number
  /** Whether this node replicates others' series on its own. Default true. */
  replicate?: boolean
  /** How often replication looks for work, ms. Default 3000. */
  replicateEveryMs?: number
  /** How long a `want-chunk` waits for answers, ms. Default 2500. */
  wantDeadlineMs?: number
  /** Segments served per 10 s before `want-chunk` gets NO (uploads). Default 40. */
  maxUploads?: number
  /** Time for one direct request, ms. Default 8000. */
  requestTimeoutMs?: number
  /** Segments fetched at once. Default 4. */
  segmentsInFlight?: number
}

export interface ChunksDeps {
  id: string
  publicKey: string
  series: Series
  mesh: Mesh
  intents: Intents
  store: ChunkStore
  swarm: ChunkSwarm
  clock: Clock
  rng: Rng
  verifier: Verifier
  reducers: readonly Reducer[]
  record(kind: string, body: JsonValue): void
  state(): States
  options?: ChunksOptions
}

/** A fetch in progress, for the UI. */
export interface DownloadView {
  author: string
  segment: number
  chunks: number
  bytes: number
  total: number
  peers: number
  holders: string[]
}

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
  stats: Chunks['stats']
}

/** A series opened read-only from the network (or one's own). */
export interface OpenedSeries {
  author: string
  series: Series
  /** Where the head came from. */
  from: string | null
}

type Wire = Record<string, JsonValue>
interface Pending {
  resolve(d: Wire | null): void
}
interface ServedHead {
  head: HeldSeries
  at: number
}

const ROOTS_PER_PART = 400
const MAX_WANT_TARGETS = 64
const HOLDER_ENTRIES_PER_MIN = 32
/** The largest series a head may claim (2^32 entries). */
const MAX_SERIES = 2 ** 32
const TAIL_PART = 30_000
const ID = /^[0-9a-f]{32}$/

const obj = (v: JsonValue | undefined): Wire => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {})

export class Chunks {
  readonly stats = {
    fetchedChunks: 0,
    fetchedBytes: 0,
    /** Time spent, ms: in the swarm (ask, seed, transfer), checking chunks, storing them. */
    swarmMs: 0,
    verifyMs: 0,
    storeMs: 0,
    rejectedChunks: 0,
    servedSegments: 0,
    headsServed: 0,
    jobs: 0,
    jobFailures: 0,
  }
  private readonly o: Required<ChunksOptions>
  private readonly C: number
  private held = new Map<string, HeldSeries>()
  private readonly downloads = new Map<string, DownloadView>()
  private readonly pending = new Map<string, Pending>()
  private readonly served = new Map<string, ServedHead>()
  private readonly uploads: number[] = []
  private readonly jobs = new Map<string, Promise<HeldSeries | null>>()
  private readonly lastHeadCheck = new Map<string, number>()
  private readonly holderRecordedAt = new Map<string, number>()
  private readonly retryAt = new Map<string, number>()
  private readonly holderQuota = new Map<string, { since: number; left: number }>()
  private readonly listeners = new Set<() => void>()
  private replicating = false
  private reqSeq = 0
  private stopped = false
  private cancelTick: (() => void) | null = null
  private unsub: (() => void)[] = []

  constructor(private readonly deps: ChunksDeps) {
    const o = deps.options ?? {}
    this.o = {
      replicationTarget: o.replicationTarget ?? 3,
      replicate: o.replicate ?? true,
      replicateEveryMs: o.replicateEveryMs ?? 3000,
      wantDeadlineMs: o.wantDeadlineMs ?? 2500,
      maxUploads: o.maxUploads ?? 40,
      requestTimeoutMs: o.requestTimeoutMs ?? 8000,
      segmentsInFlight: o.segmentsInFlight ?? 6,
    }
    this.C = deps.series.chunkSize
  }

  async start(): Promise<void> {
    const { mesh, intents, swarm, series } = this.deps
    for (const h of await this.deps.store.heads()) this.held.set(h.author, h)
    swarm.serve((author, segment, count) => this.source(author, segment, count), {
      connect: (id) => mesh.connect(id, 'response'),
      send: (id, d) => mesh.sendDirect(id, 'wt', d),
      onMessage: (fn) => mesh.onDirect('wt', fn),
      native: (id) => mesh.native(id),
    })
    mesh.onDirect('series', (from, d) => this.onDirect(from, d))
    intents.handle('want-chunk', (intent, state) => this.onWant(intent.origin, intent.body, state))
    this.unsub.push(mesh.onPeerRecord((r) => this.onRecord(r)))
    this.unsub.push(
      series.subscribe((e) => {
        if (e.type === 'durable') this.advertise()
      }),
    )
    this.advertise()
    this.tick()
  }

  stop(): void {
    this.stopped = true
    this.cancelTick?.()
    for (const u of this.unsub) u()
    for (const p of this.pending.values()) p.resolve(null)
    this.pending.clear()
  }

  /** Called (coalesced by the caller) when holdings or downloads change. */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  get options(): Readonly<Required<ChunksOptions>> {
    return this.o
  }

  /** Own and held series, with holders and seeding state, and downloads in progress. */
  view(): ChunksView {
    const st = this.chunksState()
    const holdersOf = (a: string) => ({ ...(st.holders[a] ?? {}) })
    const ownChunks = this.ownChunks()
    const out: SeriesChunksView[] = [
      {
        author: this.deps.id,
        own: true,
        chunks: ownChunks,
        bytes: 0,
        size: this.deps.series.checkpoint?.size ?? 0,
        holders: holdersOf(this.deps.id),
        seeding: ownChunks > 0,
      },
    ]
    for (const h of this.held.values())
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
      if (a !== this.deps.id && !this.held.has(a))
        out.push({ author: a, own: false, chunks: 0, bytes: 0, size: 0, holders: holdersOf(a), seeding: false })
    return {
      series: out,
      downloads: [...this.downloads.values()].map((d) => ({ ...d, holders: d.holders.slice() })),
      liveTorrents: this.deps.swarm.live(),
      stats: { ...this.stats },
    }
  }

  held_(author: string): HeldSeries | null {
    return this.held.get(author) ?? null
  }

  /**
   * Fetches `author`'s series from the mesh (the author if online, else its
   * holders), verifies it and opens it read-only, with derived state and
   * time travel. What was fetched is kept and served like any held series.
   */
  async openSeries(author: string): Promise<OpenedSeries> {
    if (!ID.test(author)) throw new Ir3Error('ERR_BAD_RANGE', 'a node id is 32 hex digits')
    if (author === this.deps.id) return { author, series: this.deps.series, from: null }
    let fetched = await this.fetchSeries(author, 'open')
    // Bad seeders found on the way now stand lower: one more try prefers the others.
    if (fetched && fetched.chunks < Math.floor(fetched.checkpoint.size / this.C))
      fetched = (await this.fetchSeries(author, 'open')) ?? fetched
    const h = fetched ?? this.held.get(author) ?? null
    if (!h) throw new Ir3Error('ERR_NOT_FOUND', `no holder of ${author.slice(0, 8)} answered`)
    const sealed = Math.floor(h.checkpoint.size / this.C)
    if (h.chunks < sealed)
      throw new Ir3Error('ERR_NOT_FOUND', `holders gave ${h.chunks} of ${sealed} chunks of ${author.slice(0, 8)}`)
    const series = await this.readOnlySeries(h)
    return { author, series, from: fetched ? 'mesh' : 'local' }
  }

  /**
   * Brings this node's copy of `author`'s series up to date: want-chunk, the
   * head from the best YES, then the missing segments, each chunk verified
   * before it is stored. Resolves with what is held afterwards (null if
   * nothing could be fetched). One job per author at a time.
   */
  fetchSeries(
    author: string,
    why: 'replicate' | 'open',
    sources?: { id: string; chunks: number; size: number }[],
  ): Promise<HeldSeries | null> {
    const running = this.jobs.get(author)
    if (running) return running
    const before = this.held.get(author)?.checkpoint.size ?? 0
    const job = this.runJob(author, why, sources).finally(() => {
      this.jobs.delete(author)
      // A job that got nowhere is not repeated at once: every try floods a want-chunk.
      if ((this.held.get(author)?.checkpoint.size ?? 0) === before)
        this.retryAt.set(author, this.deps.clock.now() + 15_000 * (0.75 + this.deps.rng.next() * 0.5))
    })
    this.jobs.set(author, job)
    return job
  }

  // ---- serving ----

  private ownChunks(): number {
    return Math.floor(this.deps.series.durableLength / this.C)
  }

  private advertise(): void {
    const h: [string, number][] = []
    const own = this.ownChunks()
    if (own > 0) h.push([this.deps.id, own])
    for (const s of this.held.values()) if (s.chunks > 0) h.push([s.author, s.chunks])
    this.deps.mesh.setHoldings(h)
    this.changed()
  }

  private async source(author: string, segment: number, count: number): Promise<Uint8Array[] | null> {
    const from = segment * SEGMENT_CHUNKS
    if (!Number.isSafeInteger(from) || count < 1 || count > SEGMENT_CHUNKS) return null
    let out: Uint8Array[]
    if (author === this.deps.id) out = await this.deps.series.sealedChunks(from, from + count)
    else {
      const h = this.held.get(author)
      if (!h || h.chunks < from + count) return null
      out = (await this.deps.store.chunks(author, from, from + count)).map((c) => c.data)
    }
    if (out.length !== count) return null
    this.stats.servedSegments++
    this.uploads.push(this.deps.clock.now())
    return out
  }

  private chunksHeld(author: string): number {
    return author === this.deps.id ? this.ownChunks() : (this.held.get(author)?.chunks ?? 0)
  }

  private onWant(origin: string, body: JsonValue, state: States) {
    const b = obj(body)
    const author = b['author']
    if (typeof author !== 'string' || !ID.test(author)) return { answer: 'silent' as const }
    const n = this.chunksHeld(author)
    const size =
      author === this.deps.id ? (this.deps.series.checkpoint?.size ?? 0) : (this.held.get(author)?.checkpoint.size ?? 0)
    if (size === 0) return { answer: 'silent' as const }
    const now = this.deps.clock.now()
    while (this.uploads.length > 0 && this.uploads[0]! < now - 10_000) this.uploads.shift()
    if (this.uploads.length >= this.o.maxUploads) return { answer: 'no' as const, reason: 'uploads', retryAfter: 5000 }
    void origin
    void state
    return { answer: 'yes' as const, data: { chunks: n, size } }
  }

  private async headFor(author: string): Promise<HeldSeries | null> {
    if (author === this.deps.id) {
      const snap = await this.deps.series.headSnapshot()
      if (!snap) return null
      return {
        author,
        publicKey: this.deps.publicKey,
        checkpoint: snap.checkpoint,
        roots: snap.roots.map(toHex),
        tail: snap.tail,
        chunks: this.ownChunks(),
        bytes: 0,
      }
    }
    return this.held.get(author) ?? null
  }

  private async onDirect(from: string, d: JsonValue): Promise<void> {
    const m = obj(d)
    const r = m['r']
    if (typeof r !== 'string' || r.length > 40) return this.deps.mesh.reject(from, 'malformed')
    if (m['q'] === undefined) {
      const p = this.pending.get(`${from}/${r}`)
      if (!p) return this.deps.mesh.countStale()
      this.pending.delete(`${from}/${r}`)
      return p.resolve(m)
    }
    const reply = (x: Wire) => this.deps.mesh.sendDirect(from, 'series', { r, ...x })
    const author = m['a']
    if (typeof author !== 'string' || !ID.test(author)) return void reply({ ok: false, reason: 'bad request' })
    try {
      if (m['q'] === 'head') {
        const h = await this.headFor(author)
        if (!h) return void reply({ ok: false, reason: 'not held' })
        this.remember(h)
        this.stats.headsServed++
        return void reply({
          ok: true,
          cp: h.checkpoint as unknown as JsonValue,
          key: h.publicKey,
          roots: h.roots.length,
          tail: h.tail.length,
          chunks: this.chunksHeld(author),
        })
      }
      if (m['q'] === 'part') {
        const size = m['size']
        const off = m['off']
        const s = this.served.get(`${author}:${String(size)}`)
        if (!s || typeof off !== 'number' || !Number.isSafeInteger(off) || off < 0)
          return void reply({ ok: false, reason: 'head gone; ask again' })
        if (m['what'] === 'roots') return void reply({ ok: true, d: s.head.roots.slice(off, off + ROOTS_PER_PART) })
        if (m['what'] === 'tail')
          return void reply({ ok: true, d: toBase64(s.head.tail.subarray(off, off + TAIL_PART)) })
      }
      reply({ ok: false, reason: 'bad request' })
    } catch (e: unknown) {
      reply({ ok: false, reason: e instanceof Error ? e.message.slice(0, 200) : 'failed' })
    }
  }

  /** Heads served are kept a minute so their parts can be fetched while the series moves on. */
  private remember(h: HeldSeries): void {
    const now = this.deps.clock.now()
    for (const [k, s] of this.served) if (now - s.at > 60_000) this.served.delete(k)
    this.served.set(`${h.author}:${h.checkpoint.size}`, { head: h, at: now })
    while (this.served.size > 16) this.served.delete(this.served.keys().next().value!)
  }

  // ---- fetching ----

  private async request(peer: string, q: Wire): Promise<Wire | null> {
    const { mesh, clock } = this.deps
    if (!mesh.isReady(peer) && !(await mesh.connect(peer, 'response'))) return null
    const r = (this.reqSeq++).toString(36)
    return new Promise((resolve) => {
      const key = `${peer}/${r}`
      const cancel = clock.setTimeout(() => {
        if (this.pending.delete(key)) resolve(null)
      }, this.o.requestTimeoutMs)
      this.pending.set(key, {
        resolve: (d) => {
          cancel()
          resolve(d)
        },
      })
      if (!mesh.sendDirect(peer, 'series', { r, ...q })) {
        this.pending.delete(key)
        cancel()
        resolve(null)
      }
    })
  }

  /** Fetches and verifies `author`'s head from `peer`; records a rejection if it is bad. */
  private async fetchHead(peer: string, author: string): Promise<{ head: HeldSeries; chunks: number } | null> {
    const h = await this.request(peer, { q: 'head', a: author })
    if (!h || h['ok'] !== true) return null
    const raw = obj(h['cp'])
    // Only the checkpoint's own fields are kept (anything else would be stored and served on unverified).
    const cp = { author: raw['author'], size: raw['size'], root: raw['root'], t: raw['t'], sig: raw['sig'] }
    const key = h['key']
    const nRoots = h['roots']
    const tailLen = h['tail']
    const int = (v: unknown, max: number): v is number =>
      typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max
    const rejectHead = (reason: string) => {
      this.deps.record('chunk-rejected', { author, index: -1, seq: 0, reason: `head: ${reason}`, seeders: [peer] })
      return null
    }
    // Checked before any part is fetched: sizes bounded, the author's key, the author's signature.
    if (
      typeof key !== 'string' ||
      !int(cp.size, MAX_SERIES) ||
      cp.size < 1 ||
      typeof cp.root !== 'string' ||
      typeof cp.t !== 'number' ||
      typeof cp.sig !== 'string' ||
      !int(nRoots, Math.ceil(MAX_SERIES / this.C)) ||
      !int(tailLen, this.C * MAX_ENTRY_BYTES)
    )
      return rejectHead('malformed head')
    if (nRoots !== Math.ceil(cp.size / this.C)) return rejectHead('root count does not match the size')
    const claim = await verifyHeadKey(
      { author, publicKey: key, checkpoint: cp as SignedCheckpoint },
      this.deps.verifier,
    )
    if (!claim.ok) return rejectHead(claim.reason)
    const roots: string[] = []
    // A head must arrive within a minute, however slowly the peer answers each part.
    const deadline = this.deps.clock.now() + 60_000
    while (roots.length < nRoots) {
      if (this.deps.clock.now() > deadline) return rejectHead('too slow')
      const p = await this.request(peer, { q: 'part', a: author, size: cp.size, what: 'roots', off: roots.length })
      const d = p?.['d']
      if (!Array.isArray(d) || d.length === 0 || !d.every((x) => typeof x === 'string')) return null
      roots.push(...(d as string[]))
    }
    const tail = new Uint8Array(tailLen)
    for (let off = 0; off < tailLen;) {
      if (this.deps.clock.now() > deadline) return rejectHead('too slow')
      const p = await this.request(peer, { q: 'part', a: author, size: cp.size, what: 'tail', off })
      const bytes = typeof p?.['d'] === 'string' ? fromBase64(p['d']) : null
      if (!bytes || bytes.length === 0 || off + bytes.length > tailLen) return null
      tail.set(bytes, off)
      off += bytes.length
    }
    const head: HeldSeries = {
      author,
      publicKey: key as string,
      checkpoint: cp as SignedCheckpoint,
      roots: roots.slice(0, nRoots),
      tail,
      chunks: 0,
      bytes: 0,
    }
    const check = verifyHeadData(head, this.C)
    if (!check.ok) {
      this.deps.record('chunk-rejected', {
        author,
        index: -1,
        seq: check.seq,
        reason: `head: ${check.reason}`,
        seeders: [peer],
      })
      return null
    }
    const chunks = h['chunks']
    return { head, chunks: typeof chunks === 'number' && Number.isSafeInteger(chunks) ? chunks : 0 }
  }

  /** Declares want-chunk for `author` and resolves with the YES answers, once all targets answered or at the deadline. */
  private async want(author: string, from: number): Promise<{ id: string; chunks: number; size: number }[]> {
    const { intents, clock } = this.deps
    // Holders whose signed records are fresh, most chunks first, at most MAX_WANT_TARGETS (stale or
    // invented holders must not make the target list grow without bound).
    const fresh = [...(this.adverts().get(author) ?? new Map<string, number>())]
      .filter(([node]) => node !== this.deps.id && node !== author)
      .sort((a, b) => b[1] - a[1])
      .slice(0, MAX_WANT_TARGETS - 1)
      .map(([node]) => node)
    const targets = new Set([author, ...fresh])
    targets.delete(this.deps.id)
    const { id } = intents.declare(
      'want-chunk',
      { author, from, to: 2 ** 31 },
      { targets: [...targets], deadlineMs: this.o.wantDeadlineMs, ttl: 6 },
    )
    const deadline = clock.now() + this.o.wantDeadlineMs
    for (;;) {
      await new Promise<void>((r) => clock.setTimeout(r, 50))
      const s = intents.summary(id)
      if (this.stopped || !s || s.pending === 0 || clock.now() >= deadline) break
    }
    const d = (this.deps.state()['intents'] as IntentsState | undefined)?.declared[id]
    const yes: { id: string; chunks: number; size: number }[] = []
    for (const [peer, r] of Object.entries(d?.responses ?? {})) {
      const data = obj(r.data)
      if (r.answer === 'yes' && typeof data['chunks'] === 'number' && typeof data['size'] === 'number')
        yes.push({ id: peer, chunks: data['chunks'], size: data['size'] })
    }
    return yes
  }

  private async runJob(
    author: string,
    why: 'replicate' | 'open',
    sources?: { id: string; chunks: number; size: number }[],
  ): Promise<HeldSeries | null> {
    this.stats.jobs++
    const have = this.held.get(author) ?? null
    const standing = this.chunksState().standing
    // Catching up a held series asks the nodes known to have more directly; anything else asks the mesh.
    const asked = (sources ?? (await this.want(author, have?.chunks ?? 0))).filter((y) => (standing[y.id] ?? 0) > -3)
    // Seeders that served bad chunks come last: only when nobody else has it.
    const good = asked.filter((y) => (standing[y.id] ?? 0) >= 0)
    const yes = good.length > 0 ? good : asked
    if (this.stopped || yes.length === 0) return null
    // The newest head: the author's if it answered, else the largest a holder has all the sealed chunks of.
    const complete = (y: { chunks: number; size: number }) => (y.chunks === Math.floor(y.size / this.C) ? 1 : 0)
    yes.sort((a, b) =>
      a.id === author ? -1 : b.id === author ? 1 : complete(b) - complete(a) || b.size - a.size || b.chunks - a.chunks,
    )
    let head: HeldSeries | null = null
    let headFrom: string | null = null
    for (const y of yes) {
      const got = await this.fetchHead(y.id, author).catch(() => null)
      if (got) {
        head = got.head
        headFrom = y.id
        // What it holds now, not what its last record said.
        y.chunks = got.chunks
        y.size = got.head.checkpoint.size
        break
      }
    }
    if (!head || this.stopped) {
      this.stats.jobFailures++
      return null
    }
    // An older head than the one held is no news: keep the newer, signed one and fill it in.
    if (have && have.checkpoint.size > head.checkpoint.size) head = { ...have, chunks: 0, bytes: 0 }
    let chunks = have?.chunks ?? 0
    let bytes = have?.bytes ?? 0
    // Sealed chunks held were checked against the old head; two signed heads of one author must agree on them.
    const common = Math.min(
      chunks,
      Math.floor((have?.checkpoint.size ?? 0) / this.C),
      Math.floor(head.checkpoint.size / this.C),
    )
    if (have && have.roots.slice(0, common).some((r, k) => head!.roots[k] !== r)) {
      this.deps.record('chunk-rejected', {
        author,
        index: -1,
        seq: 0,
        reason: 'two checkpoints disagree (fork)',
        seeders: [headFrom!],
      })
      await this.drop(author, 'fork')
      chunks = 0
      bytes = 0
    }
    const sealed = Math.floor(head.checkpoint.size / this.C)
    const excluded = new Set<string>()
    void headFrom
    fetching: while (chunks < sealed && !this.stopped) {
      // Up to `segmentsInFlight` segments at once; stored in order as they check out.
      const plans: { seg: number; n: number; files: number[]; holders: string[] }[] = []
      for (let from = chunks; plans.length < this.o.segmentsInFlight && from < sealed;) {
        const seg = Math.floor(from / SEGMENT_CHUNKS)
        const segStart = seg * SEGMENT_CHUNKS
        const count = Math.min(SEGMENT_CHUNKS, sealed - segStart)
        // Holders of the whole segment; if none has it all, the largest part anyone has.
        let holders = yes.filter((y) => !excluded.has(y.id) && y.chunks >= segStart + count).map((y) => y.id)
        let n = count
        if (holders.length === 0) {
          const best = Math.max(0, ...yes.filter((y) => !excluded.has(y.id)).map((y) => y.chunks - segStart))
          if (best <= from - segStart) break
          n = Math.min(count, best)
          holders = yes.filter((y) => !excluded.has(y.id) && y.chunks >= segStart + n).map((y) => y.id)
        }
        const files: number[] = []
        for (let k = from; k < segStart + n; k++) files.push(k - segStart)
        plans.push({ seg, n, files, holders })
        from = segStart + n
        if (n < count) break
      }
      if (plans.length === 0) break
      const results = await Promise.all(
        plans.map((p) => this.fetchSegment(author, p.seg, p.n, p.files, p.holders, head!)),
      )
      let progressed = false
      let bad = false
      for (const [i, got] of results.entries()) {
        for (const b of got.bad) excluded.add(b)
        bad ||= got.bad.length > 0
        if (got.chunks.length === 0 || got.chunks[0]!.index !== chunks) break
        const size = got.chunks.reduce((n, c) => n + c.data.length, 0)
        if (!(await this.makeRoom(author, size))) {
          this.deps.record('chunk-dropped', {
            author,
            chunks: got.chunks.length,
            bytes: 0,
            reason: 'storage budget',
            first: got.chunks[0]!.index,
          })
          break fetching
        }
        chunks += got.chunks.length
        bytes += size
        const next: HeldSeries = { ...head, chunks, bytes }
        const t0 = this.deps.clock.now()
        await this.deps.store.put(next, got.chunks)
        this.stats.storeMs += this.deps.clock.now() - t0
        this.held.set(author, next)
        for (const c of got.chunks)
          this.deps.record('chunk-stored', { author, index: c.index, bytes: c.data.length, from: got.from, why })
        this.advertise()
        progressed = true
        if (got.chunks.length < plans[i]!.files.length) break
      }
      if (!progressed && !bad) break
    }
    // A head alone is kept only to follow a series already held, or one with nothing sealed yet
    // (not as a placeholder for a take-on the budget stopped: it would be retried forever).
    const keepHead = have !== null || sealed === 0
    if (keepHead && chunks === (have?.chunks ?? 0) && (!have || have.checkpoint.size < head.checkpoint.size)) {
      // No new sealed chunk, a newer head (the open chunk moved on): keep it.
      if (!(await this.makeRoom(author, head.tail.length))) return have
      const next: HeldSeries = { ...head, chunks, bytes }
      await this.deps.store.put(next, [])
      this.held.set(author, next)
      this.changed()
    }
    return this.held.get(author) ?? null
  }

  /** Fetches wanted files of one segment; verifies each; returns the verified ones from the start, in order. */
  private async fetchSegment(
    author: string,
    segment: number,
    count: number,
    files: number[],
    holders: string[],
    head: HeldSeries,
  ): Promise<{ chunks: { index: number; data: Uint8Array }[]; from: string[]; bad: string[] }> {
    const key = `${author}:${segment}`
    const dl: DownloadView = { author, segment, chunks: files.length, bytes: 0, total: 0, peers: 0, holders }
    this.downloads.set(key, dl)
    this.changed()
    try {
      const t0 = this.deps.clock.now()
      const res = await this.deps.swarm.fetch({ author, segment, count, files, holders }, (p: SwarmProgress) => {
        dl.bytes = p.bytes
        dl.total = p.total
        dl.peers = p.peers
        this.changed()
      })
      const t1 = this.deps.clock.now()
      this.stats.swarmMs += t1 - t0
      const out: { index: number; data: Uint8Array }[] = []
      const checked = () => (this.stats.verifyMs += this.deps.clock.now() - t1)
      for (const f of files) {
        const index = segment * SEGMENT_CHUNKS + f
        const data = res.files.get(f)
        if (!data) break
        const check = verifySealed(index, data, head.roots, head.checkpoint.size, this.C)
        if (!check.ok) {
          this.stats.rejectedChunks++
          this.deps.record('chunk-rejected', { author, index, seq: check.seq, reason: check.reason, seeders: res.from })
          checked()
          return { chunks: out, from: res.from, bad: res.from }
        }
        this.stats.fetchedChunks++
        this.stats.fetchedBytes += data.length
        out.push({ index, data })
      }
      checked()
      return { chunks: out, from: res.from, bad: [] }
    } catch {
      return { chunks: [], from: [], bad: [] }
    } finally {
      this.downloads.delete(key)
      this.changed()
    }
  }

  /** Frees room for `bytes` more within the storage budget by dropping the most replicated other series. */
  private async makeRoom(author: string, bytes: number): Promise<boolean> {
    for (;;) {
      const limits = this.deps.state()['limits'] as LimitsState
      if (limits.storageUsed + bytes <= limits.budgets.storageBytes) return true
      const st = this.chunksState()
      let victim: HeldSeries | null = null
      let most = -1
      for (const h of this.held.values()) {
        // Never a series a job is filling right now (it would go on writing into a dropped copy).
        if (h.author === author || this.jobs.has(h.author)) continue
        const n = Object.keys(st.holders[h.author] ?? {}).length
        if (n > most) {
          most = n
          victim = h
        }
      }
      if (!victim) return false
      await this.drop(victim.author, 'storage budget')
    }
  }

  /** Stops holding `author`'s series (recorded as `chunk-dropped`). */
  async drop(author: string, reason: string): Promise<void> {
    const h = this.held.get(author)
    if (!h) return
    this.held.delete(author)
    this.deps.swarm.forget?.(author)
    await this.deps.store.drop(author)
    this.deps.record('chunk-dropped', { author, chunks: h.chunks, bytes: h.bytes, reason })
    this.advertise()
  }

  // ---- replication ----

  private tick(): void {
    if (this.stopped) return
    void this.replicateOnce()
      .catch(() => undefined)
      .finally(() => {
        if (this.stopped) return
        const jitter = 0.75 + this.deps.rng.next() * 0.5
        this.cancelTick = this.deps.clock.setTimeout(() => this.tick(), this.o.replicateEveryMs * jitter)
      })
  }

  /** One replication step: catch up a held series that grew, or take on one that lacks holders. */
  async replicateOnce(): Promise<void> {
    if (!this.o.replicate || this.replicating || this.stopped) return
    this.replicating = true
    try {
      const now = this.deps.clock.now()
      for (const [a, at] of this.retryAt) if (at < now) this.retryAt.delete(a)
      const adverts = this.adverts()
      // Held series whose author or holders advertise more sealed chunks, or whose author is online (newer open chunk).
      for (const h of this.held.values()) {
        const most = Math.max(0, ...[...(adverts.get(h.author)?.values() ?? [])])
        const online = this.deps.mesh.known().some((k) => k.id === h.author && now - k.gossipAt < 30_000)
        const checked = this.lastHeadCheck.get(h.author) ?? 0
        // Each held series is brought up to date at most every 10 s, so taking on under-replicated ones gets its turns.
        if (this.deps.mesh.isBanned(h.author)) continue
        if (now - checked > 10_000 && (most > h.chunks || online)) {
          this.lastHeadCheck.set(h.author, now)
          const sources = [...(adverts.get(h.author) ?? new Map<string, number>())]
            .filter(([node, n]) => node !== this.deps.id && (n > h.chunks || node === h.author))
            .map(([id, n]) => ({ id, chunks: n, size: id === h.author ? Number.MAX_SAFE_INTEGER : n * this.C }))
          if (online && !sources.some((x) => x.id === h.author))
            sources.push({ id: h.author, chunks: h.chunks, size: Number.MAX_SAFE_INTEGER })
          await this.fetchSeries(h.author, 'replicate', sources)
          return
        }
      }
      const limits = this.deps.state()['limits'] as LimitsState
      // Taking on a series stores it: the economic limiter applies (unlike to serving one).
      if (decide(limits, this.deps.id, 'replicate', now).answer !== 'yes') return
      // Series with fewer holders than the target, fewest first; random among equals.
      const candidates: { author: string; holders: number }[] = []
      for (const [author, of] of adverts) {
        if (author === this.deps.id || this.held.has(author) || this.deps.mesh.isBanned(author)) continue
        if ((this.retryAt.get(author) ?? 0) > now) continue
        const holders = [...of.keys()].filter((n) => n !== author).length
        if (holders < this.o.replicationTarget) candidates.push({ author, holders })
      }
      if (candidates.length === 0) return
      const fewest = Math.min(...candidates.map((c) => c.holders))
      const pool = candidates.filter((c) => c.holders === fewest)
      const pick = pool[Math.floor(this.deps.rng.next() * pool.length)]!
      // Spread the work: about as many nodes step in at once as holders are missing.
      const missing = this.o.replicationTarget - pick.holders
      if (this.deps.rng.next() > Math.min(1, missing / Math.max(1, this.deps.mesh.known().length / 2))) return
      await this.fetchSeries(pick.author, 'replicate')
    } finally {
      this.replicating = false
    }
  }

  /** author → node → chunks, from fresh peer records (and this node's own holdings). */
  private adverts(): Map<string, Map<string, number>> {
    const now = this.deps.clock.now()
    const out = new Map<string, Map<string, number>>()
    const add = (author: string, node: string, n: number) => {
      if (n <= 0) return
      let m = out.get(author)
      if (!m) out.set(author, (m = new Map()))
      m.set(node, n)
    }
    for (const k of this.deps.mesh.known()) {
      if (now - k.gossipAt > 60_000) continue
      for (const [a, n] of k.holds) add(a, k.id, n)
    }
    for (const h of this.held.values()) add(h.author, this.deps.id, h.chunks)
    return out
  }

  /** Records what a peer record says its node holds, when it changed (derived state knows who holds what). */
  private onRecord(r: PeerRecord): void {
    const st = this.chunksState()
    const listed = new Map(r.h)
    const t = this.deps.clock.now()
    // Each node may add at most HOLDER_ENTRIES_PER_MIN `chunk-holders` entries a minute to this series.
    let quota = this.holderQuota.get(r.id)
    if (!quota || t - quota.since > 60_000) {
      quota = { since: t, left: HOLDER_ENTRIES_PER_MIN }
      this.holderQuota.set(r.id, quota)
    }
    if (this.holderQuota.size > 2000)
      for (const [k, q] of this.holderQuota) if (t - q.since > 60_000) this.holderQuota.delete(k)
    const left = quota
    const record = (body: { node: string; author: string; chunks: number }) => {
      if (left.left <= 0) return
      left.left--
      this.deps.record('chunk-holders', body)
    }
    // Growth is recorded coarsely (a quarter segment, or after 30 s) so a
    // catching-up holder does not fill every series with small steps.
    for (const [author, n] of r.h) {
      const was = st.holders[author]?.[r.id] ?? 0
      if (was === n) continue
      const key = `${r.id}:${author}`
      const last = this.holderRecordedAt.get(key) ?? 0
      if (was === 0 || n < was || n - was >= SEGMENT_CHUNKS / 4 || t - last > 30_000) {
        this.holderRecordedAt.set(key, t)
        record({ node: r.id, author, chunks: n })
      }
    }
    for (const [author, of] of Object.entries(st.holders))
      if (of[r.id] !== undefined && !listed.has(author)) record({ node: r.id, author, chunks: 0 })
    if (this.holderRecordedAt.size > 10_000) this.holderRecordedAt.clear()
  }

  private chunksState(): ChunksState {
    return this.deps.state()['chunks'] as ChunksState
  }

  /** A Series over a held copy: verified on open like one's own, read-only. */
  private async readOnlySeries(h: HeldSeries): Promise<Series> {
    const sealed = Math.floor(h.checkpoint.size / this.C)
    const chunks: Uint8Array[] = []
    for (let k = 0; k < sealed; k += SEGMENT_CHUNKS)
      for (const c of await this.deps.store.chunks(h.author, k, Math.min(sealed, k + SEGMENT_CHUNKS)))
        chunks.push(c.data)
    return openReadOnlySeries(
      { author: h.author, publicKey: h.publicKey, checkpoint: h.checkpoint, sealed: chunks, tail: h.tail },
      { verifier: this.deps.verifier, clock: this.deps.clock, reducers: this.deps.reducers, chunkSize: this.C },
    )
  }

  private changed(): void {
    for (const fn of this.listeners) {
      try {
        fn()
      } catch {
        // A listener's bug must not break chunks.
      }
    }
  }
}
