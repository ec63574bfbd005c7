/**
 * A node's series: append-only, hash-linked, signed, persisted.
 *
 * append(kind, body) is synchronous: it encodes the entry canonically, hashes
 * it, links it to the previous entry, extends the Merkle frontier and the
 * derived state, and returns `{ seq, hash }`. Persistence is a group commit:
 * everything appended in one burst (one microtask turn, or while the previous
 * commit was in flight) is written in one store transaction, together with
 * one signed checkpoint over the new size and any derived-state snapshots.
 *
 * Entries are grouped in chunks of C (a power of two). A full chunk is sealed:
 * immutable, stored as one record with its Merkle subtree root. The open
 * chunk is rewritten whole on each commit (at most C entries).
 *
 * Loading checks the head (signed checkpoint vs Merkle frontier) and the open
 * chunk at once, then verifies the whole chain in the background. Until that
 * finishes nothing is committed; if it finds damage the series refuses to
 * append or sign, and reports what is wrong and where.
 */
import { Ir3Error } from '../errors.ts'
import type { JsonValue } from '../json.ts'
import type {
  ChunkRecord,
  Clock,
  EventStore,
  SeriesHead,
  SignedCheckpoint,
  Signer,
  Snapshot,
  Verifier,
} from '../ports.ts'
import { signCheckpoint, verifyCheckpoint } from './checkpoint.ts'
import { entryText, MAX_ENTRY_BYTES, utf8Into, type Entry } from './encoding.ts'
import { checkChain } from './chunk.ts'
import { frameEntries, unframeEntries } from './frames.ts'
import { ChunkView } from './chunk-view.ts'
import { bytesEqual, leafHash, toHex, ZERO_HASH } from './hash.ts'
import { consistencyProof, inclusionProof, MerkleFrontier, mth } from './merkle.ts'
import { applyEntry, defaultReducers, initialStates, reducerKey, type Reducer, type States } from './reducers.ts'

export const DEFAULT_CHUNK_SIZE = 256
export const DEFAULT_SNAPSHOT_EVERY = 4096
const ZERO_HEX = toHex(ZERO_HASH)
const CACHE_CHUNKS = 128

export interface SeriesOptions {
  /** Node id of the author (derived from the signer's public key). */
  author: string
  signer: Signer
  verifier: Verifier
  store: EventStore
  clock: Clock
  reducers?: readonly Reducer[]
  /** Entries per chunk; a power of two. Default 256. */
  chunkSize?: number
  /** Snapshot derived state every N entries; a multiple of chunkSize. Default 4096. */
  snapshotEvery?: number
  /**
   * Group-commit window: a commit starts this long after the first append of
   * a burst (0: on the next microtask). A few ms lets sporadic appends (one
   * per message received) share one checkpoint and one transaction.
   */
  commitDelayMs?: number
  /** Another node's series opened here: appends throw ERR_READ_ONLY. */
  readOnly?: boolean
}

export type SeriesStatus = 'verifying' | 'ok' | 'damaged'

/** Something wrong in the stored series: where, and why. */
export interface Problem {
  seq: number
  reason: string
}

export interface VerifyReport {
  ok: boolean
  /** Entries covered (the durable size when verification started). */
  size: number
  checked: number
  problems: Problem[]
  checkpoint: SignedCheckpoint | null
  ms: number
}

/** An entry as shown: the entry plus its hash and encoded size. */
export interface EntryView extends Entry {
  hash: string
  bytes: number
}

export type SeriesEvent =
  | { type: 'appended'; from: number; to: number }
  | { type: 'durable'; size: number; checkpoint: SignedCheckpoint }
  | { type: 'status'; status: SeriesStatus; problems: readonly Problem[] }
  | { type: 'error'; message: string }

export interface InclusionProof {
  seq: number
  size: number
  leaf: string
  path: string[]
}

interface SealedPending {
  view: ChunkView
  root: Uint8Array
  /** Framed entries, as stored. */
  data: Uint8Array
}

const TAIL_BUFFER_BYTES = 64 * 1024

