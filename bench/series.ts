/**
 * npm run bench -- series
 *
 * In headless Chromium with an on-disk profile, through the real app:
 *  - appendPerSec: durable appends (hashing, Merkle, checkpoints, IndexedDB), N entries until flush resolves;
 *  - rawIdbPerSec: the same entries put one record each, 1000 per transaction, into a bare IndexedDB store;
 *  - ratio = appendPerSec / rawIdbPerSec;
 *  - verifyPerSec: full verification of the series;
 *  - coldStartMs: reload with a TOTAL-entry series until the node is interactive (series loaded,
 *    derived state ready, UI mounted; full verification continues in the background), median of 3;
 *  - timeTravelMs: median `state(randomSeq)` at TOTAL entries.
 * Env: BENCH_APPEND (default 200000), BENCH_TOTAL (default 1000000).
 */
import { median, report, startBench } from './browser.ts'

const APPEND = Number(process.env['BENCH_APPEND'] ?? 200_000)
const TOTAL = Number(process.env['BENCH_TOTAL'] ?? 1_000_000)

const env = await startBench()
try {
  const page = await env.context.newPage()
  await page.goto(env.url)
  await page.waitForFunction(() => window.ir3 !== undefined)

  const appendMs = await page.evaluate(async (n) => {
    const ir3 = window.ir3!
    const t0 = performance.now()
    for (let i = 0; i < n; i++) {
      ir3.append('note-added', { text: `benchmark note ${i}`, i })
      if (i % 5000 === 4999) await new Promise((r) => setTimeout(r, 0))
    }
    await ir3.flush()
    return performance.now() - t0
  }, APPEND)

  const rawMs = await page.evaluate(async (n) => {
    const ir3 = window.ir3!
    const entries = await ir3.entries(0, n)
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open(`bench-raw-${Date.now()}`, 1)
      req.onupgradeneeded = () => req.result.createObjectStore('entries', { keyPath: 'seq' })
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(req.error)
    })
    const t0 = performance.now()
    for (let i = 0; i < entries.length; i += 1000) {
      const tx = db.transaction('entries', 'readwrite')
      const store = tx.objectStore('entries')
      for (const e of entries.slice(i, i + 1000))
        store.put({ seq: e.seq, t: e.t, kind: e.kind, body: e.body, prev: e.prev, hash: e.hash })
      await new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve()
        tx.onerror = () => reject(tx.error)
      })
    }
    const ms = performance.now() - t0
    db.close()
    return ms
  }, APPEND)

  const growMs = await page.evaluate(async (n) => {
    const ir3 = window.ir3!
    const t0 = performance.now()
    for (let i = ir3.length; i < n; i++) {
      ir3.append(i % 7 === 0 ? 'note-added' : 'thing-happened', { text: `entry ${i}`, i })
      if (i % 5000 === 4999) await new Promise((r) => setTimeout(r, 0))
    }
    await ir3.flush()
    return performance.now() - t0
  }, TOTAL)

  const verify = await page.evaluate(async () => {
    const r = await window.ir3!.verify()
    return { ok: r.ok, checked: r.checked, ms: r.ms }
  })

  const cold: number[] = []
  for (let i = 0; i < 3; i++) {
    await page.reload()
    await page.waitForFunction(() => window.ir3ReadyMs !== undefined, undefined, { timeout: 120_000 })
    cold.push(await page.evaluate(() => window.ir3ReadyMs!))
    const length = await page.evaluate(() => window.ir3!.length)
    if (length < TOTAL) throw new Error(`reloaded node has ${length} entries, expected at least ${TOTAL}`)
    await page.evaluate(() => window.ir3!.verified())
  }

  const travel = await page.evaluate(async (n) => {
    const ir3 = window.ir3!
    const times: number[] = []
    for (let i = 0; i < 21; i++) {
      const seq = Math.floor(Math.random() * (n - 1))
      const t0 = performance.now()
      const s = (await ir3.state(seq)) as { view: { count: number } }
      times.push(performance.now() - t0)
      if (s.view.count !== seq + 1) throw new Error(`state(${seq}) has count ${s.view.count}`)
    }
    return times
  }, TOTAL)

  const appendPerSec = Math.round(APPEND / (appendMs / 1000))
  const rawIdbPerSec = Math.round(APPEND / (rawMs / 1000))
  const json = {
    bench: 'series',
    entries: TOTAL,
    appendN: APPEND,
    appendPerSec,
    rawIdbPerSec,
    ratio: Number((appendPerSec / rawIdbPerSec).toFixed(2)),
    growPerSec: Math.round((TOTAL - APPEND) / (growMs / 1000)),
    coldStartMs: Math.round(median(cold)),
    timeTravelMs: Number(median(travel).toFixed(1)),
    verifyPerSec: Math.round(verify.checked / (verify.ms / 1000)),
    verifyOk: verify.ok,
  }
  report(
    'series',
    [
      ['appendPerSec', appendPerSec, `durable, ${APPEND.toLocaleString('en-US')} entries (target ≥ 50,000)`],
      ['rawIdbPerSec', rawIdbPerSec, 'same entries, one record each, 1000 per transaction'],
      ['ratio', json.ratio, 'appendPerSec / rawIdbPerSec (target ≥ 5)'],
      ['growPerSec', json.growPerSec, `durable appends up to ${TOTAL.toLocaleString('en-US')}`],
      [
        'coldStartMs',
        json.coldStartMs,
        `reload → interactive at ${TOTAL.toLocaleString('en-US')} entries, median of 3 (target < 1000)`,
      ],
      ['timeTravelMs', json.timeTravelMs, 'median state(random seq) (target < 50)'],
      ['verifyPerSec', json.verifyPerSec, `full verification (${verify.ok ? 'ok' : 'FAILED'})`],
    ],
    json,
  )
} finally {
  await env.close()
}
