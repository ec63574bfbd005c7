/**
 * Change notification for views of the mesh (the inspector): any number of
 * changes (links, known nodes, the server's state) within one task make one
 * call to each subscriber, in a microtask.
 */
import { safetyCatch } from '../errors.ts'

export class Changes {
  private readonly listeners = new Set<() => void>()
  private queued = false

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn)
    return () => void this.listeners.delete(fn)
  }

  changed(): void {
    if (this.queued) return
    this.queued = true
    void Promise.resolve().then(() => {
      this.queued = false
      for (const fn of this.listeners) {
        try {
          fn()
        } catch (e) {
          // A listener's bug must not break the mesh; a programmer error still surfaces.
          safetyCatch(e)
        }
      }
    })
  }

  /** Drops every subscriber (the mesh stopped). */
  clear(): void {
    this.listeners.clear()
  }
}
