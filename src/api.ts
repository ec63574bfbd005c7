/**
 * `window.ir3`: the console API. Scripts and tests get the same powers as the
 * UI. Documented in README.md ("Console API").
 */
import type { JsonValue } from './core/json.ts'
import type { Ir3Node } from './core/node.ts'
import type { EntryView, Problem, SeriesStatus, VerifyReport, InclusionProof } from './core/series/series.ts'
import type { States } from './core/series/reducers.ts'
import type { NodeSummary } from './adapters/node-registry.ts'

export interface Ir3Api {
  /** This node's id (hex, 32 chars). */
  readonly id: string
  /** Short human-friendly name derived from the id. */
  readonly name: string
  /** Hex Ed25519 public key. */
  readonly publicKey: string
  /** How this tab got its node: created, resumed (reload) or requested (?node=). */
  readonly how: string
  /** Entries appended so far (durable or not). */
  readonly length: number
  /** Entries on disk, covered by a signed checkpoint. */
  readonly durableLength: number
  /** 'verifying' while the load-time check runs, 'ok', or 'damaged'. */
  readonly status: SeriesStatus
  /** What is wrong and where, when damaged. */
  readonly problems: readonly Problem[]
  /** Appends an entry; returns at once. */
  append(kind: string, body: JsonValue): { seq: number; hash: string }
  /** Resolves with the durable length once everything appended so far is on disk. */
  flush(): Promise<number>
  /** Entries [from, to) with hash and size. */
  entries(from: number, to: number): Promise<EntryView[]>
  /** Derived state as of `atSeq` (inclusive), or now. */
  state(atSeq?: number): Promise<States>
  /** Full verification of the stored series. */
  verify(): Promise<VerifyReport>
  /** Resolves when the load-time background verification is done. */
  verified(): Promise<VerifyReport>
  /** RFC 6962 inclusion proof of an entry against the latest checkpoint. */
  proof(seq: number): Promise<InclusionProof>
  /** The nodes this browser holds. */
  nodes(): Promise<NodeSummary[]>
  /** The latest signed checkpoint. */
  checkpoint(): unknown
}

export function createApi(node: Ir3Node, how: string, nodes: () => Promise<NodeSummary[]>): Ir3Api {
  return {
    id: node.id,
    name: node.name,
    publicKey: node.publicKey,
    how,
    get length() {
      return node.length
    },
    get durableLength() {
      return node.durableLength
    },
    get status() {
      return node.status
    },
    get problems() {
      return node.problems
    },
    append: (kind, body) => node.append(kind, body),
    flush: () => node.flush(),
    entries: (from, to) => node.entries(from, to),
    state: (atSeq) => node.state(atSeq),
    verify: () => node.verify(),
    verified: () => node.series.verified,
    proof: (seq) => node.proof(seq),
    nodes,
    checkpoint: () => node.series.checkpoint,
  }
}
