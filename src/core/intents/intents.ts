/**
 * Intents: declare → flood → decide → answer directly → YES / NO / SILENCE.
 *
 * A declarer signs an intent `{ id, origin, kind, body, t, deadline, targets }`
 * and floods it: every node handles each intent once (a seen-set keyed by id)
 * and forwards it once to its other peers while its TTL lasts. A receiver
 * records `intent-received`, decides from its own derived state (rate
 * limiters, then the handler registered for the kind) and answers YES (with
 * data) or NO (reason, retry-after), or stays silent. The answer goes
 * directly to the declarer over an existing link; without one, it is relayed
 * back along the path the intent came by, and — for a declarer that asks
 * again within a minute — a direct link is negotiated through the mesh in the
 * background so later answers go direct. (Waiting for a new link before
 * answering cost 150–300 ms an answer on loopback, and the declarer's degree
 * cap means most responders could not get one anyway.) `response-sent`
 * records which way each answer went. The declarer records each answer as it arrives (`response-received`,
 * late if after the deadline) and at the deadline `silence-recorded` for every
 * target that did not answer.
 */
import type { JsonValue } from '../json.ts'
import type { Clock, Rng } from '../ports.ts'
import type { States } from '../series/reducers.ts'
import type { Mesh } from '../mesh/mesh.ts'
import {
  encodeFrame,
  MAX_FRAME_BYTES,
  MAX_TARGETS,
  MAX_TTL,
  type Frame,
  type IntentPayload,
  type ResponsePayload,
} from '../mesh/frames.ts'
import { Ir3Error } from '../errors.ts'
import { KIND_PATTERN } from '../series/encoding.ts'
import { decide, type LimitsState } from './limits.ts'
import {
  summarize,
  type DeclaredIntent,
  type IntentsState,
  type IntentSummary,
  type ResponseRecord,
} from './reducers.ts'

/** What a declarer learns of its intent: the summary, and each answer with its data, as the series has them. */
export interface IntentOutcome extends IntentSummary {
  answers: { [peer: string]: ResponseRecord }
}

/** A declared intent: its id at once, its outcome at the deadline (or once every target answered). */
export interface Declared {
  id: string
  outcome: Promise<IntentOutcome>
}

export type Decision =
  { answer: 'yes'; data?: JsonValue } | { answer: 'no'; reason: string; retryAfter?: number } | { answer: 'silent' }

export interface IncomingIntent {
  id: string
  origin: string
  kind: string
  body: JsonValue
  deadline: number
}

/** Decides one intent of a kind, from this node's derived state. */
export type IntentHandler = (intent: IncomingIntent, state: States) => Decision | Promise<Decision>

export interface DeclareOptions {
  /** Hops the flood travels. Default 6, at most 16. */
  ttl?: number
  /** Time to answer, ms. Default 5000. */
  deadlineMs?: number
  /** Nodes asked to answer; default: every node known to be present. */
  targets?: string[]
}

export interface IntentsDeps {
  mesh: Mesh
  clock: Clock
  rng: Rng
  record(kind: string, body: JsonValue): void
  /** The node's current derived state. */
  state(): States
}

export interface IntentStats {
  declared: number
  received: number
  duplicates: number
  forwarded: number
  responsesSent: { direct: number; relayed: number; failed: number }
  /** Direct links opened in the background to declarers that ask repeatedly. */
  responseLinks: number
  responsesRelayedForOthers: number
}

const SEEN_KEEP_MS = 120_000
/** Seen intents kept at most; the oldest go first. */
const SEEN_MAX = 20_000
/** `hops` is unsigned: forwarders cap it at what decoders accept. */
const MAX_HOPS = 64
const ID = /^[0-9a-f]{32}$/
const MAX_DEADLINE_MS = 10 * 60_000

