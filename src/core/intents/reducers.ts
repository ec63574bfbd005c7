/**
 * Derived state of intents: for each intent this node declared, its targets
 * and every YES / NO / late answer and SILENCE, as recorded in the series;
 * and counts of intents received and answered. The latest 1000 declared
 * intents are kept. Intents this node answered have their own entries
 * (`intent-received`, then `response-sent` or `intent-ignored`); the others
 * it received are counted by the periodic `intents-summarized` entry
 * (`received`, and `silent` for those addressed to it it did not answer).
 */
import type { JsonValue } from '../json.ts'
import type { Reducer } from '../series/reducers.ts'

export interface ResponseRecord {
  [k: string]: JsonValue
  answer: 'yes' | 'no'
  latencyMs: number
  via: string
  late: boolean
  reason: string | null
  retryAfter: number | null
  data: JsonValue
}

export interface DeclaredIntent {
  [k: string]: JsonValue
  kind: string
  t: number
  deadline: number
  targets: string[]
  responses: { [peer: string]: ResponseRecord }
  silent: string[]
}

export interface IntentsState {
  [k: string]: JsonValue
  declared: { [id: string]: DeclaredIntent }
  order: string[]
  received: number
  answered: { yes: number; no: number; silent: number }
}

const KEEP = 1000
const obj = (v: JsonValue | undefined): Record<string, JsonValue> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}
const str = (v: JsonValue | undefined): string => (typeof v === 'string' ? v : '')
const num = (v: JsonValue | undefined): number | null => (typeof v === 'number' ? v : null)

export const intentsReducer: Reducer<IntentsState> = {
  name: 'intents',
  version: 2,
  initial: { declared: {}, order: [], received: 0, answered: { yes: 0, no: 0, silent: 0 } },
  reduce(s, e) {
    const b = obj(e.body)
    switch (e.kind) {
      case 'intent-declared': {
        const id = str(b['id'])
        const declared = { ...s.declared }
        const order = [...s.order, id]
        while (order.length > KEEP) delete declared[order.shift()!]
        const targets = Array.isArray(b['targets'])
          ? b['targets'].filter((x): x is string => typeof x === 'string')
          : []
        declared[id] = {
          kind: str(b['kind']),
          t: e.t,
          deadline: num(b['deadline']) ?? e.t,
          targets,
          responses: {},
          silent: [],
        }
        return { ...s, declared, order }
      }
      case 'response-received': {
        const id = str(b['intent'])
        const from = str(b['from'])
        const d = s.declared[id]
        if (!d || d.responses[from]) return s
        const answer = b['answer'] === 'yes' ? 'yes' : 'no'
        const r: ResponseRecord = {
          answer,
          latencyMs: num(b['latencyMs']) ?? 0,
          via: str(b['via']),
          late: b['late'] === true,
          reason: typeof b['reason'] === 'string' ? b['reason'] : null,
          retryAfter: num(b['retryAfter']),
          data: b['data'] ?? null,
        }
        return { ...s, declared: { ...s.declared, [id]: { ...d, responses: { ...d.responses, [from]: r } } } }
      }
      case 'silence-recorded': {
        const id = str(b['intent'])
        const d = s.declared[id]
        if (!d) return s
        return { ...s, declared: { ...s.declared, [id]: { ...d, silent: [...d.silent, str(b['peer'])] } } }
      }
      case 'intent-received':
        return { ...s, received: s.received + 1 }
      case 'response-sent': {
        const a = b['answer'] === 'yes' ? 'yes' : 'no'
        return { ...s, answered: { ...s.answered, [a]: s.answered[a] + 1 } }
      }
      case 'intent-ignored':
        return { ...s, answered: { ...s.answered, silent: s.answered.silent + 1 } }
      case 'intents-summarized': {
        const count = (v: JsonValue | undefined) => (typeof v === 'number' && v > 0 ? Math.floor(v) : 0)
        return {
          ...s,
          received: s.received + count(b['received']),
          answered: { ...s.answered, silent: s.answered.silent + count(b['silent']) },
        }
      }
      default:
        return s
    }
  },
}

/** An intent's outcome: counts, responders with latency, and the insights. */
export interface IntentSummary {
  id: string
  kind: string
  t: number
  deadline: number
  targets: number
  yes: number
  no: number
  silence: number
  late: number
  pending: number
  responders: {
    id: string
    answer: 'yes' | 'no'
    latencyMs: number
    via: string
    late: boolean
    reason: string | null
  }[]
  /** Who has it (YES), who is congested (NO), who is unknown (silent). */
  insights: { available: string[]; congested: string[]; unknown: string[] }
}

export function summarize(id: string, d: DeclaredIntent): IntentSummary {
  const responders = Object.entries(d.responses).map(([peer, r]) => ({
    id: peer,
    answer: r.answer,
    latencyMs: r.latencyMs,
    via: r.via,
    late: r.late,
    reason: r.reason,
  }))
  const onTime = responders.filter((r) => !r.late)
  const answered = new Set(responders.map((r) => r.id))
  const silent = new Set(d.silent)
  return {
    id,
    kind: d.kind,
    t: d.t,
    deadline: d.deadline,
    targets: d.targets.length,
    yes: onTime.filter((r) => r.answer === 'yes').length,
    no: onTime.filter((r) => r.answer === 'no').length,
    silence: d.silent.length,
    late: responders.filter((r) => r.late).length,
    pending: d.targets.filter((t) => !answered.has(t) && !silent.has(t)).length,
    responders,
    insights: {
      available: onTime.filter((r) => r.answer === 'yes').map((r) => r.id),
      congested: onTime.filter((r) => r.answer === 'no').map((r) => r.id),
      unknown: [...silent].filter((p) => !answered.has(p) || responders.find((r) => r.id === p)?.late === true),
    },
  }
}
