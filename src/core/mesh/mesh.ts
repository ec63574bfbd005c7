/**
 * The partial mesh. A node keeps about `targetDegree` WebRTC links to other
 * nodes of its mesh, replaces lost ones, and learns of nodes from the
 * bootstrap server's samples and from signed peer records gossiped over the
 * mesh.
 *
 * Connecting: the initiator makes a link and every signal it produces is
 * wrapped in a SignalPayload signed by its author (so neither the server nor
 * relaying peers can alter an SDP), then carried either by the bootstrap
 * server or — once the node has a peer — hop by hop through the mesh (`sig`
 * frames, routed towards peers whose records list the target, else flooded
 * with a small TTL). The server is the fallback. Glare (both sides offering)
 * is settled by id: the lower id's offer wins.
 *
 * On open, each side sends a signed `hello` naming itself and the other; the
 * link carries nothing else until the hello checks out. Then `peer-connected`
 * (with how it was signaled) is recorded in the series, and `peer-disconnected`
 * when it ends. Every frame is size-capped, decoded defensively and rate
 * limited per link; bad frames are dropped and counted, and a peer that keeps
 * sending them or floods is disconnected and the event recorded.
 */
import { nodeIdFromPublicKey } from '../identity.ts'
import type { JsonValue } from '../json.ts'
import type { Bootstrap, BootstrapState, Clock, Link, PeerInfo, Rng, Signer, Transport, Verifier } from '../ports.ts'
import { fromHex, toHex } from '../series/hash.ts'
import {
  decodeFrame,
  encodeFrame,
  MAX_FRAME_BYTES,
  MAX_RECORD_HOLDS,
  MAX_RECORD_PEERS,
  signedBytes,
  type Frame,
  type PeerRecord,
  type SignalPayload,
  type SignedFrame,
} from './frames.ts'

export interface MeshOptions {
  /** Links to keep (D). Default 6. */
  targetDegree?: number
  /** Links accepted at most, including ones opened to answer an intent. Default D + 4. */
  maxDegree?: number
  /** Maintenance period. Default 1000 ms. */
  tickMs?: number
  connectTimeoutMs?: number
  /** Own peer record is re-sent this often (and on change). Default 10 s. */
  recordEveryMs?: number
  /** Hops a peer record travels. Default 3. */
  recordTtl?: number
  /** A node not heard of for this long is forgotten. Default 60 s. */
  recordMaxAgeMs?: number
  /**
   * How often to look for parts of the mesh this node no longer hears of
   * (after a partition heals): it asks the server for a sample and dials one
   * sampled node whose peer record has not reached it lately. Default 15 s.
   */
  exploreEveryMs?: number
  /**
   * Links (ready or pending) this node holds at most, whatever their purpose.
   * Chromium refuses a page's 501st live RTCPeerConnection. Default 64.
   */
  linkBudget?: number
  /** Let unsigned probe frames through (the mesh benchmark's baseline). Default false. */
  probes?: boolean
  /** Per-link frame rate: sustained per second and burst. Default 400 / 800. */
  frameRate?: number
  frameBurst?: number
  /** Bad frames (malformed, bad signature) tolerated from one link before disconnecting it. Default 20. */
  maxBadFrames?: number
  /** Frames over the rate tolerated from one link before disconnecting it. Default 1000. */
  maxFloodFrames?: number
}

export type Via = 'server' | 'mesh'
export type Purpose = 'mesh' | 'response'

/** What the inspector shows of a link. */
export interface PeerView {
  id: string
  state: 'connecting' | 'open' | 'ready'
  via: Via
  initiator: boolean
  purpose: Purpose
  since: number
  rttMs: number | null
  framesIn: number
  framesOut: number
  dropped: number
}

export interface KnownNode {
  id: string
  key: string
  /** Time of its latest peer record (0 if only the server introduced it). */
  t: number
  peers: string[]
  /** Series whose sealed chunks it says it holds: [author, chunks]. */
  holds: [string, number][]
  seenAt: number
  /** When its latest signed record reached us (0: never). */
  gossipAt: number
  /** Its key-agreement public key from its latest signed record (see PeerRecord.ek), or null. */
  ek: string | null
  source: 'server' | 'gossip'
}

export interface MeshStats {
  framesIn: number
  framesOut: number
  dropped: {
    oversize: number
    malformed: number
    badSignature: number
    notReady: number
    flood: number
    stale: number
    duplicate: number
  }
  linksCreated: number
  connected: { server: number; mesh: number }
  signalsRelayed: number
  abuseDisconnects: number
  /** Offers this node made that were answered "busy" (the other side was full). */
  refusedBusy: number
  /** Signals this node sent, received (addressed to it, verified), and received without a matching link. */
  signals: { sent: number; received: number; unmatched: number }
  /** The latest link attempts that failed, newest last (at most 20). */
  failures: { id: string; via: Via; initiator: boolean; reason: string; ms: number }[]
}

export interface MeshDeps {
  id: string
  /** Hex raw Ed25519 public key of this node. */
  publicKey: string
  signer: Signer
  verifier: Verifier
  clock: Clock
  rng: Rng
  transport: Transport
  bootstrap: Bootstrap | null
  /** Appends an entry to the node's series. */
  record(kind: string, body: JsonValue): void
  /** This node's key-agreement public key, published in its peer records (PeerRecord.ek). */
  agreementKey?: string
  options?: MeshOptions
}

type FrameHandler<T extends Frame['t']> = (from: string, frame: Extract<Frame, { t: T }>) => void

