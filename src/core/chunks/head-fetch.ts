/**
 * The reader's side of the `series` channel: one head, fetched from one peer
 * and checked once. `head` first; before any part is fetched the reply's
 * sizes are bounded by its checkpoint (roots = chunks covered, at most
 * `MAX_HEAD_ROOTS`; open-chunk bytes at most its entries × MAX_ENTRY_BYTES),
 * the key must be the author's and the checkpoint signed by it; then `part`
 * requests bring the roots and the open chunk, each part exactly the size
 * known in advance (`ROOTS_PER_PART` 64-hex roots, `TAIL_PART` bytes, less
 * for the last), all by the caller's deadline (at most a minute); then the
 * roots must hash to the checkpoint root and the open chunk to the last root.
 * So a reader holds at most `MAX_HEAD_BYTES` of one head. A head that fails is recorded as `chunk-rejected`
 * (index −1) with the peer as seeder; a peer that does not answer, or
 * refuses, is no head and no blame.
 */
import type { HeldSeries } from '../ports.ts'
import type { ChunksContext } from './context.ts'
import { verifyHeadData, verifyHeadKey } from './head.ts'
import type { RequestResult, Wire } from './request.ts'
import { MAX_ENTRY_BYTES } from '../series/encoding.ts'
import {
  type HeadReply,
  headRequest,
  partRequest,
  readHeadReply,
  readRootsReply,
  readTailReply,
  ROOTS_PER_PART,
  TAIL_PART,
} from './series-codec.ts'

/** Sends one request on the `series` channel (linking to the peer first if need be). */
export type Ask = <T>(peer: string, body: Wire, read: (reply: Wire) => T | null) => Promise<RequestResult<T>>

const HEAD_WITHIN_MS = 60_000
/** Roots one head may have: a series of 2^16 chunks (16.7M entries at 256 per chunk). */
export const MAX_HEAD_ROOTS = 2 ** 16
/** What a reader holds of one head at most: its roots as hex and its open chunk. */
export const maxHeadBytes = (chunkSize: number): number => MAX_HEAD_ROOTS * 64 + (chunkSize - 1) * MAX_ENTRY_BYTES
const HEX64 = /^[0-9a-f]{64}$/

/** A head reply whose sizes are bounded and whose checkpoint the author signed; its parts not fetched yet. */
export type HeadClaim = Extract<HeadReply, { ok: true }>

type Late = { status: 'late' }

/** Sends one request that ends by `end`, however long the channel would wait. */
function timely<T>(
  ctx: ChunksContext,
  ask: Ask,
  peer: string,
  end: number,
  body: Wire,
  read: (reply: Wire) => T | null,
): Promise<RequestResult<T> | Late> {
  const { clock } = ctx.deps
  const left = end - clock.now()
  if (left <= 0) return Promise.resolve({ status: 'late' })
  let cancel = () => {}
  const late = new Promise<Late>((r) => (cancel = clock.setTimeout(() => r({ status: 'late' }), left)))
  return Promise.race([ask(peer, body, read), late]).finally(() => cancel())
}

const rejecter =
  (ctx: ChunksContext, peer: string, author: string) =>
  (reason: string, seq = 0) => {
    ctx.deps.record('chunk-rejected', { author, index: -1, seq, reason: `head: ${reason}`, seeders: [peer] })
    return null
  }

/**
 * Asks `peer` for `author`'s head (the `head` request alone) by `deadline`:
 * its claim, sizes bounded by its checkpoint and signed by the author, or
 * null (no answer, a refusal, or a bad head, recorded).
 */
export async function askHead(
  ctx: ChunksContext,
  ask: Ask,
  peer: string,
  author: string,
  deadline: number,
): Promise<HeadClaim | null> {
  const { deps, C } = ctx
  const rejectHead = rejecter(ctx, peer, author)
  const res = await timely(ctx, ask, peer, deadline, headRequest(author), (b) => readHeadReply(b, C))
  if (res.status === 'bad-reply') return rejectHead('malformed head')
  if (res.status !== 'ok' || !res.reply.ok) return null
  const { checkpoint: cp, publicKey, roots: nRoots, tail: tailLen } = res.reply
  if (nRoots !== Math.ceil(cp.size / C)) return rejectHead('root count does not match the size')
  // Sizes known before any part is fetched: bounded, or not fetched at all.
  if (nRoots > MAX_HEAD_ROOTS) return rejectHead(`more than ${MAX_HEAD_ROOTS} chunks`)
  if (tailLen > (cp.size % C) * MAX_ENTRY_BYTES || (cp.size % C > 0 && tailLen === 0))
    return rejectHead('open chunk size does not match its entries')
  const claim = await verifyHeadKey({ author, publicKey, checkpoint: cp }, deps.verifier)
  if (!claim.ok) return rejectHead(claim.reason)
  return res.reply
}

/**
 * Fetches and verifies `author`'s head from `peer` (its claim first, unless
 * given), with the sealed chunks `peer` holds now; gives up at `deadline`
 * (at most a minute from now).
 */
export async function fetchHead(
  ctx: ChunksContext,
  ask: Ask,
  peer: string,
  author: string,
  deadline = ctx.deps.clock.now() + HEAD_WITHIN_MS,
  claimed?: HeadClaim,
): Promise<{ head: HeldSeries; chunks: number } | null> {
  const { deps, C } = ctx
  const end = Math.min(deadline, deps.clock.now() + HEAD_WITHIN_MS)
  const rejectHead = rejecter(ctx, peer, author)
  const claim = claimed ?? (await askHead(ctx, ask, peer, author, end))
  if (!claim) return null
  const { checkpoint: cp, publicKey, roots: nRoots, tail: tailLen, chunks } = claim
  const roots: string[] = []
  while (roots.length < nRoots) {
    const want = Math.min(ROOTS_PER_PART, nRoots - roots.length)
    const p = await timely(ctx, ask, peer, end, partRequest(author, cp.size, 'roots', roots.length), readRootsReply)
    if (p.status === 'late') return rejectHead('too slow')
    if (p.status === 'bad-reply') return rejectHead('malformed roots')
    if (p.status !== 'ok' || !p.reply.ok) return null
    if (p.reply.d.length !== want || !p.reply.d.every((r) => HEX64.test(r)))
      return rejectHead(`roots part at ${roots.length} should be ${want} roots`)
    roots.push(...p.reply.d)
  }
  const tail = new Uint8Array(tailLen)
  for (let off = 0; off < tailLen;) {
    const want = Math.min(TAIL_PART, tailLen - off)
    const p = await timely(ctx, ask, peer, end, partRequest(author, cp.size, 'tail', off), readTailReply)
    if (p.status === 'late') return rejectHead('too slow')
    if (p.status === 'bad-reply') return rejectHead('malformed open chunk')
    if (p.status !== 'ok' || !p.reply.ok) return null
    if (p.reply.d.length !== want) return rejectHead(`open chunk part at ${off} should be ${want} bytes`)
    tail.set(p.reply.d, off)
    off += p.reply.d.length
  }
  const head: HeldSeries = {
    author,
    publicKey,
    checkpoint: cp,
    roots: roots.slice(0, nRoots),
    tail,
    chunks: 0,
    bytes: 0,
  }
  const check = verifyHeadData(head, C)
  if (!check.ok) return rejectHead(check.reason, check.seq)
  return { head, chunks }
}
