/**
 * The module contract: everything an app (and every protocol the node speaks
 * on its behalf) is made of.
 *
 *   name, version   the reducer's name is the module's; `name@version` joins
 *                   the snapshot key, so a new version recomputes its state
 *   kinds           the entry kinds the module records (namespaced:
 *                   `msg-received`); `record()` refuses any other kind, and
 *                   no two modules of a node may claim one kind
 *   initial/reduce  a pure reducer over entries, typed state `S`; it sees
 *                   every entry (it may read other modules' kinds, e.g. the
 *                   intents' `response-received`), and only its own state
 *   intents         handlers by intent kind: `decide(intent, state, ctx)` →
 *                   yes (with data, and entries to record with the answer) |
 *                   no (reason, retry-after) | silent; run after the node's
 *                   rate limiters
 *   channel         direct messages between linked nodes: a codec decodes
 *                   untrusted JSON to a typed message or null (a counted
 *                   drop, never a throw); `onMessage` maps one message to its
 *                   reply (or none) and the host sends it (y-protocols shape)
 *   start(ctx)      builds the module's API object from the context handed in
 *
 * The context is all a module gets of the node: its id, clock and rng, its
 * own state, `record`, `declare` (→ `{ id, outcome }`), `send`, a read-only
 * view of the mesh (`nodes`, `peers`, `onNodes`), the node's cipher,
 * `onAppended`, and `onStop`.
 * Every registration returns its unsubscribe; `stop()` of the host detaches
 * all of it.
 */
import type { JsonValue } from '../json.ts'
import type { Cipher, Clock, Rng } from '../ports.ts'
import type { Reducer, States } from '../series/reducers.ts'
import type { Declared, DeclareOptions, IncomingIntent } from '../intents/intents.ts'

/** One entry a decision asks the host to record (in the module's own kinds) before it answers. */
export interface Recorded {
  kind: string
  body: JsonValue
}

/** A module's answer to an intent. */
export type ModuleDecision =
  | { answer: 'yes'; data?: JsonValue; record?: Recorded[] }
  | { answer: 'no'; reason: string; retryAfter?: number; record?: Recorded[] }
  | { answer: 'silent'; reason?: string }

/** Decodes untrusted input. Never throws: null means drop (the host counts it). */
export interface Codec<M> {
  decode(input: unknown): M | null
  encode(message: M): JsonValue
}

/** A node as a module sees it through the mesh. */
export interface NodeInfo {
  id: string
  /** Short friendly name derived from the id. */
  name: string
  /** Linked now (a ready data channel). */
  linked: boolean
  /** Its key-agreement key from its signed peer record, or null if none reached us. */
  ek: string | null
}

/** What a module is handed: the node, narrowed to what a module may do. */
export interface ModuleContext<S extends JsonValue = JsonValue, M = never> {
  readonly id: string
  readonly name: string
  readonly clock: Clock
  readonly rng: Rng
  /** The module's own derived state, now. */
  state(): S
  /** Entries appended so far. */
  length(): number
  /** Appends an entry of one of the module's kinds; returns its seq. Throws ERR_BAD_KIND (not its kind), ERR_DAMAGED, ERR_DESTROYED. */
  record(kind: string, body: JsonValue): { seq: number }
  /** Declares an intent (ERR_NO_MESH without a transport). */
  declare(kind: string, body: JsonValue, opts?: DeclareOptions): Declared
  /** Sends a direct message on the module's channel to a linked node; false if not linked, too big, or no channel. */
  send(to: string, message: M): boolean
  /** Live links and nodes known to the mesh (empty without a mesh). */
  nodes(): NodeInfo[]
  /** Ids of nodes linked now. */
  peers(): string[]
  /** The node's cipher (null where the platform has no X25519). */
  readonly cipher: Cipher | null
  /** Calls `fn` after entries were appended (any module's; coalesced); returns the unsubscribe. */
  onAppended(fn: () => void): () => void
  /** Calls `fn` when links, known nodes or their keys change (coalesced); returns the unsubscribe. */
  onNodes(fn: () => void): () => void
  /** Runs `fn` when the host stops (node destroyed). */
  onStop(fn: () => void): () => void
}

export interface ModuleIntentHandler<S extends JsonValue, M> {
  (intent: IncomingIntent, state: S, ctx: ModuleContext<S, M>): ModuleDecision | Promise<ModuleDecision>
}

export interface ModuleChannel<S extends JsonValue, M> {
  codec: Codec<M>
  /** Reads one message from a linked node and returns the reply to send, or null. */
  onMessage(from: string, message: M, ctx: ModuleContext<S, M>): M | null | Promise<M | null>
}

export interface Module<S extends JsonValue = JsonValue, Api = unknown, M = never> extends Reducer<S> {
  /** Entry kinds this module records. */
  readonly kinds: readonly string[]
  readonly intents?: { readonly [kind: string]: ModuleIntentHandler<S, M> }
  readonly channel?: ModuleChannel<S, M>
  /** Builds the API object (`window.ir3.apps.<name>`); called once when the node starts. */
  start?(ctx: ModuleContext<S, M>): Api
  /** One line for people: what the module does. */
  readonly description?: string
}

/** Any module, whatever its types (for lists). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyModule = Module<any, any, any>

/** The state type of a module. */
export type StateOf<T> = T extends Module<infer S, unknown, infer _M> ? S : never
/** The API type of a module. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ApiOf<T> = T extends Module<any, infer A, any> ? A : never

/** Identity helper that checks a module literal against the contract and keeps its types. */
export function defineModule<S extends JsonValue, Api = undefined, M = never>(m: Module<S, Api, M>): Module<S, Api, M> {
  return m
}

/**
 * The typed selector: `m`'s state in a set of derived states (the node's, or
 * one as of a past seq). A module absent from the set reads as its initial
 * state.
 */
export function select<S extends JsonValue>(states: States, m: Reducer<S>): S {
  return (states[m.name] as S | undefined) ?? m.initial
}
