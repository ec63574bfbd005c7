/**
 * Messages: direct messages between nodes of a mesh, and broadcasts.
 *
 * A direct message is an intent targeted at its recipient (`msg-direct`),
 * flooded over the mesh like any intent; the recipient's YES is the receipt,
 * its NO says why not (rate-limited, stale key, undecryptable), and silence
 * at the deadline is recorded as such. Series are public (their chunks are
 * replicated), so a direct message's text is sealed to the recipient: X25519
 * between the sender's and the recipient's key-agreement keys (published in
 * their signed peer records), AES-256-GCM (the node's Cipher port). Only the
 * two ends can read it; holders of either series see ciphertext. Broadcasts
 * (`msg-broadcast`) are plain text to every node.
 *
 * Limits: texts up to MAX_TEXT_BYTES (ERR_TEXT_TOO_LONG beyond, never cut);
 * a recipient takes at most PER_SENDER messages a minute from one node and
 * ALL_SENDERS from everyone, and answers NO (rate-limited) beyond — nothing
 * is recorded for a refused message.
 */
import { Ir3Error } from '../../core/errors.ts'
import { nameFromId } from '../../core/identity.ts'
import type { IncomingIntent, IntentOutcome } from '../../core/intents/intents.ts'
import { fromBase64, toBase64 } from '../../core/base64.ts'
import { defineModule, type ModuleContext, type ModuleDecision, type NodeInfo } from '../../core/modules/module.ts'
import { utf8 } from '../../core/series/encoding.ts'
import { BROADCAST, checkText, decodeBroadcast, decodeDirect, DIRECT, MAX_TEXT_BYTES, messageAad } from './codec.ts'
import {
  conversationOf,
  initialMessages,
  reduceMessages,
  WINDOW_MS,
  type MessagesState,
  type Status,
  type StoredMessage,
} from './state.ts'

export { MAX_TEXT_BYTES } from './codec.ts'
export type { MessagesState, Status } from './state.ts'

/** Direct messages taken from one node per minute. */
export const PER_SENDER = 20
/** Direct messages taken from all nodes per minute. */
export const ALL_SENDERS = 200
/** Broadcasts taken from one node, and from all, per minute (stored in the clear: a smaller budget, apart). */
export const BROADCASTS_PER_SENDER = 5
export const ALL_BROADCASTS = 30
/** How long a recipient has to answer. */
export const DEADLINE_MS = 10_000
const ID = /^[0-9a-f]{32}$/

/** A message as the API shows it. */
export interface Message {
  id: string
  dir: 'out' | 'in'
  from: string
  /** Recipient id, or '*' for a broadcast. */
  to: string
  /** The text; null if it could not be decrypted here. */
  text: string | null
  t: number
  /** `failed`: never sent (sealing failed); the others are derived from the series. */
  status: Status | 'failed'
  reason: string | null
  broadcast: boolean
  /** Answers to a sent message (a broadcast has many). */
  yes: number
  no: number
  silent: number
}

export interface Conversation {
  /** The other node's id, or '*' for broadcasts. */
  peer: string
  name: string
  count: number
  unread: number
  lastT: number
}

export interface Sent {
  id: string
  /** The message once its outcome is known (delivered, refused or silent). */
  outcome: Promise<Message>
}

export interface MessagesApi {
  /** Sends `text` to node `to`, sealed to it; returns at once. Throws ERR_BAD_ARGUMENT, ERR_TEXT_TOO_LONG, ERR_NO_CIPHER, ERR_NO_KEY, ERR_NO_MESH. */
  send(to: string, text: string): Sent
  /** Sends `text` in the clear to every node of the mesh; returns at once. */
  broadcast(text: string): Sent
  /** Messages, both directions, oldest first; of one conversation (peer id or '*') if given. */
  list(peer?: string): Promise<Message[]>
  /** Conversations with counts and unread counts, newest first. */
  conversations(): Conversation[]
  /** Marks a conversation read up to `upTo` (default: now); records `msg-read` if anything up to then was unread. */
  markRead(peer: string, upTo?: number): void
  /** Nodes a message can be sent to now (their key reached us), and others known. */
  contacts(): NodeInfo[]
  /** Called when messages or contacts (nodes, their keys) may have changed; returns the unsubscribe. */
  subscribe(fn: () => void): () => void
  readonly maxTextBytes: number
}

