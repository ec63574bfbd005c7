/**
 * Token buckets keyed by link (or one global key): what a stranger's frames
 * may cost this node. A bucket holds `burst` tokens and refills `perSecond`;
 * `take` spends one or says no. At most `maxKeys` buckets are kept (the
 * least recently used goes first), so the map itself is bounded.
 */
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
    if (!b) return this.burst
    return Math.min(this.burst, b.tokens + (Math.max(0, now - b.at) * this.perSecond) / 1000)
  }
}