interface Conn {
  id: string
  key: string | null
  link: Link
  nonce: string
  initiator: boolean
  via: Via
  purpose: Purpose
  state: 'connecting' | 'open' | 'ready'
  createdAt: number
  readyAt: number
  framesIn: number
  framesOut: number
  dropped: number
  bad: number
  flood: number
  tokens: number
  refilledAt: number
  rttMs: number | null
  pings: Map<number, number>
  waiters: ((ok: boolean) => void)[]
  /** When a frame other than ping/pong last went either way. */
  usedAt: number
  /** The remote's time on the signal that made this link (offer or answer); older offers can't replace it. */
  remoteT: number | null
  /** Neighbour a mesh-signaled offer came through, to route the answer back. */
  cameVia: string | null
}

const FRESH_MS = 5 * 60_000
/** Nodes remembered at most (the default intent targets come from here; ids are cheap to mint). */
const MAX_KNOWN = 1000
/** Hops a relayed signal may still travel, whatever its sender says. */
const SIGNAL_TTL = 4
/** Relayed signals per author per minute. */
const RELAYS_PER_AUTHOR = 30
const MIN_RECORD_INTERVAL_MS = 1000
const SEEN_MS = 60_000

export class Mesh {
  readonly id: string
  readonly publicKey: string
  readonly stats: MeshStats = {
    framesIn: 0,
    framesOut: 0,
    dropped: { oversize: 0, malformed: 0, badSignature: 0, notReady: 0, flood: 0, stale: 0, duplicate: 0 },
    linksCreated: 0,
    connected: { server: 0, mesh: 0 },
    signalsRelayed: 0,
    abuseDisconnects: 0,
    refusedBusy: 0,
    signals: { sent: 0, received: 0, unmatched: 0 },
    failures: [],
  }
  bootstrapState: BootstrapState = 'closed'
  private readonly deps: MeshDeps
  private readonly o: Required<MeshOptions>
  private readonly conns = new Map<string, Conn>()
  private readonly knownNodes = new Map<string, KnownNode>()
  private readonly backoff = new Map<string, { until: number; fails: number; viaServer: boolean }>()
  private readonly seen = new Map<string, number>()
  /** Peers disconnected for abuse, refused until the time given. */
  private readonly banned = new Map<string, number>()
  /** Signals relayed per author in the current minute. */
  private readonly relayed = new Map<string, { since: number; n: number }>()
  /** Offers accepted (author:nonce → when), so a replayed offer cannot replace a live link. */
  private readonly accepted = new Map<string, number>()
  /** Probes seen: id → neighbour it came from (null for our own). */
  private readonly probes = new Map<string, string | null>()
  private readonly probeWaits = new Map<
    string,
    { want: number; from: Set<string>; started: number; done: (r: { ms: number; echoes: number }) => void }
  >()
  private readonly handlers: { intent?: FrameHandler<'intent'>; resp?: FrameHandler<'resp'> } = {}
  private readonly listeners = new Set<() => void>()
  private recordFrame: SignedFrame | null = null
  private recordDirty = true
  private holdings: [string, number][] = []
  private readonly recordListeners = new Set<(r: PeerRecord) => void>()
  private readonly channels = new Map<string, (from: string, d: JsonValue) => void>()
  private lastRecordAt = 0
  private lastSampleAt = -Infinity
  private nextExploreAt = 0
  private exploring = false
  private pingSeq = 0
  private cancelTick: (() => void) | null = null
  private stopped = false
  private changeQueued = false

  constructor(deps: MeshDeps) {
    this.deps = deps
    this.id = deps.id
    this.publicKey = deps.publicKey
    const o = deps.options ?? {}
    const D = o.targetDegree ?? 6
    this.o = {
      targetDegree: D,
      maxDegree: o.maxDegree ?? D + 4,
      tickMs: o.tickMs ?? 1000,
      connectTimeoutMs: o.connectTimeoutMs ?? 5_000,
      recordEveryMs: o.recordEveryMs ?? 10_000,
      recordTtl: o.recordTtl ?? 3,
      recordMaxAgeMs: o.recordMaxAgeMs ?? 60_000,
      exploreEveryMs: o.exploreEveryMs ?? 15_000,
      linkBudget: o.linkBudget ?? 64,
      probes: o.probes ?? false,
      frameRate: o.frameRate ?? 400,
      frameBurst: o.frameBurst ?? 800,
      maxBadFrames: o.maxBadFrames ?? 20,
      maxFloodFrames: o.maxFloodFrames ?? 1000,
    }
  }

  get options(): Readonly<Required<MeshOptions>> {
    return this.o
  }

  start(): void {
    // Links of an earlier session (before a reload) are gone: derived state starts over from here.
    this.deps.record('mesh-started', { targetDegree: this.o.targetDegree })
    const b = this.deps.bootstrap
    if (b) {
      b.start({
        onState: (state) => {
          this.bootstrapState = state
          this.changed()
        },
        onPeers: (peers) => {
          this.learn(peers, 'server')
          if (this.exploring) this.explore(peers)
          else this.fill(this.deps.clock.now())
        },
        onSignal: (from, data) => this.onServerSignal(from, data),
        onError: (code, _message, to) => {
          if (code === 'NOT_PRESENT' && to) {
            const c = this.conns.get(to)
            if (c && c.via === 'server' && c.state === 'connecting') this.fail(c, 'not present at the server')
          }
        },
      })
    }
    this.tick()
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.cancelTick?.()
    this.deps.bootstrap?.stop()
    for (const c of [...this.conns.values()]) c.link.close()
    this.listeners.clear()
  }

  on<T extends 'intent' | 'resp'>(type: T, handler: FrameHandler<T>): void {
    ;(this.handlers as Record<string, unknown>)[type] = handler
  }

