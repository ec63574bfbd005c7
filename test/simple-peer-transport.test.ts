// @vitest-environment node
/**
 * The transport contract against the simple-peer adapter in Node, with
 * @roamhq/wrtc as the WebRTC implementation (prebuilt binary, no STUN: links
 * connect over the host's own addresses, loopback included). If wrtc cannot
 * be loaded or cannot open a data channel on this machine, the file is
 * skipped and says why.
 */
import { describe, expect, it } from 'vitest'
import { transportContract } from './contract/transport-contract.ts'
import { createSimplePeerTransport, type SimplePeerTransportOptions } from '../src/adapters/simple-peer-transport.ts'
import type { JsonValue } from '../src/core/json.ts'
import type { Link, LinkHandlers } from '../src/core/ports.ts'

const wrtc = await loadWrtc()
const unavailable = wrtc.ok ? await probeDataChannel(wrtc.module) : wrtc.reason
if (unavailable) console.warn(`simple-peer transport tests skipped: ${unavailable}`)
const suite = unavailable ? describe.skip : describe
const skipped = unavailable ? ` (skipped: ${unavailable})` : ''

async function loadWrtc(): Promise<{ ok: true; module: unknown } | { ok: false; reason: string }> {
  try {
    const mod = (await import('@roamhq/wrtc')) as { default?: unknown }
    return { ok: true, module: mod.default ?? mod }
  } catch (err: unknown) {
    return { ok: false, reason: `@roamhq/wrtc did not load (${String(err)})` }
  }
}

/** Null when two links open and carry a message within 5 s; otherwise why not. */
async function probeDataChannel(module: unknown): Promise<string | null> {
  try {
    const t = createSimplePeerTransport({ wrtc: module, connectTimeoutMs: 5_000 })
    const { a, b } = await openPair(t)
    a.close()
    b.close()
    return null
  } catch (err: unknown) {
    return `@roamhq/wrtc loaded but could not open a data channel here (${String(err)})`
  }
}

interface Side {
  link: Link
  received: Uint8Array[]
  closed: Promise<string>
  opened: Promise<void>
  close(): void
}

function side(t: ReturnType<typeof createSimplePeerTransport>, initiator: boolean, peer: () => Side): Side {
  let onOpen!: () => void
  let onClose!: (reason: string) => void
  const opened = new Promise<void>((resolve) => (onOpen = resolve))
  const closed = new Promise<string>((resolve) => (onClose = resolve))
  const received: Uint8Array[] = []
  const handlers: LinkHandlers = {
    onSignal: (data) => setTimeout(() => peer().link.signal(data), 0),
    onOpen: () => onOpen(),
    onData: (data) => void received.push(data),
    onClose: (reason) => onClose(reason),
  }
  const link = t.createLink({ initiator }, handlers)
  return { link, received, opened, closed, close: () => link.close() }
}

async function openPair(t: ReturnType<typeof createSimplePeerTransport>): Promise<{ a: Side; b: Side }> {
  const a: Side = side(t, true, () => b)
  const b: Side = side(t, false, () => a)
  const failed = Promise.race([a.closed, b.closed]).then((reason) => {
    throw new Error(`link closed before opening: ${reason}`)
  })
  await Promise.race([Promise.all([a.opened, b.opened]), failed])
  return { a, b }
}

const options = (extra: SimplePeerTransportOptions = {}): SimplePeerTransportOptions => ({
  wrtc: wrtc.ok ? wrtc.module : undefined,
  ...extra,
})

suite(`Transport contract: simple-peer over @roamhq/wrtc${skipped}`, () => {
  for (const c of transportContract) {
    it(c.name, () =>
      c.run(async () => ({ a: createSimplePeerTransport(options()), b: createSimplePeerTransport(options()) })),
    )
  }
})

suite(`simple-peer transport${skipped}`, () => {
  it('refuses sends over maxBufferedBytes instead of queueing them, and delivers every accepted one in order', async () => {
    const t = createSimplePeerTransport(options({ maxBufferedBytes: 256 * 1024 }))
    const { a, b } = await openPair(t)
    const chunk = (seq: number) => new Uint8Array(64 * 1024).fill(seq & 0xff)
    let seq = 0
    let refused = 0
    let peak = 0
    const deadline = Date.now() + 10_000
    while (seq < 200 && Date.now() < deadline) {
      if (a.link.send(chunk(seq))) seq++
      else {
        refused++
        // @roamhq/wrtc never fires `bufferedamountlow`: poll.
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
      peak = Math.max(peak, a.link.bufferedAmount)
    }
    expect(seq).toBe(200)
    expect(refused).toBeGreaterThan(0)
    expect(t.stats.sendsBackpressured).toBe(refused)
    expect(peak).toBeLessThanOrEqual(256 * 1024)
    await expect.poll(() => b.received.length, { timeout: 10_000 }).toBe(200)
    expect(b.received.every((m, i) => m.length === 64 * 1024 && m[0] === (i & 0xff) && m.at(-1) === (i & 0xff))).toBe(
      true,
    )
    a.close()
    b.close()
  })

  it('closes a link that does not open within connectTimeoutMs', async () => {
    const t = createSimplePeerTransport(options({ connectTimeoutMs: 300 }))
    let reason = ''
    const started = Date.now()
    const closed = new Promise<void>((resolve) => {
      t.createLink(
        { initiator: true },
        { onSignal() {}, onOpen() {}, onData() {}, onClose: (r) => ((reason = r), resolve()) },
      )
    })
    await closed
    expect(reason).toBe('connect-timeout')
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    expect(t.stats.connectTimeouts).toBe(1)
  })

  it('refuses an empty message, which simple-peer 9 would drop on the receiving side', async () => {
    const t = createSimplePeerTransport(options())
    const { a, b } = await openPair(t)
    expect(a.link.send(new Uint8Array(0))).toBe(false)
    expect(t.stats.sendsEmpty).toBe(1)
    expect(a.link.send(new Uint8Array([7]))).toBe(true)
    await expect.poll(() => b.received.length).toBe(1)
    a.close()
    expect(await b.closed).toMatch(/closed|error/)
  })

  it('ignores a duplicated answer instead of failing the link', async () => {
    const t = createSimplePeerTransport(options())
    const answers: JsonValue[] = []
    const received: Uint8Array[] = []
    let opens = 0
    const quiet = { onData() {}, onClose() {} }
    const a = t.createLink(
      { initiator: true },
      { ...quiet, onSignal: (d) => setTimeout(() => b.signal(d), 0), onOpen: () => void opens++ },
    )
    const b: Link = t.createLink(
      { initiator: false },
      {
        onSignal: (d) => (answers.push(d), setTimeout(() => a.signal(d), 0)),
        onOpen: () => void opens++,
        onData: (d) => void received.push(d),
        onClose() {},
      },
    )
    await expect.poll(() => opens, { timeout: 10_000 }).toBe(2)
    a.signal(answers[0]!)
    a.signal(answers[0]!)
    expect(a.send(new Uint8Array([1, 2, 3]))).toBe(true)
    await expect.poll(() => received.length).toBe(1)
    expect(t.stats.ignoredSignals).toBe(2)
    a.close()
    b.close()
  })
})