export class Intents {
  readonly stats: IntentStats = {
    declared: 0,
    received: 0,
    duplicates: 0,
    forwarded: 0,
    responsesSent: { direct: 0, relayed: 0, failed: 0 },
    responseLinks: 0,
    responsesRelayedForOthers: 0,
  }
  /** Frames received per intent id (first copy and duplicates): the flood's cost. */
  readonly copies = new Map<string, number>()
  private readonly deps: IntentsDeps
  private readonly handlers = new Map<string, IntentHandler>()
  private readonly seen = new Map<string, { from: string | null; until: number }>()
  /** Intent copies being verified (id:signature). */
  private readonly checking = new Set<string>()
  /** Relayed answers already passed on (intent:from), so relays don't repeat them. */
  private readonly relayedAnswers = new Map<string, number>()
  /** When each declarer last asked us something (for background response links). */
  private readonly askedAt = new Map<string, number>()
  /** Outcomes promised and not yet settled: intent id → targets and resolver. */
  private readonly waiting = new Map<string, { targets: string[]; resolve: (o: IntentOutcome) => void }>()
  private stopped = false
  /** Registrations on the mesh, undone by stop(). */
  private readonly detach: (() => void)[] = []

  constructor(deps: IntentsDeps) {
    this.deps = deps
    this.detach.push(
      deps.mesh.on('intent', (from, f) => void this.onIntent(from, f)),
      deps.mesh.on('resp', (from, f) => void this.onResponse(from, f)),
    )
  }

  /**
   * Registers the handler for an intent kind; nodes without one stay silent
   * (and still forward). One handler per kind: a second registration throws
   * ERR_DUPLICATE_MODULE. Returns the unregistration.
   */
  handle(kind: string, handler: IntentHandler): () => void {
    if (this.handlers.has(kind)) throw new Ir3Error('ERR_DUPLICATE_MODULE', `intent kind ${kind} already has a handler`)
    this.handlers.set(kind, handler)
    return () => {
      if (this.handlers.get(kind) === handler) this.handlers.delete(kind)
    }
  }

  kinds(): string[] {
    return [...this.handlers.keys()]
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    for (const u of this.detach.splice(0)) u()
    // Outcomes still owed settle now with what the series has (unanswered targets stay pending).
    for (const id of [...this.waiting.keys()]) this.settle(id)
  }

  /**
   * Declares an intent; returns at once with its id and the promise of its
   * outcome. `intent-declared` is recorded with the target set.
   */
  declare(kind: string, body: JsonValue, opts: DeclareOptions = {}): Declared {
    const { mesh, clock } = this.deps
    const ttl = Math.max(1, Math.min(MAX_TTL, Math.floor(opts.ttl ?? 6)))
    const deadlineMs = Math.max(1, Math.min(MAX_DEADLINE_MS, Math.floor(opts.deadlineMs ?? 5000)))
    const now = Math.trunc(clock.now())
    const id = this.randomId()
    if (!KIND_PATTERN.test(kind)) throw new Ir3Error('ERR_BAD_KIND', `intent kind must match ${KIND_PATTERN.source}`)
    const targets = opts.targets
      ? [...new Set(opts.targets)].filter((t) => t !== mesh.id)
      : this.present().slice(0, MAX_TARGETS)
    if (targets.length > MAX_TARGETS || targets.some((t) => !ID.test(t))) {
      throw new Ir3Error('ERR_BAD_RANGE', `targets must be at most ${MAX_TARGETS} node ids (32 hex)`)
    }
    const deadline = now + deadlineMs
    const p: IntentPayload = {
      id,
      origin: mesh.id,
      key: mesh.publicKey,
      kind,
      body,
      t: now,
      deadline,
      targets: opts.targets ? targets : null,
    }
    const size = encodeFrame({ t: 'intent', p, s: '0'.repeat(128), ttl, hops: MAX_HOPS }).length
    if (size > MAX_FRAME_BYTES) {
      throw new Ir3Error('ERR_ENTRY_TOO_LARGE', `intent is ${size} bytes on the wire, limit ${MAX_FRAME_BYTES}`)
    }
    // Recorded first: a non-JSON body throws here, before anything is sent.
    this.deps.record('intent-declared', { id, kind, body, targets, deadline, ttl })
    this.stats.declared++
    this.seen.set(id, { from: null, until: deadline + SEEN_KEEP_MS })
    void mesh.sign('intent', p).then((s) => {
      if (!this.stopped) mesh.broadcast({ t: 'intent', p, s, ttl: ttl - 1, hops: 1 })
    })
    clock.setTimeout(() => this.atDeadline(id), deadlineMs)
    const outcome = new Promise<IntentOutcome>((resolve) => this.waiting.set(id, { targets, resolve }))
    // Nobody to ask: the outcome is known now.
    if (targets.length === 0) this.settle(id)
    return { id, outcome }
  }

  /** The outcome of an intent this node declared. */
  summary(id: string): IntentSummary | null {
    const d = this.declared(id)
    return d ? summarize(id, d) : null
  }