  /** Called (coalesced) when peers, known nodes or the server state change. */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /** What this node's next peer record says it holds (see PeerRecord.h). */
  setHoldings(h: [string, number][]): void {
    const same =
      h.length === this.holdings.length &&
      h.every(([a, n], i) => this.holdings[i]![0] === a && this.holdings[i]![1] === n)
    if (same) return
    this.holdings = h.slice()
    this.recordDirty = true
  }

  /** Called with every new, verified peer record of another node. */
  onPeerRecord(fn: (r: PeerRecord) => void): () => void {
    this.recordListeners.add(fn)
    return () => this.recordListeners.delete(fn)
  }

  /** The native connection of the ready link to `id` (see Link.native), and who initiated it. */
  native(id: string): { link: unknown; initiator: boolean } | null {
    const c = this.conns.get(id)
    const link = c?.state === 'ready' ? c.link.native : undefined
    return c && link ? { link, initiator: c.initiator } : null
  }

  /** Handles direct frames (`x`) on channel `c` from linked peers. */
  onDirect(c: string, fn: (from: string, d: JsonValue) => void): void {
    this.channels.set(c, fn)
  }

  /** Sends a direct frame on channel `c` to a ready peer; false if there is no such link or it is too big. */
  sendDirect(to: string, c: string, d: JsonValue): boolean {
    return this.send(to, { t: 'x', c, d })
  }

  peers(): PeerView[] {
    return [...this.conns.values()].map((c) => ({
      id: c.id,
      state: c.state,
      via: c.via,
      initiator: c.initiator,
      purpose: c.purpose,
      since: c.state === 'ready' ? c.readyAt : c.createdAt,
      rttMs: c.rttMs,
      framesIn: c.framesIn,
      framesOut: c.framesOut,
      dropped: c.dropped,
    }))
  }

  readyPeers(): string[] {
    const out: string[] = []
    for (const c of this.conns.values()) if (c.state === 'ready') out.push(c.id)
    return out
  }

  isReady(id: string): boolean {
    return this.conns.get(id)?.state === 'ready'
  }

  known(): KnownNode[] {
    return [...this.knownNodes.values()]
  }

  knownKey(id: string): string | null {
    return this.knownNodes.get(id)?.key ?? this.conns.get(id)?.key ?? null
  }

  /** Sends a frame to a ready peer. */
  send(id: string, frame: Frame): boolean {
    const c = this.conns.get(id)
    if (c?.state !== 'ready') return false
    const bytes = encodeFrame(frame)
    // Never send what the other side must refuse (a forwarded frame can grow when re-encoded).
    if (bytes.length > MAX_FRAME_BYTES) return false
    c.usedAt = this.deps.clock.now()
    return this.write(c, bytes)
  }

  /** Sends a frame to every ready peer except `except`; returns how many got it. */
  broadcast(frame: Frame, except?: string): number {
    const bytes = encodeFrame(frame)
    let n = 0
    for (const c of this.conns.values()) if (c.state === 'ready' && c.id !== except && this.write(c, bytes)) n++
    return n
  }

  /** Signs a payload as this node for a frame of type `type`. */
  async sign(type: SignedFrame['t'], p: JsonValue): Promise<string> {
    return toHex(await this.deps.signer.sign(signedBytes(type, p)))
  }

  /** Checks that `key` belongs to `id` and signed `p` as a `type` frame. */
  async verify(type: SignedFrame['t'], p: JsonValue, id: string, key: string, sig: string): Promise<boolean> {
    const k = fromHex(key)
    const s = fromHex(sig)
    if (!k || k.length !== 32 || !s || s.length !== 64 || nodeIdFromPublicKey(k) !== id) return false
    try {
      return await this.deps.verifier.verify(k, signedBytes(type, p), s)
    } catch {
      return false
    }
  }

  /** Counts a frame a higher layer rejected (bad signature, stale), against the link it came from. */
  reject(from: string, why: 'badSignature' | 'stale' | 'malformed'): void {
    this.stats.dropped[why]++
    const c = this.conns.get(from)
    if (c) {
      c.dropped++
      c.bad++
      this.checkAbuse(c)
    }
  }

  countDuplicate(): void {
    this.stats.dropped.duplicate++
  }

  /** Closes the link to `id` and does not redial it for `forMs` (default 60 s). */
  disconnect(id: string, forMs = 60_000): boolean {
    const c = this.conns.get(id)
    if (!c) return false
    this.backoff.set(id, { until: this.deps.clock.now() + forMs, fails: 0, viaServer: false })
    c.link.close()
    return true
  }

  /** Test seam: writes raw bytes on the link to `id`, bypassing encoding. */
  _testOnlySendRaw(id: string, bytes: Uint8Array): boolean {
    const c = this.conns.get(id)
    return c ? c.link.send(bytes) : false
  }

  /** Counts a frame that came too late to matter (not held against the sender). */
  countStale(): void {
    this.stats.dropped.stale++
  }

  /**
   * Connects to `id` (through the mesh when this node has a peer, else via the
   * server). Resolves true once the link is ready, false if `attempts`
   * attempts (default 2) each failed or timed out. A second attempt is made
   * because a rare attempt stalls in the browser with its signals sent (see
   * `stats.failures`) while a fresh one succeeds.
   */
  async connect(id: string, purpose: Purpose = 'mesh', attempts = 2): Promise<boolean> {
    for (let i = 0; i < attempts && !this.stopped; i++) {
      if (await this.attempt(id, purpose)) return true
    }
    return false
  }

