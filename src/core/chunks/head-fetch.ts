/**
 * The reader's side of the `series` channel: one head, fetched from one peer
 * and checked once. `head` first; before any part is fetched the reply's
 * sizes are bounded, the key must be the author's and the checkpoint signed
 * by it; then `part` requests bring the roots and the open chunk, all within
 * a minute; then the roots must hash to the checkpoint root and the open
 * chunk to the last root. A head that fails is recorded as `chunk-rejected`
 * (index −1) with the peer as seeder; a peer that does not answer, or
 * refuses, is no head and no blame.
 */
import type { HeldSeries } from '../ports.ts'
import type { ChunksContext } from './context.ts'
import { verifyHeadData, verifyHeadKey } from './head.ts'
import type { RequestResult, Wire } from './request.ts'
import { headRequest, partRequest, readHeadReply, readRootsReply, readTailReply } from './series-codec.ts'

/** Sends one request on the `series` channel (linking to the peer first if need be). */
export type Ask = <T>(peer: string, body: Wire, read: (reply: Wire) => T | null) => Promise<RequestResult<T>>

const HEAD_WITHIN_MS = 60_000

/** Fetches and verifies `author`'s head from `peer`, with the sealed chunks `peer` holds now. */
export async function fetchHead(
  ctx: ChunksContext,
  ask: Ask,
  peer: string,
  author: string,
): Promise<{ head: HeldSeries; chunks: number } | null> {
  const { deps, C } = ctx
  const rejectHead = (reason: string, seq = 0) => {
    deps.record('chunk-rejected', { author, index: -1, seq, reason: `head: ${reason}`, seeders: [peer] })
    return null
  }
  const res = await ask(peer, headRequest(author), (b) => readHeadReply(b, C))
  if (res.status === 'bad-reply') return rejectHead('malformed head')
  if (res.status !== 'ok' || !res.reply.ok) return null
  const { checkpoint: cp, publicKey, roots: nRoots, tail: tailLen, chunks } = res.reply
  if (nRoots !== Math.ceil(cp.size / C)) return rejectHead('root count does not match the size')
  const claim = await verifyHeadKey({ author, publicKey, checkpoint: cp }, deps.verifier)
  if (!claim.ok) return rejectHead(claim.reason)
  const roots: string[] = []
  // A head must arrive within a minute, however slowly the peer answers each part.
  const deadline = deps.clock.now() + HEAD_WITHIN_MS
  while (roots.length < nRoots) {
    if (deps.clock.now() > deadline) return rejectHead('too slow')
    const p = await ask(peer, partRequest(author, cp.size, 'roots', roots.length), readRootsReply)
    if (p.status !== 'ok' || !p.reply.ok) return null
    roots.push(...p.reply.d)
  }
  const tail = new Uint8Array(tailLen)
  for (let off = 0; off < tailLen;) {
    if (deps.clock.now() > deadline) return rejectHead('too slow')
    const p = await ask(peer, partRequest(author, cp.size, 'tail', off), readTailReply)
    if (p.status !== 'ok' || !p.reply.ok || off + p.reply.d.length > tailLen) return null
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