  /** Nodes known to be present: live peers and nodes heard of recently. */
  present(): string[] {
    const ids = new Set(this.deps.mesh.readyPeers())
    for (const k of this.deps.mesh.known()) ids.add(k.id)
    ids.delete(this.deps.mesh.id)
    return [...ids].sort()
  }

  private randomId(): string {
    let s = ''
    for (let i = 0; i < 32; i++) s += Math.floor(this.deps.rng.next() * 16).toString(16)
    return s
  }

  private atDeadline(id: string): void {
    if (this.stopped) return
    const d = this.declared(id)
    if (!d) return
    for (const peer of d.targets) if (!d.responses[peer]) this.deps.record('silence-recorded', { intent: id, peer })
    this.settle(id)
  }

  /** Resolves the outcome promised for `id` (once) from the series' record of it. */
  private settle(id: string): void {
    const w = this.waiting.get(id)
    if (!w) return
    this.waiting.delete(id)
    const d = this.declared(id) ?? { kind: '', t: 0, deadline: 0, targets: w.targets, responses: {}, silent: [] }
    w.resolve({ ...summarize(id, d), answers: { ...d.responses } })
  }

  /** An intent this node declared, as the series has it (answers and silences included). */
  private declared(id: string): DeclaredIntent | undefined {
    return (this.deps.state()['intents'] as IntentsState | undefined)?.declared[id]
  }

  private async onIntent(from: string, f: Extract<Frame, { t: 'intent' }>): Promise<void> {
    const { mesh, clock } = this.deps
    const p = f.p
    this.copies.set(p.id, (this.copies.get(p.id) ?? 0) + 1)
    if (this.copies.size > 5000) this.copies.delete(this.copies.keys().next().value!)
    const copy = `${p.id}:${f.s}`
    if (this.seen.has(p.id) || this.checking.has(copy)) {
      this.stats.duplicates++
      mesh.countDuplicate()
      return
    }
    const now = clock.now()
    // Late or clock-skewed intents are not the forwarder's fault: counted, not held against it.
    if (p.deadline < now || p.deadline - p.t > MAX_DEADLINE_MS || p.t > now + 60_000) return mesh.countStale()
    // Seen only once a copy checks out, so a forged copy that came first cannot suppress the real one.
    this.checking.add(copy)
    const ok = await mesh.verify('intent', p, p.origin, p.key, f.s)
    this.checking.delete(copy)
    if (!ok) return mesh.reject(from, 'badSignature')
    if (this.seen.has(p.id)) {
      this.stats.duplicates++
      return mesh.countDuplicate()
    }
    this.seen.set(p.id, { from, until: Math.min(p.deadline, now + MAX_DEADLINE_MS) + SEEN_KEEP_MS })
    if (this.stopped || p.origin === mesh.id) return
    this.stats.received++
    this.prune(now)
    this.deps.record('intent-received', { id: p.id, origin: p.origin, kind: p.kind, from, hops: f.hops })
    const verdict = decide(this.deps.state()['limits'] as LimitsState, p.origin, p.kind, now)
    if (verdict.answer !== 'silent' && f.ttl > 0) {
      this.stats.forwarded += mesh.flood({ ...f, ttl: f.ttl - 1, hops: Math.min(f.hops + 1, MAX_HOPS) }, from)
    }
    if (p.targets && !p.targets.includes(mesh.id)) return
    let decision: Decision
    if (verdict.answer === 'no')
      decision = {
        answer: 'no',
        reason: verdict.reason,
        ...(verdict.retryAfter !== null ? { retryAfter: verdict.retryAfter } : {}),
      }
    else if (verdict.answer === 'silent') decision = { answer: 'silent' }
    else {
      const handler = this.handlers.get(p.kind)
      if (!handler) decision = { answer: 'silent' }
      else {
        try {
          decision = await handler(
            { id: p.id, origin: p.origin, kind: p.kind, body: p.body, deadline: p.deadline },
            this.deps.state(),
          )
        } catch (e: unknown) {
          decision = {
            answer: 'no',
            reason: `handler failed: ${e instanceof Error ? e.message : String(e)}`.slice(0, 200),
          }
        }
      }
    }
    if (decision.answer === 'silent') {
      this.deps.record('intent-ignored', {
        id: p.id,
        reason: verdict.answer === 'silent' ? verdict.reason : 'no handler',
      })
      return
    }
    await this.respond(p, decision)
  }

