/**
 * Mesh signaling: how a link to another node gets made.
 *
 *   dial      the initiator opens a link and wraps every signal it produces
 *             in a SignalPayload signed by its author (so neither the server
 *             nor a relaying peer can alter an SDP); it goes through the mesh
 *             when this node has a peer and the target's record came over the
 *             mesh lately, else through the bootstrap server
 *   mesh      a `sig` frame goes to the target if it is a neighbour, else
 *             back the way the offer came, else to (two) neighbours whose
 *             records list the target, else flooded with TTL ≤ 4; a relay
 *             verifies the signature first and carries at most 30 signals a
 *             minute per author; each signal is handled once (seen-set); a
 *             new signal costs a token of the link that delivered it (240
 *             at once, 240 a minute) before its signature is checked, else
 *             it is dropped and counted against that link (`dropped.budget`)
 *   accept    a verified offer makes a link (initiator: false) unless it was
 *             accepted before or is no newer than the one behind a live link
 *             (replays); glare (both sides offering) is settled by id: the
 *             lower id's offer wins; a full node answers with a signed `busy`,
 *             and so does one whose links dialed in reach its inbound cap
 *             (maxDegree − the outbound reserve, see topology.ts)
 *   failure   a failed attempt backs off per node (1 s … 60 s, jittered); a
 *             node failed through the mesh is next dialed through the server
 */
import type { JsonValue } from '../json.ts'
import type { Bootstrap, BootstrapState, Clock, Rng } from '../ports.ts'
import { decodeFrame, encodeFrame, type Frame, type SignalPayload } from './frames.ts'
import { SIGNALS_PER_LINK, type Conn, type Links } from './links.ts'
import type { Records } from './records.ts'
import type { Signatures } from './signatures.ts'
import { inboundCap } from './topology.ts'
import { FRESH_MS, type Purpose, type ResolvedOptions, type Via } from './types.ts'
import { refill } from '../budget.ts'

/** Hops a relayed signal may still travel, whatever its sender says. */
const SIGNAL_TTL = 4
/** Relayed signals per author per minute. */
const RELAYS_PER_AUTHOR = 30
const SEEN_MS = 60_000

export interface SignalingDeps {
  id: string
  publicKey: string
  clock: Clock
  rng: Rng
  signatures: Signatures
  bootstrap: Bootstrap | null
  serverState: () => BootstrapState
  /** Dials more nodes (topology), after an offer was refused as busy. */
  fill: (now: number) => void
  options: ResolvedOptions
}

export class Signaling {
  private readonly links: Links
  private readonly records: Records
  private readonly deps: SignalingDeps
  private readonly o: ResolvedOptions
  private readonly backoff = new Map<string, { until: number; fails: number; viaServer: boolean }>()
  private readonly seen = new Map<string, number>()
  /** Signals relayed per author in the current minute. */
  private readonly relayed = new Map<string, { since: number; n: number }>()
  /** Offers accepted (author:nonce → when), so a replayed offer cannot replace a live link. */
  private readonly accepted = new Map<string, number>()

  constructor(links: Links, records: Records, deps: SignalingDeps) {
    this.links = links
    this.records = records
    this.deps = deps
    this.o = deps.options
    links.handle('sig', (c, f) => void this.onMeshSignal(c, f))
    links.on('signal', (c, d) => void this.sendSignal(c, d))
    links.on('ready', (c) => void this.backoff.delete(c.id))
    links.on('failed', (c, reason) => (c.initiator ? this.fail(c, reason) : this.noteFailure(c, reason)))
  }

  /** False while `id` is backed off (a failed attempt, or `disconnect`). */
  mayDial(id: string, now: number): boolean {
    return (this.backoff.get(id)?.until ?? 0) <= now
  }

  /**
   * Connects to `id` (through the mesh when this node has a peer, else via the
   * server). Resolves true once the link is ready, false if `attempts`
   * attempts each failed or timed out.
   */
  async connect(id: string, purpose: Purpose, attempts: number): Promise<boolean> {
    for (let i = 0; i < attempts && !this.links.stopped; i++) {
      if (await this.attempt(id, purpose)) return true
    }
    return false
  }

