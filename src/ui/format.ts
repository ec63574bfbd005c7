/**
 * Formatting shared by the panels. Everything here returns plain text.
 *
 * Counts and sizes are grouped ("1,234 entries"); a seq is an identifier and
 * is printed as it is ("seq 1234"), so it reads the same as in the console
 * API, in `data-seq` and in the problems the core reports.
 */
import type { JsonValue } from '../core/json.ts'

export function formatCount(n: number): string {
  return n.toLocaleString('en-US')
}

/** `n` followed by the noun, singular or plural: "1 entry", "1,234 entries". */
export function countOf(n: number, one: string, many: string): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

export function isoTime(t: number): string {
  const d = new Date(t)
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString()
}

const clock = new Intl.DateTimeFormat('en-US', {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
})
const dateTime = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'medium', hourCycle: 'h23' })

/** Local wall-clock time, e.g. "14:03:59". */
export function clockTime(t: number): string {
  const d = new Date(t)
  return Number.isNaN(d.getTime()) ? '—' : clock.format(d)
}

/** Local date and time, e.g. "Nov 22, 2025, 14:03:59". */
export function localDateTime(t: number): string {
  const d = new Date(t)
  return Number.isNaN(d.getTime()) ? '—' : dateTime.format(d)
}

const PREVIEW_CHARS = 160
const previews = new WeakMap<object, string>()

/** Compact JSON text of an entry body, cut to a row's worth. Cached per body object. */
export function bodyPreview(body: JsonValue): string {
  if (typeof body !== 'object' || body === null) return JSON.stringify(body)
  const cached = previews.get(body)
  if (cached !== undefined) return cached
  const text = JSON.stringify(body)
  const preview = text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS - 1)}…` : text
  previews.set(body, preview)
  return preview
}

export function prettyJson(body: JsonValue): string {
  return JSON.stringify(body, null, 2)
}

/** A byte count in B, KB or MB (binary units, one decimal): "2.4 MB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${formatCount(Math.round(n))} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`
  return `${formatCount(Math.round((n / (1024 * 1024)) * 10) / 10)} MB`
}
