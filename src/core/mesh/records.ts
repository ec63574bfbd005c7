/**
 * Peer records and the nodes this node knows of.
 *
 *   own record   a signed `peer` frame naming this node's ready links, the
 *                series it holds and its key-agreement key (ek); sent to each
 *                new neighbour, and to all of them every `recordEveryMs` or
 *                when it changed (a link came or went, holdings changed)
 *   gossip       a `peer` frame in: dropped if not newer than what we know,
 *                more than one a second per node, from the future or older
 *                than the forget horizon; else verified, kept, passed on
 *                while its TTL (at most `recordTtl`) lasts, and handed to
 *                the `onPeerRecord` listeners
 *   strangers    a record of a node new to us costs a token of the link that
 *                delivered it (64 at once, 64 a minute after) and of the node
 *                (256 at once, 256 a minute), taken before its signature is
 *                checked; without one the record is dropped and counted
 *                against that link (`dropped.budget`), not verified, not
 *                passed on. Ids are cheap to mint: this bounds what strangers
 *                make us remember and verify
 *   blame        a record from the future (more than FRESH_MS ahead of our
 *                clock) is dropped and counted; it counts as a bad frame only
 *                on the link of the node that signed it (a relay whose clock
 *                runs ahead of ours passed it on in good faith)
 *   vouched      a known node is vouched for if it is reachable from a peer
 *                this node dialed itself through links that both ends' signed
 *                records name (recomputed every 5 s); a node that only dialed
 *                in, or that only strangers' records name, is not. Topology
 *                dials vouched nodes first; unvouched ones are forgotten first
 *   known nodes  from records and from the server's samples (`learn`); a node
 *                not heard of for `recordMaxAgeMs` and not linked is
 *                forgotten, and at most 1000 are remembered
 */
import type { Clock, PeerInfo } from '../ports.ts'
import { MAX_RECORD_HOLDS, MAX_RECORD_PEERS, type Frame, type PeerRecord, type SignedFrame } from './frames.ts'
import { NEW_RECORDS_PER_LINK, type Conn, type Links } from './links.ts'
import type { Signatures } from './signatures.ts'
import { FRESH_MS, type KnownNode, type ResolvedOptions } from './types.ts'
import { refill } from '../budget.ts'

/** Nodes remembered at most (the default intent targets come from here; ids are cheap to mint). */
const MAX_KNOWN = 1000
const MIN_RECORD_INTERVAL_MS = 1000
/** Peer records of nodes new to us this node takes at once, and per minute after, over all its links. */
export const NEW_RECORDS_GLOBAL = 256
const VOUCH_EVERY_MS = 5000

export interface RecordsDeps {
  id: string
  publicKey: string
  clock: Clock
  signatures: Signatures
  /** Published in this node's records (PeerRecord.ek). */
  agreementKey?: string
  options: ResolvedOptions
}

export class Records {
  private readonly links: Links
  private readonly deps: RecordsDeps
  private readonly o: ResolvedOptions
  private readonly nodes = new Map<string, KnownNode>()
  private readonly listeners = new Set<(r: PeerRecord) => void>()
  private holdings: [string, number][] = []
  private recordFrame: SignedFrame | null = null
  private recordDirty = true
  private lastRecordAt = 0
  /** Records of new nodes this node may still take from all its links (token bucket). */
  private newRecords = NEW_RECORDS_GLOBAL
  private newRecordsAt: number
  private vouchedAt = -Infinity

  constructor(links: Links, deps: RecordsDeps) {
    this.links = links
    this.deps = deps
    this.o = deps.options
    this.newRecordsAt = deps.clock.now()
    links.handle('peer', (c, f) => void this.onRecord(c, f))
    links.on('ready', (c) => {
      this.learn([{ id: c.id, publicKey: c.key! }], 'gossip')
      this.recordDirty = true
      void this.ownRecord().then((r) => r && links.send(c.id, r))
    })
    links.on('down', () => {
      this.recordDirty = true
    })
  }

  get(id: string): KnownNode | undefined {
    return this.nodes.get(id)
  }

  known(): KnownNode[] {
    return [...this.nodes.values()]
  }

  ids(): string[] {
    return [...this.nodes.keys()]
  }

  knownKey(id: string): string | null {
    return this.nodes.get(id)?.key ?? this.links.get(id)?.key ?? null
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
    this.listeners.add(fn)
    return () => void this.listeners.delete(fn)
  }

  /**
   * The peers `from` itself links to, per fresh signed records of both ends:
   * a frame flooded by `from` reached them already. A stale record of `from`
   * alone (a link it just lost) must not make us skip a node.
   */
  covered(from: string): Set<string> {
    const k = this.nodes.get(from)
    const fresh = k !== undefined && this.deps.clock.now() - k.gossipAt < 2 * this.o.recordEveryMs
    return new Set(fresh ? k.peers.filter((p) => this.nodes.get(p)?.peers.includes(from) === true) : [])
  }

  /** Notes nodes the server or a link introduced (no record of theirs yet). */
  learn(peers: PeerInfo[], source: 'server' | 'gossip'): void {
    const now = this.deps.clock.now()
    for (const p of peers) {
      if (p.id === this.deps.id) continue
      const k = this.nodes.get(p.id)
      if (k) k.seenAt = now
      else if (this.nodes.size >= MAX_KNOWN) continue
      else
        this.nodes.set(p.id, {
          id: p.id,
          key: p.publicKey,
          t: 0,
          peers: [],
          holds: [],
          seenAt: now,
          gossipAt: 0,
          ek: null,
          source,
          vouched: false,
        })
    }
    this.links.changed()
  }

