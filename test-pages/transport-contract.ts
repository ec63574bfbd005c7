import { transportContract } from '../test/contract/transport-contract.ts'
import { createSimplePeerTransport } from '../src/adapters/simple-peer-transport.ts'

interface CaseResult {
  name: string
  ok: boolean
  error?: string
  ms: number
}

declare global {
  interface Window {
    transportContractResults?: Promise<CaseResult[]>
  }
}

async function runAll(): Promise<CaseResult[]> {
  const list = document.getElementById('results')
  const results: CaseResult[] = []
  for (const c of transportContract) {
    const started = performance.now()
    const r: CaseResult = { name: c.name, ok: true, ms: 0 }
    try {
      await c.run(async () => ({ a: createSimplePeerTransport(), b: createSimplePeerTransport() }))
    } catch (e: unknown) {
      r.ok = false
      r.error = e instanceof Error ? e.message : String(e)
    }
    r.ms = Math.round(performance.now() - started)
    results.push(r)
    const li = document.createElement('li')
    li.textContent = `${r.ok ? 'ok' : 'FAILED'} — ${r.name} (${r.ms} ms)${r.error ? `: ${r.error}` : ''}`
    list?.append(li)
  }
  return results
}

window.transportContractResults = runAll()
