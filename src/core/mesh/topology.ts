/**
 * Topology: which links this node keeps.
 *
 *   fill     dial known nodes (at once, in parallel, vouched ones first, at
 *            random) until links — ready or pending — reach the target
 *            degree D and at least ceil(D/2) of them are links this node
 *            dialed itself (the outbound reserve: whoever dials in can take
 *            at most maxDegree − ceil(D/2) slots, see signaling.ts, so a
 *            node's neighbourhood is never all chosen by others); without a
 *            peer yet only two are bootstrapped through the server, the rest
 *            are signaled through the mesh once the first link is up; with
 *            no one left to dial, ask the server for a sample (at most every
 *            5 s)
 *   explore  every `exploreEveryMs` ask the server for a sample and dial one
 *            sampled node whose record has not reached us lately: likely
 *            another part of the mesh (after a partition heals)
 *   prune    above D, close one settled link: answer links first, then
 *            links a peer of degree ≤ 1 dialed in (throwaway nodes add
 *            nothing but take a slot), then the most redundant one (the peer
 *            that shares most neighbours with this node), dialed-in before
 *            dialed-out; outbound links are kept while they are within the
 *            reserve
 *   tick     every `tickMs` (jittered): time out attempts and expire state
 *            (signaling, bans, known nodes), fill, explore, prune, ping the
 *            links and re-send the own record when it changed or is due
 */
import type { Bootstrap, BootstrapState, Clock, PeerInfo, Rng } from '../ports.ts'
import type { Conn, Links } from './links.ts'
import type { Records } from './records.ts'
import type { Signaling } from './signaling.ts'
import type { ResolvedOptions } from './types.ts'

export interface TopologyDeps {
  clock: Clock
  rng: Rng
  bootstrap: Bootstrap | null
  serverState: () => BootstrapState
  options: ResolvedOptions
}

/** Links this node dialed itself that it keeps at least (the outbound reserve). */
export function outboundReserve(o: ResolvedOptions): number {
  return Math.ceil(o.targetDegree / 2)
}

/** Links others dialed that this node accepts at most (the rest of maxDegree is the outbound reserve). */
export function inboundCap(o: ResolvedOptions): number {
  return Math.max(1, o.maxDegree - outboundReserve(o))
}

const isOutbound = (c: Conn) => c.initiator && c.purpose === 'mesh'

export class Topology {
  private readonly links: Links
  private readonly records: Records
  private readonly signaling: Signaling
  private readonly deps: TopologyDeps
  private readonly o: ResolvedOptions
  private lastSampleAt = -Infinity
  private nextExploreAt = 0
  private exploring = false
  private cancelTick: (() => void) | null = null

  constructor(links: Links, records: Records, signaling: Signaling, deps: TopologyDeps) {
    this.links = links
    this.records = records
    this.signaling = signaling
    this.deps = deps
    this.o = deps.options
    links.on('ready', () => this.fill(this.deps.clock.now()))
  }

  /** Starts the maintenance tick (its first round runs now). */
  start(): void {
    this.tick()
  }

  stop(): void {
    this.cancelTick?.()
  }

  /** A sample of present nodes from the server: learn them, then explore (if asked to) or fill. */
  onSample(peers: PeerInfo[]): void {
    this.records.learn(peers, 'server')
    if (this.exploring) this.explore(peers)
    else this.fill(this.deps.clock.now())
  }

