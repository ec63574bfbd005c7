/**
 * What a fetcher accepts of a segment torrent a holder names, checked on its
 * metadata (the info dictionary: ~1 KB, from the holder's torrent file or the
 * peers) before any file is selected, so nothing unbounded is downloaded
 * into memory. A segment torrent is `ir3-<author>-<segment>`, 256 KiB
 * pieces, and exactly `count` files `000.chunk` … in order (count ≤ 64); each
 * file at most a chunk of 256 entries of MAX_ENTRY_BYTES with their 4-byte
 * frames; the wanted files together at most `MAX_SEGMENT_FETCH_BYTES`.
 */
import type { SwarmFetch } from '../ports.ts'
import { MAX_ENTRY_BYTES } from '../series/encoding.ts'
import { DEFAULT_CHUNK_SIZE } from '../series/types.ts'
import { SEGMENT_CHUNKS } from './head.ts'

export const TORRENT_PIECE = 256 * 1024
/** The largest chunk file: a full chunk of the largest entries, framed. */
export const MAX_CHUNK_FILE_BYTES = DEFAULT_CHUNK_SIZE * (MAX_ENTRY_BYTES + 4)
/** Bytes of one segment a fetch downloads at most (the wanted files together). */
export const MAX_SEGMENT_FETCH_BYTES = 64 * 1024 * 1024
/** A holder's torrent file (base64 on the `wt` channel) is at most this long. */
export const MAX_TORRENT_FILE_BYTES = 32_000

/** A torrent's metadata as WebTorrent shows it once ready. */
export interface TorrentMeta {
  name: string
  pieceLength: number
  files: readonly { name: string; length: number }[]
}

/** Null if `meta` is the segment `req` asked for, within the limits; else why not. */
export function checkTorrentMeta(
  meta: TorrentMeta,
  req: Pick<SwarmFetch, 'author' | 'segment' | 'count' | 'files'>,
): string | null {
  if (!Number.isSafeInteger(req.count) || req.count < 1 || req.count > SEGMENT_CHUNKS) return 'bad file count asked'
  if (meta.name !== `ir3-${req.author}-${req.segment}`) return 'not the segment asked for'
  if (meta.pieceLength !== TORRENT_PIECE) return 'unexpected piece length'
  if (meta.files.length !== req.count) return `${meta.files.length} files, expected ${req.count}`
  let wanted = 0
  const want = new Set(req.files)
  for (const [i, f] of meta.files.entries()) {
    // A one-file torrent may be a single-file torrent, its file named as the torrent.
    const named = f.name === `${String(i).padStart(3, '0')}.chunk` || (req.count === 1 && f.name === meta.name)
    if (!named) return `unexpected file ${f.name.slice(0, 40)}`
    if (!Number.isSafeInteger(f.length) || f.length < 1 || f.length > MAX_CHUNK_FILE_BYTES)
      return `file ${i} of ${f.length} bytes`
    if (want.has(i)) wanted += f.length
  }
  if (wanted > MAX_SEGMENT_FETCH_BYTES) return `${wanted} bytes wanted, more than ${MAX_SEGMENT_FETCH_BYTES}`
  return null
}
