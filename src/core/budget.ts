/**
 * Token buckets: what a stranger's input may cost this node. `refill` is the
 * one formula (every per-link and global budget of the mesh, intents and
 * chunks uses it); `Buckets` keeps one bucket per key (link, or one global
 * key), at most `maxKeys` of them (the least recently used goes first).
 */

/** Tokens after `elapsedMs` at `perMs` a millisecond, capped at `burst` (time going backwards adds none). */
export function refill(tokens: number, elapsedMs: number, perMs: number, burst: number): number {
  return Math.min(burst, tokens + Math.max(0, elapsedMs) * perMs)
}

export class Buckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>()
  constructor(
    readonly perSecond: number,
    readonly burst: number,
    private readonly maxKeys = 256,
  ) {}

  /** Whether `key` has a token now (without spending it). */
  has(key: string, now: number): boolean {
    return this.level(key, now) >= 1
  }

  /** Spends one token of `key`; false (nothing spent) if there is none. */
  take(key: string, now: number): boolean {
    const tokens = this.level(key, now)
    if (tokens < 1) return false
    this.buckets.delete(key)
    this.buckets.set(key, { tokens: tokens - 1, at: now })
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!)
    return true
  }

  private level(key: string, now: number): number {
    const b = this.buckets.get(key)
    return b ? refill(b.tokens, now - b.at, this.perSecond / 1000, this.burst) : this.burst
  }
}
