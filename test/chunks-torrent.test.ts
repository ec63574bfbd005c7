/**
 * The WebTorrent adapter's check of a holder's torrent metadata, before any
 * file is selected for download: the segment asked for, its file count, each
 * file's size and the wanted bytes bounded.
 */
import { describe, expect, it } from 'vitest'
import {
  checkTorrentMeta,
  MAX_CHUNK_FILE_BYTES,
  MAX_SEGMENT_FETCH_BYTES,
  TORRENT_PIECE,
} from '../src/core/chunks/torrent-limits.ts'

const author = 'a'.repeat(32)
const req = { author, segment: 2, count: 3, files: [0, 1, 2] }
const files = (n: number, length = 40_000) =>
  Array.from({ length: n }, (_, i) => ({ name: `${String(i).padStart(3, '0')}.chunk`, length }))
const meta = { name: `ir3-${author}-2`, pieceLength: TORRENT_PIECE, files: files(3) }

describe('segment torrent metadata', () => {
  it('accepts the segment asked for', () => {
    expect(checkTorrentMeta(meta, req)).toBeNull()
    expect(
      checkTorrentMeta({ ...meta, files: [{ name: meta.name, length: 10 }] }, { ...req, count: 1, files: [0] }),
    ).toBeNull()
  })

  it('refuses another segment, another piece length, or a file count other than asked', () => {
    expect(checkTorrentMeta({ ...meta, name: `ir3-${author}-3` }, req)).toMatch(/not the segment/)
    expect(checkTorrentMeta({ ...meta, pieceLength: 16 * 1024 }, req)).toMatch(/piece length/)
    expect(checkTorrentMeta({ ...meta, files: files(10_000) }, req)).toMatch(/10000 files, expected 3/)
    expect(checkTorrentMeta({ ...meta, files: files(2) }, req)).toMatch(/2 files/)
    expect(checkTorrentMeta(meta, { ...req, count: 65 })).toMatch(/file count/)
    expect(checkTorrentMeta({ ...meta, files: [...files(2), { name: 'evil.bin', length: 5 }] }, req)).toMatch(
      /unexpected file/,
    )
  })

  it('refuses a file larger than any chunk, and more wanted bytes than a fetch may hold', () => {
    const huge = files(3)
    huge[1] = { name: '001.chunk', length: MAX_CHUNK_FILE_BYTES + 1 }
    expect(checkTorrentMeta({ ...meta, files: huge }, req)).toMatch(/file 1 of/)
    const big = { ...meta, files: files(64, MAX_CHUNK_FILE_BYTES) }
    const all = { ...req, count: 64, files: Array.from({ length: 64 }, (_, i) => i) }
    expect(checkTorrentMeta(big, all)).toMatch(/bytes wanted/)
    // Only the wanted files count: a few large chunks of a big segment are fine.
    expect(checkTorrentMeta(big, { ...all, files: [0, 1] })).toBeNull()
    expect(2 * MAX_CHUNK_FILE_BYTES).toBeLessThanOrEqual(MAX_SEGMENT_FETCH_BYTES)
  })
})
