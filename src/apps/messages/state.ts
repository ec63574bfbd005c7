/**
 * The messages app's derived state, reduced from the series:
 *
 *   intent-declared (msg-direct / msg-broadcast)  a message sent (pending)
 *   response-received for its intent              delivered (YES) / refused (NO)
 *   silence-recorded for its intent               silent
 *   msg-received                                  a message received
 *   msg-read                                      a conversation read up to t
 *
 * Sent messages are the intents themselves: the declarer's series holds the
 * (sealed) text once, in `intent-declared`. The latest KEEP messages are kept
 * here (all stay in the series); receipts of the last minute are kept for the
 * rate limiter.
 */
import type { JsonValue } from '../../core/json.ts'
import type { Entry } from '../../core/series/encoding.ts'
import { BROADCAST, DIRECT } from './codec.ts'

export type Status = 'pending' | 'delivered' | 'refused' | 'silent'

export interface StoredMessage {
  [k: string]: JsonValue
  id: string
  /** 'out': sent by this node; 'in': received. */
  dir: 'out' | 'in'
  /** Sender id ('' for this node). */
  from: string
  /** Recipient id, '*' for a broadcast ('' for this node). */
  to: string
  t: number
  /** Direct: base64 sealed text and the key-agreement key of the other end. */
  ct: string | null
  peerKey: string | null
  /** Broadcast: the text. */
  text: string | null
  status: Status
  reason: string | null
  /** Sent: the intent carrying it, its deadline, and answers counted (broadcasts have many). */
  intent: string | null
  deadline: number
  yes: number
  no: number
  silent: number
}

export interface MessagesState {
  [k: string]: JsonValue
  /** By key: `out:<id>` for sent messages, `<from>:<id>` for received ones. */
  messages: { [key: string]: StoredMessage }
  /** Keys, oldest first. */
  order: string[]
  /** Sent messages by intent id → key. */
  byIntent: { [intent: string]: string }
  /** Last read time per conversation (peer id, or '*' for broadcasts). */
  read: { [peer: string]: number }
  /** Receipts of the last minute: [t, from, 'd' (direct) | 'b' (broadcast)], oldest first (the rate limiters' window). */
  window: [number, string, string][]
  received: number
  sent: number
}

export const KEEP = 1000
export const WINDOW_MS = 60_000

type Obj = Record<string, JsonValue>
const obj = (v: JsonValue | undefined): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {})
const str = (v: JsonValue | undefined): string | null => (typeof v === 'string' ? v : null)

export const initialMessages: MessagesState = {
  messages: {},
  order: [],
  byIntent: {},
  read: {},
  window: [],
  received: 0,
  sent: 0,
}

function add(s: MessagesState, key: string, m: StoredMessage, intent: string | null): MessagesState {
  if (s.messages[key]) return s
  const messages = { ...s.messages, [key]: m }
  const byIntent = { ...s.byIntent }
  if (intent) byIntent[intent] = key
  const order = [...s.order, key]
  while (order.length > KEEP) {
    const old = order.shift()!
    const gone = messages[old]
    if (gone?.intent) delete byIntent[gone.intent]
    delete messages[old]
  }
  return { ...s, messages, order, byIntent }
}

function answered(s: MessagesState, intent: string, apply: (m: StoredMessage) => StoredMessage): MessagesState {
  const key = s.byIntent[intent]
  const m = key ? s.messages[key] : undefined
  if (!key || !m) return s
  return { ...s, messages: { ...s.messages, [key]: apply(m) } }
}

/** The kinds this reducer reads: every other entry passes through untouched (and cheaply). */
const READS = new Set(['intent-declared', 'response-received', 'silence-recorded', 'msg-received', 'msg-read'])

export function reduceMessages(s: MessagesState, e: Entry): MessagesState {
  if (!READS.has(e.kind)) return s
  const b = obj(e.body)
  switch (e.kind) {
    case 'intent-declared': {
      const kind = b['kind']
      if (kind !== DIRECT && kind !== BROADCAST) return s
      const body = obj(b['body'])
      const id = str(body['m'])
      const intent = str(b['id'])
      if (!id || !intent) return s
      const targets = Array.isArray(b['targets']) ? b['targets'] : []
      const to = kind === DIRECT ? (str(targets[0]) ?? '') : '*'
      const deadline = typeof b['deadline'] === 'number' ? b['deadline'] : e.t
      const m: StoredMessage = {
        id,
        dir: 'out',
        // This node: a reducer does not know its node's id (the API fills it in).
        from: '',
        to,
        t: e.t,
        ct: kind === DIRECT ? str(body['ct']) : null,
        peerKey: kind === DIRECT ? str(body['rk']) : null,
        text: kind === BROADCAST ? str(body['text']) : null,
        status: 'pending',
        reason: null,
        intent,
        deadline,
        yes: 0,
        no: 0,
        silent: 0,
      }
      return { ...add(s, `out:${id}`, m, intent), sent: s.sent + 1 }
    }
    case 'response-received': {
      const intent = str(b['intent'])
      const key = intent ? s.byIntent[intent] : undefined
      if (!intent || !key) return s
      // A direct message's receipt comes from its recipient only; anyone else's answer says nothing about it.
      const sent = s.messages[key]
      if (sent && sent.to !== '*' && str(b['from']) !== sent.to) return s
      const yes = b['answer'] === 'yes'
      return answered(s, intent, (m) => ({
        ...m,
        yes: m.yes + (yes ? 1 : 0),
        no: m.no + (yes ? 0 : 1),
        // A direct message has one answer; a broadcast is delivered once anyone took it.
        status: yes ? 'delivered' : m.status === 'delivered' ? 'delivered' : 'refused',
        reason: yes || m.status === 'delivered' ? m.reason : (str(b['reason']) ?? m.reason),
      }))
    }
    case 'silence-recorded': {
      const intent = str(b['intent'])
      const key = intent ? s.byIntent[intent] : undefined
      if (!intent || !key) return s
      const sent = s.messages[key]
      if (sent && sent.to !== '*' && str(b['peer']) !== sent.to) return s
      return answered(s, intent, (m) => ({
        ...m,
        silent: m.silent + 1,
        status: m.status === 'pending' ? 'silent' : m.status,
      }))
    }
    case 'msg-received': {
      const id = str(b['m'])
      const from = str(b['from'])
      if (!id || !from) return s
      const broadcast = b['b'] === true
      const m: StoredMessage = {
        id,
        dir: 'in',
        from,
        to: broadcast ? '*' : '',
        t: e.t,
        ct: broadcast ? null : str(b['ct']),
        peerKey: broadcast ? null : str(b['ek']),
        text: broadcast ? str(b['text']) : null,
        status: 'delivered',
        reason: null,
        intent: null,
        deadline: e.t,
        yes: 0,
        no: 0,
        silent: 0,
      }
      const window = s.window.filter(([t]) => t > e.t - WINDOW_MS)
      window.push([e.t, from, broadcast ? 'b' : 'd'])
      return { ...add(s, `${from}:${id}`, m, null), window, received: s.received + 1 }
    }
    case 'msg-read': {
      const peer = str(b['peer'])
      const t = b['t']
      if (!peer || typeof t !== 'number' || (s.read[peer] ?? 0) >= t) return s
      return { ...s, read: { ...s.read, [peer]: t } }
    }
    default:
      return s
  }
}

/** The conversation a message belongs to: the other node, or '*' for broadcasts. */
export function conversationOf(m: StoredMessage): string {
  if (m.to === '*') return '*'
  return m.dir === 'out' ? m.to : m.from
}
