import 'fake-indexeddb/auto'
import { describe, it } from 'vitest'
import { eventStoreContract } from './contract/event-store-contract.ts'
import { createMemoryEventStore, type MemoryEventStore } from '../src/core/testing/memory-store.ts'
import { createIdbEventStore, openIr3Db } from '../src/adapters/idb-store.ts'
import type { EventStore } from '../src/core/ports.ts'

describe('EventStore contract: memory store', () => {
  for (const c of eventStoreContract) {
    it(c.name, async () => {
      const stores = new Map<string, MemoryEventStore>()
      await c.run(async (id) => {
        let s = stores.get(id)
        if (!s) stores.set(id, (s = createMemoryEventStore()))
        return s
      })
    })
  }
})

let dbCounter = 0
describe('EventStore contract: IndexedDB store (fake-indexeddb)', () => {
  for (const c of eventStoreContract) {
    it(c.name, async () => {
      const db = await openIr3Db(`contract-${dbCounter++}`)
      try {
        await c.run(async (id): Promise<EventStore> => createIdbEventStore(db, id))
      } finally {
        db.close()
      }
    })
  }
})
