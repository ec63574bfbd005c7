/**
 * The link layer: this node's data channels to other nodes and the frames on
 * them. The parts above it (signaling.ts, records.ts, topology.ts, probe.ts,
 * and through mesh.ts the intents and direct channels) register a handler
 * for their frame types and hook on link events; each registration returns
 * its unsubscribe.
 *
 *   open      `open()` makes a link (initiator or not); every signal the
 *             transport produces goes to the `signal` hook (signaling.ts
 *             carries it to the other side)
 *   hello     when the channel opens, each side writes a signed `hello`
 *             naming itself and the other; the link carries nothing else
 *             until the hello checks out, then it is ready: `peer-connected`
 *             is recorded, whoever waited for it is told, and the `ready`
 *             hooks run
 *   frames    each frame in is rate limited (token bucket per link),
 *             size-capped and decoded; a bad one is dropped and counted
 *             against its link, and a link that sends too many bad frames
 *             or floods is closed, `peer-dropped` recorded and the peer
 *             refused for 10 min. Both counts are leaky buckets (one bad
 *             frame forgiven every 2 s, one over the rate every 100 ms), so
 *             a steady low error rate never adds up to a ban; only bursts
 *             do. Blame goes to the link that sent the bad frame itself: a
 *             relay passing on what a third party signed is not blamed.
 *             `ping` is answered with `pong` (RTT); anything else goes to
 *             the handler registered for its type (none: ignored)
 *   close     a ready link records `peer-disconnected` and runs the `down`
 *             hooks; a link that never got ready runs the `failed` hooks
 */
import type { JsonValue } from '../json.ts'
import type { Clock, Link, Transport } from '../ports.ts'
import { Ir3Error } from '../errors.ts'
import { decodeFrame, encodeFrame, MAX_FRAME_BYTES, type Frame } from './frames.ts'
import type { Signatures } from './signatures.ts'
import { emptyStats, FRESH_MS, leak, type Conn, type MeshStats, type ResolvedOptions } from './types.ts'
import { refill } from '../budget.ts'

export type { Conn } from './types.ts'

/** What the parts above hear of links. */
export interface LinkEvents {
  /** The hello checked out (after `peer-connected` is recorded and waiters are told). */
  ready: (c: Conn) => void
  /** A ready link closed (after `peer-disconnected` is recorded). */
  down: (c: Conn) => void
  /** A link that never got ready closed while it was still the link to its peer. */
  failed: (c: Conn, reason: string) => void
  /** The transport made a signal for the other side of `c`. */
  signal: (c: Conn, d: JsonValue) => void
}

/** Frame types routed to registered handlers (hello, ping and pong are the link layer's own). */
export type RoutedType = Exclude<Frame['t'], 'hello' | 'ping' | 'pong'>
export type ConnHandler<T extends RoutedType> = (c: Conn, frame: Extract<Frame, { t: T }>) => void

export interface LinksDeps {
  id: string
  publicKey: string
  signatures: Signatures
  clock: Clock
  transport: Transport
  record(kind: string, body: JsonValue): void
  /** Something a view of the mesh shows changed. */
  changed(): void
  options: ResolvedOptions
}

const BAN_MS = 10 * 60_000
/** Peer records of nodes new to us one link may deliver at once, and per minute after (see records.ts). */
export const NEW_RECORDS_PER_LINK = 64
/** `sig` frames one link may deliver at once, and per minute after (see signaling.ts). */
export const SIGNALS_PER_LINK = 240

export class Links {
  readonly stats: MeshStats = emptyStats()
  private readonly deps: LinksDeps
  private readonly o: ResolvedOptions
  private readonly conns = new Map<string, Conn>()
  /** Peers disconnected for abuse, refused until the time given. */
  private readonly banned = new Map<string, number>()
  private readonly handlers = new Map<RoutedType, (c: Conn, f: Frame) => void>()
  private readonly hooks: { [E in keyof LinkEvents]: Set<LinkEvents[E]> } = {
    ready: new Set(),
    down: new Set(),
    failed: new Set(),
    signal: new Set(),
  }
  private pingSeq = 0
  private halted = false

  constructor(deps: LinksDeps) {
    this.deps = deps
    this.o = deps.options
  }

  get stopped(): boolean {
    return this.halted
  }

  /** Closes every link; nothing is dispatched or recorded after this. */
  stop(): void {
    this.halted = true
    for (const c of [...this.conns.values()]) c.link.close()
  }