  private attempt(id: string, purpose: Purpose): Promise<boolean> {
    const existing = this.conns.get(id)
    if (existing?.state === 'ready') return Promise.resolve(true)
    return new Promise((resolve) => {
      let settled = false
      const done = (ok: boolean) => {
        if (!settled) {
          settled = true
          resolve(ok)
        }
      }
      this.deps.clock.setTimeout(() => done(false), this.o.connectTimeoutMs + 100)
      if (existing) {
        existing.waiters.push(done)
        return
      }
      const c = this.dial(id, purpose)
      if (c) c.waiters.push(done)
      else done(false)
    })
  }

  // ---- connecting ----

  private dial(id: string, purpose: Purpose): Conn | null {
    if (this.stopped || id === this.id || this.conns.has(id) || this.isBanned(id)) return null
    if (this.conns.size >= this.o.linkBudget) return null
    const b = this.backoff.get(id)
    // Mesh signaling only reaches nodes in our part of the mesh: ones whose
    // signed record came to us over it lately. A node only the server told us
    // about may be in another island (two late joiners linked to each other).
    const k = this.knownNodes.get(id)
    const reachable =
      k !== undefined && k.gossipAt > 0 && this.deps.clock.now() - k.gossipAt < 2.5 * this.o.recordEveryMs
    const canMesh =
      this.readyPeers().length > 0 && !(b?.viaServer ?? false) && (reachable || this.bootstrapState !== 'open')
    const canServer = this.bootstrapState === 'open'
    const via: Via | null = canMesh ? 'mesh' : canServer ? 'server' : this.readyPeers().length > 0 ? 'mesh' : null
    if (!via) return null
    return this.open(id, this.knownKey(id), true, via, purpose, this.nonce(), null)
  }

  private open(
    id: string,
    key: string | null,
    initiator: boolean,
    via: Via,
    purpose: Purpose,
    nonce: string,
    cameVia: string | null,
  ): Conn {
    const now = this.deps.clock.now()
    this.stats.linksCreated++
    const c: Conn = {
      id,
      key,
      nonce,
      initiator,
      via,
      purpose,
      state: 'connecting',
      createdAt: now,
      readyAt: 0,
      framesIn: 0,
      framesOut: 0,
      dropped: 0,
      bad: 0,
      flood: 0,
      tokens: this.o.frameBurst,
      refilledAt: now,
      rttMs: null,
      pings: new Map(),
      waiters: [],
      usedAt: now,
      remoteT: null,
      cameVia,
      link: null as unknown as Link,
    }
    this.conns.set(id, c)
    c.link = this.deps.transport.createLink(
      { initiator },
      {
        onSignal: (d) => void this.sendSignal(c, d),
        onOpen: () => this.onOpen(c),
        onData: (bytes) => this.onData(c, bytes),
        onClose: (reason) => this.onClose(c, reason),
      },
    )
    this.changed()
    return c
  }

  private nonce(): string {
    let s = ''
    for (let i = 0; i < 16; i++) s += Math.floor(this.deps.rng.next() * 36).toString(36)
    return s
  }

  private async sendSignal(c: Conn, d: JsonValue): Promise<void> {
    if (this.conns.get(c.id) !== c) return
    const p: SignalPayload = {
      from: this.id,
      key: this.publicKey,
      to: c.id,
      n: c.nonce,
      i: c.initiator,
      d,
      t: Math.trunc(this.deps.clock.now()),
    }
    const s = await this.sign('sig', p)
    if (this.conns.get(c.id) !== c) return
    this.stats.signals.sent++
    if (c.via === 'server') {
      if (!this.deps.bootstrap?.signal(c.id, { p, s })) this.fail(c, 'server not connected')
      return
    }
    this.routeSignal({ t: 'sig', p, s, ttl: 4 }, null, c.cameVia)
  }

  /** Sends a `sig` frame towards p.to: directly, via a neighbour that knows it, back the way the offer came, or flooded. */
  private routeSignal(f: Extract<Frame, { t: 'sig' }>, from: string | null, preferred: string | null): void {
    const to = f.p.to
    if (this.isReady(to)) {
      this.send(to, f)
      return
    }
    if (preferred && preferred !== from && this.send(preferred, f)) return
    if (f.ttl <= 0) return
    const next = { ...f, ttl: f.ttl - 1 }
    const ready = this.readyPeers().filter((p) => p !== from)
    const knowers = ready.filter((p) => this.knownNodes.get(p)?.peers.includes(to))
    for (const p of knowers.length > 0 ? knowers.slice(0, 2) : ready) this.send(p, next)
  }

  private onServerSignal(from: string, data: JsonValue): void {
    const env = data as { p?: unknown; s?: unknown } | null
    if (typeof env !== 'object' || env === null) return
    const bytes = encodeFrame({ t: 'sig', p: env.p, s: env.s, ttl: 0 } as unknown as Frame)
    const d = decodeFrame(bytes)
    if (!d.ok || d.frame.t !== 'sig' || d.frame.p.from !== from) {
      this.stats.dropped.malformed++
      return
    }
    void this.acceptSignal(d.frame.p, d.frame.s, 'server', null)
  }

