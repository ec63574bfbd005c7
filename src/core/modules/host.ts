/**
 * The module host: runs a node's modules on its series, intents and mesh.
 *
 *   check     names unique and well formed, entry kinds claimed once
 *   start     for each module: its intent handlers go to the intents layer
 *             (after the node's rate limiters), its channel to the mesh's
 *             direct frames (`x` frames on channel `<name>`), and `start(ctx)`
 *             builds its API
 *   intent    decide(intent, own state, ctx) → entries the decision asks for
 *             are recorded (own kinds only), then the answer is sent
 *   channel   untrusted JSON → codec → message or a counted drop → onMessage
 *             → reply (if any) sent back on the same channel
 *   stop      every registration made for the modules is undone
 */
import { Ir3Error, safetyCatch } from '../errors.ts'
import type { JsonValue } from '../json.ts'
import type { Cipher, Clock, Rng } from '../ports.ts'
import { KIND_PATTERN } from '../series/encoding.ts'
import type { Series } from '../series/series.ts'
import type { Decision, Intents } from '../intents/intents.ts'
import type { Mesh } from '../mesh/mesh.ts'
import { nameFromId } from '../identity.ts'
import { select, type AnyModule, type ModuleContext, type ModuleDecision, type NodeInfo } from './module.ts'

/** Module names: usable as a reducer name, an API key and a mesh channel name. */
export const MODULE_NAME = /^[a-z][a-z0-9-]{0,15}$/
/** Direct channels and intent kinds the node's own layers use (chunks: `series`, `wt`, `want-chunk`). */
export const RESERVED_CHANNELS: readonly string[] = ['series', 'wt']
export const RESERVED_INTENTS: readonly string[] = ['want-chunk']

/** What the host counts per module. */
export interface ModuleStats {
  /** Channel messages received and decoded. */
  received: number
  /** Channel messages dropped: undecodable (`malformed`) or whose handler failed (`failed`). */
  dropped: { malformed: number; failed: number }
  /** Intent decisions that failed (the handler threw, or its entries could not be recorded): answered with silence. */
  failedDecisions: number
  /** Channel messages sent (replies included). */
  sent: number
  /** Intents decided by the module's handlers, by answer. */
  decided: { yes: number; no: number; silent: number }
}

export interface ModuleHost {
  readonly modules: readonly AnyModule[]
  /** API objects by module name (modules without `start` have none). */
  readonly apis: Readonly<Record<string, unknown>>
  readonly stats: Readonly<Record<string, ModuleStats>>
  /** Registers everything and builds the APIs. Once. */
  start(): void
  stop(): void
}

/** Checks a module list: names and kinds. Throws ERR_BAD_MODULE / ERR_DUPLICATE_MODULE. */
export function checkModules(modules: readonly AnyModule[]): void {
  const names = new Set<string>()
  const kinds = new Map<string, string>()
  const intents = new Map<string, string>()
  for (const m of modules) {
    if (!MODULE_NAME.test(m.name))
      throw new Ir3Error('ERR_BAD_MODULE', `module name ${JSON.stringify(m.name)} must match ${MODULE_NAME.source}`)
    if (names.has(m.name)) throw new Ir3Error('ERR_DUPLICATE_MODULE', `two modules are named ${m.name}`)
    if (m.channel && RESERVED_CHANNELS.includes(m.name))
      throw new Ir3Error('ERR_DUPLICATE_MODULE', `channel ${m.name} is the node's own`)
    names.add(m.name)
    if (!Number.isSafeInteger(m.version) || m.version < 1)
      throw new Ir3Error('ERR_BAD_MODULE', `module ${m.name}: version must be a positive integer`)
    for (const k of m.kinds) {
      if (!KIND_PATTERN.test(k))
        throw new Ir3Error(
          'ERR_BAD_MODULE',
          `module ${m.name}: kind ${JSON.stringify(k)} must match ${KIND_PATTERN.source}`,
        )
      const owner = kinds.get(k)
      if (owner) throw new Ir3Error('ERR_DUPLICATE_MODULE', `entry kind ${k} is claimed by ${owner} and ${m.name}`)
      kinds.set(k, m.name)
    }
    for (const k of Object.keys(m.intents ?? {})) {
      if (!KIND_PATTERN.test(k))
        throw new Ir3Error(
          'ERR_BAD_MODULE',
          `module ${m.name}: intent kind ${JSON.stringify(k)} must match ${KIND_PATTERN.source}`,
        )
      const owner = intents.get(k) ?? (RESERVED_INTENTS.includes(k) ? 'the node' : undefined)
      if (owner) throw new Ir3Error('ERR_DUPLICATE_MODULE', `intent kind ${k} is handled by ${owner} and ${m.name}`)
      intents.set(k, m.name)
    }
  }
}

export interface ModuleHostDeps {
  id: string
  clock: Clock
  rng: Rng
  series: Series
  /** Appends; throws if the series cannot record (ERR_DAMAGED, ERR_DESTROYED). */
  record(kind: string, body: JsonValue): { seq: number }
  intents: Intents | null
  mesh: Mesh | null
  cipher: Cipher | null
  modules: readonly AnyModule[]
  /** Modules the node runs itself (their names and kinds are taken). */
  reserved?: readonly AnyModule[]
}