  /** Routes frames of `type` to `fn`. One handler per type: a second one throws `ERR_DUPLICATE_MODULE`. */
  handle<T extends RoutedType>(type: T, fn: ConnHandler<T>): () => void {
    if (this.handlers.has(type))
      throw new Ir3Error('ERR_DUPLICATE_MODULE', `frames of type ${type} already have a handler`)
    const h = fn as (c: Conn, f: Frame) => void
    this.handlers.set(type, h)
    return () => {
      if (this.handlers.get(type) === h) this.handlers.delete(type)
    }
  }

  on<E extends keyof LinkEvents>(event: E, fn: LinkEvents[E]): () => void {
    const set = this.hooks[event] as Set<LinkEvents[E]>
    set.add(fn)
    return () => void set.delete(fn)
  }

  /** Tells the mesh's subscribers that something changed (coalesced). */
  changed(): void {
    this.deps.changed()
  }

  // ---- the links ----

  get(id: string): Conn | undefined {
    return this.conns.get(id)
  }

  has(id: string): boolean {
    return this.conns.has(id)
  }

  /** Links held, ready or pending. */
  get size(): number {
    return this.conns.size
  }

  all(): IterableIterator<Conn> {
    return this.conns.values()
  }

  /** Forgets `c` if it is still the link to its peer (it was replaced, lost glare, or failed). */
  remove(c: Conn): void {
    if (this.conns.get(c.id) === c) this.conns.delete(c.id)
  }

  readyPeers(): string[] {
    const out: string[] = []
    for (const c of this.conns.values()) if (c.state === 'ready') out.push(c.id)
    return out
  }

  isReady(id: string): boolean {
    return this.conns.get(id)?.state === 'ready'
  }

  /** Makes a link; its signals go to the `signal` hooks. */
  open(spec: Pick<Conn, 'id' | 'key' | 'initiator' | 'via' | 'purpose' | 'nonce' | 'cameVia'>): Conn {
    const now = this.deps.clock.now()
    this.stats.linksCreated++
    const c: Conn = {
      ...spec,
      state: 'connecting',
      createdAt: now,
      readyAt: 0,
      framesIn: 0,
      framesOut: 0,
      dropped: 0,
      bad: 0,
      flood: 0,
      badLeak: { n: 0, at: now },
      floodLeak: { n: 0, at: now },
      newRecords: NEW_RECORDS_PER_LINK,
      newRecordsAt: now,
      signalTokens: SIGNALS_PER_LINK,
      signalsAt: now,
      tokens: this.o.frameBurst,
      refilledAt: now,
      rttMs: null,
      pings: new Map(),
      waiters: [],
      usedAt: now,
      remoteT: null,
      link: null as unknown as Link,
    }
    this.conns.set(spec.id, c)
    c.link = this.deps.transport.createLink(
      { initiator: spec.initiator },
      {
        onSignal: (d) => {
          for (const fn of this.hooks.signal) fn(c, d)
        },
        onOpen: () => this.onOpen(c),
        onData: (bytes) => this.onData(c, bytes),
        onClose: (reason) => this.onClose(c, reason),
      },
    )
    this.changed()
    return c
  }

  // ---- bans ----

  isBanned(id: string): boolean {
    const until = this.banned.get(id)
    if (until === undefined) return false
    if (until > this.deps.clock.now()) return true
    this.banned.delete(id)
    return false
  }

  /** Forgets bans that ran out. */
  expire(now: number): void {
    for (const [k, until] of this.banned) if (until < now) this.banned.delete(k)
  }

  // ---- sending ----

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

  /** Sends a frame to every ready peer except `from` and the peers in `covered`; returns how many got it. */
  flood(frame: Frame, from: string, covered: ReadonlySet<string>): number {
    const bytes = encodeFrame(frame)
    if (bytes.length > MAX_FRAME_BYTES) return 0
    let n = 0
    for (const c of this.conns.values()) {
      if (c.state === 'ready' && c.id !== from && !covered.has(c.id) && this.write(c, bytes)) n++
    }
    return n
  }

  /** Pings every ready link (the RTT in `peers()`). */
  ping(now: number): void {
    for (const c of this.conns.values()) {
      if (c.state !== 'ready') continue
      const n = this.pingSeq++ % 2 ** 31
      c.pings.clear()
      c.pings.set(n, now)
      this.write(c, encodeFrame({ t: 'ping', n }))
    }
  }

  /** Test seam: writes raw bytes on the link to `id`, bypassing encoding. */
  _testOnlySendRaw(id: string, bytes: Uint8Array): boolean {
    const c = this.conns.get(id)
    return c ? c.link.send(bytes) : false
  }