  /** Closes the link to `id` and does not redial it for `forMs`. */
  disconnect(id: string, forMs: number): boolean {
    const c = this.links.get(id)
    if (!c) return false
    this.backoff.set(id, { until: this.deps.clock.now() + forMs, fails: 0, viaServer: false })
    c.link.close()
    return true
  }

  /** Opens a link to `id` if the link budget, bans and backoff allow, signaled the best way available. */
  dial(id: string, purpose: Purpose): Conn | null {
    const links = this.links
    if (links.stopped || id === this.deps.id || links.has(id) || links.isBanned(id)) return null
    if (links.size >= this.o.linkBudget) return null
    const b = this.backoff.get(id)
    // Mesh signaling only reaches nodes in our part of the mesh: ones whose
    // signed record came to us over it lately. A node only the server told us
    // about may be in another island (two late joiners linked to each other).
    const k = this.records.get(id)
    const reachable =
      k !== undefined && k.gossipAt > 0 && this.deps.clock.now() - k.gossipAt < 2.5 * this.o.recordEveryMs
    const serverOpen = this.deps.serverState() === 'open'
    const canMesh = links.readyPeers().length > 0 && !(b?.viaServer ?? false) && (reachable || !serverOpen)
    const via: Via | null = canMesh ? 'mesh' : serverOpen ? 'server' : links.readyPeers().length > 0 ? 'mesh' : null
    if (!via) return null
    return links.open({
      id,
      key: this.records.knownKey(id),
      initiator: true,
      via,
      purpose,
      nonce: this.nonce(),
      cameVia: null,
    })
  }

  /** Fails attempts that timed out and forgets expired replay, relay and backoff state. */
  expire(now: number): void {
    for (const c of [...this.links.all()]) {
      if (c.state !== 'ready' && now - c.createdAt > this.o.connectTimeoutMs) this.fail(c, 'timeout')
    }
    for (const [k, at] of this.seen) if (now - at > SEEN_MS) this.seen.delete(k)
    for (const [k, at] of this.accepted) if (now - at > FRESH_MS) this.accepted.delete(k)
    for (const [k, r] of this.relayed) if (now - r.since > 60_000) this.relayed.delete(k)
    for (const [k, b] of this.backoff) if (b.until < now - 60_000) this.backoff.delete(k)
  }

  /** A signal the bootstrap server relayed from `from`. */
  onServerSignal(from: string, data: JsonValue): void {
    const env = data as { p?: unknown; s?: unknown } | null
    if (typeof env !== 'object' || env === null) return
    const bytes = encodeFrame({ t: 'sig', p: env.p, s: env.s, ttl: 0 } as unknown as Frame)
    const d = decodeFrame(bytes)
    if (!d.ok || d.frame.t !== 'sig' || d.frame.p.from !== from) {
      this.links.stats.dropped.malformed++
      return
    }
    void this.acceptSignal(d.frame.p, d.frame.s, 'server', null)
  }

  /** The server could not deliver to `to`: an attempt signaled through it fails now. */
  onServerError(code: string, to: string | undefined): void {
    if (code === 'NOT_PRESENT' && to) {
      const c = this.links.get(to)
      if (c && c.via === 'server' && c.state === 'connecting') this.fail(c, 'not present at the server')
    }
  }

