/** The Series' options, reports and events (re-exported by series.ts). */
import type { Clock, EventStore, SignedCheckpoint, Signer, Verifier } from '../ports.ts'
import type { Entry } from './encoding.ts'
import type { Reducer } from './reducers.ts'

export const DEFAULT_CHUNK_SIZE = 256
export const DEFAULT_SNAPSHOT_EVERY = 4096
/** Appends throw ERR_BACKLOG_FULL while this many entries are not yet durable. */
export const DEFAULT_MAX_BACKLOG_ENTRIES = 262_144
/** Appends throw ERR_BACKLOG_FULL while the encoded bytes not yet durable are at least this. */
export const DEFAULT_MAX_BACKLOG_BYTES = 64 * 1024 * 1024
/** First retry of a failed commit after this long; each further failure doubles it, up to the maximum. */
export const DEFAULT_RETRY_MIN_MS = 500
export const DEFAULT_RETRY_MAX_MS = 30_000

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
  /**
   * Bound on the backlog (entries appended but not yet durable), healthy or
   * degraded: once it holds `entries` entries or at least `bytes` encoded
   * bytes, append throws ERR_BACKLOG_FULL and changes nothing (so it never
   * exceeds `entries` entries, nor `bytes` plus one entry). Defaults:
   * DEFAULT_MAX_BACKLOG_ENTRIES, DEFAULT_MAX_BACKLOG_BYTES.
   */
  maxBacklog?: { entries?: number; bytes?: number }
  /** Backoff of the retries after a failed commit (on the injected clock). Defaults: DEFAULT_RETRY_MIN_MS, DEFAULT_RETRY_MAX_MS. */
  retry?: { minMs?: number; maxMs?: number }
}

export type SeriesStatus = 'verifying' | 'ok' | 'damaged'

/**
 * Set while commits fail (a full disk, a closed database): the series keeps
 * what was appended in memory, up to the backlog bound, and retries with
 * backoff. Nothing beyond `durableLength` is signed into an advertised
 * checkpoint meanwhile. Cleared by the first commit that succeeds.
 */
export interface Degraded {
  /** The last commit's error message. */
  reason: string
  /** Clock time of the first failure in this run of failures. */
  since: number
  /** Failed commits in a row. */
  failures: number
  /** Entries appended and not yet durable when the last commit failed (Series.backlog is the live figure). */
  backlog: number
  /** Clock time of the next retry. */
  retryAt: number
}

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
  /** A commit failed (degraded set or updated) or a retry succeeded (null). */
  | { type: 'degraded'; degraded: Degraded | null }

export interface InclusionProof {
  seq: number
  size: number
  leaf: string
  path: string[]
}

/** See Series.headSnapshot. */
export interface HeadSnapshot {
  checkpoint: SignedCheckpoint
  roots: Uint8Array[]
  tail: Uint8Array
}