  private async acceptSignal(p: SignalPayload, s: string, via: Via, cameVia: string | null): Promise<void> {
    if (p.to !== this.id || p.from === this.id) return
    if (Math.abs(this.deps.clock.now() - p.t) > FRESH_MS) {
      this.stats.dropped.stale++
      return
    }
    if (!(await this.verify('sig', p, p.from, p.key, s))) {
      this.stats.dropped.badSignature++
      return
    }
    if (this.stopped) return
    this.stats.signals.received++
    const c = this.conns.get(p.from)
    if (p.i) {
      const offerKey = `${p.from}:${p.n}`
      if (this.accepted.has(offerKey) && !(c && c.nonce === p.n)) return this.countDuplicate()
      if (c && c.nonce !== p.n && c.remoteT !== null && p.t <= c.remoteT) return this.countStale()
      this.accepted.set(offerKey, this.deps.clock.now())
      if (c && c.nonce === p.n) return c.link.signal(p.d)
      // Whoever waits for a link to this node waits for the one that wins.
      let waiters: ((ok: boolean) => void)[] = []
      if (c && c.initiator && c.state === 'connecting') {
        if (this.id < p.from) return // glare: our offer wins
        waiters = c.waiters.splice(0)
        this.drop(c)
      } else if (c) {
        // The remote made a new link while we still hold an old one: it lost it (e.g. a reload).
        waiters = c.waiters.splice(0)
        this.drop(c)
      }
      if (this.isBanned(p.from)) return waiters.forEach((w) => w(false))
      if (this.conns.size >= this.o.maxDegree || this.conns.size >= this.o.linkBudget) {
        waiters.forEach((w) => w(false))
        // Say so, signed, so the dialer tries someone else now rather than at its timeout.
        return void this.refuse(p, via, cameVia)
      }
      this.learn([{ id: p.from, publicKey: p.key }], via === 'server' ? 'server' : 'gossip')
      const fresh = this.open(p.from, p.key, false, via, 'mesh', p.n, cameVia)
      fresh.remoteT = p.t
      fresh.waiters.push(...waiters)
      fresh.link.signal(p.d)
    } else if (c && c.nonce === p.n && c.initiator) {
      c.key = p.key
      c.remoteT = p.t
      const d = p.d as { busy?: unknown } | null
      if (typeof d === 'object' && d !== null && d.busy === true) {
        this.stats.refusedBusy++
        this.fail(c, 'busy')
        this.fill(this.deps.clock.now())
        return
      }
      c.link.signal(p.d)
    } else this.stats.signals.unmatched++
  }

  private async refuse(offer: SignalPayload, via: Via, cameVia: string | null): Promise<void> {
    const p: SignalPayload = {
      from: this.id,
      key: this.publicKey,
      to: offer.from,
      n: offer.n,
      i: false,
      d: { busy: true },
      t: Math.trunc(this.deps.clock.now()),
    }
    const s = await this.sign('sig', p)
    if (via === 'server') this.deps.bootstrap?.signal(offer.from, { p, s })
    else this.routeSignal({ t: 'sig', p, s, ttl: 4 }, null, cameVia)
  }

  /** Closes a link without a failure mark (replaced or lost glare). */
  private drop(c: Conn): void {
    if (this.conns.get(c.id) === c) this.conns.delete(c.id)
    c.link.close()
  }

  isBanned(id: string): boolean {
    const until = this.banned.get(id)
    if (until === undefined) return false
    if (until > this.deps.clock.now()) return true
    this.banned.delete(id)
    return false
  }

  private noteFailure(c: Conn, reason: string): void {
    const f = this.stats.failures
    f.push({
      id: c.id,
      via: c.via,
      initiator: c.initiator,
      reason: reason.slice(0, 120),
      ms: Math.trunc(this.deps.clock.now() - c.createdAt),
    })
    if (f.length > 20) f.shift()
  }

  private fail(c: Conn, why: string): void {
    this.noteFailure(c, why)
    const b = this.backoff.get(c.id) ?? { until: 0, fails: 0, viaServer: false }
    b.fails++
    b.viaServer = c.via === 'mesh' && this.bootstrapState === 'open'
    b.until = this.deps.clock.now() + Math.min(60_000, 1000 * 2 ** Math.min(b.fails, 6)) * (0.5 + this.deps.rng.next())
    this.backoff.set(c.id, b)
    if (this.conns.get(c.id) === c) this.conns.delete(c.id)
    for (const w of c.waiters.splice(0)) w(false)
    c.link.close()
    this.changed()
  }

  // ---- link events ----

  private onOpen(c: Conn): void {
    if (this.conns.get(c.id) !== c) return c.link.close()
    c.state = 'open'
    const p = { id: this.id, key: this.publicKey, to: c.id, t: Math.trunc(this.deps.clock.now()) }
    void this.sign('hello', p).then((s) => {
      if (this.conns.get(c.id) === c) this.write(c, encodeFrame({ t: 'hello', p, s }))
    })
    this.changed()
  }

  private onClose(c: Conn, reason: string): void {
    if (this.stopped) return
    const current = this.conns.get(c.id) === c
    if (current) this.conns.delete(c.id)
    for (const w of c.waiters.splice(0)) w(false)
    if (c.state === 'ready') {
      this.stats.connected[c.via]--
      this.deps.record('peer-disconnected', {
        peer: c.id,
        reason: reason.slice(0, 120),
        ms: Math.trunc(this.deps.clock.now() - c.readyAt),
      })
      this.recordDirty = true
    } else if (current && c.initiator) {
      this.fail(c, reason)
    } else if (current) {
      this.noteFailure(c, reason)
    }
    c.state = 'connecting'
    this.changed()
  }

  private write(c: Conn, bytes: Uint8Array): boolean {
    if (!c.link.send(bytes)) return false
    c.framesOut++
    this.stats.framesOut++
    return true
  }

  private dropFrame(c: Conn, why: keyof MeshStats['dropped'], bad: boolean): void {
    this.stats.dropped[why]++
    c.dropped++
    if (bad) c.bad++
    this.checkAbuse(c)
  }