export function createModuleHost(deps: ModuleHostDeps): ModuleHost {
  checkModules([...(deps.reserved ?? []), ...deps.modules])
  const apis: Record<string, unknown> = {}
  const stats: Record<string, ModuleStats> = {}
  const undo: (() => void)[] = []
  const stopFns = new Set<() => void>()
  let started = false
  let stopped = false
  const { mesh, intents, series } = deps

  const nodes = (): NodeInfo[] => {
    if (!mesh) return []
    const linked = new Set(mesh.readyPeers())
    const out = new Map<string, NodeInfo>()
    for (const k of mesh.known())
      out.set(k.id, { id: k.id, name: nameFromId(k.id), linked: linked.has(k.id), ek: k.ek })
    for (const id of linked) if (!out.has(id)) out.set(id, { id, name: nameFromId(id), linked: true, ek: null })
    return [...out.values()]
  }

  /** Keeps an unsubscribe for stop(); returns one that also forgets it. */
  function registered(u: () => void): () => void {
    undo.push(u)
    return () => {
      const i = undo.indexOf(u)
      if (i >= 0) undo.splice(i, 1)
      u()
    }
  }

  function contextFor(m: AnyModule): ModuleContext<JsonValue, unknown> {
    const own = new Set(m.kinds)
    const ctx: ModuleContext<JsonValue, unknown> = {
      id: deps.id,
      name: nameFromId(deps.id),
      clock: deps.clock,
      rng: deps.rng,
      cipher: deps.cipher,
      state: () => select(series.current, m),
      length: () => series.length,
      record(kind, body) {
        if (!own.has(kind))
          throw new Ir3Error(
            'ERR_BAD_KIND',
            `module ${m.name} does not record ${kind} (its kinds: ${m.kinds.join(', ')})`,
          )
        return deps.record(kind, body)
      },
      declare(kind, body, opts) {
        if (!intents) throw new Ir3Error('ERR_NO_MESH', 'this node has no transport')
        return intents.declare(kind, body, opts)
      },
      send(to, message) {
        if (!mesh || !m.channel || stopped) return false
        const ok = mesh.sendDirect(to, m.name, m.channel.codec.encode(message))
        if (ok) stats[m.name]!.sent++
        return ok
      },
      nodes,
      peers: () => mesh?.readyPeers() ?? [],
      onAppended(fn) {
        return registered(
          series.subscribe((e) => {
            if (e.type !== 'appended') return
            try {
              fn()
            } catch (err: unknown) {
              safetyCatch(err)
            }
          }),
        )
      },
      onNodes(fn) {
        if (!mesh) return () => undefined
        return registered(
          mesh.subscribe(() => {
            try {
              fn()
            } catch (err: unknown) {
              safetyCatch(err)
            }
          }),
        )
      },
      onStop(fn) {
        stopFns.add(fn)
        return () => stopFns.delete(fn)
      },
    }
    return ctx
  }

  /** Records what the decision asks for (all or nothing as far as kinds go), then turns it into the answer. */
  function adopt(m: AnyModule, ctx: ModuleContext<JsonValue, unknown>, d: ModuleDecision): Decision {
    const s = stats[m.name]!
    if (d.answer === 'silent') {
      s.decided.silent++
      return { answer: 'silent' }
    }
    const records = d.record ?? []
    const bad = records.find((r) => !m.kinds.includes(r.kind))
    if (bad) throw new Ir3Error('ERR_BAD_KIND', `module ${m.name} does not record ${bad.kind}`)
    for (const r of records) ctx.record(r.kind, r.body)
    s.decided[d.answer]++
    if (d.answer === 'yes') return d.data === undefined ? { answer: 'yes' } : { answer: 'yes', data: d.data }
    return d.retryAfter === undefined
      ? { answer: 'no', reason: d.reason }
      : { answer: 'no', reason: d.reason, retryAfter: d.retryAfter }
  }

  function startModule(m: AnyModule): void {
    stats[m.name] = {
      received: 0,
      failedDecisions: 0,
      dropped: { malformed: 0, failed: 0 },
      sent: 0,
      decided: { yes: 0, no: 0, silent: 0 },
    }
    const ctx = contextFor(m)
    if (m.intents && intents) {
      // One decision at a time per module: each sees the state its predecessors recorded, so a
      // limit checked in `decide` holds even when decisions await (decrypting, verifying).
      let chain: Promise<unknown> = Promise.resolve()
      for (const [kind, decide] of Object.entries(m.intents)) {
        undo.push(
          intents.handle(kind, (intent) => {
            const run = chain.then(async (): Promise<Decision> => {
              try {
                return adopt(m, ctx, await decide(intent, select(series.current, m), ctx))
              } catch (e: unknown) {
                // A failed decision tells the stranger nothing (no internal message leaves the node): silence.
                stats[m.name]!.failedDecisions++
                safetyCatch(e)
                return { answer: 'silent' }
              }
            })
            chain = run.catch(() => undefined)
            return run
          }),
        )
      }
    }
    const channel = m.channel
    if (channel && mesh) {
      const s = stats[m.name]!
      undo.push(
        mesh.onDirect(m.name, (from, raw) => {
          const msg: unknown = channel.codec.decode(raw)
          if (msg === null) {
            s.dropped.malformed++
            return
          }
          s.received++
          void (async () => {
            try {
              const reply: unknown = await channel.onMessage(from, msg, ctx)
              if (reply !== null && !stopped && mesh.sendDirect(from, m.name, channel.codec.encode(reply))) s.sent++
            } catch (e: unknown) {
              s.dropped.failed++
              safetyCatch(e)
            }
          })()
        }) ?? (() => undefined),
      )
    }
    if (m.start) apis[m.name] = m.start(ctx)
  }

  return {
    modules: deps.modules,
    apis,
    stats,
    start() {
      if (started) return
      started = true
      for (const m of deps.modules) startModule(m)
    },
    stop() {
      if (stopped) return
      stopped = true
      for (const u of undo.splice(0)) u()
      for (const fn of [...stopFns]) {
        try {
          fn()
        } catch (e: unknown) {
          safetyCatch(e)
        }
      }
      stopFns.clear()
    },
  }
}
