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
 * Durable means durable: `durableLength`, the `durable` event and
 * `checkpoint` (what the mesh and chunks layers advertise) move only once the
 * store's commit resolved, and the store resolves only once the data is on
 * disk (the IndexedDB store commits with `durability: 'strict'`). A failed
 * commit leaves them where they were and sets `degraded` (with the reason);
 * the series then retries on the injected clock with exponential backoff,
 * and clears `degraded` on the first commit that succeeds. Appended entries
 * wait in memory meanwhile, up to a bound (`maxBacklog`): beyond it append
 * throws ERR_BACKLOG_FULL and changes nothing; nothing is ever dropped.
 *
 * Loading checks the head (signed checkpoint vs Merkle frontier) and the open
 * chunk at once, then verifies the whole chain in the background. Until that
 * finishes nothing is committed; if it finds damage the series refuses to
 * append or sign, and reports what is wrong and where.
 */
import { Ir3Error, safetyCatch } from '../errors.ts'
import type { JsonValue } from '../json.ts'
import type { Clock, EventStore, SignedCheckpoint, Signer, Snapshot, Verifier } from '../ports.ts'
import { ChunkReader } from './chunk-reader.ts'
import { prepareCommit } from './commit.ts'
import type { Entry } from './encoding.ts'
import { leafHash, toHex, ZERO_HASH } from './hash.ts'
import { restoreHead } from './load.ts'
import { MerkleFrontier } from './merkle.ts'
import { OpenChunk, seriesFrontier } from './open-chunk.ts'
import { headSnapshotAt, proveConsistency, proveInclusion } from './proofs.ts'
import { applyEntry, defaultReducers, initialStates, reducerKey, type Reducer, type States } from './reducers.ts'
import { deriveStates } from './states.ts'
import {
  DEFAULT_CHUNK_SIZE,
  DEFAULT_MAX_BACKLOG_BYTES,
  DEFAULT_MAX_BACKLOG_ENTRIES,
  DEFAULT_RETRY_MAX_MS,
  DEFAULT_RETRY_MIN_MS,
  DEFAULT_SNAPSHOT_EVERY,
  type Degraded,
  type EntryView,
  type HeadSnapshot,
  type InclusionProof,
  type Problem,
  type SeriesEvent,
  type SeriesOptions,
  type SeriesStatus,
  type VerifyReport,
} from './types.ts'
import { verifyStored } from './verify.ts'

export * from './types.ts'

const ZERO_HEX = toHex(ZERO_HASH)

