/**
 * Chunk data framing: entries concatenated, each preceded by its length as a
 * 4-byte big-endian unsigned integer. The framed bytes of a sealed chunk are
 * what is stored, seeded and fetched.
 */

/** Concatenates entries with 4-byte big-endian length prefixes. */
export function frameEntries(entries: readonly Uint8Array[]): Uint8Array {
  let total = 0
  for (const e of entries) total += 4 + e.length
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  let off = 0
  for (const e of entries) {
    view.setUint32(off, e.length)
    out.set(e, off + 4)
    off += 4 + e.length
  }
  return out
}

export type UnframeResult = { ok: true; entries: Uint8Array[] } | { ok: false; entries: Uint8Array[]; reason: string }

/** Splits framed data; on a bad frame returns the entries read so far and why it stopped. */
export function unframeEntries(data: Uint8Array, maxEntries = Number.MAX_SAFE_INTEGER): UnframeResult {
  const entries: Uint8Array[] = []
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  let off = 0
  while (off < data.length) {
    if (entries.length >= maxEntries) return { ok: false, entries, reason: 'more entries than declared' }
    if (off + 4 > data.length) return { ok: false, entries, reason: 'truncated length prefix' }
    const len = view.getUint32(off)
    if (off + 4 + len > data.length) return { ok: false, entries, reason: 'truncated entry' }
    entries.push(data.subarray(off + 4, off + 4 + len))
    off += 4 + len
  }
  return { ok: true, entries }
}
