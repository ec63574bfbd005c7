/**
 * The series, one row per entry, virtualized so it stays smooth at a million
 * entries: only the rows in view (plus overscan) exist, and their entries are
 * loaded lazily in blocks through the entry cache.
 *
 * Two things the virtualizer does not do for us:
 * - Very tall lists. Browsers cap an element's height (Firefox near 17.9M px,
 *   Chromium near 33.5M px), so past MAX_SCROLL_PX the scroll area stops
 *   growing and scroll positions are scaled: the virtualizer sees "virtual"
 *   offsets (scrollTop · k) and the rows are shifted to match.
 * - Frequent count changes. The virtualizer rebuilds its measurements on
 *   every count change (about 20 ms at 1M rows), so while the series grows
 *   fast, big lists take the new count a few times a second, not every frame.
 */
import { useVirtualizer, type Virtualizer } from '@tanstack/react-virtual'
import {
  memo,
  useCallback,
  useEffect,
  useId,
  useLayoutEffect,
  useRef,
  useState,
  useSyncExternalStore,
  type FormEvent,
  type KeyboardEvent,
  type ReactNode,
} from 'react'
import type { EntryView } from '../core/series/series.ts'
import { readView } from './derived.ts'
import type { EntryState } from './entry-cache.ts'
import { bodyPreview, clockTime, countOf, formatCount, isoTime } from './format.ts'
import { useEntryCache, useInspector, useNode } from './inspector-context.tsx'
import { createKindScan, type KindScan, type KindScanSnapshot } from './kind-scan.ts'

const ROW = 32
const OVERSCAN = 12
const MAX_SCROLL_PX = 15_000_000
const rowSize = () => ROW

interface Geometry {
  /** Height the rows would need. */
  virtual: number
  /** Height of the scroll area. */
  real: number
  /** Virtual pixels per real pixel of scrolling (1 unless the list is taller than MAX_SCROLL_PX). */
  k: number
}

function geometry(count: number, viewport: number): Geometry {
  const virtual = count * ROW
  const real = Math.min(virtual, MAX_SCROLL_PX)
  const k = real < virtual && real > viewport ? (virtual - viewport) / (real - viewport) : 1
  return { virtual, real, k }
}

