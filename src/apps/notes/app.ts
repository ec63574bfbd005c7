/**
 * Notes: text a person writes into their own series (`note-added { text }`).
 * The simplest app: a reducer, an API, no intents, nothing sent.
 */
import { Ir3Error } from '../../core/errors.ts'
import type { JsonValue } from '../../core/json.ts'
import { defineModule } from '../../core/modules/module.ts'
import { utf8 } from '../../core/series/encoding.ts'

export interface NotesState {
  [key: string]: JsonValue
  count: number
  /** The latest note texts, newest last. */
  latest: string[]
}

export interface NotesApi {
  /** Appends a note; returns its seq. Throws ERR_BAD_ARGUMENT (not a string, empty) or ERR_TEXT_TOO_LONG. */
  add(text: string): { seq: number }
  /** The latest notes, newest last. */
  latest(): string[]
  count(): number
}

const LATEST = 8
export const MAX_NOTE_BYTES = 16 * 1024

export const notesApp = defineModule<NotesState, NotesApi>({
  name: 'notes',
  version: 1,
  description: 'Notes written into one’s own series',
  kinds: ['note-added'],
  initial: { count: 0, latest: [] },
  reduce(s, e) {
    if (e.kind !== 'note-added') return s
    const b = e.body
    const text =
      typeof b === 'object' && b !== null && !Array.isArray(b) && typeof b['text'] === 'string' ? b['text'] : ''
    const latest = s.latest.length >= LATEST ? s.latest.slice(1) : s.latest.slice()
    latest.push(text)
    return { count: s.count + 1, latest }
  },
  start(ctx) {
    return {
      add(text) {
        if (typeof text !== 'string' || text.length === 0)
          throw new Ir3Error('ERR_BAD_ARGUMENT', 'a note is a non-empty string')
        const bytes = utf8(text).length
        if (bytes > MAX_NOTE_BYTES)
          throw new Ir3Error('ERR_TEXT_TOO_LONG', `note is ${bytes} bytes, limit ${MAX_NOTE_BYTES}: nothing was added`)
        return ctx.record('note-added', { text })
      },
      latest: () => ctx.state().latest,
      count: () => ctx.state().count,
    }
  },
})