  private checkAbuse(c: Conn): void {
    if (c.bad <= this.o.maxBadFrames && c.flood <= this.o.maxFloodFrames) return
    if (this.conns.get(c.id) !== c) return
    const reason =
      c.bad > this.o.maxBadFrames ? `abuse: ${c.bad} bad frames` : `abuse: flooding (${c.flood} frames over the rate)`
    this.stats.abuseDisconnects++
    this.deps.record('peer-dropped', { peer: c.id, reason })
    this.banned.set(c.id, this.deps.clock.now() + 10 * 60_000)
    this.conns.delete(c.id)
    c.link.close()
  }

  private onData(c: Conn, bytes: Uint8Array): void {
    if (this.stopped || this.conns.get(c.id) !== c) return
    this.stats.framesIn++
    c.framesIn++
    const now = this.deps.clock.now()
    c.tokens = Math.min(this.o.frameBurst, c.tokens + ((now - c.refilledAt) * this.o.frameRate) / 1000)
    c.refilledAt = now
    if (c.tokens < 1) {
      c.flood++
      return this.dropFrame(c, 'flood', false)
    }
    c.tokens--
    if (bytes.length > MAX_FRAME_BYTES) return this.dropFrame(c, 'oversize', true)
    const d = decodeFrame(bytes)
    if (!d.ok) return this.dropFrame(c, 'malformed', true)
    const f = d.frame
    if (c.state !== 'ready' && f.t !== 'hello') return this.dropFrame(c, 'notReady', false)
    if (f.t !== 'ping' && f.t !== 'pong') c.usedAt = now
    switch (f.t) {
      case 'hello':
        return void this.onHello(c, f)
      case 'ping':
        this.write(c, encodeFrame({ t: 'pong', n: f.n }))
        return
      case 'pong': {
        const sent = c.pings.get(f.n)
        if (sent !== undefined) {
          c.pings.delete(f.n)
          c.rttMs = now - sent
        }
        return
      }
      case 'peer':
        return void this.onRecord(c, f)
      case 'sig':
        return void this.onMeshSignal(c, f)
      case 'probe':
      case 'echo':
        if (!this.o.probes) return this.dropFrame(c, 'notReady', false)
        return f.t === 'probe' ? this.onProbe(c, f) : this.onEcho(c, f)
      case 'x': {
        const h = this.channels.get(f.c)
        if (!h) return this.dropFrame(c, 'malformed', true)
        try {
          h(c.id, f.d)
        } catch {
          // A handler's bug must not break the link.
        }
        return
      }
      case 'intent':
        return this.handlers.intent?.(c.id, f)
      case 'resp':
        return this.handlers.resp?.(c.id, f)
    }
  }

  private async onHello(c: Conn, f: Extract<Frame, { t: 'hello' }>): Promise<void> {
    const p = f.p
    if (c.state === 'ready') return this.dropFrame(c, 'duplicate', false)
    if (p.to !== this.id || p.id !== c.id || (c.key !== null && c.key !== p.key))
      return this.dropFrame(c, 'malformed', true)
    if (Math.abs(this.deps.clock.now() - p.t) > FRESH_MS) return this.dropFrame(c, 'stale', true)
    if (!(await this.verify('hello', p, p.id, p.key, f.s))) return this.dropFrame(c, 'badSignature', true)
    if (this.conns.get(c.id) !== c || c.state !== 'open') return
    c.state = 'ready'
    c.key = p.key
    c.readyAt = this.deps.clock.now()
    this.stats.connected[c.via]++
    this.backoff.delete(c.id)
    this.learn([{ id: c.id, publicKey: p.key }], 'gossip')
    this.deps.record('peer-connected', { peer: c.id, via: c.via, initiator: c.initiator, purpose: c.purpose })
    for (const w of c.waiters.splice(0)) w(true)
    this.recordDirty = true
    this.fill(this.deps.clock.now())
    void this.ownRecord().then((r) => r && this.send(c.id, r))
    this.changed()
  }

  private async onRecord(c: Conn, f: Extract<Frame, { t: 'peer' }>): Promise<void> {
    const p: PeerRecord = f.p
    if (p.id === this.id) return
    const k = this.knownNodes.get(p.id)
    if (k && k.t >= p.t) return this.countDuplicate()
    // At most one record per node per second is taken (and relayed): records are signed by their
    // node, so a node could otherwise churn them as fast as links carry frames.
    if (k && k.gossipAt > 0 && this.deps.clock.now() - k.gossipAt < MIN_RECORD_INTERVAL_MS) return this.countDuplicate()
    if (p.t > this.deps.clock.now() + FRESH_MS) return this.dropFrame(c, 'stale', true)
    // A record older than the forget horizon (e.g. a replayed one of a node that left) is not news.
    if (p.t < this.deps.clock.now() - this.o.recordMaxAgeMs) return this.countStale()
    if (!(await this.verify('peer', p, p.id, p.key, f.s))) return this.dropFrame(c, 'badSignature', true)
    const again = this.knownNodes.get(p.id)
    if (again && again.t >= p.t) return
    const now = this.deps.clock.now()
    this.knownNodes.set(p.id, {
      id: p.id,
      key: p.key,
      t: p.t,
      peers: p.peers,
      holds: p.h,
      seenAt: now,
      gossipAt: now,
      ek: p.ek ?? null,
      source: 'gossip',
    })
    if (this.knownNodes.size > MAX_KNOWN) this.forgetOldest()
    const ttl = Math.min(f.ttl, this.o.recordTtl)
    if (ttl > 0) this.broadcast({ ...f, ttl: ttl - 1 }, c.id)
    for (const fn of this.recordListeners) fn(p)
    this.changed()
  }