/** Index of the first of `a[0..n)` (ascending) that is >= x; n if none. */
function lowerBound(a: readonly number[], n: number, x: number): number {
  let lo = 0
  let hi = n
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((a[mid] ?? Infinity) < x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** `count`, but for big lists taking changes at most every count/5000 ms (1M rows: 5 times a second). */
function useSettledCount(count: number): number {
  const [settled, setSettled] = useState(count)
  const last = useRef(0)
  useEffect(() => {
    if (count === settled) return
    const wait = last.current + Math.min(500, count / 5000) - performance.now()
    const apply = () => {
      last.current = performance.now()
      setSettled(count)
    }
    if (count < settled || wait <= 0) {
      apply()
      return
    }
    const t = setTimeout(apply, wait)
    return () => clearTimeout(t)
  }, [count, settled])
  return settled
}

const noSubscribe = () => () => undefined
const noSnapshot = () => null

/** The series panel; `append` (the append form) is shown above the list. */
export function SeriesList({ append }: { append?: ReactNode }) {
  const node = useNode()
  const cache = useEntryCache()
  const length = useInspector((s) => s.length)
  const live = useInspector((s) => s.live)
  const selectedSeq = useInspector((s) => s.selectedSeq)
  const select = useInspector((s) => s.select)
  const open = useInspector((s) => s.open)
  // Re-render when blocks of entries arrive.
  useSyncExternalStore(cache.subscribe, cache.version)
  const [follow, setFollow] = useState(true)
  const [kind, setKind] = useState('')
  const [textInput, setTextInput] = useState('')
  const [text, setText] = useState('')
  const [scan, setScan] = useState<KindScan | null>(null)
  const id = useId()

  // The body search starts once typing pauses.
  useEffect(() => {
    const t = setTimeout(() => setText(textInput.trim().toLowerCase()), 250)
    return () => clearTimeout(t)
  }, [textInput])
  useEffect(() => {
    if (kind === '' && text === '') {
      setScan(null)
      return
    }
    const s = createKindScan(node, kind, text)
    setScan(s)
    return () => s.dispose()
  }, [node, kind, text])
  const scanned: KindScanSnapshot | null = useSyncExternalStore(
    scan ? scan.subscribe : noSubscribe,
    scan ? scan.snapshot : noSnapshot,
  )
  const filtering = kind !== '' || text !== ''
  const filter = filtering && scanned?.kind === kind && scanned.text === text ? scanned : null
  const count = useSettledCount(filtering ? (filter?.count ?? 0) : length)
  const matches = filter?.matches

  const seqAt = useCallback((index: number) => (matches ? (matches[index] ?? -1) : index), [matches])
  const indexOf = (seq: number) => Math.min(matches ? lowerBound(matches, count, seq) : seq, count - 1)

  const scrollRef = useRef<HTMLDivElement>(null)
  const rowsRef = useRef<HTMLDivElement>(null)
  const countRef = useRef(count)
  const reportRef = useRef<(() => void) | null>(null)
  /** The scrollTop we last wrote: its scroll event is ours, not the user's. */
  const expectedTopRef = useRef(-1)
  const lastTopRef = useRef(0)
  /** Virtual offset of the view, kept when the scale changes under it. */
  const anchorRef = useRef(0)
  /** A finger or the scrollbar is down: leave the scroll position alone. */
  const interactingRef = useRef(false)

  useLayoutEffect(() => {
    countRef.current = count
  }, [count])

  const scaleOf = (el: HTMLElement) => geometry(countRef.current, el.clientHeight).k

  /** Moves the rows to where the scaled offset puts them; only needed when k > 1. */
  const placeRows = (el: HTMLElement) => {
    const rows = rowsRef.current
    const k = scaleOf(el)
    if (!rows || k === 1) return
    rows.style.transform = `translateY(${Number(rows.dataset['base'] ?? 0) - el.scrollTop * (k - 1)}px)`
  }

  const observeOffset = (
    instance: Virtualizer<HTMLDivElement, HTMLDivElement>,
    cb: (offset: number, isScrolling: boolean) => void,
  ) => {
    const el = instance.scrollElement
    if (!el) return
    let idle: ReturnType<typeof setTimeout> | undefined
    const report = (scrolling: boolean) => cb(el.scrollTop * scaleOf(el), scrolling)
    const onScroll = () => {
      report(true)
      clearTimeout(idle)
      idle = setTimeout(() => report(false), 150)
      placeRows(el)
    }
    reportRef.current = () => report(false)
    el.addEventListener('scroll', onScroll, { passive: true })
    return () => {
      el.removeEventListener('scroll', onScroll)
      clearTimeout(idle)
      reportRef.current = null
    }
  }

  const virtualizer = useVirtualizer<HTMLDivElement, HTMLDivElement>({
    count,
    getScrollElement: () => scrollRef.current,
    estimateSize: rowSize,
    overscan: OVERSCAN,
    observeElementOffset: observeOffset,
    scrollToFn: (offset, { adjustments }, instance) => {
      const el = instance.scrollElement
      if (el) el.scrollTop = (offset + (adjustments ?? 0)) / scaleOf(el)
    },
  })

  const writeTop = (el: HTMLElement, top: number) => {
    el.scrollTop = top
    expectedTopRef.current = el.scrollTop
  }

  /** Scrolls so that row `index` is in view (`auto`: only if it is not), or centred. */
  const reveal = (index: number, align: 'auto' | 'center') => {
    const el = scrollRef.current
    if (!el || index < 0) return
    const g = geometry(countRef.current, el.clientHeight)
    const viewport = el.clientHeight
    const view = el.scrollTop * g.k
    const top = index * ROW
    let v: number
    if (align === 'center') v = top - (viewport - ROW) / 2
    else if (top < view) v = top
    else if (top + ROW > view + viewport) v = top + ROW - viewport
    else return
    v = Math.max(0, Math.min(v, g.virtual - viewport))
    anchorRef.current = v
    writeTop(el, v / g.k)
    reportRef.current?.()
  }

  // Keep the newest entry in view while following; otherwise keep the view
  // where it is when a scaled list's scale changes under it.
  useLayoutEffect(() => {
    const el = scrollRef.current
    if (!el || interactingRef.current) return
    if (follow) writeTop(el, el.scrollHeight)
    else if (scaleOf(el) !== 1) writeTop(el, anchorRef.current / scaleOf(el))
    reportRef.current?.()
  }, [count, follow])

  useEffect(() => {
    const el = scrollRef.current
    if (el && !follow) {
      anchorRef.current = 0
      writeTop(el, 0)
    }
  }, [kind])

  const items = virtualizer.getVirtualItems()
  const first = items[0]?.index ?? -1
  const last = items[items.length - 1]?.index ?? -1

  useEffect(() => {
    if (first < 0) return
    if (matches) cache.ensureSeqs(matches.slice(first, last + 1))
    else cache.ensureRange(first, last + 1)
  }, [cache, first, last, matches, length, count])

  const onScroll = () => {
    const el = scrollRef.current
    if (!el) return
    const top = el.scrollTop
    const ours = Math.abs(top - expectedTopRef.current) < 1
    const atBottom = top + el.clientHeight >= el.scrollHeight - 2
    if (!ours && follow && top < lastTopRef.current - 1 && !atBottom) setFollow(false)
    lastTopRef.current = top
    anchorRef.current = top * scaleOf(el)
  }

  const pick = useCallback(
    (seq: number) => {
      open(seq)
      setFollow(false)
      scrollRef.current?.focus({ preventScroll: true })
    },
    [open],
  )

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (count === 0) return
    const el = scrollRef.current
    const page = Math.max(1, Math.floor((el?.clientHeight ?? ROW) / ROW) - 1)
    const current = selectedSeq === null ? -1 : indexOf(selectedSeq)
    const viewTop = el ? el.scrollTop * scaleOf(el) : 0
    const firstInView = Math.min(count - 1, Math.ceil(viewTop / ROW))
    const lastInView = Math.max(0, Math.min(count - 1, Math.floor((viewTop + (el?.clientHeight ?? 0)) / ROW) - 1))
    let next: number
    switch (e.key) {
      case 'ArrowDown':
        next = current < 0 ? firstInView : current + 1
        break
      case 'ArrowUp':
        next = current < 0 ? lastInView : current - 1
        break
      case 'PageDown':
        next = (current < 0 ? firstInView : current) + page
        break
      case 'PageUp':
        next = (current < 0 ? firstInView : current) - page
        break
      case 'Home':
        next = 0
        break
      case 'End':
        next = count - 1
        break
      case 'Enter':
      case ' ':
        if (selectedSeq !== null) open(selectedSeq)
        e.preventDefault()
        return
      default:
        return
    }
    e.preventDefault()
    next = Math.max(0, Math.min(count - 1, next))
    select(seqAt(next))
    setFollow(e.key === 'End')
    reveal(next, 'auto')
  }

  const [jump, setJump] = useState('')
  const onJump = (e: FormEvent) => {
    e.preventDefault()
    const seq = Number(jump)
    if (jump.trim() === '' || !Number.isInteger(seq) || length === 0) return
    const target = Math.max(0, Math.min(length - 1, seq))
    setFollow(false)
    open(target)
    reveal(indexOf(target), 'center')
  }

  const followNewest = () => {
    setFollow(true)
    scrollRef.current?.focus({ preventScroll: true })
  }

  const kinds = readView(live).byKind
  const kindTotal = kinds.find(([k]) => k === kind)?.[1] ?? 0
  const el = scrollRef.current
  const g = geometry(count, el?.clientHeight ?? 0)
  const shift = el && g.k !== 1 ? el.scrollTop * (g.k - 1) : 0
  const base = items[0]?.start ?? 0
  const selectedIndex = selectedSeq === null || count === 0 ? -1 : indexOf(selectedSeq)
  const activeId =
    selectedSeq !== null && selectedIndex >= first && selectedIndex <= last && seqAt(selectedIndex) === selectedSeq
      ? `${id}-row-${selectedSeq}`
      : undefined

  return (
    <section className="panel series-panel" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h2 id={`${id}-title`}>Series</h2>
        <p className="panel-hint">oldest first · click a row to inspect it</p>
      </div>
      {append}
      <div className="series-toolbar">
        <label className="toggle">
          <input
            type="checkbox"
            checked={follow}
            onChange={(e) => setFollow(e.target.checked)}
            data-testid="follow-toggle"
          />
          <span>Follow newest</span>
        </label>
        <label className="field">
          <span className="field-label">Kind</span>
          <select className="input" value={kind} onChange={(e) => setKind(e.target.value)} data-testid="kind-filter">
            <option value="">All kinds</option>
            {kinds.map(([k, n]) => (
              <option key={k} value={k}>
                {k} ({formatCount(n)})
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span className="field-label">Search</span>
          <input
            className="input input-search"
            type="search"
            placeholder="text in bodies"
            value={textInput}
            onChange={(e) => setTextInput(e.target.value)}
            aria-label="Search entry bodies"
            data-testid="body-search"
          />
        </label>
        <form className="field jump" onSubmit={onJump}>
          <label className="field-label" htmlFor={`${id}-jump`}>
            Jump to seq
          </label>
          <input
            id={`${id}-jump`}
            className="input input-seq"
            type="number"
            inputMode="numeric"
            min={0}
            max={Math.max(0, length - 1)}
            step={1}
            value={jump}
            onChange={(e) => setJump(e.target.value)}
            placeholder="seq"
            data-testid="jump-input"
          />
          <button type="submit" className="button" data-testid="jump-button" disabled={length === 0}>
            Go
          </button>
        </form>
      </div>

      <div className="series-table">
        <div className="series-columns" aria-hidden="true">
          <span className="c-seq">seq</span>
          <span className="c-kind">kind</span>
          <span className="c-body">body</span>
          <span className="c-time">time</span>
          <span className="c-hash">hash</span>
        </div>
        <div
          ref={scrollRef}
          className="series-viewport"
          role="listbox"
          tabIndex={0}
          aria-label={
            filtering ? `Entries${kind ? ` of kind ${kind}` : ''}${text ? ` containing “${text}”` : ''}` : 'Entries'
          }
          aria-activedescendant={activeId}
          data-testid="series-list"
          data-count={count}
          onKeyDown={onKeyDown}
          onScroll={onScroll}
          onWheel={(e) => {
            if (e.deltaY < 0 && follow) setFollow(false)
          }}
          onPointerDown={(e) => {
            // A press on the scroll area itself (not on a row) is the scrollbar.
            if (e.target === e.currentTarget) interactingRef.current = true
          }}
          onPointerUp={() => (interactingRef.current = false)}
          onTouchStart={() => (interactingRef.current = true)}
          onTouchEnd={() => (interactingRef.current = false)}
          onTouchCancel={() => (interactingRef.current = false)}
        >
          <div className="series-spacer" role="presentation" style={{ height: g.real }}>
            <div
              ref={rowsRef}
              className="series-rows"
              role="presentation"
              data-base={base}
              style={{ transform: `translateY(${base - shift}px)` }}
            >
              {items.map((item) => {
                const seq = seqAt(item.index)
                return (
                  <EntryRow
                    key={item.key}
                    rowId={`${id}-row-${seq}`}
                    seq={seq}
                    position={item.index + 1}
                    setSize={count}
                    top={item.start - base}
                    entry={cache.get(seq)}
                    state={cache.state(seq)}
                    selected={seq === selectedSeq}
                    onPick={pick}
                  />
                )
              })}
            </div>
          </div>
          {count === 0 && (
            <p className="series-empty">
              {filtering
                ? filter?.caughtUp
                  ? `No ${kind ? `${kind} ` : ''}entries${text ? ` containing “${text}”` : ''} in the range searched.`
                  : 'Searching…'
                : 'No entries yet. Append a note above, or call window.ir3.append(kind, body) from the console.'}
            </p>
          )}
        </div>
      </div>
      <div className="series-foot">
        <p className="muted" data-testid="series-summary">
          {filtering && filter ? (
            <FilterSummary filter={filter} total={kind ? kindTotal : length} />
          ) : (
            countOf(count, 'entry', 'entries')
          )}
        </p>
        {!follow && count > 0 && (
          <button type="button" className="button button-small" onClick={followNewest} data-testid="follow-newest">
            ↓ Newest
          </button>
        )}
      </div>
    </section>
  )
}

function FilterSummary({ filter, total }: { filter: KindScanSnapshot; total: number }) {
  const read = filter.scannedTo - filter.from
  return (
    <>
      {formatCount(filter.count)} of{' '}
      {countOf(total, `${filter.kind || 'all'} entry`, `${filter.kind ? `${filter.kind} ` : ''}entries`)}
      {filter.text !== '' && <> containing “{filter.text}”</>}
      {filter.error !== null ? (
        <span className="error-text"> · search stopped: {filter.error}</span>
      ) : filter.caughtUp ? (
        filter.from > 0 && <> · entries before seq {filter.from} were not searched</>
      ) : (
        <>
          {' '}
          · searching from seq {filter.from}… {formatCount(read)} read
        </>
      )}
    </>
  )
}

interface RowProps {
  rowId: string
  seq: number
  position: number
  setSize: number
  top: number
  entry: EntryView | undefined
  state: EntryState
  selected: boolean
  onPick(seq: number): void
}

const EntryRow = memo(function EntryRow({
  rowId,
  seq,
  position,
  setSize,
  top,
  entry,
  state,
  selected,
  onPick,
}: RowProps) {
  return (
    <div
      id={rowId}
      role="option"
      aria-selected={selected}
      aria-posinset={position}
      aria-setsize={setSize}
      className={selected ? 'entry-row is-selected' : 'entry-row'}
      data-testid="entry-row"
      data-seq={seq}
      style={{ transform: `translateY(${top}px)` }}
      onClick={() => onPick(seq)}
    >
      <span className="c-seq">{seq}</span>
      {entry ? (
        <>
          <span className="c-kind" title={entry.kind}>
            {entry.kind}
          </span>
          <span className="c-body">{bodyPreview(entry.body)}</span>
          <time className="c-time" dateTime={isoTime(entry.t)} title={isoTime(entry.t)}>
            {clockTime(entry.t)}
          </time>
          <span className="c-hash" title={entry.hash}>
            {entry.hash.slice(0, 8)}
          </span>
        </>
      ) : (
        <span className="c-placeholder">{state === 'missing' ? 'unavailable (could not be read)' : 'loading…'}</span>
      )}
    </div>
  )
})
