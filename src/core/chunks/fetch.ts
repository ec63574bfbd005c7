/**
 * Bringing this node's copy of a series up to date, one job per author:
 *
 * 1. Sources: the nodes known to have more (catching up), or the YES answers
 *    to a `want-chunk` intent targeted at the author and at most 64 holders
 *    with fresh records (its outcome settles at the deadline or once every
 *    target answered). Seeders that served bad chunks come last.
 * 2. The head from the best source (the author's, else the largest whose
 *    sealed chunks a holder has all of), over the `series` channel
 *    (head-fetch.ts). Two signed heads that disagree on a root held here are
 *    fork evidence: recorded, and the copy is dropped and fetched again.
 *    A YES is only a claim: every YES is asked for its head at once and
 *    has `HEAD_ASK_MS` to answer with a signed checkpoint, or
 *    `CLAIM_GRACE_MS` once the first such answer came; of those that
 *    did, at most `HEAD_TRIES` are asked for the parts, each within
 *    `HEAD_TRY_MS`, all within `HEAD_PHASE_MS`. A source that gave no
 *    verified head is demoted for the rest of this job (no segments asked
 *    of it).
 * 3. Segments, `segmentsInFlight` at a time, through the ChunkSwarm from the
 *    sources that have them; every chunk checks against its root in the
 *    verified head before it is stored (`chunk-stored`), or is rejected with
 *    its seeders (`chunk-rejected`) and fetching goes on from the others.
 *    Holders of a segment that failed are demoted when others have it;
 *    after `IDLE_ROUNDS` rounds without progress, or `SEGMENTS_WITHIN_MS`,
 *    the job ends with what it has.
 */
import { safetyCatch } from '../errors.ts'
import type { HeldSeries, SwarmProgress } from '../ports.ts'
import type { ChunksContext, DownloadView, Source } from './context.ts'
import { SEGMENT_CHUNKS, verifySealed } from './head.ts'
import { askHead, fetchHead, type Ask, type HeadClaim } from './head-fetch.ts'
import type { Holders } from './holders.ts'
import type { Storage } from './storage.ts'

const MAX_WANT_TARGETS = 64
/** Sources asked for a head per job, the time for each, and for all of them. */
/** Time every YES has to answer the head request (a claim: checkpoint and sizes). */
export const HEAD_ASK_MS = 8_000
/** Once one claim came, the others have this much longer. */
export const CLAIM_GRACE_MS = 1_000
export const HEAD_TRIES = 4
export const HEAD_TRY_MS = 10_000
export const HEAD_PHASE_MS = 20_000
/** Rounds of segments that brought nothing before a job gives up, and the time its segments may take. */
const IDLE_ROUNDS = 3
export const SEGMENTS_WITHIN_MS = 300_000
/** A job that got nowhere is not repeated for about this long: every try floods a want-chunk. */
const RETRY_MS = 15_000

export type Why = 'replicate' | 'open'

export interface Fetcher {
  /**
   * Brings this node's copy of `author`'s series up to date. Resolves with
   * what is held afterwards (null if nothing could be fetched). A job already
   * running for `author` is joined.
   */
  fetchSeries(author: string, why: Why, sources?: Source[]): Promise<HeldSeries | null>
}

type Got = { chunks: { index: number; data: Uint8Array }[]; from: string[]; bad: string[] }