type Waiter = { size: number; resolve: (size: number) => void; reject: (e: unknown) => void }

/** See Series.headSnapshot. */
export interface HeadSnapshot {
  checkpoint: SignedCheckpoint
  roots: Uint8Array[]
  tail: Uint8Array
}

export class Series {
  readonly author: string
  readonly chunkSize: number
  readonly snapshotEvery: number
  private readonly signer: Signer
  private readonly verifier: Verifier
  private readonly store: EventStore
  private readonly clock: Clock
  private readonly reducers: readonly Reducer[]
  private readonly key: string
  private readonly commitDelayMs: number
  readonly readOnly: boolean

  private size = 0
  private durable = 0
  private lastHash = ZERO_HEX
  /** Frontier over the roots of sealed chunks; with the tail's frontier it is the series' frontier (see PROTOCOL.md). */
  private sealedFrontier = new MerkleFrontier()
  private tailFrontier = new MerkleFrontier()
  private tailIndex = 0
  private tailCount = 0
  /**
   * The open chunk's framed data: entries are encoded straight into it (no
   * per-entry buffer). Grown by copying; views into an outgrown buffer stay
   * valid since entries never change.
   */
  private tailBuf = new Uint8Array(TAIL_BUFFER_BYTES)
  private tailUsed = 0
  private tailView = new ChunkView(new Uint8Array(0))
  private readonly sealed = new Map<number, SealedPending>()
  private readonly cache = new Map<number, ChunkView>()
  private rootsCache: Uint8Array[] = []
  private states: States
  private pendingSnapshots: Snapshot[] = []
  private checkpointValue: SignedCheckpoint | null = null

  private statusValue: SeriesStatus = 'ok'
  private problemList: Problem[] = []
  private verification: Promise<VerifyReport> | null = null
  /** The load-time verification's report, once done. */
  private loadReport: VerifyReport | null = null
  private committing = false
  private commitScheduled = false
  private waiters: Waiter[] = []
  private listeners = new Set<(e: SeriesEvent) => void>()
  private emitFrom = -1
  private destroyed = false

  private constructor(opts: SeriesOptions) {
    this.author = opts.author
    this.signer = opts.signer
    this.verifier = opts.verifier
    this.store = opts.store
    this.clock = opts.clock
    this.reducers = opts.reducers ?? defaultReducers
    this.key = reducerKey(this.reducers)
    this.chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE
    this.snapshotEvery = opts.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY
    this.commitDelayMs = opts.commitDelayMs ?? 0
    this.readOnly = opts.readOnly ?? false
    if (this.chunkSize < 1 || (this.chunkSize & (this.chunkSize - 1)) !== 0) {
      throw new Ir3Error('ERR_BAD_RANGE', 'chunkSize must be a power of two')
    }
    if (this.snapshotEvery % this.chunkSize !== 0) {
      throw new Ir3Error('ERR_BAD_RANGE', 'snapshotEvery must be a multiple of chunkSize')
    }
    this.states = initialStates(this.reducers)
  }

  /** Opens (or creates) the series in `store`. Resolves once it is interactive; full verification continues in the background. */
  static async open(opts: SeriesOptions): Promise<Series> {
    const s = new Series(opts)
    await s.load()
    return s
  }

  get length(): number {
    return this.size
  }
  get durableLength(): number {
    return this.durable
  }
  get status(): SeriesStatus {
    return this.statusValue
  }
  get problems(): readonly Problem[] {
    return this.problemList
  }
  get checkpoint(): SignedCheckpoint | null {
    return this.checkpointValue
  }
  get publicKey(): Uint8Array {
    return this.signer.publicKey
  }
  /** Derived state after every entry appended so far. */
  get current(): States {
    return this.states
  }
  /** Hex Merkle root over all entries appended so far. */
  get root(): string {
    return toHex(this.globalFrontier().root())
  }
  /** Resolves with the report of the load-time background verification. */
  get verified(): Promise<VerifyReport> {
    return this.verification ?? Promise.resolve(this.loadReport ?? this.emptyReport())
  }

