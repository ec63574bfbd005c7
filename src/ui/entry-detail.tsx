import { useEffect, useId, useState } from 'react'
import type { InclusionProof, EntryView } from '../core/series/series.ts'
import { fromHex } from '../core/series/hash.ts'
import { verifyInclusion } from '../core/series/merkle.ts'
import { countOf, errorMessage, formatCount, isoTime, localDateTime, prettyJson } from './format.ts'
import { useEntryCache, useInspector, useNode } from './inspector-context.tsx'

interface Loaded {
  seq: number
  entry: EntryView | null
  error: string | null
}

/** One entry in full, with an inclusion proof on request. */
export function EntryDetail() {
  const node = useNode()
  const cache = useEntryCache()
  const seq = useInspector((s) => s.openSeq)
  const length = useInspector((s) => s.length)
  const open = useInspector((s) => s.open)
  const [loaded, setLoaded] = useState<Loaded | null>(null)
  const id = useId()

  useEffect(() => {
    if (seq === null) return
    let current = true
    node.entries(seq, seq + 1).then(
      ([entry]) => {
        if (current) setLoaded({ seq, entry: entry ?? null, error: entry ? null : `There is no entry at seq ${seq}.` })
      },
      (e: unknown) => {
        if (current) setLoaded({ seq, entry: null, error: errorMessage(e) })
      },
    )
    return () => {
      current = false
    }
  }, [node, seq])

  const entry = seq === null ? null : loaded?.seq === seq ? loaded.entry : (cache.get(seq) ?? null)
  const error = seq !== null && loaded?.seq === seq ? loaded.error : null

  return (
    <section className="panel entry-detail" data-testid="entry-detail" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h2 id={`${id}-title`}>{seq === null ? 'Entry' : `Entry ${seq}`}</h2>
        {seq !== null && (
          <div className="button-row">
            <button type="button" className="button button-small" disabled={seq <= 0} onClick={() => open(seq - 1)}>
              ← Prev
            </button>
            <button
              type="button"
              className="button button-small"
              disabled={seq >= length - 1}
              onClick={() => open(seq + 1)}
            >
              Next →
            </button>
            <button type="button" className="button button-small" onClick={() => open(null)} aria-label="Close entry">
              Close
            </button>
          </div>
        )}
      </div>
      {seq === null ? (
        <p className="muted">
          Click an entry in the series to see it here. From the keyboard: focus the list, move with ↑ and ↓, open with
          Enter.
        </p>
      ) : error !== null ? (
        <p className="error-text">{error}</p>
      ) : entry === null ? (
        <p className="muted">Loading entry {seq}…</p>
      ) : (
        <>
          <dl className="kv">
            <MonoRow label="seq" testId="detail-seq" value={entry.seq} />
            <MonoRow label="kind" testId="detail-kind" value={entry.kind} />
            <dt>t</dt>
            <dd>
              <span className="mono" data-testid="detail-time">
                {isoTime(entry.t)}
              </span>{' '}
              <span className="muted">({localDateTime(entry.t)})</span>
            </dd>
            <MonoRow label="hash" testId="detail-hash" value={entry.hash} hash />
            <MonoRow label="prev" testId="detail-prev" value={entry.prev} hash />
            <dt>size</dt>
            <dd data-testid="detail-bytes">{countOf(entry.bytes, 'byte', 'bytes')} encoded</dd>
          </dl>
          <h3 className="subhead">Body</h3>
          <pre className="json" data-testid="detail-body">
            {prettyJson(entry.body)}
          </pre>
          <ProofBox key={entry.seq} entry={entry} />
        </>
      )}
    </section>
  )
}

type ProofResult =
  | { kind: 'proved'; proof: InclusionProof; root: string | null; verified: boolean | null }
  | { kind: 'not-durable'; durable: number }
  | { kind: 'error'; message: string }

/** Does the audit path lead from the entry's hash to the checkpoint root? */
function checkProof(proof: InclusionProof, entryHash: string, root: string): boolean {
  const leaf = fromHex(proof.leaf)
  const rootBytes = fromHex(root)
  const path = proof.path.map(fromHex)
  if (!leaf || !rootBytes || proof.leaf !== entryHash) return false
  const hashes: Uint8Array[] = []
  for (const p of path) {
    if (!p) return false
    hashes.push(p)
  }
  return verifyInclusion(proof.seq, proof.size, leaf, hashes, rootBytes)
}

function ProofBox({ entry }: { entry: EntryView }) {
  const node = useNode()
  const durable = useInspector((s) => s.durableLength)
  const [result, setResult] = useState<ProofResult | null>(null)
  const [busy, setBusy] = useState(false)

  const prove = async () => {
    if (entry.seq >= node.durableLength) {
      setResult({ kind: 'not-durable', durable: node.durableLength })
      return
    }
    // Read before asking: the proof is made against the durable size at the
    // call, which is the checkpoint's size at that moment.
    const checkpoint = node.series.checkpoint
    setBusy(true)
    try {
      const proof = await node.proof(entry.seq)
      const sameTree = checkpoint !== null && checkpoint.size === proof.size
      setResult({
        kind: 'proved',
        proof,
        root: sameTree ? checkpoint.root : null,
        verified: sameTree ? checkProof(proof, entry.hash, checkpoint.root) : null,
      })
    } catch (e: unknown) {
      setResult({ kind: 'error', message: errorMessage(e) })
    } finally {
      setBusy(false)
    }
  }

  return (
    <div className="proof">
      <div className="proof-head">
        <h3 className="subhead">Inclusion proof</h3>
        <button
          type="button"
          className="button"
          onClick={() => void prove()}
          disabled={busy}
          data-testid="prove-button"
        >
          {busy ? 'Proving…' : 'Prove'}
        </button>
      </div>
      {result === null && entry.seq >= durable && (
        <p className="muted">This entry is not on disk yet; it can be proven once a signed checkpoint covers it.</p>
      )}
      {result !== null && (
        <div className="proof-result" data-testid="proof-result" aria-live="polite">
          {result.kind === 'proved' ? (
            <>
              <p>
                Path of {countOf(result.proof.path.length, 'hash', 'hashes')} to the root of the checkpoint over{' '}
                {countOf(result.proof.size, 'entry', 'entries')}.
              </p>
              {result.verified === true && (
                <p className="ok-text">
                  ✓ Recomputed from this entry's hash, the path gives the signed root{' '}
                  <code>{result.root?.slice(0, 16)}…</code>
                </p>
              )}
              {result.verified === false && (
                <p className="error-text">✗ The path does not lead to the checkpoint's root.</p>
              )}
              {result.verified === null && (
                <p className="muted">The checkpoint moved on while proving; prove again to check against it.</p>
              )}
            </>
          ) : result.kind === 'not-durable' ? (
            <p className="warn-text">
              Entry {entry.seq} cannot be proven yet: it is not on disk ({formatCount(result.durable)} entries are). A
              proof needs a signed checkpoint that covers it.
            </p>
          ) : (
            <p className="error-text">{result.message}</p>
          )}
        </div>
      )}
    </div>
  )
}

/** A `<dt>`/`<dd>` pair of the entry's key/value list whose value is shown in monospace. */
function MonoRow({
  label,
  testId,
  value,
  hash = false,
}: {
  label: string
  testId: string
  value: string | number
  hash?: boolean
}) {
  return (
    <>
      <dt>{label}</dt>
      <dd className={hash ? 'mono hash' : 'mono'} data-testid={testId}>
        {value}
      </dd>
    </>
  )
}