export function createFetcher(ctx: ChunksContext, holders: Holders, storage: Storage, ask: Ask): Fetcher {
  const { deps, C } = ctx
  const failures = new Map<string, number>()

  function fetchSeries(author: string, why: Why, sources?: Source[]): Promise<HeldSeries | null> {
    const running = ctx.jobs.get(author)
    if (running) return running
    const before = ctx.held.get(author)?.checkpoint.size ?? 0
    const job = runJob(author, why, sources).finally(() => {
      ctx.jobs.delete(author)
      if ((ctx.held.get(author)?.checkpoint.size ?? 0) !== before) return void failures.delete(author)
      // Each try that got nothing waits twice as long (up to 32×): a series advertised but never served
      // must not keep replication busy.
      const n = Math.min(5, failures.get(author) ?? 0)
      failures.set(author, n + 1)
      if (failures.size > 4096) failures.clear()
      ctx.retryAt.set(author, deps.clock.now() + RETRY_MS * 2 ** n * (0.75 + deps.rng.next() * 0.5))
    })
    ctx.jobs.set(author, job)
    return job
  }

  /** Declares want-chunk for `author` and resolves with the YES answers. */
  async function want(author: string, from: number): Promise<Source[]> {
    // Holders whose signed records are fresh, most chunks first: stale or invented
    // holders must not make the target list grow without bound.
    const fresh = [...(holders.adverts().get(author) ?? new Map<string, number>())]
      .filter(([node]) => node !== deps.id && node !== author)
      .sort((a, b) => b[1] - a[1])
      .slice(0, MAX_WANT_TARGETS - 1)
      .map(([node]) => node)
    const targets = new Set([author, ...fresh])
    targets.delete(deps.id)
    const { outcome } = deps.intents.declare(
      'want-chunk',
      { author, from, to: 2 ** 31 },
      { targets: [...targets], deadlineMs: ctx.o.wantDeadlineMs, ttl: 6 },
    )
    const o = await Promise.race([outcome, ctx.whenStopped.then(() => null)])
    const yes: Source[] = []
    for (const [peer, r] of Object.entries(o?.answers ?? {})) {
      const d = r.data
      const data = typeof d === 'object' && d !== null && !Array.isArray(d) ? d : {}
      if (r.answer === 'yes' && typeof data['chunks'] === 'number' && typeof data['size'] === 'number')
        yes.push({ id: peer, chunks: data['chunks'], size: data['size'] })
    }
    return yes
  }

  async function runJob(author: string, why: Why, sources?: Source[]): Promise<HeldSeries | null> {
    ctx.stats.jobs++
    const have = ctx.held.get(author) ?? null
    const standing = ctx.chunksState().standing
    // Catching up a held series asks the nodes known to have more directly; anything else asks the mesh.
    const asked = (sources ?? (await want(author, have?.chunks ?? 0))).filter((y) => (standing[y.id] ?? 0) > -3)
    // Seeders that served bad chunks come last: only when nobody else has it.
    const good = asked.filter((y) => (standing[y.id] ?? 0) >= 0)
    const yes = good.length > 0 ? good : asked
    if (ctx.stopped || yes.length === 0) return null
    // The newest head: the author's if it answered, else the largest a holder has all the sealed chunks of.
    const complete = (y: { chunks: number; size: number }) => (y.chunks === Math.floor(y.size / C) ? 1 : 0)
    const order = (a: Source, b: Source) =>
      a.id === author ? -1 : b.id === author ? 1 : complete(b) - complete(a) || b.size - a.size || b.chunks - a.chunks
    let head: HeldSeries | null = null
    let headFrom = ''
    const excluded = new Set<string>()
    const phaseEnd = deps.clock.now() + HEAD_PHASE_MS
    // Every YES is asked for its head claim at once (small, bounded replies), linking to it if need be.
    // Asking ends HEAD_ASK_MS on, or CLAIM_GRACE_MS after the first claim came; one that gave no signed
    // claim by then is demoted for this job.
    const claims = await firstClaims(
      yes.map((y) => y.id),
      author,
    )
    const claimed: { y: Source; claim: HeadClaim }[] = []
    for (const y of yes) {
      const claim = claims.get(y.id)
      if (!claim) excluded.add(y.id)
      else {
        // What it holds now, as its signed head says, not what its YES claimed.
        y.chunks = Math.min(claim.chunks, Math.floor(claim.checkpoint.size / C))
        y.size = claim.checkpoint.size
        claimed.push({ y, claim })
      }
    }
    claimed.sort((a, b) => order(a.y, b.y))
    for (const { y, claim } of claimed.slice(0, HEAD_TRIES)) {
      const now = deps.clock.now()
      if (now >= phaseEnd || ctx.stopped) break
      const got = await fetchHead(ctx, ask, y.id, author, Math.min(phaseEnd, now + HEAD_TRY_MS), claim).catch(
        (e: unknown) => {
          safetyCatch(e)
          return null
        },
      )
      // A claim that led to no verified head: not asked again in this job.
      if (!got) excluded.add(y.id)
      else {
        head = got.head
        headFrom = y.id
        break
      }
    }
    if (!head || ctx.stopped) {
      ctx.stats.jobFailures++
      return null
    }
    // An older head than the one held is no news: keep the newer, signed one and fill it in.
    if (have && have.checkpoint.size > head.checkpoint.size) head = { ...have, chunks: 0, bytes: 0 }
    const verified = head
    let chunks = have?.chunks ?? 0
    let bytes = have?.bytes ?? 0
    // Sealed chunks held were checked against the old head; two signed heads of one author must agree on them.
    const common = Math.min(chunks, Math.floor((have?.checkpoint.size ?? 0) / C), Math.floor(head.checkpoint.size / C))
    if (have && have.roots.slice(0, common).some((r, k) => verified.roots[k] !== r)) {
      deps.record('chunk-rejected', {
        author,
        index: -1,
        seq: 0,
        reason: 'two checkpoints disagree (fork)',
        seeders: [headFrom],
      })
      await storage.drop(author, 'fork')
      chunks = 0
      bytes = 0
    }
    const sealed = Math.floor(head.checkpoint.size / C)
    const segmentsEnd = deps.clock.now() + SEGMENTS_WITHIN_MS
    let idle = 0
    fetching: while (chunks < sealed && !ctx.stopped && deps.clock.now() < segmentsEnd) {
      // Up to `segmentsInFlight` segments at once; stored in order as they check out.
      const plans: { seg: number; n: number; files: number[]; holders: string[] }[] = []
      for (let from = chunks; plans.length < ctx.o.segmentsInFlight && from < sealed;) {
        const seg = Math.floor(from / SEGMENT_CHUNKS)
        const segStart = seg * SEGMENT_CHUNKS
        const count = Math.min(SEGMENT_CHUNKS, sealed - segStart)
        // Holders of the whole segment; if none has it all, the largest part anyone has.
        let holders = yes.filter((y) => !excluded.has(y.id) && y.chunks >= segStart + count).map((y) => y.id)
        let n = count
        if (holders.length === 0) {
          const best = Math.max(0, ...yes.filter((y) => !excluded.has(y.id)).map((y) => y.chunks - segStart))
          if (best <= from - segStart) break
          n = Math.min(count, best)
          holders = yes.filter((y) => !excluded.has(y.id) && y.chunks >= segStart + n).map((y) => y.id)
        }
        const files: number[] = []
        for (let k = from; k < segStart + n; k++) files.push(k - segStart)
        plans.push({ seg, n, files, holders })
        from = segStart + n
        if (n < count) break
      }
      if (plans.length === 0) break
      const results = await Promise.all(
        plans.map((p) => fetchSegment(author, p.seg, p.n, p.files, p.holders, verified)),
      )
      let progressed = false
      let demoted = false
      for (const [i, got] of results.entries()) {
        for (const b of got.bad) excluded.add(b)
        demoted ||= got.bad.length > 0
        if (got.chunks.length === 0) {
          // Its holders gave nothing: demoted if someone else has the segment too.
          const p = plans[i]!
          const others = yes.some(
            (y) => !excluded.has(y.id) && !p.holders.includes(y.id) && y.chunks >= p.seg * SEGMENT_CHUNKS + p.n,
          )
          if (others) for (const h of p.holders) excluded.add(h)
          demoted ||= others
        }
      }
      for (const [i, got] of results.entries()) {
        if (got.chunks.length === 0 || got.chunks[0]!.index !== chunks) break
        const size = got.chunks.reduce((n, c) => n + c.data.length, 0)
        if (!(await storage.makeRoom(author, size))) {
          deps.record('chunk-dropped', {
            author,
            chunks: got.chunks.length,
            bytes: 0,
            reason: 'storage budget',
            first: got.chunks[0]!.index,
          })
          break fetching
        }
        chunks += got.chunks.length
        bytes += size
        const next: HeldSeries = { ...verified, chunks, bytes }
        const t0 = deps.clock.now()
        try {
          await deps.store.put(next, got.chunks)
        } catch (e: unknown) {
          storage.release(size)
          throw e
        } finally {
          ctx.stats.storeMs += deps.clock.now() - t0
        }
        ctx.held.set(author, next)
        for (const c of got.chunks)
          deps.record('chunk-stored', { author, index: c.index, bytes: c.data.length, from: got.from, why })
        storage.release(size)
        holders.advertise()
        progressed = true
        if (got.chunks.length < plans[i]!.files.length) break
      }
      if (progressed) idle = 0
      else if (!demoted || ++idle >= IDLE_ROUNDS) break
    }
    // A head alone is kept only to follow a series already held, or one with nothing sealed yet
    // (not as a placeholder for a take-on the budget stopped: it would be retried forever).
    const keepHead = have !== null || sealed === 0
    if (keepHead && chunks === (have?.chunks ?? 0) && (!have || have.checkpoint.size < head.checkpoint.size)) {
      // No new sealed chunk, a newer head (the open chunk moved on): keep it.
      if (!(await storage.makeRoom(author, head.tail.length))) return have
      const next: HeldSeries = { ...head, chunks, bytes }
      try {
        await deps.store.put(next, [])
      } finally {
        storage.release(head.tail.length)
      }
      ctx.held.set(author, next)
      ctx.changed()
    }
    return ctx.held.get(author) ?? null
  }

  /** Head claims of `peers` that came in time: by HEAD_ASK_MS, or CLAIM_GRACE_MS after the first. */
  function firstClaims(peers: string[], author: string): Promise<Map<string, HeadClaim>> {
    const got = new Map<string, HeadClaim>()
    const end = deps.clock.now() + HEAD_ASK_MS
    return new Promise((resolve) => {
      let open = peers.length
      let graceSet = false
      const cancels: (() => void)[] = []
      const done = () => {
        for (const c of cancels) c()
        resolve(new Map(got))
      }
      if (open === 0) return done()
      cancels.push(deps.clock.setTimeout(done, HEAD_ASK_MS))
      for (const peer of peers)
        void askHead(ctx, ask, peer, author, end)
          .catch((e: unknown) => {
            safetyCatch(e)
            return null
          })
          .then((claim) => {
            if (claim) got.set(peer, claim)
            if (--open === 0) return done()
            if (claim && !graceSet) {
              graceSet = true
              cancels.push(deps.clock.setTimeout(done, CLAIM_GRACE_MS))
            }
          })
    })
  }

  /** Fetches wanted files of one segment; verifies each; returns the verified ones from the start, in order. */
  async function fetchSegment(
    author: string,
    segment: number,
    count: number,
    files: number[],
    holders: string[],
    head: HeldSeries,
  ): Promise<Got> {
    const key = `${author}:${segment}`
    const dl: DownloadView = { author, segment, chunks: files.length, bytes: 0, total: 0, peers: 0, holders }
    ctx.downloads.set(key, dl)
    ctx.changed()
    try {
      const t0 = deps.clock.now()
      const res = await deps.swarm.fetch({ author, segment, count, files, holders }, (p: SwarmProgress) => {
        dl.bytes = p.bytes
        dl.total = p.total
        dl.peers = p.peers
        ctx.changed()
      })
      const t1 = deps.clock.now()
      ctx.stats.swarmMs += t1 - t0
      const out: { index: number; data: Uint8Array }[] = []
      const checked = () => (ctx.stats.verifyMs += deps.clock.now() - t1)
      for (const f of files) {
        const index = segment * SEGMENT_CHUNKS + f
        const data = res.files.get(f)
        if (!data) break
        const check = verifySealed(index, data, head.roots, head.checkpoint.size, C)
        if (!check.ok) {
          ctx.stats.rejectedChunks++
          deps.record('chunk-rejected', { author, index, seq: check.seq, reason: check.reason, seeders: res.from })
          checked()
          return { chunks: out, from: res.from, bad: res.from }
        }
        ctx.stats.fetchedChunks++
        ctx.stats.fetchedBytes += data.length
        out.push({ index, data })
      }
      checked()
      return { chunks: out, from: res.from, bad: [] }
    } catch (e: unknown) {
      // The swarm failing (no holder opened it, a stall, closed) is no chunk: the job goes on without it.
      safetyCatch(e)
      return { chunks: [], from: [], bad: [] }
    } finally {
      ctx.downloads.delete(key)
      ctx.changed()
    }
  }

  return { fetchSeries }
}
