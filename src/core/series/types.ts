/** The Series' options, reports and events (re-exported by series.ts). */
import type { Clock, EventStore, SignedCheckpoint, Signer, Verifier } from '../ports.ts'
import type { Entry } from './encoding.ts'
import type { Reducer } from './reducers.ts'

export const DEFAULT_CHUNK_SIZE = 256
export const DEFAULT_SNAPSHOT_EVERY = 4096

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

/** See Series.headSnapshot. */
export interface HeadSnapshot {
  checkpoint: SignedCheckpoint
  roots: Uint8Array[]
  tail: Uint8Array
}
