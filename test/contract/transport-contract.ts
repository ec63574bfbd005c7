/**
 * The Transport contract: every transport that carries real links (simple-peer
 * over @roamhq/wrtc in Node, simple-peer over Chromium's WebRTC in a test
 * page) must pass these cases. Framework-free so the same cases run under
 * Vitest and in a browser page.
 *
 * Each case gets two fresh transports `a` and `b` from `make`, opens links by
 * carrying each side's `onSignal` to the other side's `signal` (on a later
 * task or microtask, as a relay would), and closes everything it opened. The
 * cases use real time: each is bounded by `CASE_TIMEOUT_MS` and fails with the
 * step it was waiting for.
 */
import type { JsonValue } from '../../src/core/json.ts'
import type { Link, LinkHandlers, Transport } from '../../src/core/ports.ts'

export interface TransportPair {
  a: Transport
  b: Transport
  /** Called after the case, whatever its outcome. */
  cleanup?(): void
}

export type MakeTransports = () => Promise<TransportPair>

export interface TransportContractCase {
  name: string
  run(make: MakeTransports): Promise<void>
}

export const CASE_TIMEOUT_MS = 20_000

function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(`contract: ${message}`)
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Resolves when `cond()` holds; rejects naming `what` after `ms`. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`contract: timed out after ${ms} ms waiting for ${what}`)
    await sleep(5)
  }
}

/** One link and everything its handlers saw, in order. */
interface Probe {
  link: Link
  /** Event kinds in the order they happened: 'signal' | 'open' | 'data' | 'close'. */
  events: string[]
  signals: JsonValue[]
  received: Uint8Array[]
  opens: number
  closes: number
  closeReason: string | null
  /** Handler calls made while `createLink` had not returned yet (must stay 0). */
  syncCalls: number
  /** Where this link's signals go; set by `wire`. */
  forward: ((data: JsonValue) => void) | null
  /** Sent from inside onOpen, if set (whether it was accepted is recorded in `greeted`). */
  greeting: Uint8Array | null
  greeted: boolean
}

/** Creates a link whose handlers record into a Probe. */
function probe(t: Transport, initiator: boolean, opened: Probe[]): Probe {
  let creating = true
  const p = {
    events: [],
    signals: [],
    received: [],
    opens: 0,
    closes: 0,
    closeReason: null,
    syncCalls: 0,
    forward: null,
    greeting: null,
    greeted: false,
  } as unknown as Probe
  const seen = (kind: string) => {
    if (creating) p.syncCalls++
    p.events.push(kind)
  }
  const handlers: LinkHandlers = {
    onSignal(data) {
      seen('signal')
      p.signals.push(data)
      p.forward?.(data)
    },
    onOpen() {
      seen('open')
      p.opens++
      if (p.greeting) p.greeted = p.link.send(p.greeting)
    },
    onData(data) {
      seen('data')
      p.received.push(data.slice())
    },
    onClose(reason) {
      seen('close')
      p.closes++
      p.closeReason = reason
    },
  }
  p.link = t.createLink({ initiator }, handlers)
  creating = false
  opened.push(p)
  return p
}

/** Carries each side's signals to the other, alternating between a later task and a microtask. */
function wire(x: Probe, y: Probe): void {
  let n = 0
  const carry = (to: Probe) => (data: JsonValue) => {
    const deliver = () => to.link.signal(data)
    if (n++ % 2 === 0) setTimeout(deliver, 0)
    else queueMicrotask(deliver)
  }
  x.forward = carry(y)
  y.forward = carry(x)
  // Signals emitted before wiring (none are expected this early, but a relay may attach late).
  for (const s of x.signals) y.link.signal(s)
  for (const s of y.signals) x.link.signal(s)
}

/** Opens an initiator link on `from` and a responder on `to`, and waits until both are open. */
async function connect(from: Transport, to: Transport, links: Probe[]): Promise<[Probe, Probe]> {
  const i = probe(from, true, links)
  const r = probe(to, false, links)
  wire(i, r)
  await until(() => i.opens > 0 && r.opens > 0, 'both links to open')
  return [i, r]
}

/** `n` bytes: a 4-byte big-endian sequence number (as far as it fits), then a pattern of `seq`. */
function message(seq: number, n: number): Uint8Array {
  const m = new Uint8Array(n)
  for (let j = 0; j < n; j++) m[j] = (seq * 31 + j * 7) & 0xff
  for (let j = 0; j < Math.min(4, n); j++) m[j] = (seq >>> (24 - 8 * j)) & 0xff
  return m
}

