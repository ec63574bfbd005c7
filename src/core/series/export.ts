/**
 * A series as a file: NDJSON, documented in docs/PROTOCOL.md ("Export file").
 * Line 1 is a header — format, author, public key, chunk size and the signed
 * checkpoint the file is cut at; then one line per entry, seq 0 to
 * checkpoint.size − 1, each exactly the entry's canonical bytes (canonical
 * JSON has no raw newlines). Importing rebuilds the chunks and opens the
 * series read-only, so every entry is checked against the signed checkpoint:
 * an edited file opens as damaged, with the seq and the reason.
 */
import { Ir3Error } from '../errors.ts'
import type { Clock, SignedCheckpoint, Verifier } from '../ports.ts'
import { entryText, utf8 } from './encoding.ts'
import { frameEntries } from './frames.ts'
import { openReadOnlySeries } from './read-only.ts'
import type { Reducer } from './reducers.ts'
import type { Series } from './series.ts'

export const EXPORT_FORMAT = 'ir3-series/v1'

export interface ExportHeader {
  format: typeof EXPORT_FORMAT
  author: string
  publicKey: string
  chunkSize: number
  checkpoint: SignedCheckpoint
}

const BATCH = 4096

/** The file's lines (without newlines): the header, then every entry the latest checkpoint covers. */
export async function* exportSeries(series: Series, publicKey: string): AsyncGenerator<string> {
  const checkpoint = series.checkpoint
  if (!checkpoint) throw new Ir3Error('ERR_BAD_RANGE', 'nothing to export: no checkpoint yet')
  const header: ExportHeader = {
    format: EXPORT_FORMAT,
    author: series.author,
    publicKey,
    chunkSize: series.chunkSize,
    checkpoint,
  }
  yield JSON.stringify(header)
  for (let from = 0; from < checkpoint.size; from += BATCH) {
    const entries = await series.entries(from, Math.min(checkpoint.size, from + BATCH))
    for (const e of entries) yield entryText({ seq: e.seq, t: e.t, kind: e.kind, body: e.body, prev: e.prev })
  }
}

const HEX32 = /^[0-9a-f]{32}$/
const HEX64 = /^[0-9a-f]{64}$/
const HEX128 = /^[0-9a-f]{128}$/

function parseHeader(line: string): ExportHeader {
  let h: unknown
  try {
    h = JSON.parse(line)
  } catch {
    throw new Ir3Error('ERR_NOT_JSON', 'the first line is not a JSON header')
  }
  const o = (typeof h === 'object' && h !== null ? h : {}) as Record<string, unknown>
  const cp = (typeof o['checkpoint'] === 'object' && o['checkpoint'] !== null ? o['checkpoint'] : {}) as Record<
    string,
    unknown
  >
  if (o['format'] !== EXPORT_FORMAT) throw new Ir3Error('ERR_BAD_RANGE', `not an ${EXPORT_FORMAT} file`)
  const ok =
    typeof o['author'] === 'string' &&
    HEX32.test(o['author']) &&
    typeof o['publicKey'] === 'string' &&
    HEX64.test(o['publicKey']) &&
    typeof o['chunkSize'] === 'number' &&
    Number.isSafeInteger(o['chunkSize']) &&
    o['chunkSize'] > 0 &&
    cp['author'] === o['author'] &&
    typeof cp['size'] === 'number' &&
    Number.isSafeInteger(cp['size']) &&
    cp['size'] > 0 &&
    typeof cp['root'] === 'string' &&
    HEX64.test(cp['root']) &&
    typeof cp['t'] === 'number' &&
    typeof cp['sig'] === 'string' &&
    HEX128.test(cp['sig'])
  if (!ok) throw new Ir3Error('ERR_BAD_RANGE', 'the header lacks an author, key, chunk size or signed checkpoint')
  return o as unknown as ExportHeader
}

/**
 * Opens an exported file read-only. Throws (ERR_NOT_JSON, ERR_BAD_RANGE,
 * ERR_DAMAGED) when it is not a usable export; an export whose entries do not
 * match its checkpoint opens as a damaged series with the seq and reason.
 */
export async function importSeries(
  text: string,
  deps: { verifier: Verifier; clock: Clock; reducers: readonly Reducer[] },
): Promise<{ header: ExportHeader; series: Series }> {
  const lines = text.split('\n')
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  const header = parseHeader(lines[0] ?? '')
  const C = header.chunkSize
  if ((C & (C - 1)) !== 0) throw new Ir3Error('ERR_BAD_RANGE', 'chunk size must be a power of two')
  const size = header.checkpoint.size
  const body = lines.slice(1)
  if (body.length !== size)
    throw new Ir3Error('ERR_DAMAGED', `the file has ${body.length} entries; its checkpoint covers ${size}`)
  const sealed: Uint8Array[] = []
  const n = Math.floor(size / C)
  for (let k = 0; k < n; k++) sealed.push(frameEntries(body.slice(k * C, (k + 1) * C).map(utf8)))
  const tail = frameEntries(body.slice(n * C).map(utf8))
  const series = await openReadOnlySeries(
    { author: header.author, publicKey: header.publicKey, checkpoint: header.checkpoint, sealed, tail },
    { ...deps, chunkSize: C },
  )
  return { header, series }
}