type Ctx = ModuleContext<MessagesState, never>

const no = (reason: string, retryAfter?: number): ModuleDecision =>
  retryAfter === undefined ? { answer: 'no', reason } : { answer: 'no', reason, retryAfter }

/**
 * NO if taking one more message of `kind` ('d' direct, 'b' broadcast) from
 * `origin` would exceed the limits of the last minute. Direct messages and
 * broadcasts have budgets of their own, so a flood of one never locks out the other.
 */
function rateLimit(s: MessagesState, origin: string, kind: 'd' | 'b', now: number): ModuleDecision | null {
  const recent = s.window.filter(([t, , k]) => t > now - WINDOW_MS && k === kind)
  const mine = recent.filter(([, f]) => f === origin)
  const [perSender, all] = kind === 'd' ? [PER_SENDER, ALL_SENDERS] : [BROADCASTS_PER_SENDER, ALL_BROADCASTS]
  if (mine.length >= perSender) return no('rate-limited', Math.max(1, mine[0]![0] + WINDOW_MS - now))
  if (recent.length >= all) return no('rate-limited (all senders)', Math.max(1, recent[0]![0] + WINDOW_MS - now))
  return null
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

async function decideDirect(intent: IncomingIntent, s: MessagesState, ctx: Ctx): Promise<ModuleDecision> {
  const body = decodeDirect(intent.body)
  if (!body) return no('malformed message')
  if (!ctx.cipher) return no('this node cannot decrypt (no X25519 here)')
  if (body.rk !== ctx.cipher.publicKey) return no('sealed to another key of this node')
  if (s.messages[`${intent.origin}:${body.m}`]) return { answer: 'yes', data: { duplicate: true } }
  const limited = rateLimit(s, intent.origin, 'd', ctx.clock.now())
  if (limited) return limited
  const sealed = fromBase64(body.ct)
  const plain = sealed && (await ctx.cipher.open(body.ek, sealed, messageAad(intent.origin, ctx.id, body.m)))
  if (!plain) return no('undecryptable')
  let text: string
  try {
    text = strictUtf8.decode(plain)
  } catch {
    return no('malformed text')
  }
  if (checkText(text) !== null) return no('malformed text')
  return {
    answer: 'yes',
    record: [{ kind: 'msg-received', body: { m: body.m, from: intent.origin, ek: body.ek, rk: body.rk, ct: body.ct } }],
  }
}

function decideBroadcast(intent: IncomingIntent, s: MessagesState, ctx: Ctx): ModuleDecision {
  const body = decodeBroadcast(intent.body)
  if (!body) return no('malformed message')
  if (s.messages[`${intent.origin}:${body.m}`]) return { answer: 'yes', data: { duplicate: true } }
  const limited = rateLimit(s, intent.origin, 'b', ctx.clock.now())
  if (limited) return limited
  return {
    answer: 'yes',
    record: [{ kind: 'msg-received', body: { m: body.m, from: intent.origin, text: body.text, b: true } }],
  }
}

function randomId(ctx: Ctx): string {
  let s = ''
  for (let i = 0; i < 32; i++) s += Math.floor(ctx.rng.next() * 16).toString(16)
  return s
}

function startMessages(ctx: Ctx): MessagesApi {
  /** Messages being sealed (not yet in the series), and ones that failed to. */
  const outbox = new Map<string, Message>()
  const texts = new Map<string, string | null>()
  const listeners = new Set<() => void>()
  const changed = () => {
    for (const fn of listeners) fn()
  }

  const view = (key: string, m: StoredMessage, text: string | null): Message => ({
    id: m.id,
    dir: m.dir,
    from: m.dir === 'out' ? ctx.id : m.from,
    to: m.to === '' ? ctx.id : m.to,
    text,
    t: m.t,
    // A broadcast nobody answered by its deadline was heard by no one.
    status: m.to === '*' && m.status === 'pending' && ctx.clock.now() > m.deadline ? 'silent' : m.status,
    reason: m.reason,
    broadcast: m.to === '*',
    yes: m.yes,
    no: m.no,
    silent: m.silent,
  })

  async function textOf(key: string, m: StoredMessage): Promise<string | null> {
    if (m.text !== null) return m.text
    if (texts.has(key)) return texts.get(key)!
    const sealed = m.ct ? fromBase64(m.ct) : null
    let text: string | null = null
    if (sealed && m.peerKey && ctx.cipher) {
      const aad = m.dir === 'out' ? messageAad(ctx.id, m.to, m.id) : messageAad(m.from, ctx.id, m.id)
      const plain = await ctx.cipher.open(m.peerKey, sealed, aad)
      try {
        text = plain ? strictUtf8.decode(plain) : null
      } catch {
        text = null
      }
    }
    if (texts.size > 5000) texts.clear()
    texts.set(key, text)
    return text
  }

  const outcomeOf = (id: string, declared: Promise<IntentOutcome>): Promise<Message> =>
    declared.then(async () => {
      const m = ctx.state().messages[`out:${id}`]
      if (!m) throw new Ir3Error('ERR_NOT_FOUND', `message ${id} is not in the series (was the node closed?)`)
      return view(`out:${id}`, m, await textOf(`out:${id}`, m))
    })

  const unsub = ctx.onAppended(() => {
    for (const id of outbox.keys()) if (ctx.state().messages[`out:${id}`]) outbox.delete(id)
    changed()
  })
  const unsubNodes = ctx.onNodes(changed)
  let stopped = false
  const live = () => {
    if (stopped) throw new Ir3Error('ERR_DESTROYED', 'this node was destroyed: it sends nothing')
  }
  const noLink = () => {
    if (ctx.peers().length === 0)
      throw new Ir3Error(
        'ERR_NO_MESH',
        'this node has no link to the mesh right now: nothing would carry it; try again once linked',
      )
  }
  ctx.onStop(() => {
    stopped = true
    unsub()
    unsubNodes()
    listeners.clear()
  })

  function conversations(): Conversation[] {
    const s = ctx.state()
    const by = new Map<string, Conversation>()
    for (const key of s.order) {
      const m = s.messages[key]!
      const peer = conversationOf(m)
      const c = by.get(peer) ?? {
        peer,
        name: peer === '*' ? 'everyone' : nameFromId(peer),
        count: 0,
        unread: 0,
        lastT: 0,
      }
      c.count++
      c.lastT = Math.max(c.lastT, m.t)
      if (m.dir === 'in' && m.t > (s.read[peer] ?? 0)) c.unread++
      by.set(peer, c)
    }
    return [...by.values()].sort((a, b) => b.lastT - a.lastT)
  }

  return {
    maxTextBytes: MAX_TEXT_BYTES,
    send(to, text) {
      live()
      if (typeof to !== 'string' || !ID.test(to))
        throw new Ir3Error('ERR_BAD_ARGUMENT', 'recipient must be a node id (32 hex)')
      if (to === ctx.id) throw new Ir3Error('ERR_BAD_ARGUMENT', 'a node cannot message itself')
      const bad = checkText(text)
      if (bad) throw new Ir3Error(bad.code, bad.message)
      const cipher = ctx.cipher
      if (!cipher)
        throw new Ir3Error('ERR_NO_CIPHER', 'this browser has no X25519: direct messages cannot be encrypted')
      const contact = ctx.nodes().find((n) => n.id === to)
      const rk = contact?.ek ?? null
      if (!rk)
        throw new Ir3Error(
          'ERR_NO_KEY',
          contact
            ? `${nameFromId(to)}'s signed peer record, which carries its encryption key, has not reached this node yet: try again in a few seconds`
            : `${nameFromId(to)} has not been seen on the mesh lately: its encryption key is unknown here`,
        )
      noLink()
      if (!rk.startsWith('x25519:'))
        throw new Ir3Error(
          'ERR_NO_KEY',
          `${nameFromId(to)} publishes a key type this node cannot use (${rk.split(':')[0]})`,
        )
      const id = randomId(ctx)
      const t = ctx.clock.now()
      const draft: Message = {
        id,
        dir: 'out',
        from: ctx.id,
        to,
        text,
        t,
        status: 'pending',
        reason: null,
        broadcast: false,
        yes: 0,
        no: 0,
        silent: 0,
      }
      outbox.set(id, draft)
      texts.set(`out:${id}`, text)
      changed()
      const outcome = (async () => {
        try {
          let sealed: Uint8Array
          try {
            sealed = await cipher.seal(rk, utf8(text), messageAad(ctx.id, to, id))
          } catch (e: unknown) {
            throw new Ir3Error(
              'ERR_NO_KEY',
              `cannot encrypt to ${nameFromId(to)}'s key: ${e instanceof Error ? e.message : String(e)}`,
            )
          }
          const body = { m: id, ct: toBase64(sealed), ek: cipher.publicKey, rk }
          const declared = ctx.declare(DIRECT, body, { targets: [to], deadlineMs: DEADLINE_MS })
          return await outcomeOf(id, declared.outcome)
        } catch (e: unknown) {
          outbox.set(id, { ...draft, status: 'failed', reason: e instanceof Error ? e.message : String(e) })
          changed()
          throw e
        }
      })()
      // The caller may ignore the outcome; a failure is shown in the list.
      outcome.catch(() => undefined)
      return { id, outcome }
    },
    broadcast(text) {
      live()
      const bad = checkText(text)
      if (bad) throw new Ir3Error(bad.code, bad.message)
      noLink()
      const id = randomId(ctx)
      const declared = ctx.declare(BROADCAST, { m: id, text }, { deadlineMs: DEADLINE_MS })
      const outcome = outcomeOf(id, declared.outcome)
      outcome.catch(() => undefined)
      return { id, outcome }
    },
    async list(peer) {
      const s = ctx.state()
      const out: Message[] = []
      for (const key of s.order) {
        const m = s.messages[key]
        if (!m || (peer !== undefined && conversationOf(m) !== peer)) continue
        out.push(view(key, m, await textOf(key, m)))
      }
      // Still sealing (or failed): not in the series yet. One just recorded is listed from the series only.
      for (const m of outbox.values())
        if ((peer === undefined || m.to === peer) && !s.messages[`out:${m.id}`]) out.push(m)
      return out
    },
    conversations,
    markRead(peer, upTo) {
      const t = Math.trunc(upTo ?? ctx.clock.now())
      const s = ctx.state()
      const unread = s.order.some((k) => {
        const m = s.messages[k]!
        return m.dir === 'in' && conversationOf(m) === peer && m.t > (s.read[peer] ?? 0) && m.t <= t
      })
      if (unread) ctx.record('msg-read', { peer, t })
    },
    contacts: () => ctx.nodes().filter((n) => n.id !== ctx.id),
    subscribe(fn) {
      listeners.add(fn)
      return () => listeners.delete(fn)
    },
  }
}

export const messagesApp = defineModule<MessagesState, MessagesApi>({
  name: 'messages',
  version: 1,
  description: 'Direct messages (end-to-end encrypted) and broadcasts between nodes',
  kinds: ['msg-received', 'msg-read'],
  initial: initialMessages,
  reduce: (s, e) => reduceMessages(s, e),
  intents: { [DIRECT]: decideDirect, [BROADCAST]: decideBroadcast },
  start: startMessages,
})