  private async respond(intent: IntentPayload, decision: Exclude<Decision, { answer: 'silent' }>): Promise<void> {
    const { mesh, clock } = this.deps
    const r: ResponsePayload = {
      intent: intent.id,
      origin: intent.origin,
      from: mesh.id,
      key: mesh.publicKey,
      answer: decision.answer,
      data: decision.answer === 'yes' ? (decision.data ?? null) : null,
      reason: decision.answer === 'no' ? decision.reason.slice(0, 200) : null,
      retryAfter: decision.answer === 'no' ? (decision.retryAfter ?? null) : null,
      t: Math.trunc(clock.now()),
    }
    const s = await mesh.sign('resp', r)
    let via: 'direct' | 'relayed' | 'failed' = 'failed'
    if (mesh.send(intent.origin, { t: 'resp', p: r, s, relay: false })) via = 'direct'
    else {
      const back = this.seen.get(intent.id)?.from
      if (back && mesh.send(back, { t: 'resp', p: r, s, relay: true })) via = 'relayed'
      const last = this.askedAt.get(intent.origin)
      if (last !== undefined && clock.now() - last < 60_000 && mesh.readyPeers().length < mesh.options.maxDegree) {
        this.stats.responseLinks++
        void mesh.connect(intent.origin, 'response', 1)
      }
    }
    this.askedAt.set(intent.origin, clock.now())
    if (this.askedAt.size > 1000) this.askedAt.delete(this.askedAt.keys().next().value!)
    this.stats.responsesSent[via]++
    if (!this.stopped) {
      this.deps.record('response-sent', {
        intent: intent.id,
        to: intent.origin,
        answer: r.answer,
        via,
        reason: r.reason,
      })
    }
  }

  private async onResponse(from: string, f: Extract<Frame, { t: 'resp' }>): Promise<void> {
    const { mesh, clock } = this.deps
    const p = f.p
    if (p.origin !== mesh.id) {
      // Not ours: pass it one hop back along the intent's path, if we carried the intent, once.
      const back = f.relay ? this.seen.get(p.intent)?.from : undefined
      const key = `${p.intent}:${p.from}`
      if (!back || back === from || this.relayedAnswers.has(key)) return mesh.countDuplicate()
      if (!(await mesh.verify('resp', p, p.from, p.key, f.s))) return mesh.reject(from, 'badSignature')
      this.relayedAnswers.set(key, clock.now())
      if (this.relayedAnswers.size > SEEN_MAX) this.relayedAnswers.delete(this.relayedAnswers.keys().next().value!)
      if (mesh.send(back, f)) this.stats.responsesRelayedForOthers++
      return
    }
    // Answers are taken until a while after the deadline (as late), then ignored.
    const before = this.declared(p.intent)
    if (!before || clock.now() > before.deadline + SEEN_KEEP_MS) return mesh.countStale()
    if (before.responses[p.from]) return mesh.countDuplicate()
    if (!(await mesh.verify('resp', p, p.from, p.key, f.s))) {
      // A relayed answer was checked by the relay; one that still fails is not the relay's doing.
      return f.relay ? mesh.countStale() : mesh.reject(from, 'badSignature')
    }
    const d = this.declared(p.intent)
    if (!d || d.responses[p.from] || this.stopped) return
    const now = clock.now()
    this.deps.record('response-received', {
      intent: p.intent,
      from: p.from,
      answer: p.answer,
      data: p.data,
      reason: p.reason,
      retryAfter: p.retryAfter,
      latencyMs: Math.trunc(now - d.t),
      via: f.relay ? 'relayed' : 'direct',
      late: now > d.deadline,
    })
    const w = this.waiting.get(p.intent)
    const after = this.declared(p.intent)
    if (w && after && w.targets.every((t) => after.responses[t] !== undefined)) this.settle(p.intent)
  }

  /** Drops expired seen intents from the oldest on, stopping at the first live one; a hard cap bounds the rest. */
  private prune(now: number): void {
    for (const [id, v] of this.seen) {
      if (v.until >= now && this.seen.size <= SEEN_MAX) break
      this.seen.delete(id)
    }
    for (const [k, at] of this.relayedAnswers) {
      if (now - at < SEEN_KEEP_MS) break
      this.relayedAnswers.delete(k)
    }
  }
}
