/**
 * The open chunk: the entries after the last sealed chunk, encoded straight
 * into one growing buffer of framed entries (no per-entry buffer), with the
 * Merkle frontier over their leaves. When it holds C entries it is sealed:
 * its data and root become immutable and a new open chunk starts.
 */
import { Ir3Error } from '../errors.ts'
import { ChunkView } from './chunk-view.ts'
import { entryText, MAX_ENTRY_BYTES, utf8Into, type Entry } from './encoding.ts'
import { MerkleFrontier } from './merkle.ts'

const BUFFER_BYTES = 64 * 1024

/** A chunk sealed in memory that may not be durable yet. */
export interface PendingChunk {
  view: ChunkView
  root: Uint8Array
  /** Framed entries, as stored. */
  data: Uint8Array
}

export class OpenChunk {
  /** Its chunk index. */
  index = 0
  /** Entries in it. */
  count = 0
  /** Over its entries' leaves; with the sealed chunks' frontier it is the series' frontier (see PROTOCOL.md). */
  frontier = new MerkleFrontier()
  /** Grown by copying; views into an outgrown buffer stay valid since entries never change. */
  private buf = new Uint8Array(BUFFER_BYTES)
  private used = 0
  private current = new ChunkView(new Uint8Array(0))

  /** Encodes `entry` behind its length prefix and returns its bytes; throws before changing anything on bad input. */
  encode(entry: Entry): Uint8Array {
    const text = entryText(entry)
    if (text.length > MAX_ENTRY_BYTES)
      throw new Ir3Error('ERR_ENTRY_TOO_LARGE', `entry is over ${MAX_ENTRY_BYTES} bytes`)
    const at = this.used
    let written = utf8Into(text, this.buf, at + 4)
    if (written < 0) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, at + 4 + text.length * 3))
      grown.set(this.buf.subarray(0, at))
      this.buf = grown
      written = utf8Into(text, this.buf, at + 4)
    }
    if (written > MAX_ENTRY_BYTES) {
      throw new Ir3Error('ERR_ENTRY_TOO_LARGE', `entry is ${written} bytes, limit ${MAX_ENTRY_BYTES}`)
    }
    const buf = this.buf
    buf[at] = written >>> 24
    buf[at + 1] = written >>> 16
    buf[at + 2] = written >>> 8
    buf[at + 3] = written
    this.used = at + 4 + written
    return buf.subarray(at + 4, at + 4 + written)
  }

  /** Counts the entry just encoded, by its leaf hash. */
  add(leaf: Uint8Array): void {
    this.frontier.push(leaf)
    this.count++
  }

  /** Seals this chunk and opens the next one. The returned view keeps what was decoded so far. */
  seal(): PendingChunk {
    const root = this.frontier.root()
    this.frontier = new MerkleFrontier()
    const data = this.buf.slice(0, this.used)
    this.buf = new Uint8Array(BUFFER_BYTES)
    this.used = 0
    this.current.update(data)
    const sealed = { view: this.current, root, data }
    this.current = new ChunkView(new Uint8Array(0))
    this.count = 0
    this.index++
    return sealed
  }

  /** The entries so far, as one view that lives as long as the chunk is open. */
  view(): ChunkView {
    this.current.update(this.buf.subarray(0, this.used))
    return this.current
  }

  /** A copy of the framed entries so far, for a commit. */
  copy(): Uint8Array {
    return this.buf.slice(0, this.used)
  }

  /**
   * Takes over the stored open chunk: `framed` are its entries up to the ones
   * that checked out, `leaves` theirs; `data` is the stored record's data.
   */
  restore(data: Uint8Array | undefined, framed: readonly Uint8Array[], leaves: readonly Uint8Array[]): void {
    for (const leaf of leaves) this.frontier.push(leaf)
    this.count = leaves.length
    let used = 0
    for (let i = 0; i < this.count; i++) used += 4 + framed[i]!.length
    if (data) {
      this.buf = new Uint8Array(Math.max(BUFFER_BYTES, used * 2))
      this.buf.set(data.subarray(0, used))
      this.used = used
    }
  }
}

/** The frontier of the whole series: the sealed chunks' roots' peaks, then the open chunk's. */
export function seriesFrontier(size: number, sealed: MerkleFrontier, open: OpenChunk): MerkleFrontier {
  return MerkleFrontier.from(size, [...sealed.peaks(), ...open.frontier.peaks()])
}
