/**
 * The partial mesh. A node keeps about `targetDegree` WebRTC links to other
 * nodes of its mesh, replaces lost ones, and learns of nodes from the
 * bootstrap server's samples and from signed peer records gossiped over the
 * mesh. `Mesh` is what the rest of the node sees; it is composed of:
 *
 *   links.ts      the link layer: links, hello, frame limits and drops, bans,
 *                 ping, dispatch by frame type, send / broadcast / flood
 *   signatures.ts signing and checking signed payloads (also for intents)
 *   changes.ts    the coalesced change notification behind `subscribe`
 *   signaling.ts  making links: signed signals via the server or hop by hop
 *                 (`sig`), glare, replayed offers, busy, backoff
 *   records.ts    peer records (`peer`) and the nodes this node knows of
 *   topology.ts   which links to keep: fill, explore, prune, the tick
 *   probe.ts      the unsigned flood-and-echo baseline (`probe`, `echo`)
 *
 * Here: the bootstrap server's callbacks are wired to those parts, and the
 * frames of other layers are routed — `intent` / `resp` to the intents
 * (`on`), `x` to the handler of its channel (`onDirect`; a frame on a channel
 * nobody handles is a bad frame).
 */
import type { JsonValue } from '../json.ts'
import type { BootstrapState } from '../ports.ts'
import { Ir3Error, safetyCatch } from '../errors.ts'
import type { Frame, PeerRecord, SignedFrame } from './frames.ts'
import { Changes } from './changes.ts'
import { Links, type Conn } from './links.ts'
import { Probe } from './probe.ts'
import { Records } from './records.ts'
import { Signatures } from './signatures.ts'
import { Signaling } from './signaling.ts'
import { Topology } from './topology.ts'
import {
  resolveOptions,
  type KnownNode,
  type MeshDeps,
  type MeshStats,
  type PeerView,
  type Purpose,
  type ResolvedOptions,
} from './types.ts'

export type { KnownNode, MeshDeps, MeshOptions, MeshStats, PeerView, Purpose, Via } from './types.ts'

type FrameHandler<T extends Frame['t']> = (from: string, frame: Extract<Frame, { t: T }>) => void

export class Mesh {
  readonly id: string
  readonly publicKey: string
  bootstrapState: BootstrapState = 'closed'
  private readonly deps: MeshDeps
  private readonly o: ResolvedOptions
  private readonly changes = new Changes()
  private readonly signatures: Signatures
  private readonly links: Links
  private readonly records: Records
  private readonly signaling: Signaling
  private readonly topology: Topology
  private readonly prober: Probe
  private readonly handlers: { intent?: FrameHandler<'intent'>; resp?: FrameHandler<'resp'> } = {}
  private readonly channels = new Map<string, (from: string, d: JsonValue) => void>()

  constructor(deps: MeshDeps) {
    this.deps = deps
    this.id = deps.id
    this.publicKey = deps.publicKey
    const o = (this.o = resolveOptions(deps.options))
    const { id, publicKey, clock, rng, bootstrap, transport, record } = deps
    const signatures = (this.signatures = new Signatures(deps.signer, deps.verifier))
    const serverState = () => this.bootstrapState
    const changed = () => this.changes.changed()
    // Link hooks run in the order the parts register: records, signaling, then topology (its fill last).
    this.links = new Links({ id, publicKey, signatures, clock, transport, record, changed, options: o })
    this.records = new Records(this.links, {
      id,
      publicKey,
      clock,
      signatures,
      options: o,
      ...(deps.agreementKey ? { agreementKey: deps.agreementKey } : {}),
    })
    this.signaling = new Signaling(this.links, this.records, {
      id,
      publicKey,
      clock,
      rng,
      signatures,
      bootstrap,
      serverState,
      fill: (now) => this.topology.fill(now),
      options: o,
    })
    this.topology = new Topology(this.links, this.records, this.signaling, {
      clock,
      rng,
      bootstrap,
      serverState,
      options: o,
    })
    this.prober = new Probe(this.links, {
      id,
      clock,
      rng,
      enabled: o.probes,
      flood: (f, from) => this.flood(f, from),
    })
    this.links.handle('intent', (c, f) => this.handlers.intent?.(c.id, f))
    this.links.handle('resp', (c, f) => this.handlers.resp?.(c.id, f))
    this.links.handle('x', (c, f) => this.onDirectFrame(c, f))
  }

  get options(): ResolvedOptions {
    return this.o
  }

  get stats(): MeshStats {
    return this.links.stats
  }

  start(): void {
    // Links of an earlier session (before a reload) are gone: derived state starts over from here.
    this.deps.record('mesh-started', { targetDegree: this.o.targetDegree })
    this.deps.bootstrap?.start({
      onState: (state) => {
        this.bootstrapState = state
        this.changes.changed()
      },
      onPeers: (peers) => this.topology.onSample(peers),
      onSignal: (from, data) => this.signaling.onServerSignal(from, data),
      onError: (code, _message, to) => this.signaling.onServerError(code, to),
    })
    this.topology.start()
  }

  stop(): void {
    if (this.links.stopped) return
    this.topology.stop()
    this.deps.bootstrap?.stop()
    this.links.stop()
    this.changes.clear()
  }

  /** Handles `intent` or `resp` frames (one handler each: a new one replaces the old). */
  on<T extends 'intent' | 'resp'>(type: T, handler: FrameHandler<T>): () => void {
    const slots = this.handlers as Record<string, unknown>
    slots[type] = handler
    return () => {
      if (slots[type] === handler) delete slots[type]
    }
  }