type Waiter = { size: number; resolve: (size: number) => void; reject: (e: unknown) => void }

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
  private readonly maxBacklogEntries: number
  private readonly maxBacklogBytes: number
  private readonly retryMinMs: number
  private readonly retryMaxMs: number
  readonly readOnly: boolean

  private size = 0
  private durable = 0
  /** Encoded bytes appended since open, and how many of them are durable: the backlog's size in bytes is the difference. */
  private appendedBytes = 0
  private durableBytes = 0
  private degradedValue: Degraded | null = null
  private cancelRetry: (() => void) | null = null
  private lastHash = ZERO_HEX
  /** Frontier over the roots of sealed chunks; with the open chunk's frontier it is the series' frontier (see PROTOCOL.md). */
  private sealedFrontier = new MerkleFrontier()
  private readonly open = new OpenChunk()
  private readonly chunks: ChunkReader
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
    this.maxBacklogEntries = opts.maxBacklog?.entries ?? DEFAULT_MAX_BACKLOG_ENTRIES
    this.maxBacklogBytes = opts.maxBacklog?.bytes ?? DEFAULT_MAX_BACKLOG_BYTES
    this.retryMinMs = opts.retry?.minMs ?? DEFAULT_RETRY_MIN_MS
    this.retryMaxMs = opts.retry?.maxMs ?? DEFAULT_RETRY_MAX_MS
    if (this.chunkSize < 1 || (this.chunkSize & (this.chunkSize - 1)) !== 0) {
      throw new Ir3Error('ERR_BAD_RANGE', 'chunkSize must be a power of two')
    }
    if (this.snapshotEvery % this.chunkSize !== 0) {
      throw new Ir3Error('ERR_BAD_RANGE', 'snapshotEvery must be a multiple of chunkSize')
    }
    this.states = initialStates(this.reducers)
    this.chunks = new ChunkReader(this.store, this.chunkSize, this.open)
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
  /** Set while commits fail (see Degraded); null when the last commit succeeded. */
  get degraded(): Degraded | null {
    return this.degradedValue
  }
  /** Entries appended and not yet durable. */
  get backlog(): number {
    return this.size - this.durable
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

  /**
   * Appends an entry; returns at once. Throws ERR_DAMAGED on a damaged series,
   * ERR_BACKLOG_FULL when the backlog is at its bound (see
   * SeriesOptions.maxBacklog), ERR_BAD_KIND / ERR_NOT_JSON /
   * ERR_ENTRY_TOO_LARGE on bad input; a throw changes nothing.
   */
  append(kind: string, body: JsonValue): { seq: number; hash: string } {
    if (this.destroyed) throw new Ir3Error('ERR_DESTROYED', 'series is closed')
    if (this.readOnly) throw new Ir3Error('ERR_READ_ONLY', `the series of ${this.author} is read-only here`)
    if (this.statusValue === 'damaged') {
      throw new Ir3Error(
        'ERR_DAMAGED',
        `series is damaged at seq ${this.problemList[0]?.seq ?? '?'}; refusing to extend it`,
      )
    }
    const backlog = this.size - this.durable
    const backlogBytes = this.appendedBytes - this.durableBytes
    if (backlog >= this.maxBacklogEntries || backlogBytes >= this.maxBacklogBytes) {
      const why = this.degradedValue ? `commits are failing (${this.degradedValue.reason})` : 'the disk is behind'
      throw new Ir3Error(
        'ERR_BACKLOG_FULL',
        `${backlog} entries (${backlogBytes} bytes) are not on disk yet, the most this node keeps waiting; ${why}`,
      )
    }
    const seq = this.size
    const entry: Entry = { seq, t: Math.trunc(this.clock.now()), kind, body, prev: this.lastHash }
    const bytes = this.open.encode(entry)
    const leaf = leafHash(bytes)
    const hash = toHex(leaf)
    this.open.add(leaf)
    this.size = seq + 1
    this.lastHash = hash
    this.appendedBytes += bytes.length
    this.states = applyEntry(this.reducers, this.states, entry, bytes.length)
    if (this.size % this.snapshotEvery === 0) {
      this.pendingSnapshots.push({ size: this.size, key: this.key, states: this.states })
    }
    if (this.open.count === this.chunkSize) this.sealOpenChunk()
    if (this.emitFrom < 0) {
      this.emitFrom = seq
      void Promise.resolve().then(() => this.emitAppended())
    }
    this.scheduleCommit()
    return { seq, hash }
  }

  /**
   * Resolves when every entry appended before the call is durable (with a
   * signed checkpoint covering it). Rejects with the store's error if the
   * commit attempt that would have made them durable fails; while degraded
   * that is the next scheduled retry.
   */
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
    return this.chunks.entries(Math.max(0, Math.floor(from)), Math.min(this.size, Math.floor(to)))
  }

  /** Derived state as of seq `atSeq` (inclusive); the current state when omitted. -1 gives the initial state. */
  async state(atSeq?: number): Promise<States> {
    const size = atSeq === undefined ? this.size : Math.min(this.size, Math.max(0, Math.floor(atSeq) + 1))
    return size === this.size ? this.states : this.derive(size)
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
    return headSnapshotAt(this.chunks, this.chunkSize, cp)
  }

  /** Stored bytes of sealed chunks [from, to) that are durable (missing ones are absent). */
  async sealedChunks(from: number, to: number): Promise<Uint8Array[]> {
    return this.chunks.sealedData(from, to, this.durable)
  }

  /** Verifies the whole durable series: encoding, seq, prev links, chunk roots, the checkpoint's root and signature. */
  async verify(): Promise<VerifyReport> {
    const size = this.durable
    return verifyStored({
      store: this.store,
      chunkSize: this.chunkSize,
      clock: this.clock,
      verifier: this.verifier,
      publicKey: this.signer.publicKey,
      size,
      checkpoint: this.checkpointValue,
      headLastHash: () => (size === this.durable && this.durable === this.size ? this.lastHash : null),
    })
  }

  /** RFC 6962 inclusion proof of entry `seq` in the tree of the first `size` entries (default: durable size). */
  async inclusionProof(seq: number, size: number = this.durable): Promise<InclusionProof> {
    if (!(seq >= 0 && seq < size && size <= this.size))
      throw new Ir3Error('ERR_BAD_RANGE', `no entry ${seq} in size ${size}`)
    return proveInclusion(this.chunks, this.chunkSize, seq, size)
  }

  /** RFC 6962 consistency proof between the trees of sizes m and n (default: durable size). */
  async consistencyProof(m: number, n: number = this.durable): Promise<string[]> {
    if (!(m > 0 && m <= n && n <= this.size)) throw new Ir3Error('ERR_BAD_RANGE', `bad sizes ${m}, ${n}`)
    return proveConsistency(this.chunks, this.chunkSize, m, n)
  }

  /** Stops committing and detaches listeners. Pending flushes reject with ERR_DESTROYED. */
  close(): void {
    if (this.destroyed) return
    this.destroyed = true
    this.cancelRetry?.()
    this.cancelRetry = null
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
      } catch (err: unknown) {
        // A listener's failure must not break the series; its bug still surfaces.
        safetyCatch(err)
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
    return seriesFrontier(this.size, this.sealedFrontier, this.open)
  }

  private sealOpenChunk(): void {
    const k = this.open.index
    const sealed = this.open.seal()
    this.sealedFrontier.push(sealed.root)
    this.chunks.sealed(k, sealed)
  }

  private derive(size: number): Promise<States> {
    return deriveStates(
      {
        store: this.store,
        chunks: this.chunks,
        chunkSize: this.chunkSize,
        reducers: this.reducers,
        key: this.key,
        pending: this.pendingSnapshots,
      },
      size,
    )
  }

  // ---- group commit ----

  private scheduleCommit(): void {
    // While degraded only the retry timer starts commits: appends must not hammer a failing disk.
    if (this.commitScheduled || this.committing || this.destroyed || this.degradedValue) return
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
      this.commitFailed(e)
    } finally {
      this.committing = false
    }
  }

  private commitFailed(e: unknown): void {
    const message = e instanceof Error ? e.message : String(e)
    for (const w of this.waiters.splice(0)) w.reject(e)
    if (this.destroyed) return
    const now = this.clock.now()
    const failures = (this.degradedValue?.failures ?? 0) + 1
    const delay = Math.min(this.retryMaxMs, this.retryMinMs * 2 ** Math.min(failures - 1, 30))
    this.degradedValue = {
      reason: message,
      since: this.degradedValue?.since ?? now,
      failures,
      backlog: this.size - this.durable,
      retryAt: now + delay,
    }
    this.cancelRetry?.()
    this.cancelRetry = this.clock.setTimeout(() => {
      this.cancelRetry = null
      void this.commitLoop()
    }, delay)
    this.emit({ type: 'error', message: `commit failed: ${message}` })
    this.emit({ type: 'degraded', degraded: this.degradedValue })
    safetyCatch(e)
  }

  private async commitOnce(): Promise<void> {
    const target = this.size
    const targetBytes = this.appendedBytes
    const plan = await prepareCommit({
      author: this.author,
      signer: this.signer,
      clock: this.clock,
      chunkSize: this.chunkSize,
      chunks: this.chunks,
      open: this.open,
      durable: this.durable,
      size: target,
      lastHash: this.lastHash,
      frontier: this.globalFrontier(),
      pending: this.pendingSnapshots,
    })
    await this.store.commit(plan.batch)
    if (this.destroyed) return
    const { checkpoint } = plan
    this.durable = target
    this.durableBytes = targetBytes
    this.checkpointValue = checkpoint
    this.pendingSnapshots = this.pendingSnapshots.filter((p) => p.size > target)
    for (const k of plan.sealed) this.chunks.stored(k)
    const ready = this.waiters.filter((w) => w.size <= target)
    this.waiters = this.waiters.filter((w) => w.size > target)
    for (const w of ready) w.resolve(target)
    this.emit({ type: 'durable', size: target, checkpoint })
    if (this.degradedValue) {
      this.degradedValue = null
      this.emit({ type: 'degraded', degraded: null })
    }
  }

  // ---- load ----

  private async load(): Promise<void> {
    const head = await restoreHead(this.store, this.chunkSize, this.open, this.signer.publicKey, this.verifier)
    if (!head) return
    const { problems } = head
    this.size = head.size
    this.durable = head.size
    this.lastHash = head.lastHash
    this.checkpointValue = head.checkpoint
    this.sealedFrontier = head.sealedFrontier
    try {
      this.states = await this.derive(head.size)
    } catch (e: unknown) {
      problems.push({
        seq: head.size - 1,
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
