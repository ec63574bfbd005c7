/**
 * Export this node's series as an NDJSON file (docs/PROTOCOL.md, "Export
 * file"), and import one to verify and inspect it read-only. An imported
 * file is checked entry by entry against its signed checkpoint: an edited
 * file opens as damaged, with the seq and the reason.
 */
import { useEffect, useId, useRef, useState, type ChangeEvent } from 'react'
import type { OpenedSeries } from '../core/chunks/service.ts'
import { OpenedResult } from './chunks-panel.tsx'
import { errorMessage, formatBytes } from './format.ts'
import { useInspector, useNode } from './inspector-context.tsx'

/** Files larger than this are refused before reading (a tab's memory is the limit). */
const MAX_FILE_BYTES = 512 * 1024 * 1024

export function TransferPanel() {
  const node = useNode()
  const checkpoint = useInspector((s) => s.checkpoint)
  const id = useId()
  const [exporting, setExporting] = useState(false)
  const [exported, setExported] = useState<{ name: string; bytes: number } | null>(null)
  const [importing, setImporting] = useState(false)
  const [opened, setOpened] = useState<(OpenedSeries & { file: string }) | null>(null)
  const [error, setError] = useState<string | null>(null)
  const openedRef = useRef<OpenedSeries | null>(null)

  useEffect(
    () => () => {
      openedRef.current?.series.close()
    },
    [],
  )

  const doExport = async () => {
    setExporting(true)
    setError(null)
    try {
      const parts: string[] = []
      for await (const line of node.exportSeries()) parts.push(line + '\n')
      const blob = new Blob(parts, { type: 'application/x-ndjson' })
      const name = `ir3-${node.name}-${node.series.checkpoint?.size ?? 0}.ndjson`
      const url = URL.createObjectURL(blob)
      const a = document.createElement('a')
      a.href = url
      a.download = name
      document.body.append(a)
      a.click()
      a.remove()
      setTimeout(() => URL.revokeObjectURL(url), 60_000)
      setExported({ name, bytes: blob.size })
    } catch (e: unknown) {
      setError(errorMessage(e))
    } finally {
      setExporting(false)
    }
  }

  const doImport = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0]
    e.target.value = ''
    if (!file) return
    setError(null)
    if (file.size > MAX_FILE_BYTES) {
      setError(`${file.name} is ${formatBytes(file.size)}; the limit is ${formatBytes(MAX_FILE_BYTES)}`)
      return
    }
    setImporting(true)
    try {
      const { header, series } = await node.importSeries(await file.text())
      openedRef.current?.series.close()
      const next = { author: header.author, series, from: 'file', file: file.name }
      openedRef.current = next
      setOpened(next)
    } catch (err: unknown) {
      setError(`${file.name}: ${errorMessage(err)}`)
    } finally {
      setImporting(false)
    }
  }

  return (
    <section className="panel transfer-panel" data-testid="transfer-panel" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h2 id={`${id}-title`}>Export and import</h2>
      </div>
      <p className="muted small">
        A series travels as an NDJSON file: a header with the signed checkpoint, then one canonical entry per line. An
        imported file is verified against that checkpoint and opened read-only.
      </p>
      <div className="transfer-actions">
        <button
          type="button"
          className="button button-primary"
          onClick={() => void doExport()}
          disabled={exporting || checkpoint === null}
        >
          {exporting ? 'Exporting…' : 'Export series'}
        </button>
        <label className="button transfer-import">
          {importing ? 'Importing…' : 'Import a series file'}
          <input
            type="file"
            accept=".ndjson,application/x-ndjson,application/json,text/plain"
            onChange={(e) => void doImport(e)}
            disabled={importing}
            aria-label="Series file to import"
            data-testid="import-input"
            className="visually-hidden"
          />
        </label>
      </div>
      {exported && (
        <p className="muted small" data-testid="export-done">
          Saved {exported.name} ({formatBytes(exported.bytes)}).
        </p>
      )}
      {error && (
        <p className="error-text" role="alert" data-testid="transfer-error">
          {error}
        </p>
      )}
      {opened && (
        <div data-testid="imported-series" data-file={opened.file}>
          <p className="muted small">Imported from {opened.file}:</p>
          <OpenedResult opened={opened} />
        </div>
      )}
    </section>
  )
}
