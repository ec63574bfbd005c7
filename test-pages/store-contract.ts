import { eventStoreContract } from '../test/contract/event-store-contract.ts'
import { createIdbEventStore, openIr3Db } from '../src/adapters/idb-store.ts'

interface CaseResult {
  name: string
  ok: boolean
  error?: string
}

declare global {
  interface Window {
    contractResults?: Promise<CaseResult[]>
  }
}

async function runAll(): Promise<CaseResult[]> {
  const list = document.getElementById('results')
  const results: CaseResult[] = []
  const run = Date.now().toString(36)
  let i = 0
  for (const c of eventStoreContract) {
    const db = await openIr3Db(`ir3-contract-${run}-${i++}`)
    const r: CaseResult = { name: c.name, ok: true }
    try {
      await c.run(async (id) => createIdbEventStore(db, id))
    } catch (e: unknown) {
      r.ok = false
      r.error = e instanceof Error ? e.message : String(e)
    } finally {
      db.close()
    }
    results.push(r)
    const li = document.createElement('li')
    li.textContent = `${r.ok ? 'ok' : 'FAILED'} — ${r.name}${r.error ? `: ${r.error}` : ''}`
    list?.append(li)
  }
  return results
}

window.contractResults = runAll()
