/**
 * Finds the entries of one kind, for filtering the list. The core keeps no
 * index by kind, so this scans in the background: it starts at the newest
 * SCAN_WINDOW entries (aligned to a block), reads a block at a time, yields
 * to the page when it has used its time slice, and once it has caught up it
 * keeps up with appends. Entries older than the window are not searched;
 * the list says so.
 */
import type { Ir3Node } from '../core/node.ts'
import { BLOCK } from './entry-cache.ts'
import { createFrameScheduler } from './frame.ts'
import { errorMessage } from './format.ts'

export const SCAN_WINDOW = 1024 * BLOCK
const SLICE_MS = 8

export interface KindScanSnapshot {
  /** The kind searched for ('' for any). */
  kind: string
  /** Text searched for in bodies, lower case ('' for any). */
  text: string
  /** Matching seqs, ascending. Only the first `count` are part of this snapshot. */
  matches: readonly number[]
  count: number
  /** The first seq searched. */
  from: number
  /** Everything in [from, scannedTo) has been searched. */
  scannedTo: number
  /** True once the scan has reached the end of the series (it then follows appends). */
  caughtUp: boolean
  error: string | null
}

export interface KindScan {
  snapshot(): KindScanSnapshot
  /** Called at most once a frame while the scan makes progress. */
  subscribe(fn: () => void): () => void
  dispose(): void
}

/**
 * Entries of `kind` ('' for any) whose body's JSON text contains `text`
 * (case-insensitive; '' for any). Bodies are peer-supplied data: they are
 * only searched as text, never interpreted.
 */
export function createKindScan(node: Ir3Node, kind: string, text = ''): KindScan {
  const needle = text.toLowerCase()
  const matchesEntry = (e: { kind: string; body: unknown }) =>
    (kind === '' || e.kind === kind) && (needle === '' || JSON.stringify(e.body).toLowerCase().includes(needle))
  const from = Math.max(0, Math.floor((node.length - SCAN_WINDOW) / BLOCK) * BLOCK)
  const matches: number[] = []
  const listeners = new Set<() => void>()
  let at = from
  let caughtUp = false
  let error: string | null = null
  let disposed = false
  let wake: (() => void) | null = null
  let snap: KindScanSnapshot = { kind, text: needle, matches, count: 0, from, scannedTo: at, caughtUp, error }

  const notify = createFrameScheduler(() => {
    snap = { kind, text: needle, matches, count: matches.length, from, scannedTo: at, caughtUp, error }
    for (const fn of listeners) fn()
  })

  const unsubscribe = node.subscribe((e) => {
    if (e.type === 'appended' && wake) {
      const w = wake
      wake = null
      w()
    }
  })

  const run = async () => {
    let sliceStart = performance.now()
    while (!disposed) {
      const length = node.length
      if (at >= length) {
        caughtUp = true
        notify.schedule()
        await new Promise<void>((resolve) => (wake = resolve))
        continue
      }
      const to = Math.min(length, (Math.floor(at / BLOCK) + 1) * BLOCK)
      const entries = await node.entries(at, to)
      if (disposed) return
      for (const e of entries) if (matchesEntry(e)) matches.push(e.seq)
      if (entries.length < to - at) throw new Error(`entries from seq ${at + entries.length} could not be read`)
      at = to
      notify.schedule()
      if (performance.now() - sliceStart > SLICE_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0))
        sliceStart = performance.now()
      }
    }
  }
  run().catch((e: unknown) => {
    error = errorMessage(e)
    notify.schedule()
  })

  return {
    snapshot: () => snap,
    subscribe(fn) {
      listeners.add(fn)
      return () => listeners.delete(fn)
    },
    dispose() {
      disposed = true
      unsubscribe()
      notify.cancel()
      listeners.clear()
      wake?.()
    },
  }
}
