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
 *
 * What strangers can make a node do is bounded, and charged to the link that
 * delivered it (DESIGN §9):
 *   - each link may deliver LINK_INTENTS_BURST new intents, refilled at
 *     LINK_INTENTS_PER_S; the rest are dropped and counted before their
 *     signature is checked;
 *   - intents refused for `flood` or `load` (NO or silence) are not forwarded;
 *   - only intents this node answers get their own entries, within an answer
 *     budget per link and overall (NOs of the limiters a smaller one); the
 *     others — forwarded, ignored, refused, dropped — are counted in one
 *     `intents-summarized` entry every SUMMARY_EVERY_MS (only if any);
 *   - a declarer stores only its targets' answers, until ANSWER_GRACE_MS
 *     after the deadline (as late), with at most MAX_ANSWER_DATA_BYTES of
 *     `data`; other answers are dropped and counted, never cut;
 *   - default targets are live nodes (ready links, fresh signed records);
 *   - background response links are dialed only to a declarer with a fresh
 *     record, once a minute per declarer, and a few a minute overall.
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
import { Ir3Error, safetyCatch } from '../errors.ts'
import { KIND_PATTERN } from '../series/encoding.ts'
import { decide, type LimitsState } from './limits.ts'
import { Buckets } from '../budget.ts'
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
  /** Nodes asked to answer; default: live nodes (see `Intents.present`), at most DEFAULT_TARGETS_MAX. */
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
  /** New intents dropped before their signature was checked: over their link's budget. */
  overBudget: number
  /** Intents not forwarded because the limiters refused them (flood, load). */
  refused: number
  /** Answers to this node's intents dropped: not from a target, too late, too much data, unknown intent. */
  answersDropped: { notTarget: number; late: number; oversize: number; unknown: number }
  /** Background response-link dials not made (no fresh record of the declarer, or over the dial budget). */
  dialsSkipped: number
  /** `intents-summarized` entries recorded. */
  summaries: number
}

/**
 * What the next `intents-summarized` entry says, per link. `received`: intents
 * verified and not recorded one by one (answered ones have their own
 * entries); `forwarded` and `refused` (by the limiters, so not forwarded):
 * of all intents; `dropped`: over the link's budget, unverified.
 */
interface LinkTally {
  received: number
  forwarded: number
  refused: number
  dropped: number
}

const SEEN_KEEP_MS = 120_000
/** Seen intents kept at most; the oldest go first. */
const SEEN_MAX = 20_000
/** `hops` is unsigned: forwarders cap it at what decoders accept. */
const MAX_HOPS = 64
const ID = /^[0-9a-f]{32}$/
const MAX_DEADLINE_MS = 10 * 60_000
/** Targeted intents with at most this many targets are also sent straight to the targets a forwarder is linked to. */
const DIRECT_TO_TARGETS = 8

/** New intents a link may deliver (before signature checks): burst, then per second. */
export const LINK_INTENTS_BURST = 200
export const LINK_INTENTS_PER_S = 50
/** Intents answered (own entries) per delivering link and overall: burst, then per second. */
export const LINK_ANSWERS_BURST = 64
export const LINK_ANSWERS_PER_S = 2
export const ANSWERS_BURST = 128
export const ANSWERS_PER_S = 4
/** Of those, NOs of the limiters (load, flood, …) overall: a loaded node mostly stays silent. */
export const REFUSALS_BURST = 16
export const REFUSALS_PER_S = 1
/** Forwarded, ignored, refused and dropped intents are summarized this often (one entry, only if any). */
export const SUMMARY_EVERY_MS = 10_000
/** Links and declarers named in one summary at most (the rest are counted under `others`). */
const SUMMARY_LINKS_MAX = 64
const SUMMARY_ORIGINS_MAX = 32
/** Declarers tracked between summaries (for the per-declarer limiter); more are counted in the total only. */
const PENDING_ORIGINS_MAX = 4096
/** A declarer stores answers until this long after the deadline (as late). */
export const ANSWER_GRACE_MS = 5_000
/** `data` of an answer, as JSON bytes, a declarer stores at most; larger answers are dropped (counted), never cut. */
export const MAX_ANSWER_DATA_BYTES = 8 * 1024
/** Default targets at most. */
export const DEFAULT_TARGETS_MAX = 256
/** A node whose signed record reached us within this many record periods is live (a default target, dialable). */
const FRESH_RECORD_PERIODS = 3
/** Background response links: per declarer at most one per minute; overall a burst of 4, then one per 15 s. */
export const DIAL_PER_ORIGIN_MS = 60_000
export const DIALS_BURST = 4
export const DIALS_PER_S = 1 / 15
const textEncoder = new TextEncoder()