  /** Dials known nodes (at once, in parallel) until links — ready or pending — reach the target degree. */
  fill(now: number): void {
    const links = this.links
    if (links.stopped) return
    let live = 0
    let outbound = 0
    for (const c of links.all()) {
      if (c.purpose === 'mesh' || c.state === 'ready') live++
      if (isOutbound(c)) outbound++
    }
    const reserve = Math.min(outboundReserve(this.o) - outbound, this.o.maxDegree - links.size)
    const want = Math.max(this.o.targetDegree - live, reserve)
    if (want <= 0) return
    const candidates = this.records.known().filter((k) => !links.has(k.id) && this.signaling.mayDial(k.id, now))
    for (let i = candidates.length - 1; i > 0; i--) {
      const j = Math.floor(this.deps.rng.next() * (i + 1))
      ;[candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!]
    }
    // Nodes vouched for through links this node chose come first: not whoever dialed in or was named by strangers.
    const ordered = [...candidates.filter((k) => k.vouched), ...candidates.filter((k) => !k.vouched)].map((k) => k.id)
    // Without a peer yet, only a couple of links are bootstrapped through the server;
    // the rest are signaled through the mesh once the first link is up.
    const room = links.readyPeers().length === 0 ? Math.max(0, 2 - live) : want
    for (const id of ordered.slice(0, room)) this.signaling.dial(id, 'mesh')
    if (candidates.length === 0 && this.deps.serverState() === 'open' && now - this.lastSampleAt > 5000) {
      this.lastSampleAt = now
      this.deps.bootstrap?.requestPeers()
    }
  }

  /** Dials one sampled node that gossip has not brought news of lately: likely another part of the mesh. */
  private explore(sample: PeerInfo[]): void {
    this.exploring = false
    const now = this.deps.clock.now()
    const stale = 2.5 * this.o.recordEveryMs
    const strangers = sample.filter((p) => {
      const k = this.records.get(p.id)
      return !this.links.has(p.id) && (!k || now - k.gossipAt > stale) && this.signaling.mayDial(p.id, now)
    })
    const pick = strangers[Math.floor(this.deps.rng.next() * strangers.length)]
    if (pick && this.links.size < this.o.maxDegree) this.signaling.dial(pick.id, 'mesh')
  }

  /**
   * Above the target degree, closes one settled link: an answer link, else
   * one a peer of degree ≤ 1 dialed in (a throwaway node takes a slot and
   * adds nothing), else the most redundant one — whose peer shares most
   * neighbours with this node and keeps enough of its own — dialed-in before
   * dialed-out. Outbound links within the reserve are kept. So exploration
   * and answer links don't grow the degree for good, and nodes that dial in
   * cannot crowd out the ones this node chose.
   */
  private prune(now: number): void {
    const ready = [...this.links.all()].filter((c) => c.state === 'ready')
    if (ready.length <= this.o.targetDegree) return
    const mine = new Set(ready.map((c) => c.id))
    const keepOutbound = ready.filter(isOutbound).length <= outboundReserve(this.o)
    let victim: Conn | null = null
    let best = -1
    for (const c of ready) {
      if (now - c.readyAt < 10_000 || now - c.usedAt < 5_000) continue
      if (keepOutbound && isOutbound(c)) continue
      const theirs = this.records.get(c.id)?.peers ?? []
      const throwaway = !c.initiator && theirs.length <= 1
      if (!throwaway && theirs.length <= Math.ceil(this.o.targetDegree / 2)) continue
      const shared =
        theirs.filter((p) => mine.has(p)).length +
        (c.initiator ? 0 : 0.5) +
        (throwaway ? 50 : 0) +
        (c.purpose === 'response' ? 100 : 0)
      if (shared > best) {
        best = shared
        victim = c
      }
    }
    if (victim) victim.link.close()
  }

  private tick(): void {
    if (this.links.stopped) return
    try {
      this.maintain()
    } finally {
      const jitter = 0.75 + this.deps.rng.next() * 0.5
      this.cancelTick = this.deps.clock.setTimeout(() => this.tick(), this.o.tickMs * jitter)
    }
  }

  private maintain(): void {
    const now = this.deps.clock.now()
    this.signaling.expire(now)
    this.links.expire(now)
    this.records.expire(now)
    this.fill(now)
    if (now >= this.nextExploreAt) {
      this.nextExploreAt = now + this.o.exploreEveryMs * (0.75 + this.deps.rng.next() * 0.5)
      if (this.deps.serverState() === 'open' && this.links.size < this.o.maxDegree) {
        this.exploring = true
        this.lastSampleAt = now
        this.deps.bootstrap?.requestPeers()
      }
    }
    this.prune(now)
    this.links.ping(now)
    this.records.refresh(now)
  }
}