  private attempt(id: string, purpose: Purpose): Promise<boolean> {
    const existing = this.links.get(id)
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

  private nonce(): string {
    let s = ''
    for (let i = 0; i < 16; i++) s += Math.floor(this.deps.rng.next() * 36).toString(36)
    return s
  }

  private async sendSignal(c: Conn, d: JsonValue): Promise<void> {
    if (this.links.get(c.id) !== c) return
    const p: SignalPayload = {
      from: this.deps.id,
      key: this.deps.publicKey,
      to: c.id,
      n: c.nonce,
      i: c.initiator,
      d,
      t: Math.trunc(this.deps.clock.now()),
    }
    const s = await this.deps.signatures.sign('sig', p)
    if (this.links.get(c.id) !== c) return
    this.links.stats.signals.sent++
    if (c.via === 'server') {
      if (!this.deps.bootstrap?.signal(c.id, { p, s })) this.fail(c, 'server not connected')
      return
    }
    this.routeSignal({ t: 'sig', p, s, ttl: SIGNAL_TTL }, null, c.cameVia)
  }

  /** Sends a `sig` frame towards p.to: directly, via a neighbour that knows it, back the way the offer came, or flooded. */
  private routeSignal(f: Extract<Frame, { t: 'sig' }>, from: string | null, preferred: string | null): void {
    const links = this.links
    const to = f.p.to
    if (links.isReady(to)) {
      links.send(to, f)
      return
    }
    if (preferred && preferred !== from && links.send(preferred, f)) return
    if (f.ttl <= 0) return
    const next = { ...f, ttl: f.ttl - 1 }
    const ready = links.readyPeers().filter((p) => p !== from)
    const knowers = ready.filter((p) => this.records.get(p)?.peers.includes(to))
    for (const p of knowers.length > 0 ? knowers.slice(0, 2) : ready) links.send(p, next)
  }

  private async onMeshSignal(c: Conn, f: Extract<Frame, { t: 'sig' }>): Promise<void> {
    const links = this.links
    const key = `sig:${f.p.from}:${f.p.n}:${f.p.i ? 1 : 0}`
    if (this.seen.has(key)) return links.countDuplicate()
    // Checking a stranger's signature is the cost: it is paid from the delivering link's budget.
    const t0 = this.deps.clock.now()
    c.signalTokens = refill(c.signalTokens, t0 - c.signalsAt, SIGNALS_PER_LINK / 60_000, SIGNALS_PER_LINK)
    c.signalsAt = t0
    if (c.signalTokens < 1) return links.dropFrame(c, 'budget', false)
    c.signalTokens--
    if (f.p.to === this.deps.id) {
      this.seen.set(key, this.deps.clock.now())
      return this.acceptSignal(f.p, f.s, 'mesh', c.id)
    }
    // Relays check the author's signature first (so a forged or tampered copy
    // neither spreads nor suppresses the real one), and carry at most a few
    // hops and a few signals a minute per author: relaying must not amplify.
    if (!(await this.deps.signatures.verify('sig', f.p, f.p.from, f.p.key, f.s)))
      return links.dropFrame(c, 'badSignature', true)
    if (this.seen.has(key)) return links.countDuplicate()
    this.seen.set(key, this.deps.clock.now())
    const now = this.deps.clock.now()
    const r = this.relayed.get(f.p.from)
    if (r && now - r.since < 60_000 && r.n >= RELAYS_PER_AUTHOR) return links.countStale()
    if (!r || now - r.since >= 60_000) this.relayed.set(f.p.from, { since: now, n: 1 })
    else r.n++
    links.stats.signalsRelayed++
    this.routeSignal({ ...f, ttl: Math.min(f.ttl, SIGNAL_TTL) }, c.id, null)
  }

  private async acceptSignal(p: SignalPayload, s: string, via: Via, cameVia: string | null): Promise<void> {
    const links = this.links
    if (p.to !== this.deps.id || p.from === this.deps.id) return
    if (Math.abs(this.deps.clock.now() - p.t) > FRESH_MS) {
      links.stats.dropped.stale++
      return
    }
    if (!(await this.deps.signatures.verify('sig', p, p.from, p.key, s))) {
      links.stats.dropped.badSignature++
      return
    }
    if (links.stopped) return
    links.stats.signals.received++
    const c = links.get(p.from)
    if (p.i) {
      const offerKey = `${p.from}:${p.n}`
      if (this.accepted.has(offerKey) && !(c && c.nonce === p.n)) return links.countDuplicate()
      if (c && c.nonce !== p.n && c.remoteT !== null && p.t <= c.remoteT) return links.countStale()
      this.accepted.set(offerKey, this.deps.clock.now())
      if (c && c.nonce === p.n) return c.link.signal(p.d)
      // Whoever waits for a link to this node waits for the one that wins.
      let waiters: ((ok: boolean) => void)[] = []
      if (c && c.initiator && c.state === 'connecting') {
        if (this.deps.id < p.from) return // glare: our offer wins
        waiters = c.waiters.splice(0)
        this.drop(c)
      } else if (c) {
        // The remote made a new link while we still hold an old one: it lost it (e.g. a reload).
        waiters = c.waiters.splice(0)
        this.drop(c)
      }
      if (links.isBanned(p.from)) return waiters.forEach((w) => w(false))
      let inbound = 0
      for (const l of links.all()) if (!l.initiator) inbound++
      if (links.size >= this.o.maxDegree || links.size >= this.o.linkBudget || inbound >= inboundCap(this.o)) {
        waiters.forEach((w) => w(false))
        // Say so, signed, so the dialer tries someone else now rather than at its timeout.
        return void this.refuse(p, via, cameVia)
      }
      this.records.learn([{ id: p.from, publicKey: p.key }], via === 'server' ? 'server' : 'gossip')
      const fresh = links.open({ id: p.from, key: p.key, initiator: false, via, purpose: 'mesh', nonce: p.n, cameVia })
      fresh.remoteT = p.t
      fresh.waiters.push(...waiters)
      fresh.link.signal(p.d)
    } else if (c && c.nonce === p.n && c.initiator) {
      c.key = p.key
      c.remoteT = p.t
      const d = p.d as { busy?: unknown } | null
      if (typeof d === 'object' && d !== null && d.busy === true) {
        links.stats.refusedBusy++
        this.fail(c, 'busy')
        this.deps.fill(this.deps.clock.now())
        return
      }
      c.link.signal(p.d)
    } else links.stats.signals.unmatched++
  }

  private async refuse(offer: SignalPayload, via: Via, cameVia: string | null): Promise<void> {
    const p: SignalPayload = {
      from: this.deps.id,
      key: this.deps.publicKey,
      to: offer.from,
      n: offer.n,
      i: false,
      d: { busy: true },
      t: Math.trunc(this.deps.clock.now()),
    }
    const s = await this.deps.signatures.sign('sig', p)
    if (via === 'server') this.deps.bootstrap?.signal(offer.from, { p, s })
    else this.routeSignal({ t: 'sig', p, s, ttl: SIGNAL_TTL }, null, cameVia)
  }

  /** Closes a link without a failure mark (replaced or lost glare). */
  private drop(c: Conn): void {
    this.links.remove(c)
    c.link.close()
  }

  private noteFailure(c: Conn, reason: string): void {
    const f = this.links.stats.failures
    f.push({
      id: c.id,
      via: c.via,
      initiator: c.initiator,
      reason: reason.slice(0, 120),
      ms: Math.trunc(this.deps.clock.now() - c.createdAt),
    })
    if (f.length > 20) f.shift()
  }

  /** Gives up on an attempt: noted in `stats.failures`, backed off, waiters told, link closed. */
  private fail(c: Conn, why: string): void {
    this.noteFailure(c, why)
    const b = this.backoff.get(c.id) ?? { until: 0, fails: 0, viaServer: false }
    b.fails++
    b.viaServer = c.via === 'mesh' && this.deps.serverState() === 'open'
    b.until = this.deps.clock.now() + Math.min(60_000, 1000 * 2 ** Math.min(b.fails, 6)) * (0.5 + this.deps.rng.next())
    this.backoff.set(c.id, b)
    this.links.remove(c)
    for (const w of c.waiters.splice(0)) w(false)
    c.link.close()
    this.links.changed()
  }
}