  /** Forgets nodes not heard of for `recordMaxAgeMs` (unless linked), and sees who is vouched for now and then. */
  expire(now: number): void {
    for (const [id, k] of this.nodes) {
      if (now - k.seenAt > this.o.recordMaxAgeMs && !this.links.has(id)) this.nodes.delete(id)
    }
    if (now - this.vouchedAt >= VOUCH_EVERY_MS) this.vouch(now)
  }

  /**
   * Marks the known nodes reachable from the peers this node dialed itself
   * (ready outbound links), walking only links that both ends' signed records
   * name: a stranger's record can claim any neighbours, but not that they
   * claim it back. Links to this node are not walked, so nodes that only
   * dialed in are not vouched for by the fact.
   */
  vouch(now: number): void {
    this.vouchedAt = now
    for (const k of this.nodes.values()) k.vouched = false
    const queue: KnownNode[] = []
    for (const c of this.links.all()) {
      const k = c.state === 'ready' && c.initiator && c.purpose === 'mesh' ? this.nodes.get(c.id) : undefined
      if (k && !k.vouched) {
        k.vouched = true
        queue.push(k)
      }
    }
    for (let i = 0; i < queue.length; i++) {
      const k = queue[i]!
      for (const p of k.peers) {
        const n = this.nodes.get(p)
        if (n && !n.vouched && n.peers.includes(k.id)) {
          n.vouched = true
          queue.push(n)
        }
      }
    }
  }

  /** Takes a token for a record of a node new to us, from the link's bucket and the node's; false if either is empty. */
  private takeNew(c: Conn, now: number): boolean {
    const perMs = (n: number) => n / 60_000
    c.newRecords = refill(c.newRecords, now - c.newRecordsAt, perMs(NEW_RECORDS_PER_LINK), NEW_RECORDS_PER_LINK)
    c.newRecordsAt = now
    this.newRecords = refill(this.newRecords, now - this.newRecordsAt, perMs(NEW_RECORDS_GLOBAL), NEW_RECORDS_GLOBAL)
    this.newRecordsAt = now
    if (c.newRecords < 1 || this.newRecords < 1) return false
    c.newRecords--
    this.newRecords--
    return true
  }

  /** Broadcasts the own record if it changed or is due. */
  refresh(now: number): void {
    if (this.recordDirty || now - this.lastRecordAt > this.o.recordEveryMs) {
      void this.ownRecord().then((r) => r && this.links.broadcast(r))
    }
  }

  private async onRecord(c: Conn, f: Extract<Frame, { t: 'peer' }>): Promise<void> {
    const links = this.links
    const p: PeerRecord = f.p
    if (p.id === this.deps.id) return
    const k = this.nodes.get(p.id)
    if (k && k.t >= p.t) return links.countDuplicate()
    // At most one record per node per second is taken (and relayed): records are signed by their
    // node, so a node could otherwise churn them as fast as links carry frames.
    if (k && k.gossipAt > 0 && this.deps.clock.now() - k.gossipAt < MIN_RECORD_INTERVAL_MS)
      return links.countDuplicate()
    const now0 = this.deps.clock.now()
    // Only the signer is to blame for its clock: a relay whose clock runs ahead took it in good faith.
    if (p.t > now0 + FRESH_MS) return links.dropFrame(c, 'stale', p.id === c.id)
    // A record older than the forget horizon (e.g. a replayed one of a node that left) is not news.
    if (p.t < now0 - this.o.recordMaxAgeMs) return links.countStale()
    if (!k && !this.takeNew(c, now0)) return links.dropFrame(c, 'budget', false)
    if (!(await this.deps.signatures.verify('peer', p, p.id, p.key, f.s)))
      return links.dropFrame(c, 'badSignature', true)
    const again = this.nodes.get(p.id)
    if (again && again.t >= p.t) return
    const now = this.deps.clock.now()
    this.nodes.set(p.id, {
      id: p.id,
      key: p.key,
      t: p.t,
      peers: p.peers,
      holds: p.h,
      seenAt: now,
      gossipAt: now,
      ek: p.ek ?? null,
      source: 'gossip',
      vouched: again?.vouched ?? false,
    })
    if (this.nodes.size > MAX_KNOWN) this.forgetOldest()
    const ttl = Math.min(f.ttl, this.o.recordTtl)
    if (ttl > 0) links.broadcast({ ...f, ttl: ttl - 1 }, c.id)
    for (const fn of this.listeners) fn(p)
    links.changed()
  }

  /** Forgets the node heard of least lately, unvouched ones first (never a linked one). */
  private forgetOldest(): void {
    let oldest: KnownNode | null = null
    for (const k of this.nodes.values()) {
      if (this.links.has(k.id)) continue
      if (!oldest || (oldest.vouched && !k.vouched) || (oldest.vouched === k.vouched && k.seenAt < oldest.seenAt))
        oldest = k
    }
    if (oldest) this.nodes.delete(oldest.id)
  }

  private async ownRecord(): Promise<SignedFrame | null> {
    if (!this.recordDirty && this.recordFrame) return this.recordFrame
    const p: PeerRecord = {
      id: this.deps.id,
      key: this.deps.publicKey,
      t: Math.trunc(this.deps.clock.now()),
      peers: this.links.readyPeers().slice(0, MAX_RECORD_PEERS),
      h: this.holdings.slice(0, MAX_RECORD_HOLDS),
      ...(this.deps.agreementKey ? { ek: this.deps.agreementKey } : {}),
    }
    this.recordDirty = false
    this.recordFrame = { t: 'peer', p, s: await this.deps.signatures.sign('peer', p), ttl: this.o.recordTtl }
    this.lastRecordAt = this.deps.clock.now()
    return this.recordFrame
  }
}
