/**
 * A lazily read chunk: framed entry bytes are split, decoded and hashed only
 * when someone reads them, and each result is kept. The series appends
 * without creating any per-entry object that outlives the append (that
 * retention was a large share of append cost in garbage collection); readers
 * (the UI, time travel, proofs) pay for what they touch.
 */
import { decodeEntry, type Entry } from './encoding.ts'
import { leafHash, toHex } from './hash.ts'

export class ChunkView {
  private data: Uint8Array
  private offset = 0
  private readonly views: Uint8Array[] = []
  private readonly decoded: Entry[] = []
  private readonly hashes: string[] = []
  /** Why reading stopped early, if the data is malformed. */
  broken: string | null = null

  constructor(data: Uint8Array) {
    this.data = data
  }

  /** The open chunk grew (or moved to a new buffer); `data` must start with the bytes seen so far. */
  update(data: Uint8Array): void {
    this.data = data
  }

  /** Entries readable from the data. */
  get length(): number {
    this.split()
    return this.views.length
  }

  bytes(i: number): Uint8Array | undefined {
    if (i >= this.views.length) this.split()
    return this.views[i]
  }

  entry(i: number): Entry | undefined {
    while (this.decoded.length <= i && this.broken === null) {
      const b = this.bytes(this.decoded.length)
      if (!b) return undefined
      const d = decodeEntry(b)
      if (!d.ok) {
        this.broken = d.reason
        return undefined
      }
      this.decoded.push(d.entry)
    }
    return this.decoded[i]
  }

  hash(i: number): string | undefined {
    while (this.hashes.length <= i) {
      const b = this.bytes(this.hashes.length)
      if (!b) return undefined
      this.hashes.push(toHex(leafHash(b)))
    }
    return this.hashes[i]
  }

  private split(): void {
    const data = this.data
    while (this.offset < data.length && this.broken === null) {
      const off = this.offset
      if (off + 4 > data.length) {
        this.broken = 'truncated length prefix'
        return
      }
      const len = ((data[off]! << 24) | (data[off + 1]! << 16) | (data[off + 2]! << 8) | data[off + 3]!) >>> 0
      if (off + 4 + len > data.length) {
        this.broken = 'truncated entry'
        return
      }
      this.views.push(data.subarray(off + 4, off + 4 + len))
      this.offset = off + 4 + len
    }
  }
}