export class Intents {
  readonly stats: IntentStats = {
    declared: 0,
    received: 0,
    duplicates: 0,
    forwarded: 0,
    responsesSent: { direct: 0, relayed: 0, failed: 0 },
    responseLinks: 0,
    responsesRelayedForOthers: 0,
    overBudget: 0,
    refused: 0,
    answersDropped: { notTarget: 0, late: 0, oversize: 0, unknown: 0 },
    dialsSkipped: 0,
    summaries: 0,
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
  /** Registrations on the mesh and the summary timer, undone by stop(). */
  private readonly detach: (() => void)[] = []
  private readonly linkIntents = new Buckets(LINK_INTENTS_PER_S, LINK_INTENTS_BURST)
  private readonly linkAnswers = new Buckets(LINK_ANSWERS_PER_S, LINK_ANSWERS_BURST)
  private readonly answers = new Buckets(ANSWERS_PER_S, ANSWERS_BURST, 1)
  private readonly refusals = new Buckets(REFUSALS_PER_S, REFUSALS_BURST, 1)
  private readonly dials = new Buckets(DIALS_PER_S, DIALS_BURST, 1)
  private readonly dialedAt = new Map<string, number>()
  /** What the next `intents-summarized` says; `origins` and `pending` also feed the limiters until then. */
  private tally: ReturnType<Intents['emptyTally']>

  constructor(deps: IntentsDeps) {
    this.deps = deps
    this.tally = this.emptyTally()
    this.detach.push(
      deps.mesh.on('intent', (from, f) => void this.onIntent(from, f).catch(safetyCatch)),
      deps.mesh.on('resp', (from, f) => void this.onResponse(from, f).catch(safetyCatch)),
    )
    const every = () => {
      this.summarizeNow()
      cancel = deps.clock.setTimeout(every, SUMMARY_EVERY_MS)
    }
    let cancel = deps.clock.setTimeout(every, SUMMARY_EVERY_MS)
    this.detach.push(() => cancel())
    this.resumeDeadlines()
  }

  /**
   * After a reload, intents declared before it still owe their silences: past
   * deadlines are recorded now, the others when they come (the timers of the
   * old tab are gone).
   */
  private resumeDeadlines(): void {
    const declared = (this.deps.state()['intents'] as IntentsState | undefined)?.declared ?? {}
    const now = this.deps.clock.now()
    for (const [id, d] of Object.entries(declared)) {
      if (d.targets.every((t) => d.responses[t] || d.silent.includes(t))) continue
      this.seen.set(id, { from: null, until: d.deadline + SEEN_KEEP_MS })
      if (d.deadline <= now) this.atDeadline(id)
      else this.deps.clock.setTimeout(() => this.atDeadline(id), d.deadline - now)
    }
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
    this.summarizeNow()
    // Outcomes still owed settle now with what the series has (unanswered targets stay pending).
    for (const id of [...this.waiting.keys()]) this.settle(id)
  }

  /**
   * Declares an intent; returns at once with its id and the promise of its
   * outcome. `intent-declared` is recorded with the target set.
   */
  declare(kind: string, body: JsonValue, opts: DeclareOptions = {}): Declared {
    const { mesh, clock } = this.deps
    if (this.stopped) throw new Ir3Error('ERR_DESTROYED', 'this node was destroyed: it declares nothing')
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
    // Every intent and its answers are in the declarer's series: one that could not be recorded is not sent.
    if (!this.declared(id))
      throw new Ir3Error('ERR_DAMAGED', 'this node’s series cannot record: the intent was not sent')
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

  /**
   * Live nodes: ready links, then nodes whose signed peer record reached us
   * through the mesh lately (newest first) — not ids only heard of (server
   * samples, signals) — at most DEFAULT_TARGETS_MAX, sorted.
   */
  present(): string[] {
    const { mesh, clock } = this.deps
    const ids = new Set(mesh.readyPeers())
    const now = clock.now()
    const fresh = mesh
      .known()
      .filter((k) => this.isFresh(k.gossipAt, now))
      .sort((a, b) => b.gossipAt - a.gossipAt)
    for (const k of fresh) ids.add(k.id)
    ids.delete(mesh.id)
    return [...ids].slice(0, DEFAULT_TARGETS_MAX).sort()
  }

  private isFresh(gossipAt: number, now: number): boolean {
    return gossipAt > 0 && now - gossipAt <= FRESH_RECORD_PERIODS * this.deps.mesh.options.recordEveryMs
  }

  private emptyTally() {
    return {
      since: Math.trunc(this.deps.clock.now()),
      /** Received and not recorded one by one (they load the limiters until the summary records them). */
      pending: 0,
      /** Of all intents: forwarded, and refused by the limiters (not forwarded). */
      forwarded: 0,
      refused: 0,
      /** Of the pending: not addressed to this node; addressed to it and not answered. */
      ignored: 0,
      silent: 0,
      /** Over the delivering link's budget, unverified. */
      dropped: 0,
      answersDropped: { notTarget: 0, late: 0, oversize: 0, unknown: 0 },
      byLink: new Map<string, LinkTally>(),
      origins: new Map<string, number>(),
    }
  }

  private linkTally(from: string): LinkTally {
    const byLink = this.tally.byLink
    const key = byLink.has(from) || byLink.size < SUMMARY_LINKS_MAX ? from : 'others'
    let t = byLink.get(key)
    if (!t) byLink.set(key, (t = { received: 0, forwarded: 0, refused: 0, dropped: 0 }))
    return t
  }

  /** Records what happened since the last summary, if anything did, and starts a new one. */
  private summarizeNow(): void {
    const t = this.tally
    const a = t.answersDropped
    const any = t.pending + t.forwarded + t.dropped + a.notTarget + a.late + a.oversize + a.unknown
    if (any === 0) return
    this.tally = this.emptyTally()
    const origins = [...t.origins]
      .filter(([, n]) => n > 1)
      .sort((x, y) => y[1] - x[1])
      .slice(0, SUMMARY_ORIGINS_MAX)
    this.stats.summaries++
    this.deps.record('intents-summarized', {
      window: [t.since, Math.trunc(this.deps.clock.now())],
      received: t.pending,
      forwarded: t.forwarded,
      refused: t.refused,
      ignored: t.ignored,
      silent: t.silent,
      dropped: t.dropped,
      answersDropped: { ...a },
      byLink: Object.fromEntries([...t.byLink].map(([k, v]) => [k, { ...v }])),
      origins: Object.fromEntries(origins),
    })
  }

  private randomId(): string {
    let s = ''
    for (let i = 0; i < 32; i++) s += Math.floor(this.deps.rng.next() * 16).toString(16)
    return s
  }

  private atDeadline(id: string): void {
    if (this.stopped) return
    const d = this.declared(id)
    if (d)
      for (const peer of d.targets)
        if (!d.responses[peer] && !d.silent.includes(peer)) this.deps.record('silence-recorded', { intent: id, peer })
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
    if (this.stopped) return
    // Charged to the link that delivered it, before the signature costs anything.
    if (!this.linkIntents.take(from, now)) {
      this.stats.overBudget++
      this.tally.dropped++
      this.linkTally(from).dropped++
      return
    }
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
    // Counted (pending) before deciding: the limiters judge an intent with itself included.
    const t = this.tally
    const link = this.linkTally(from)
    link.received++
    t.pending++
    const tracked = t.origins.has(p.origin) || t.origins.size < PENDING_ORIGINS_MAX
    if (tracked) t.origins.set(p.origin, (t.origins.get(p.origin) ?? 0) + 1)
    const limits = this.deps.state()['limits'] as LimitsState
    const verdict = decide(limits, p.origin, p.kind, now, { total: t.pending, origin: t.origins.get(p.origin) ?? 1 })
    // Refused for what it costs (flood, load): not passed on. Other NOs are about this node only.
    const refused =
      verdict.answer === 'silent' || (verdict.answer === 'no' && ['flood', 'load'].includes(verdict.reason))
    if (refused) {
      this.stats.refused++
      t.refused++
      link.refused++
    } else if (f.ttl > 0) {
      const next: Frame = { ...f, ttl: f.ttl - 1, hops: Math.min(f.hops + 1, MAX_HOPS) }
      let n = mesh.flood(next, from)
      // The flood skips peers that peer records say `from` reaches itself; records can be a few seconds
      // behind the links (one just formed is in them, not yet ready). A target this node is linked to
      // gets its copy regardless: a direct message must not hinge on record freshness.
      if (p.targets && p.targets.length <= DIRECT_TO_TARGETS)
        for (const target of p.targets) if (target !== from && target !== p.origin && mesh.send(target, next)) n++
      this.stats.forwarded += n
      if (n > 0) {
        t.forwarded++
        link.forwarded++
      }
    }
    if (p.targets && !p.targets.includes(mesh.id)) return void t.ignored++
    const handler = this.handlers.get(p.kind)
    if (verdict.answer === 'silent' || (verdict.answer === 'yes' && !handler)) return void t.silent++
    // Answered: its own entries, within the answer budgets of its link and of the node.
    const budgets = verdict.answer === 'no' ? [this.refusals] : []
    if (![this.linkAnswers, this.answers, ...budgets].every((b, i) => b.has(i === 0 ? from : '', now)))
      return void t.silent++
    this.linkAnswers.take(from, now)
    this.answers.take('', now)
    for (const b of budgets) b.take('', now)
    t.pending--
    link.received--
    if (tracked) {
      const left = (t.origins.get(p.origin) ?? 1) - 1
      if (left > 0) t.origins.set(p.origin, left)
      else t.origins.delete(p.origin)
    }
    this.deps.record('intent-received', { id: p.id, origin: p.origin, kind: p.kind, from, hops: f.hops })
    let decision: Decision
    if (verdict.answer === 'no')
      decision = {
        answer: 'no',
        reason: verdict.reason,
        ...(verdict.retryAfter !== null ? { retryAfter: verdict.retryAfter } : {}),
      }
    else {
      try {
        decision = await handler!(
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
    if (decision.answer === 'silent') {
      if (!this.stopped) this.deps.record('intent-ignored', { id: p.id, reason: 'handler' })
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
        if (this.mayDial(intent.origin)) {
          this.stats.responseLinks++
          void mesh.connect(intent.origin, 'response', 1).catch(safetyCatch)
        } else this.stats.dialsSkipped++
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

  /** A background response link to `origin`: only with a fresh signed record of it, once a minute, a few overall. */
  private mayDial(origin: string): boolean {
    const now = this.deps.clock.now()
    const last = this.dialedAt.get(origin)
    if (last !== undefined && now - last < DIAL_PER_ORIGIN_MS) return false
    const k = this.deps.mesh.known().find((n) => n.id === origin)
    if (!k || !this.isFresh(k.gossipAt, now) || !this.dials.take('', now)) return false
    this.dialedAt.set(origin, now)
    for (const [o, at] of this.dialedAt) {
      if (now - at < DIAL_PER_ORIGIN_MS && this.dialedAt.size <= 1000) break
      this.dialedAt.delete(o)
    }
    return true
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
    // Only targets' answers, until a grace after the deadline, with bounded data, reach the series.
    // Checked before the signature: dropping costs O(1), and none of it is the relay's fault.
    const dropped = this.tally.answersDropped
    const before = this.declared(p.intent)
    if (!before) return (this.stats.answersDropped.unknown++, dropped.unknown++, mesh.countStale())
    if (!before.targets.includes(p.from))
      return (this.stats.answersDropped.notTarget++, dropped.notTarget++, mesh.countStale())
    if (clock.now() > before.deadline + ANSWER_GRACE_MS)
      return (this.stats.answersDropped.late++, dropped.late++, mesh.countStale())
    if (before.responses[p.from]) return mesh.countDuplicate()
    if (textEncoder.encode(JSON.stringify(p.data)).length > MAX_ANSWER_DATA_BYTES)
      return (this.stats.answersDropped.oversize++, dropped.oversize++, mesh.countStale())
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