  /** Called (coalesced) when peers, known nodes or the server state change. */
  subscribe(fn: () => void): () => void {
    return this.changes.subscribe(fn)
  }

  /** What this node's next peer record says it holds (see PeerRecord.h). */
  setHoldings(h: [string, number][]): void {
    this.records.setHoldings(h)
  }

  /** Called with every new, verified peer record of another node. */
  onPeerRecord(fn: (r: PeerRecord) => void): () => void {
    return this.records.onPeerRecord(fn)
  }

  /** The native connection of the ready link to `id` (see Link.native), and who initiated it. */
  native(id: string): { link: unknown; initiator: boolean } | null {
    const c = this.links.get(id)
    const link = c?.state === 'ready' ? c.link.native : undefined
    return c && link ? { link, initiator: c.initiator } : null
  }

  /** Handles direct frames (`x`) on channel `c` from linked peers. One handler per channel: a second throws `ERR_DUPLICATE_MODULE`. */
  onDirect(c: string, fn: (from: string, d: JsonValue) => void): () => void {
    if (this.channels.has(c)) throw new Ir3Error('ERR_DUPLICATE_MODULE', `channel ${c} already has a handler`)
    this.channels.set(c, fn)
    return () => {
      if (this.channels.get(c) === fn) this.channels.delete(c)
    }
  }

  /** Sends a direct frame on channel `c` to a ready peer; false if there is no such link or it is too big. */
  sendDirect(to: string, c: string, d: JsonValue): boolean {
    return this.links.send(to, { t: 'x', c, d })
  }

  peers(): PeerView[] {
    return [...this.links.all()].map((c) => ({
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
    return this.links.readyPeers()
  }

  isReady(id: string): boolean {
    return this.links.isReady(id)
  }

  isBanned(id: string): boolean {
    return this.links.isBanned(id)
  }

  known(): KnownNode[] {
    return this.records.known()
  }

  knownKey(id: string): string | null {
    return this.records.knownKey(id)
  }

  /** Sends a frame to a ready peer. */
  send(id: string, frame: Frame): boolean {
    return this.links.send(id, frame)
  }

  /** Sends a frame to every ready peer except `except`; returns how many got it. */
  broadcast(frame: Frame, except?: string): number {
    return this.links.broadcast(frame, except)
  }

  /**
   * Forwards a flooded frame to every ready peer except `from` and the peers
   * `from` itself links to (per fresh signed records of both ends): they got
   * it from `from` already. Returns how many got it.
   */
  flood(frame: Frame, from: string): number {
    return this.links.flood(frame, from, this.records.covered(from))
  }

  /** Signs a payload as this node for a frame of type `type`. */
  sign(type: SignedFrame['t'], p: JsonValue): Promise<string> {
    return this.signatures.sign(type, p)
  }

  /** Checks that `key` belongs to `id` and signed `p` as a `type` frame. */
  verify(type: SignedFrame['t'], p: JsonValue, id: string, key: string, sig: string): Promise<boolean> {
    return this.signatures.verify(type, p, id, key, sig)
  }

  /** Counts a frame a higher layer rejected (bad signature, stale), against the link it came from. */
  reject(from: string, why: 'badSignature' | 'stale' | 'malformed'): void {
    this.links.reject(from, why)
  }

  countDuplicate(): void {
    this.links.countDuplicate()
  }

  /** Counts a frame that came too late to matter (not held against the sender). */
  countStale(): void {
    this.links.countStale()
  }

  /** Closes the link to `id` and does not redial it for `forMs` (default 60 s). */
  disconnect(id: string, forMs = 60_000): boolean {
    return this.signaling.disconnect(id, forMs)
  }

  /**
   * Connects to `id` (through the mesh when this node has a peer, else via the
   * server). Resolves true once the link is ready, false if `attempts`
   * attempts (default 2) each failed or timed out. A second attempt is made
   * because a rare attempt stalls in the browser with its signals sent (see
   * `stats.failures`) while a fresh one succeeds.
   */
  connect(id: string, purpose: Purpose = 'mesh', attempts = 2): Promise<boolean> {
    return this.signaling.connect(id, purpose, attempts)
  }

  /**
   * Floods an unsigned probe and resolves when `want` distinct nodes echoed
   * it (or after `timeoutMs`). Echoes travel like answers: direct over an
   * existing link, else back along the probe's path. No signing, no series.
   */
  probe(
    want: number,
    ttl = 6,
    timeoutMs = 10_000,
    only: string | null = null,
  ): Promise<{ ms: number; echoes: number }> {
    return this.prober.probe(want, ttl, timeoutMs, only)
  }

  /** Test seam: writes raw bytes on the link to `id`, bypassing encoding. */
  _testOnlySendRaw(id: string, bytes: Uint8Array): boolean {
    return this.links._testOnlySendRaw(id, bytes)
  }

  /** Test seam: closes the link to `id` as if it were lost (no backoff, unlike `disconnect`). */
  _testOnlyCloseLink(id: string): boolean {
    const c = this.links.get(id)
    c?.link.close()
    return c !== undefined
  }

  private onDirectFrame(c: Conn, f: Extract<Frame, { t: 'x' }>): void {
    const h = this.channels.get(f.c)
    // Counted, not held against the link: a peer may run apps (channels) this node does not.
    if (!h) return this.links.dropFrame(c, 'malformed', false)
    try {
      h(c.id, f.d)
    } catch (e) {
      // A handler's bug must not break the link; a programmer error still surfaces.
      safetyCatch(e)
    }
  }
}
