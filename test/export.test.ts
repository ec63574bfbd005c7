/** Export to NDJSON and import back: the same series, verified; an edited file opens as damaged with the seq. */
import { describe, expect, it } from 'vitest'
import { createNode, builtInReducers } from '../src/core/node.ts'
import { createManualClock, createSeededRng } from '../src/core/testing/manual-clock.ts'
import { createMemoryEventStore } from '../src/core/testing/memory-store.ts'
import { exportSeries, importSeries } from '../src/core/series/export.ts'
import { seededSigner, syncVerifier } from './support/sim.ts'

async function setup(entries: number) {
  const clock = createManualClock()
  const rng = createSeededRng(7)
  const node = await createNode({
    store: createMemoryEventStore(),
    signer: seededSigner(rng),
    verifier: syncVerifier(),
    clock,
    rng,
    chunkSize: 16,
    snapshotEvery: 64,
  })
  for (let i = 0; i < entries; i++) node.append('note-added', { text: `line ${i}\nwith a newline and "quotes"` })
  await node.flush()
  const lines: string[] = []
  for await (const l of exportSeries(node.series, node.publicKey)) lines.push(l)
  return { node, clock, text: lines.join('\n') + '\n' }
}

describe('export and import', () => {
  it('round-trips: same length, verified, same derived state and time travel', async () => {
    const { node, clock, text } = await setup(16 * 5 + 3)
    const { header, series } = await importSeries(text, { verifier: syncVerifier(), clock, reducers: builtInReducers })
    expect(header.author).toBe(node.id)
    expect(series.length).toBe(node.length)
    expect((await series.verified).ok).toBe(true)
    expect(series.status).toBe('ok')
    expect(await series.state()).toEqual(await node.state())
    expect(await series.state(40)).toEqual(await node.state(40))
    expect(() => series.append('note-added', { text: 'no' })).toThrow(/ERR_READ_ONLY/)
  })

  it('an edited entry opens as damaged, and verification says where', async () => {
    const { clock, text } = await setup(16 * 3 + 2)
    const lines = text.split('\n')
    lines[1 + 20] = lines[1 + 20]!.replace('line 20', 'line 2O')
    const { series } = await importSeries(lines.join('\n'), {
      verifier: syncVerifier(),
      clock,
      reducers: builtInReducers,
    })
    expect(series.status).toBe('damaged')
    const report = await series.verify()
    expect(report.ok).toBe(false)
    expect(report.problems.some((p) => p.seq === 20 || p.seq === 21)).toBe(true)
  })

  it('rejects what is not an export: no header, wrong format, missing entries', async () => {
    const { clock, text } = await setup(20)
    const deps = { verifier: syncVerifier(), clock, reducers: builtInReducers }
    await expect(importSeries('hello\n', deps)).rejects.toThrow(/ERR_NOT_JSON/)
    await expect(importSeries('{"format":"other"}\n', deps)).rejects.toThrow(/ERR_BAD_RANGE/)
    const lines = text.split('\n')
    await expect(importSeries(lines.slice(0, 10).join('\n'), deps)).rejects.toThrow(/ERR_DAMAGED/)
  })
})
