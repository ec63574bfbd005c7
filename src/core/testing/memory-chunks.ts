/**
 * In-memory chunk store and swarm for core tests. The swarm behaves like the
 * WebTorrent adapter where it matters to the core: a fetch asks each holder
 * for the segment, groups holders by the content they offer (as infohashes
 * would), downloads the largest group's torrent after a latency on the manual
 * clock, and reports which holders it came from. Holders that are gone or
 * unreachable offer nothing. It checks nothing: verification is the core's job.
 */
import type { ChunkStore, ChunkSwarm, Clock, HeldSeries, SegmentSource, SwarmFetch, SwarmResult } from '../ports.ts'
import { sha256Bytes, toHex } from '../series/hash.ts'

export interface MemoryChunkStore extends ChunkStore {
  /** Test seam: the stored chunk bytes of `author` (mutate to simulate a tampering holder). */
  _testOnlyChunk(author: string, index: number): Uint8Array | undefined
  readonly bytes: number
}

const copyHead = (h: HeldSeries): HeldSeries => ({
  ...h,
  checkpoint: { ...h.checkpoint },
  roots: h.roots.slice(),
  tail: h.tail.slice(),
})

export function createMemoryChunkStore(): MemoryChunkStore {
  const heads = new Map<string, HeldSeries>()
  const chunks = new Map<string, Map<number, Uint8Array>>()
  return {
    async put(head, list) {
      await Promise.resolve()
      heads.set(head.author, copyHead(head))
      let m = chunks.get(head.author)
      if (!m) chunks.set(head.author, (m = new Map()))
      for (const c of list) m.set(c.index, c.data.slice())
    },
    async chunks(author, from, to) {
      const m = chunks.get(author)
      const out: { index: number; data: Uint8Array }[] = []
      for (let k = from; k < to; k++) {
        const d = m?.get(k)
        if (d) out.push({ index: k, data: d.slice() })
      }
      return out
    },
    async heads() {
      return [...heads.values()].map(copyHead)
    },
    async drop(author) {
      heads.delete(author)
      chunks.delete(author)
    },
    _testOnlyChunk: (author, index) => chunks.get(author)?.get(index),
    get bytes() {
      let n = 0
      for (const m of chunks.values()) for (const d of m.values()) n += d.length
      return n
    },
  }
}

export interface MemorySwarmNetwork {
  swarm(id: string): ChunkSwarm
  /** Segments transferred so far. */
  readonly transfers: number
}

export function createMemorySwarmNetwork(opts: {
  clock: Clock
  /** Whether `a` can reach `b` now (e.g. not partitioned, both up). Default: always. */
  reachable?: (a: string, b: string) => boolean
  latencyMs?: number
}): MemorySwarmNetwork {
  const sources = new Map<string, SegmentSource>()
  let transfers = 0
  const net: MemorySwarmNetwork = {
    get transfers() {
      return transfers
    },
    swarm(id) {
      let closed = false
      const live = new Map<string, number>()
      return {
        serve(source) {
          sources.set(id, source)
        },
        async fetch(req: SwarmFetch, onProgress): Promise<SwarmResult> {
          const groups = new Map<string, { holders: string[]; data: Uint8Array[] }>()
          for (const h of req.holders) {
            const src = sources.get(h)
            if (!src || h === id || (opts.reachable && !opts.reachable(id, h))) continue
            const data = await src(req.author, req.segment, req.count)
            if (!data) continue
            const hash = toHex(sha256Bytes(concat(data)))
            const g = groups.get(hash) ?? { holders: [], data }
            g.holders.push(h)
            groups.set(hash, g)
          }
          const best = [...groups.values()].sort((a, b) => b.holders.length - a.holders.length)[0]
          if (!best) throw new Error('no holder offered the segment')
          live.set(`${req.author}:${req.segment}`, opts.clock.now())
          await new Promise<void>((r) => opts.clock.setTimeout(r, opts.latencyMs ?? 20))
          if (closed) throw new Error('swarm closed')
          const files = new Map<number, Uint8Array>()
          let bytes = 0
          for (const f of req.files) {
            const d = best.data[f]
            if (!d) continue
            files.set(f, d.slice())
            bytes += d.length
          }
          transfers++
          onProgress?.({ bytes, total: bytes, peers: best.holders.length })
          return { files, from: best.holders }
        },
        live() {
          const now = opts.clock.now()
          for (const [k, t] of live) if (now - t > 60_000) live.delete(k)
          return live.size
        },
        close() {
          closed = true
          sources.delete(id)
        },
      }
    },
  }
  return net
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}