function same(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Sizes from 1 byte to 64 KiB, varied but the same on every run. */
function sizeOf(seq: number): number {
  if (seq % 10 === 9) return 64 * 1024
  return 1 + ((seq * 7919 + 13) % [1, 16, 300, 2_000, 16 * 1024, 40_000][seq % 6]!)
}

/** Sends all of `messages` in order; waits while the transport refuses for back-pressure. */
async function sendAll(p: Probe, messages: Uint8Array[]): Promise<void> {
  for (const [i, m] of messages.entries()) {
    const deadline = Date.now() + 10_000
    while (!p.link.send(m)) {
      assert(p.closes === 0, `link closed while sending message ${i}: ${p.closeReason}`)
      assert(Date.now() < deadline, `send of message ${i} refused for 10 s (bufferedAmount ${p.link.bufferedAmount})`)
      await sleep(5)
    }
  }
}

function assertReceived(p: Probe, expected: Uint8Array[], who: string): void {
  assert(p.received.length === expected.length, `${who} got ${p.received.length} messages, expected ${expected.length}`)
  for (const [i, m] of expected.entries())
    assert(same(p.received[i], m), `${who}: message ${i} (${m.length} bytes) differs or is out of order`)
}

function assertOpenedBeforeData(p: Probe, who: string): void {
  const open = p.events.indexOf('open')
  const data = p.events.indexOf('data')
  assert(data === -1 || (open !== -1 && open < data), `${who}: onData came before onOpen (${p.events.join(',')})`)
}

const MALFORMED_SIGNALS: JsonValue[] = [
  { type: 'offer', sdp: 'garbage' },
  { type: 'answer', sdp: 'v=0\r\nnonsense' },
  42,
  null,
  'not a signal',
  [],
  {},
  { candidate: 'not an object' },
]

/** The cases, each wrapped with the timeout, the transports' cleanup and closing of every link it opened. */
const cases: { name: string; run(t: TransportPair, links: Probe[]): Promise<void> }[] = [
  {
    name: 'an initiator and a responder open and exchange 100 messages each way, in order and intact',
    async run({ a, b }, links) {
      const [i, r] = await connect(a, b, links)
      assert(i.opens === 1 && r.opens === 1, `onOpen once each (initiator ${i.opens}, responder ${r.opens})`)
      assert(i.signals.length >= 1 && r.signals.length >= 1, 'both sides signalled')
      const forth = Array.from({ length: 100 }, (_, k) => message(k, sizeOf(k)))
      const back = Array.from({ length: 100 }, (_, k) => message(1000 + k, sizeOf(k + 3)))
      await Promise.all([sendAll(i, forth), sendAll(r, back)])
      await until(() => r.received.length >= 100 && i.received.length >= 100, 'all 200 messages to arrive')
      await sleep(50)
      assertReceived(r, forth, 'responder')
      assertReceived(i, back, 'initiator')
      assertOpenedBeforeData(i, 'initiator')
      assertOpenedBeforeData(r, 'responder')
      assert(i.closes === 0 && r.closes === 0, 'no link closed')
    },
  },
  {
    name: 'a message sent from onOpen reaches the other side after its onOpen',
    async run({ a, b }, links) {
      // The side that opens first may send before the other side has seen its own open.
      const pairs = Array.from({ length: 5 }, (_, k) => {
        const i = probe(k % 2 ? b : a, true, links)
        const r = probe(k % 2 ? a : b, false, links)
        i.greeting = message(k, 10)
        r.greeting = message(100 + k, 10)
        wire(i, r)
        return [i, r] as const
      })
      await until(() => pairs.every(([i, r]) => i.received.length > 0 && r.received.length > 0), 'the greetings')
      for (const [k, [i, r]] of pairs.entries()) {
        assert(i.greeted && r.greeted, `pair ${k}: send from onOpen should be accepted`)
        assertReceived(r, [message(k, 10)], `pair ${k} responder`)
        assertReceived(i, [message(100 + k, 10)], `pair ${k} initiator`)
        assertOpenedBeforeData(i, `pair ${k} initiator`)
        assertOpenedBeforeData(r, `pair ${k} responder`)
      }
    },
  },
  {
    name: 'send before open returns false and the message is never delivered',
    async run({ a, b }, links) {
      const i = probe(a, true, links)
      const r = probe(b, false, links)
      assert(i.link.send(message(1, 10)) === false, 'initiator send before open should be false')
      assert(r.link.send(message(2, 10)) === false, 'responder send before open should be false')
      assert(typeof i.link.bufferedAmount === 'number', 'bufferedAmount is a number before open')
      wire(i, r)
      await until(() => i.opens > 0 && r.opens > 0, 'both links to open')
      const marker = message(3, 5)
      assert(i.link.send(marker), 'send after open should be true')
      await until(() => r.received.length > 0, 'the first message after open')
      await sleep(100)
      assertReceived(r, [marker], 'responder')
      assert(i.received.length === 0, 'initiator received nothing')
    },
  },
  {
    name: 'closing one side calls onClose on both sides exactly once, and send then returns false',
    async run({ a, b }, links) {
      const [i, r] = await connect(a, b, links)
      i.link.close()
      i.link.close()
      await until(() => i.closes > 0 && r.closes > 0, 'onClose on both sides')
      i.link.close()
      r.link.close()
      await sleep(300)
      assert(i.closes === 1 && r.closes === 1, `onClose exactly once (initiator ${i.closes}, responder ${r.closes})`)
      assert(i.link.send(message(1, 10)) === false, 'send on the closed side is false')
      assert(r.link.send(message(2, 10)) === false, 'send on the remote side after close is false')
      assert(i.events.at(-1) === 'close' && r.events.at(-1) === 'close', 'nothing after onClose')
    },
  },
  {
    name: 'a link closed before it opens calls onClose once and never onOpen',
    async run({ a, b }, links) {
      const i = probe(a, true, links)
      const r = probe(b, false, links)
      i.link.close()
      wire(i, r)
      await until(() => i.closes > 0, 'onClose on the closed link')
      r.link.close()
      await until(() => r.closes > 0, 'onClose on the other link')
      await sleep(300)
      assert(i.closes === 1 && i.opens === 0, `closed link: ${i.closes} closes, ${i.opens} opens`)
      assert(r.closes === 1 && r.opens === 0, `other link: ${r.closes} closes, ${r.opens} opens`)
    },
  },
  {
    name: 'a malformed signal fails the link with onClose and does not throw',
    async run({ a }, links) {
      const victims: Probe[] = []
      for (const [k, bad] of MALFORMED_SIGNALS.entries()) {
        for (const initiator of [false, true]) {
          const p = probe(a, initiator, links)
          victims.push(p)
          try {
            p.link.signal(bad)
          } catch (err: unknown) {
            throw new Error(`contract: signal(${JSON.stringify(bad)}) threw: ${String(err)}`, { cause: err })
          }
          // Feeding more input to a failed link is harmless too.
          if (k === 0) p.link.signal(bad)
        }
      }
      await until(() => victims.every((p) => p.closes > 0), 'every link fed a malformed signal to close')
      await sleep(100)
      for (const p of victims) {
        assert(p.closes === 1 && p.opens === 0, `${p.closes} closes, ${p.opens} opens after a malformed signal`)
        p.link.signal({ type: 'offer', sdp: 'late' })
        assert(p.link.send(message(1, 1)) === false, 'send on a failed link is false')
      }
    },
  },
  {
    name: 'ten pairs open at once and stay independent',
    async run({ a, b }, links) {
      const pairs = await Promise.all(
        Array.from({ length: 10 }, (_, k) => connect(k % 2 ? b : a, k % 2 ? a : b, links)),
      )
      const each = (k: number) => Array.from({ length: 5 }, (_, j) => message(k * 100 + j, 100 + k * 37 + j))
      for (const [k, [i]] of pairs.entries()) await sendAll(i, each(k))
      await until(() => pairs.every(([, r]) => r.received.length >= 5), 'every pair to deliver its 5 messages')
      for (const [k, [, r]] of pairs.entries()) assertReceived(r, each(k), `pair ${k}`)
      // Closing one pair leaves the others working.
      pairs[0]![0].link.close()
      await until(() => pairs[0]![1].closes > 0, 'the closed pair to close on both sides')
      for (const [k, [i, r]] of pairs.slice(1).entries()) {
        assert(i.closes === 0 && r.closes === 0, `pair ${k + 1} closed with pair 0`)
        assert(r.link.send(message(9000 + k, 20)), `pair ${k + 1} still sends`)
      }
      await until(() => pairs.slice(1).every(([i]) => i.received.length === 1), 'replies on the other pairs')
      for (const [k, [i]] of pairs.slice(1).entries()) assertReceived(i, [message(9000 + k, 20)], `pair ${k + 1} reply`)
    },
  },
  {
    name: 'handlers are not called synchronously from createLink',
    async run({ a, b }, links) {
      const i = probe(a, true, links)
      const r = probe(b, false, links)
      const closedAtOnce = probe(a, true, links)
      closedAtOnce.link.close()
      const failedAtOnce = probe(b, false, links)
      failedAtOnce.link.signal(17)
      wire(i, r)
      await until(() => i.opens > 0 && r.opens > 0, 'both links to open')
      await until(() => closedAtOnce.closes > 0 && failedAtOnce.closes > 0, 'the closed links to report onClose')
      for (const p of links) assert(p.syncCalls === 0, `${p.syncCalls} handler call(s) from inside createLink`)
    },
  },
]

async function withTimeout<T>(work: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`contract: "${name}" did not finish within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export const transportContract: TransportContractCase[] = cases.map((c) => ({
  name: c.name,
  async run(make) {
    const pair = await make()
    const links: Probe[] = []
    try {
      await withTimeout(c.run(pair, links), CASE_TIMEOUT_MS, c.name)
    } finally {
      for (const p of links) p.link.close()
      pair.cleanup?.()
    }
  },
}))