  private async onMeshSignal(c: Conn, f: Extract<Frame, { t: 'sig' }>): Promise<void> {
    const key = `sig:${f.p.from}:${f.p.n}:${f.p.i ? 1 : 0}`
    if (this.seen.has(key)) return this.countDuplicate()
    if (f.p.to === this.id) {
      this.seen.set(key, this.deps.clock.now())
      return this.acceptSignal(f.p, f.s, 'mesh', c.id)
    }
    // Relays check the author's signature first (so a forged or tampered copy
    // neither spreads nor suppresses the real one), and carry at most a few
    // hops and a few signals a minute per author: relaying must not amplify.
    if (!(await this.verify('sig', f.p, f.p.from, f.p.key, f.s))) return this.dropFrame(c, 'badSignature', true)
    if (this.seen.has(key)) return this.countDuplicate()
    this.seen.set(key, this.deps.clock.now())
    const now = this.deps.clock.now()
    const r = this.relayed.get(f.p.from)
    if (r && now - r.since < 60_000 && r.n >= RELAYS_PER_AUTHOR) return this.countStale()
    if (!r || now - r.since >= 60_000) this.relayed.set(f.p.from, { since: now, n: 1 })
    else r.n++
    this.stats.signalsRelayed++
    this.routeSignal({ ...f, ttl: Math.min(f.ttl, SIGNAL_TTL) }, c.id, null)
  }

  // ---- probes: the raw flood-and-echo baseline ----

  /**
   * Floods an unsigned probe and resolves when `want` distinct nodes echoed
   * it (or after `timeoutMs`). Echoes travel like answers: direct over an
   * existing link, else back along the probe's path. No signing, no series.
   */
  probe(want: number, ttl = 6, timeoutMs = 10_000): Promise<{ ms: number; echoes: number }> {
    let i = ''
    for (let k = 0; k < 32; k++) i += Math.floor(this.deps.rng.next() * 16).toString(16)
    return new Promise((resolve) => {
      const started = this.deps.clock.now()
      const from = new Set<string>()
      const done = (r: { ms: number; echoes: number }) => {
        this.probeWaits.delete(i)
        resolve(r)
      }
      this.probeWaits.set(i, { want, from, started, done })
      this.probes.set(i, null)
      this.broadcast({ t: 'probe', i, o: this.id, ttl: ttl - 1 })
      this.deps.clock.setTimeout(() => {
        if (this.probeWaits.has(i)) done({ ms: this.deps.clock.now() - started, echoes: from.size })
      }, timeoutMs)
    })
  }

  private onProbe(c: Conn, f: Extract<Frame, { t: 'probe' }>): void {
    if (this.probes.has(f.i)) return this.countDuplicate()
    this.probes.set(f.i, c.id)
    if (this.probes.size > 1000) this.probes.delete(this.probes.keys().next().value!)
    if (f.ttl > 0) this.flood({ ...f, ttl: f.ttl - 1 }, c.id)
    if (f.o === this.id) return
    const echo: Frame = { t: 'echo', i: f.i, o: f.o, f: this.id }
    if (!this.send(f.o, echo)) this.send(c.id, echo)
  }

  private onEcho(c: Conn, f: Extract<Frame, { t: 'echo' }>): void {
    if (f.o !== this.id) {
      const back = this.probes.get(f.i)
      if (back && back !== c.id) this.send(back, f)
      return
    }
    const w = this.probeWaits.get(f.i)
    if (!w) return
    w.from.add(f.f)
    if (w.from.size >= w.want) w.done({ ms: this.deps.clock.now() - w.started, echoes: w.from.size })
  }

  // ---- knowledge ----

  private learn(peers: PeerInfo[], source: 'server' | 'gossip'): void {
    const now = this.deps.clock.now()
    for (const p of peers) {
      if (p.id === this.id) continue
      const k = this.knownNodes.get(p.id)
      if (k) k.seenAt = now
      else if (this.knownNodes.size >= MAX_KNOWN) continue
      else
        this.knownNodes.set(p.id, {
          id: p.id,
          key: p.publicKey,
          t: 0,
          peers: [],
          holds: [],
          seenAt: now,
          gossipAt: 0,
          ek: null,
          source,
        })
    }
    this.changed()
  }

  /** Dials known nodes (at once, in parallel) until links — ready or pending — reach the target degree. */
  private fill(now: number): void {
    if (this.stopped) return
    let live = 0
    for (const c of this.conns.values()) if (c.purpose === 'mesh' || c.state === 'ready') live++
    if (live >= this.o.targetDegree) return
    const candidates = [...this.knownNodes.keys()].filter(
      (id) => !this.conns.has(id) && (this.backoff.get(id)?.until ?? 0) <= now,
    )
    for (let i = candidates.length - 1; i > 0; i--) {
      const j = Math.floor(this.deps.rng.next() * (i + 1))
      ;[candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!]
    }
    // Without a peer yet, only a couple of links are bootstrapped through the server;
    // the rest are signaled through the mesh once the first link is up.
    const room = this.readyPeers().length === 0 ? Math.max(0, 2 - live) : this.o.targetDegree - live
    for (const id of candidates.slice(0, room)) this.dial(id, 'mesh')
    if (candidates.length === 0 && this.bootstrapState === 'open' && now - this.lastSampleAt > 5000) {
      this.lastSampleAt = now
      this.deps.bootstrap?.requestPeers()
    }
  }

