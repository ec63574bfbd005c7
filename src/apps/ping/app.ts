/**
 * Ping: who is there, and how far. Two ways to ask:
 *
 *   ping(opts)   declares a `ping` intent; every node that runs this app
 *                answers YES with `{ id, degree, length }`, and silence is
 *                recorded for the rest (the intents layer records it all)
 *   rtt(id)      a direct `echo` on this app's channel to a linked node,
 *                answered by `echoed` with the same `n`: the round trip
 *                over one link, signing and series left out
 *
 * The state counts the pings this node declared and keeps the latest ids.
 */
import { Ir3Error } from '../../core/errors.ts'
import type { JsonValue } from '../../core/json.ts'
import type { Declared, DeclareOptions } from '../../core/intents/intents.ts'
import { defineModule, type Codec } from '../../core/modules/module.ts'

export interface PingState {
  [k: string]: JsonValue
  declared: number
  /** Ids of the latest pings, newest last. */
  latest: string[]
}

export type PingMessage = { t: 'echo'; n: number } | { t: 'echoed'; n: number }

export interface PingApi {
  /** Declares a ping to every present node (or `targets`); returns its id and outcome. */
  ping(opts?: DeclareOptions): Declared
  /** Round trip of a direct echo to a linked node, in ms; null if not linked or no answer within `timeoutMs`. */
  rtt(id: string, timeoutMs?: number): Promise<number | null>
}

const LATEST = 20

export const pingCodec: Codec<PingMessage> = {
  decode(v) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return null
    const o = v as Record<string, unknown>
    const n = o['n']
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return null
    if (o['t'] === 'echo') return { t: 'echo', n }
    if (o['t'] === 'echoed') return { t: 'echoed', n }
    return null
  },
  encode: (m) => ({ t: m.t, n: m.n }),
}

/** Echoes waiting for their answer, per node (keyed by its context; the channel's `onMessage` resolves them). */
const waiting = new WeakMap<object, Map<string, (at: number) => void>>()

export const pingApp = defineModule<PingState, PingApi, PingMessage>({
  name: 'ping',
  version: 1,
  description: 'Who is there: ping intents, and direct echoes over one link',
  kinds: [],
  initial: { declared: 0, latest: [] },
  reduce(s, e) {
    if (e.kind !== 'intent-declared') return s
    const b = e.body
    if (typeof b !== 'object' || b === null || Array.isArray(b) || b['kind'] !== 'ping' || typeof b['id'] !== 'string')
      return s
    const latest = s.latest.length >= LATEST ? s.latest.slice(1) : s.latest.slice()
    latest.push(b['id'])
    return { declared: s.declared + 1, latest }
  },
  intents: {
    ping: (_intent, _state, ctx) => ({
      answer: 'yes',
      data: { id: ctx.id, degree: ctx.peers().length, length: ctx.length() },
    }),
  },
  channel: {
    codec: pingCodec,
    onMessage(from, m, ctx) {
      if (m.t === 'echo') return { t: 'echoed', n: m.n }
      // Only the node the echo went to can answer it.
      waiting.get(ctx)?.get(`${from}:${m.n}`)?.(ctx.clock.now())
      return null
    },
  },
  start(ctx) {
    const pending = new Map<string, (at: number) => void>()
    waiting.set(ctx, pending)
    let n = 0
    ctx.onStop(() => {
      for (const done of pending.values()) done(-1)
      pending.clear()
    })
    return {
      ping: (opts) => ctx.declare('ping', null, opts),
      rtt(id, timeoutMs = 5000) {
        if (typeof id !== 'string') throw new Ir3Error('ERR_BAD_ARGUMENT', 'rtt(id): id must be a node id')
        const seq = n++ % 2 ** 31
        const k = `${id}:${seq}`
        const started = ctx.clock.now()
        return new Promise((resolve) => {
          const cancel = ctx.clock.setTimeout(() => done(-1), timeoutMs)
          const done = (at: number) => {
            if (!pending.delete(k)) return
            cancel()
            resolve(at < 0 ? null : at - started)
          }
          pending.set(k, done)
          if (!ctx.send(id, { t: 'echo', n: seq })) done(-1)
        })
      },
    }
  },
})