  subscribe(fn: (e: SeriesEvent) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /** Appends an entry; returns at once. Throws ERR_DAMAGED on a damaged series, ERR_BAD_KIND / ERR_NOT_JSON / ERR_ENTRY_TOO_LARGE on bad input. */
  append(kind: string, body: JsonValue): { seq: number; hash: string } {
    if (this.destroyed) throw new Ir3Error('ERR_DESTROYED', 'series is closed')
    if (this.readOnly) throw new Ir3Error('ERR_READ_ONLY', `the series of ${this.author} is read-only here`)
    if (this.statusValue === 'damaged') {
      throw new Ir3Error(
        'ERR_DAMAGED',
        `series is damaged at seq ${this.problemList[0]?.seq ?? '?'}; refusing to extend it`,
      )
    }
    const seq = this.size
    const entry: Entry = { seq, t: Math.trunc(this.clock.now()), kind, body, prev: this.lastHash }
    const bytes = this.encodeIntoTail(entry)
    const leaf = leafHash(bytes)
    const hash = toHex(leaf)
    this.tailFrontier.push(leaf)
    this.tailCount++
    this.size = seq + 1
    this.lastHash = hash
    this.states = applyEntry(this.reducers, this.states, entry, bytes.length)
    if (this.size % this.snapshotEvery === 0) {
      this.pendingSnapshots.push({ size: this.size, key: this.key, states: this.states })
    }
    if (this.tailCount === this.chunkSize) this.sealTail()
    if (this.emitFrom < 0) {
      this.emitFrom = seq
      void Promise.resolve().then(() => this.emitAppended())
    }
    this.scheduleCommit()
    return { seq, hash }
  }

  /** Resolves when every entry appended before the call is durable (with a signed checkpoint covering it). */
  flush(): Promise<number> {
    if (this.durable >= this.size) return Promise.resolve(this.durable)
    if (this.statusValue === 'damaged') return Promise.reject(this.damagedError())
    return new Promise((resolve, reject) => {
      this.waiters.push({ size: this.size, resolve, reject })
      this.scheduleCommit()
    })
  }

  /** Entries [from, to) with their hashes. */
  async entries(from: number, to: number): Promise<EntryView[]> {
    from = Math.max(0, Math.floor(from))
    to = Math.min(this.size, Math.floor(to))
    const out: EntryView[] = []
    if (to <= from) return out
    const C = this.chunkSize
    for (let k = Math.floor(from / C); k * C < to; k++) {
      const chunk = await this.chunk(k)
      if (!chunk) break
      const lo = Math.max(from - k * C, 0)
      const hi = Math.min(to - k * C, chunk.length)
      for (let i = lo; i < hi; i++) {
        const e = chunk.entry(i)
        if (!e) break
        out.push({ ...e, hash: chunk.hash(i)!, bytes: chunk.bytes(i)!.length })
      }
    }
    return out
  }

  /** Derived state as of seq `atSeq` (inclusive); the current state when omitted. -1 gives the initial state. */
  async state(atSeq?: number): Promise<States> {
    const size = atSeq === undefined ? this.size : Math.min(this.size, Math.max(0, Math.floor(atSeq) + 1))
    return size === this.size ? this.states : this.derive(size)
  }

  /** Derived state after the first `size` entries: the nearest snapshot at or before it, plus a replay. */
  private async derive(size: number): Promise<States> {
    let base: Snapshot | null = null
    for (const p of this.pendingSnapshots) if (p.size <= size && (!base || p.size > base.size)) base = p
    if (!base) {
      const stored = await this.store.readSnapshot(size)
      if (stored && stored.key === this.key && stored.size <= size) base = stored
    }
    let states = base ? base.states : initialStates(this.reducers)
    let at = base ? base.size : 0
    const C = this.chunkSize
    while (at < size) {
      const k = Math.floor(at / C)
      const chunk = await this.chunk(k)
      if (!chunk) throw new Ir3Error('ERR_DAMAGED', `chunk ${k} is missing`)
      const end = Math.min(size - k * C, chunk.length)
      if (k * C + end <= at) throw new Ir3Error('ERR_DAMAGED', `chunk ${k} is short`)
      for (let i = at - k * C; i < end; i++) {
        const e = chunk.entry(i)
        if (!e) throw new Ir3Error('ERR_DAMAGED', `entry ${k * C + i}: ${chunk.broken ?? 'unreadable'}`)
        states = applyEntry(this.reducers, states, e, chunk.bytes(i)!.length)
      }
      at = k * C + end
    }
    return states
  }

  /**
   * What another node needs to check any of this series' chunks: the latest
   * checkpoint, the roots of the chunks it covers (the last may be the open
   * chunk's) and the open chunk's framed entries up to it. Null before the
   * first checkpoint or when damaged.
   */
  async headSnapshot(): Promise<HeadSnapshot | null> {
    const cp = this.checkpointValue
    if (!cp || this.statusValue === 'damaged') return null
    const C = this.chunkSize
    const roots = await this.chunkRoots(cp.size)
    const count = cp.size % C
    let tail: Uint8Array = new Uint8Array(0)
    if (count > 0) {
      const c = await this.chunk(Math.floor(cp.size / C))
      if (!c || c.length < count) return null
      const framed: Uint8Array[] = []
      for (let i = 0; i < count; i++) framed.push(c.bytes(i)!)
      tail = frameEntries(framed)
    }
    return { checkpoint: cp, roots, tail }
  }

  /** Stored bytes of sealed chunks [from, to) that are durable (missing ones are absent). */
  async sealedChunks(from: number, to: number): Promise<Uint8Array[]> {
    const C = this.chunkSize
    const end = Math.min(to, Math.floor(this.durable / C))
    const out: Uint8Array[] = []
    for (let k = Math.max(0, from); k < end; k++) {
      const s = this.sealed.get(k)
      if (s) {
        out.push(s.data)
        continue
      }
      const [rec] = await this.store.readChunks(k, k + 1)
      if (!rec || rec.count !== C) break
      out.push(rec.data)
    }
    return out
  }

  /** Verifies the whole durable series: encoding, seq, prev links, chunk roots, the checkpoint's root and signature. */
  async verify(): Promise<VerifyReport> {
    const started = this.clock.now()
    const size = this.durable
    const checkpoint = this.checkpointValue
    const problems: Problem[] = []
    const C = this.chunkSize
    const frontier = new MerkleFrontier() // over chunk roots, the last possibly partial
    let prev = ZERO_HEX
    let checked = 0
    const nChunks = Math.ceil(size / C)
    const BATCH = 32
    outer: for (let from = 0; from < nChunks; from += BATCH) {
      const to = Math.min(nChunks, from + BATCH)
      const records = await this.store.readChunks(from, to)
      let r = 0
      for (let k = from; k < to; k++) {
        const rec = records[r]?.index === k ? records[r++] : undefined
        const expected = Math.min(C, size - k * C)
        if (!rec) {
          problems.push({ seq: k * C, reason: `chunk ${k} is missing` })
          break outer
        }
        if (rec.count < expected) {
          problems.push({
            seq: k * C + rec.count,
            reason: `chunk ${k} is truncated: ${rec.count} of ${expected} entries`,
          })
          break outer
        }
        const framed = unframeEntries(rec.data)
        if (framed.entries.length < expected) {
          const why = framed.ok ? 'fewer entries than recorded' : framed.reason
          problems.push({ seq: k * C + framed.entries.length, reason: `chunk ${k}: ${why}` })
          break outer
        }
        const chain = checkChain(framed.entries.slice(0, expected), k * C, prev)
        checked += chain.entries.length
        if (chain.problem) {
          problems.push(chain.problem)
          break outer
        }
        prev = chain.last ?? prev
        const chunkRoot = mth(chain.leaves)
        frontier.push(chunkRoot)
        if (expected === C) {
          if (!rec.root || !bytesEqual(rec.root, chunkRoot)) {
            // Every link checked out, so if this is the last chunk its last entry is the one that
            // can have changed unnoticed; the signed checkpoint decides which of the two is wrong.
            const lastChanged = k === nChunks - 1 && checkpoint !== null && checkpoint.root !== toHex(frontier.root())
            problems.push(
              lastChanged
                ? { seq: size - 1, reason: 'entry does not match the signed checkpoint' }
                : { seq: k * C, reason: `chunk ${k}: stored root does not match its entries` },
            )
            break outer
          }
        }
      }
    }
    if (
      problems.length === 0 &&
      size > 0 &&
      size === this.durable &&
      this.durable === this.size &&
      prev !== this.lastHash
    ) {
      // The head's last hash is what the next append links to: it must be the chain's end.
      problems.push({ seq: size - 1, reason: 'stored head does not match the last entry' })
    }
    if (problems.length === 0) {
      if (!checkpoint) {
        if (size > 0) problems.push({ seq: size - 1, reason: 'no checkpoint covers the series' })
      } else if (checkpoint.size !== size) {
        problems.push({ seq: size - 1, reason: `checkpoint covers ${checkpoint.size} entries, series has ${size}` })
      } else if (checkpoint.root !== toHex(frontier.root())) {
        problems.push({ seq: size - 1, reason: 'entry does not match the signed checkpoint' })
      } else {
        const c = await verifyCheckpoint(checkpoint, this.signer.publicKey, this.verifier)
        if (!c.ok) problems.push({ seq: size - 1, reason: `checkpoint: ${c.reason}` })
      }
    }
    return { ok: problems.length === 0, size, checked, problems, checkpoint, ms: this.clock.now() - started }
  }

  /** RFC 6962 inclusion proof of entry `seq` in the tree of the first `size` entries (default: durable size). */
  async inclusionProof(seq: number, size: number = this.durable): Promise<InclusionProof> {
    if (!(seq >= 0 && seq < size && size <= this.size))
      throw new Ir3Error('ERR_BAD_RANGE', `no entry ${seq} in size ${size}`)
    const C = this.chunkSize
    const k = Math.floor(seq / C)
    const leaves = await this.chunkLeaves(k, Math.min(C, size - k * C))
    const inner = inclusionProof(seq - k * C, leaves.length, (a, b) => mth(leaves, a, b))
    const m = Math.ceil(size / C)
    const roots = await this.chunkRoots(size)
    const outer = m > 1 ? inclusionProof(k, m, (a, b) => mth(roots, a, b)) : []
    return { seq, size, leaf: toHex(leaves[seq - k * C]!), path: [...inner, ...outer].map(toHex) }
  }

  /** RFC 6962 consistency proof between the trees of sizes m and n (default: durable size). */
  async consistencyProof(m: number, n: number = this.durable): Promise<string[]> {
    if (!(m > 0 && m <= n && n <= this.size)) throw new Ir3Error('ERR_BAD_RANGE', `bad sizes ${m}, ${n}`)
    const C = this.chunkSize
    const roots = await this.chunkRoots(n)
    const partial = new Map<number, Uint8Array[]>()
    for (const k of new Set([Math.floor((m - 1) / C), Math.floor((n - 1) / C)])) {
      partial.set(k, await this.chunkLeaves(k, Math.min(C, n - k * C)))
    }
    const hashRange = (a: number, b: number): Uint8Array => {
      const k = Math.floor(a / C)
      if (b - a <= C && Math.floor((b - 1) / C) === k) {
        if (a % C === 0 && b - a === C) return roots[k]!
        const leaves = partial.get(k)
        if (!leaves) throw new Ir3Error('ERR_BAD_RANGE', `unexpected range [${a}, ${b})`)
        return mth(leaves, a - k * C, b - k * C)
      }
      return mth(roots, k, Math.ceil(b / C))
    }
    return consistencyProof(m, n, hashRange).map(toHex)
  }

  /** Stops committing and detaches listeners. Pending flushes reject with ERR_DESTROYED. */
  close(): void {
    if (this.destroyed) return
    this.destroyed = true
    const err = new Ir3Error('ERR_DESTROYED', 'series is closed')
    for (const w of this.waiters.splice(0)) w.reject(err)
    this.listeners.clear()
  }

  // ---- internals ----

  private emptyReport(): VerifyReport {
    return { ok: true, size: this.durable, checked: 0, problems: [], checkpoint: this.checkpointValue, ms: 0 }
  }

  private damagedError(): Ir3Error {
    const p = this.problemList[0]
    return new Ir3Error('ERR_DAMAGED', p ? `series is damaged at seq ${p.seq}: ${p.reason}` : 'series is damaged')
  }

  private emit(e: SeriesEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e)
      } catch {
        // A listener's bug must not break the series.
      }
    }
  }

  private emitAppended(): void {
    const from = this.emitFrom
    this.emitFrom = -1
    if (from >= 0 && from < this.size) this.emit({ type: 'appended', from, to: this.size })
  }

  private setDamaged(problems: Problem[]): void {
    this.problemList = problems
    this.statusValue = 'damaged'
    const err = this.damagedError()
    for (const w of this.waiters.splice(0)) w.reject(err)
    this.emit({ type: 'status', status: 'damaged', problems })
  }

  private globalFrontier(): MerkleFrontier {
    return MerkleFrontier.from(this.size, [...this.sealedFrontier.peaks(), ...this.tailFrontier.peaks()])
  }

  /** Encodes `entry` into the open chunk's buffer behind its length prefix; throws before changing anything on bad input. */
  private encodeIntoTail(entry: Entry): Uint8Array {
    const text = entryText(entry)
    if (text.length > MAX_ENTRY_BYTES)
      throw new Ir3Error('ERR_ENTRY_TOO_LARGE', `entry is over ${MAX_ENTRY_BYTES} bytes`)
    const at = this.tailUsed
    let written = utf8Into(text, this.tailBuf, at + 4)
    if (written < 0) {
      const grown = new Uint8Array(Math.max(this.tailBuf.length * 2, at + 4 + text.length * 3))
      grown.set(this.tailBuf.subarray(0, at))
      this.tailBuf = grown
      written = utf8Into(text, this.tailBuf, at + 4)
    }
    if (written > MAX_ENTRY_BYTES) {
      throw new Ir3Error('ERR_ENTRY_TOO_LARGE', `entry is ${written} bytes, limit ${MAX_ENTRY_BYTES}`)
    }
    const buf = this.tailBuf
    buf[at] = written >>> 24
    buf[at + 1] = written >>> 16
    buf[at + 2] = written >>> 8
    buf[at + 3] = written
    this.tailUsed = at + 4 + written
    return buf.subarray(at + 4, at + 4 + written)
  }

  private sealTail(): void {
    const root = this.tailFrontier.root()
    this.sealedFrontier.push(root)
    this.tailFrontier = new MerkleFrontier()
    const data = this.tailBuf.slice(0, this.tailUsed)
    this.tailBuf = new Uint8Array(TAIL_BUFFER_BYTES)
    this.tailUsed = 0
    this.tailView.update(data)
    this.sealed.set(this.tailIndex, { view: this.tailView, root, data })
    this.tailView = new ChunkView(new Uint8Array(0))
    this.tailCount = 0
    this.rootsCache[this.tailIndex] = root
    this.tailIndex++
  }

  private scheduleCommit(): void {
    if (this.commitScheduled || this.committing || this.destroyed) return
    this.commitScheduled = true
    const go = () => {
      this.commitScheduled = false
      void this.commitLoop()
    }
    if (this.commitDelayMs > 0) this.clock.setTimeout(go, this.commitDelayMs)
    else void Promise.resolve().then(go)
  }

  private async commitLoop(): Promise<void> {
    if (this.committing) return
    this.committing = true
    try {
      if (this.verification) await this.verification
      while (!this.destroyed && this.statusValue !== 'damaged' && this.durable < this.size) {
        await this.commitOnce()
      }
    } catch (e: unknown) {
      const message = e instanceof Error ? e.message : String(e)
      for (const w of this.waiters.splice(0)) w.reject(e)
      this.emit({ type: 'error', message: `commit failed: ${message}` })
    } finally {
      this.committing = false
    }
  }

  private async commitOnce(): Promise<void> {
    const C = this.chunkSize
    const target = this.size
    const chunks: ChunkRecord[] = []
    const sealedNow: number[] = []
    for (let k = Math.floor(this.durable / C); k <= this.tailIndex; k++) {
      const s = this.sealed.get(k)
      if (s) {
        chunks.push({ index: k, count: C, data: s.data, root: s.root })
        sealedNow.push(k)
      } else if (k === this.tailIndex && this.tailCount > 0) {
        chunks.push({ index: k, count: this.tailCount, data: this.tailBuf.slice(0, this.tailUsed) })
      }
    }
    const snapshots = this.pendingSnapshots.filter((p) => p.size <= target)
    const frontier = this.globalFrontier()
    const head: SeriesHead = { size: target, lastHash: this.lastHash, peaks: frontier.peaks(), checkpoint: null }
    const root = toHex(frontier.root())
    const checkpoint = await signCheckpoint(
      { author: this.author, size: target, root, t: Math.trunc(this.clock.now()) },
      this.signer,
    )
    head.checkpoint = checkpoint
    await this.store.commit({ chunks, head, snapshots })
    if (this.destroyed) return
    this.durable = target
    this.checkpointValue = checkpoint
    this.pendingSnapshots = this.pendingSnapshots.filter((p) => p.size > target)
    for (const k of sealedNow) {
      const s = this.sealed.get(k)
      this.sealed.delete(k)
      if (s) this.remember(k, s.view)
    }
    const ready = this.waiters.filter((w) => w.size <= target)
    this.waiters = this.waiters.filter((w) => w.size > target)
    for (const w of ready) w.resolve(target)
    this.emit({ type: 'durable', size: target, checkpoint })
  }

  private remember(k: number, chunk: ChunkView): void {
    this.cache.delete(k)
    this.cache.set(k, chunk)
    if (this.cache.size > CACHE_CHUNKS) {
      const oldest = this.cache.keys().next().value
      if (oldest !== undefined) this.cache.delete(oldest)
    }
  }

  /** Chunk k from memory, cache or store, read lazily. */
  private async chunk(k: number): Promise<ChunkView | undefined> {
    if (k === this.tailIndex) {
      this.tailView.update(this.tailBuf.subarray(0, this.tailUsed))
      return this.tailView
    }
    const s = this.sealed.get(k)
    if (s) return s.view
    const cached = this.cache.get(k)
    if (cached) return cached
    const [rec] = await this.store.readChunks(k, k + 1)
    if (!rec) return undefined
    const view = new ChunkView(rec.data)
    this.remember(k, view)
    return view
  }

  private async chunkLeaves(k: number, count: number): Promise<Uint8Array[]> {
    const c = await this.chunk(k)
    if (!c || c.length < count) throw new Ir3Error('ERR_DAMAGED', `chunk ${k} is missing or short`)
    const leaves: Uint8Array[] = []
    for (let i = 0; i < count; i++) leaves.push(leafHash(c.bytes(i)!))
    return leaves
  }

  /** Roots of the chunks covering the first `size` entries; the last may be a partial chunk's root. */
  private async chunkRoots(size: number): Promise<Uint8Array[]> {
    const C = this.chunkSize
    const full = Math.floor(size / C)
    let missingFrom = -1
    for (let k = 0; k < full; k++) {
      if (!this.rootsCache[k]) {
        missingFrom = k
        break
      }
    }
    if (missingFrom >= 0) {
      const loaded = await this.store.readRoots(missingFrom, full)
      loaded.forEach((r, i) => {
        if (!this.rootsCache[missingFrom + i]) this.rootsCache[missingFrom + i] = r
      })
    }
    const roots = this.rootsCache.slice(0, full)
    if (roots.length < full || roots.some((r) => !r)) throw new Ir3Error('ERR_DAMAGED', 'chunk roots are missing')
    if (size % C !== 0) roots.push(mth(await this.chunkLeaves(full, size % C)))
    return roots
  }

  private async load(): Promise<void> {
    const head = await this.store.loadHead()
    if (!head || head.size === 0) return
    const C = this.chunkSize
    const problems: Problem[] = []
    const last = head.size - 1
    const cp = head.checkpoint
    let stored: MerkleFrontier | null = null
    const sealedCount = Math.floor(head.size / C)
    try {
      stored = MerkleFrontier.from(head.size, head.peaks)
      this.sealedFrontier = MerkleFrontier.from(sealedCount, head.peaks.slice(0, popcount(sealedCount)))
    } catch {
      problems.push({ seq: last, reason: 'stored Merkle frontier is malformed' })
    }
    if (!cp) problems.push({ seq: last, reason: 'no checkpoint covers the series' })
    else if (cp.size !== head.size)
      problems.push({ seq: last, reason: `checkpoint covers ${cp.size} entries, head says ${head.size}` })
    else if (stored && cp.root !== toHex(stored.root())) {
      problems.push({ seq: last, reason: 'checkpoint root does not match the stored frontier' })
    } else {
      const c = await verifyCheckpoint(cp, this.signer.publicKey, this.verifier)
      if (!c.ok) problems.push({ seq: last, reason: `checkpoint: ${c.reason}` })
    }
    this.size = head.size
    this.durable = head.size
    this.lastHash = head.lastHash
    this.checkpointValue = cp
    this.tailIndex = Math.floor(head.size / C)
    const tailCount = head.size % C
    if (tailCount > 0) {
      const [rec] = await this.store.readChunks(this.tailIndex, this.tailIndex + 1)
      const framed = rec ? unframeEntries(rec.data).entries.slice(0, tailCount) : []
      // The open chunk's first link is checked by the background verification.
      const chain = checkChain(framed, this.tailIndex * C, null)
      if (chain.problem) problems.push(chain.problem)
      for (const leaf of chain.leaves) this.tailFrontier.push(leaf)
      this.tailCount = chain.entries.length
      const prevHex = chain.last
      let used = 0
      for (let i = 0; i < this.tailCount; i++) used += 4 + framed[i]!.length
      if (rec) {
        this.tailBuf = new Uint8Array(Math.max(TAIL_BUFFER_BYTES, used * 2))
        this.tailBuf.set(rec.data.subarray(0, used))
        this.tailUsed = used
      }
      if (problems.length === 0 && (this.tailCount !== tailCount || prevHex !== head.lastHash)) {
        problems.push({ seq: this.tailIndex * C + this.tailCount, reason: 'open chunk does not match the head' })
      } else if (problems.length === 0 && cp && toHex(this.globalFrontier().root()) !== cp.root) {
        problems.push({ seq: last, reason: 'entry does not match the signed checkpoint' })
      }
    }
    try {
      this.states = await this.derive(head.size)
    } catch (e: unknown) {
      problems.push({
        seq: last,
        reason: `derived state cannot be rebuilt: ${e instanceof Error ? e.message : String(e)}`,
      })
    }
    if (problems.length > 0) {
      this.problemList = problems
      this.statusValue = 'damaged'
      return
    }
    this.statusValue = 'verifying'
    this.verification = this.verify().then(
      (report) => {
        this.verification = null
        this.loadReport = report
        if (report.ok) {
          this.statusValue = 'ok'
          this.emit({ type: 'status', status: 'ok', problems: [] })
          this.scheduleCommit()
        } else this.setDamaged(report.problems)
        return report
      },
      (e: unknown) => {
        this.verification = null
        this.setDamaged([{ seq: 0, reason: `verification failed: ${e instanceof Error ? e.message : String(e)}` }])
        return {
          ok: false,
          size: this.durable,
          checked: 0,
          problems: this.problemList.slice(),
          checkpoint: this.checkpointValue,
          ms: 0,
        }
      },
    )
  }
}

function popcount(n: number): number {
  let c = 0
  for (; n > 0; n = Math.floor(n / 2)) c += n % 2
  return c
}