  private write(c: Conn, bytes: Uint8Array): boolean {
    if (!c.link.send(bytes)) return false
    c.framesOut++
    this.stats.framesOut++
    return true
  }

  // ---- drops and abuse ----

  /** Counts a dropped frame against the link it came from; `bad` ones count towards disconnecting it. */
  dropFrame(c: Conn, why: keyof MeshStats['dropped'], bad: boolean): void {
    this.stats.dropped[why]++
    c.dropped++
    if (bad) this.blame(c)
  }

  /** Counts a frame a higher layer rejected (bad signature, stale), against the link it came from. */
  reject(from: string, why: 'badSignature' | 'stale' | 'malformed'): void {
    this.stats.dropped[why]++
    const c = this.conns.get(from)
    if (c) {
      c.dropped++
      this.blame(c)
    }
  }

  countDuplicate(): void {
    this.stats.dropped.duplicate++
  }

  /** Counts a frame that came too late to matter (not held against the sender). */
  countStale(): void {
    this.stats.dropped.stale++
  }

  private blame(c: Conn): void {
    c.bad++
    leak(c.badLeak, this.deps.clock.now(), this.o.badFrameForgiveMs)
    this.checkAbuse(c)
  }

  private checkAbuse(c: Conn): void {
    const bad = c.badLeak.n
    const flood = c.floodLeak.n
    if (bad <= this.o.maxBadFrames && flood <= this.o.maxFloodFrames) return
    if (this.conns.get(c.id) !== c) return
    const reason =
      bad > this.o.maxBadFrames ? `abuse: ${bad} bad frames` : `abuse: flooding (${flood} frames over the rate)`
    this.stats.abuseDisconnects++
    this.deps.record('peer-dropped', { peer: c.id, reason })
    this.banned.set(c.id, this.deps.clock.now() + BAN_MS)
    this.conns.delete(c.id)
    c.link.close()
  }

  // ---- link events ----

  private onOpen(c: Conn): void {
    if (this.conns.get(c.id) !== c) return c.link.close()
    c.state = 'open'
    const p = { id: this.deps.id, key: this.deps.publicKey, to: c.id, t: Math.trunc(this.deps.clock.now()) }
    void this.deps.signatures.sign('hello', p).then((s) => {
      if (this.conns.get(c.id) === c) this.write(c, encodeFrame({ t: 'hello', p, s }))
    })
    this.changed()
  }

  private onClose(c: Conn, reason: string): void {
    if (this.halted) return
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
      for (const fn of this.hooks.down) fn(c)
    } else if (current) {
      for (const fn of this.hooks.failed) fn(c, reason)
    }
    c.state = 'connecting'
    this.changed()
  }

  private onData(c: Conn, bytes: Uint8Array): void {
    if (this.halted || this.conns.get(c.id) !== c) return
    this.stats.framesIn++
    c.framesIn++
    const now = this.deps.clock.now()
    c.tokens = refill(c.tokens, now - c.refilledAt, this.o.frameRate / 1000, this.o.frameBurst)
    c.refilledAt = now
    if (c.tokens < 1) {
      c.flood++
      leak(c.floodLeak, now, this.o.floodFrameForgiveMs)
      this.dropFrame(c, 'flood', false)
      return this.checkAbuse(c)
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
      default:
        return this.handlers.get(f.t)?.(c, f)
    }
  }

  private async onHello(c: Conn, f: Extract<Frame, { t: 'hello' }>): Promise<void> {
    const p = f.p
    if (c.state === 'ready') return this.dropFrame(c, 'duplicate', false)
    if (p.to !== this.deps.id || p.id !== c.id || (c.key !== null && c.key !== p.key))
      return this.dropFrame(c, 'malformed', true)
    if (Math.abs(this.deps.clock.now() - p.t) > FRESH_MS) return this.dropFrame(c, 'stale', true)
    if (!(await this.deps.signatures.verify('hello', p, p.id, p.key, f.s)))
      return this.dropFrame(c, 'badSignature', true)
    if (this.conns.get(c.id) !== c || c.state !== 'open') return
    c.state = 'ready'
    c.key = p.key
    c.readyAt = this.deps.clock.now()
    this.stats.connected[c.via]++
    this.deps.record('peer-connected', { peer: c.id, via: c.via, initiator: c.initiator, purpose: c.purpose })
    for (const w of c.waiters.splice(0)) w(true)
    for (const fn of this.hooks.ready) fn(c)
    this.changed()
  }
}