  /**
   * Forwards a flooded frame to every ready peer except `from` and the peers
   * `from` itself links to (per fresh signed records of both ends): they got
   * it from `from` already. Returns how many got it.
   */
  flood(frame: Frame, from: string): number {
    const k = this.knownNodes.get(from)
    const fresh = k !== undefined && this.deps.clock.now() - k.gossipAt < 2 * this.o.recordEveryMs
    // Covered only if both records agree the link exists: a stale record of
    // `from` alone (a link it just lost) must not make us skip a node.
    const covered = new Set(fresh ? k.peers.filter((p) => this.knownNodes.get(p)?.peers.includes(from) === true) : [])
    const bytes = encodeFrame(frame)
    if (bytes.length > MAX_FRAME_BYTES) return 0
    let n = 0
    for (const c of this.conns.values()) {
      if (c.state === 'ready' && c.id !== from && !covered.has(c.id) && this.write(c, bytes)) n++
    }
    return n
  }

  /** Dials one sampled node that gossip has not brought news of lately: likely another part of the mesh. */
  private explore(sample: PeerInfo[]): void {
    this.exploring = false
    const now = this.deps.clock.now()
    const stale = 2.5 * this.o.recordEveryMs
    const strangers = sample.filter((p) => {
      const k = this.knownNodes.get(p.id)
      return !this.conns.has(p.id) && (!k || now - k.gossipAt > stale) && (this.backoff.get(p.id)?.until ?? 0) <= now
    })
    const pick = strangers[Math.floor(this.deps.rng.next() * strangers.length)]
    if (pick && this.conns.size < this.o.maxDegree) this.dial(pick.id, 'mesh')
  }

  /**
   * Above the target degree, closes the most redundant settled link: the one
   * whose peer shares most neighbours with this node (and keeps enough of its
   * own), so exploration and answer links don't grow the degree for good.
   */
  private prune(now: number): void {
    const ready = [...this.conns.values()].filter((c) => c.state === 'ready')
    if (ready.length <= this.o.targetDegree) return
    const mine = new Set(ready.map((c) => c.id))
    let victim: Conn | null = null
    let best = -1
    for (const c of ready) {
      if (now - c.readyAt < 10_000 || now - c.usedAt < 5_000) continue
      const theirs = this.knownNodes.get(c.id)?.peers ?? []
      if (theirs.length <= Math.ceil(this.o.targetDegree / 2)) continue
      const shared = theirs.filter((p) => mine.has(p)).length + (c.purpose === 'response' ? 100 : 0)
      if (shared > best) {
        best = shared
        victim = c
      }
    }
    if (victim) victim.link.close()
  }

  private forgetOldest(): void {
    let oldest: KnownNode | null = null
    for (const k of this.knownNodes.values())
      if (!this.conns.has(k.id) && (!oldest || k.seenAt < oldest.seenAt)) oldest = k
    if (oldest) this.knownNodes.delete(oldest.id)
  }

  private async ownRecord(): Promise<SignedFrame | null> {
    if (!this.recordDirty && this.recordFrame) return this.recordFrame
    const p: PeerRecord = {
      id: this.id,
      key: this.publicKey,
      t: Math.trunc(this.deps.clock.now()),
      peers: this.readyPeers().slice(0, MAX_RECORD_PEERS),
      h: this.holdings.slice(0, MAX_RECORD_HOLDS),
      ...(this.deps.agreementKey ? { ek: this.deps.agreementKey } : {}),
    }
    this.recordDirty = false
    this.recordFrame = { t: 'peer', p, s: await this.sign('peer', p), ttl: this.o.recordTtl }
    this.lastRecordAt = this.deps.clock.now()
    return this.recordFrame
  }

  // ---- maintenance ----

  private tick(): void {
    if (this.stopped) return
    try {
      this.maintain()
    } finally {
      const jitter = 0.75 + this.deps.rng.next() * 0.5
      this.cancelTick = this.deps.clock.setTimeout(() => this.tick(), this.o.tickMs * jitter)
    }
  }

  private maintain(): void {
    const now = this.deps.clock.now()
    for (const c of [...this.conns.values()]) {
      if (c.state !== 'ready' && now - c.createdAt > this.o.connectTimeoutMs) this.fail(c, 'timeout')
    }
    for (const [k, at] of this.seen) if (now - at > SEEN_MS) this.seen.delete(k)
    for (const [k, at] of this.accepted) if (now - at > FRESH_MS) this.accepted.delete(k)
    for (const [k, r] of this.relayed) if (now - r.since > 60_000) this.relayed.delete(k)
    for (const [k, b] of this.backoff) if (b.until < now - 60_000) this.backoff.delete(k)
    for (const [k, until] of this.banned) if (until < now) this.banned.delete(k)
    for (const [id, k] of this.knownNodes) {
      if (now - k.seenAt > this.o.recordMaxAgeMs && !this.conns.has(id)) this.knownNodes.delete(id)
    }
    this.fill(now)
    if (now >= this.nextExploreAt) {
      this.nextExploreAt = now + this.o.exploreEveryMs * (0.75 + this.deps.rng.next() * 0.5)
      if (this.bootstrapState === 'open' && this.conns.size < this.o.maxDegree) {
        this.exploring = true
        this.lastSampleAt = now
        this.deps.bootstrap?.requestPeers()
      }
    }
    this.prune(now)
    for (const c of this.conns.values()) {
      if (c.state !== 'ready') continue
      const n = this.pingSeq++ % 2 ** 31
      c.pings.clear()
      c.pings.set(n, now)
      this.write(c, encodeFrame({ t: 'ping', n }))
    }
    if (this.recordDirty || now - this.lastRecordAt > this.o.recordEveryMs) {
      void this.ownRecord().then((r) => r && this.broadcast(r))
    }
  }

  private changed(): void {
    if (this.changeQueued) return
    this.changeQueued = true
    void Promise.resolve().then(() => {
      this.changeQueued = false
      for (const fn of this.listeners) {
        try {
          fn()
        } catch {
          // A listener's bug must not break the mesh.
        }
      }
    })
  }
}
