/**
 * The probe: the raw flood-and-echo baseline of the mesh benchmark.
 *
 *   probe   `probe(want)` floods an unsigned `probe` frame (TTL); each node
 *           forwards it once (like an intent) and remembers the neighbour it
 *           came from
 *   echo    each node answers with an `echo`: directly if linked to the
 *           origin, else back to the neighbour the probe came from, hop by
 *           hop; the origin resolves once `want` distinct nodes echoed (or at
 *           its timeout)
 *
 * No signing, no series. Both frames are refused (dropped as not ready)
 * unless the `probes` option is on.
 */
import type { Clock, Rng } from '../ports.ts'
import type { Frame } from './frames.ts'
import type { Conn, Links } from './links.ts'

/** Probe ids remembered (for forwarding once and routing echoes back). */
const MAX_PROBES = 1000

export interface ProbeDeps {
  id: string
  clock: Clock
  rng: Rng
  /** Let probe and echo frames through. */
  enabled: boolean
  /** Forwards a flooded frame (see Mesh.flood). */
  flood: (frame: Frame, from: string) => number
}

export interface ProbeResult {
  ms: number
  echoes: number
}

export class Probe {
  private readonly links: Links
  private readonly deps: ProbeDeps
  /** Probes seen: id → neighbour it came from (null for our own). */
  private readonly probes = new Map<string, string | null>()
  private readonly waits = new Map<
    string,
    { want: number; only: string | null; from: Set<string>; started: number; done: (r: ProbeResult) => void }
  >()

  constructor(links: Links, deps: ProbeDeps) {
    this.links = links
    this.deps = deps
    links.handle('probe', (c, f) => (this.deps.enabled ? this.onProbe(c, f) : links.dropFrame(c, 'notReady', false)))
    links.handle('echo', (c, f) => (this.deps.enabled ? this.onEcho(c, f) : links.dropFrame(c, 'notReady', false)))
  }

  /**
   * Floods an unsigned probe and resolves when `want` distinct nodes echoed
   * it (or after `timeoutMs`). Echoes travel like answers: direct over an
   * existing link, else back along the probe's path. No signing, no series.
   * With `only`, just that node's echo counts (every node still echoes).
   */
  probe(want: number, ttl: number, timeoutMs: number, only: string | null = null): Promise<ProbeResult> {
    let i = ''
    for (let k = 0; k < 32; k++) i += Math.floor(this.deps.rng.next() * 16).toString(16)
    return new Promise((resolve) => {
      const started = this.deps.clock.now()
      const from = new Set<string>()
      const done = (r: ProbeResult) => {
        this.waits.delete(i)
        resolve(r)
      }
      this.waits.set(i, { want, only, from, started, done })
      this.probes.set(i, null)
      this.links.broadcast({ t: 'probe', i, o: this.deps.id, ttl: ttl - 1 })
      this.deps.clock.setTimeout(() => {
        if (this.waits.has(i)) done({ ms: this.deps.clock.now() - started, echoes: from.size })
      }, timeoutMs)
    })
  }

  private onProbe(c: Conn, f: Extract<Frame, { t: 'probe' }>): void {
    if (this.probes.has(f.i)) return this.links.countDuplicate()
    this.probes.set(f.i, c.id)
    if (this.probes.size > MAX_PROBES) this.probes.delete(this.probes.keys().next().value!)
    if (f.ttl > 0) this.deps.flood({ ...f, ttl: f.ttl - 1 }, c.id)
    if (f.o === this.deps.id) return
    const echo: Frame = { t: 'echo', i: f.i, o: f.o, f: this.deps.id }
    if (!this.links.send(f.o, echo)) this.links.send(c.id, echo)
  }

  private onEcho(c: Conn, f: Extract<Frame, { t: 'echo' }>): void {
    if (f.o !== this.deps.id) {
      const back = this.probes.get(f.i)
      if (back && back !== c.id) this.links.send(back, f)
      return
    }
    const w = this.waits.get(f.i)
    if (!w || (w.only !== null && f.f !== w.only)) return
    w.from.add(f.f)
    if (w.from.size >= w.want) w.done({ ms: this.deps.clock.now() - w.started, echoes: w.from.size })
  }
}
