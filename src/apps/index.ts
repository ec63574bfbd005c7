/**
 * The one list of apps. An app is a folder `src/apps/<name>/`: its module
 * (`app.ts`, framework-free), its panel (`panel.tsx`), its tests and a README;
 * adding one touches that folder and this list, nothing else. Every listed app
 * runs in a tab by default (`?apps=a,b` selects), gets `window.ir3.apps.<name>`
 * and a panel in the inspector; the simulation harness runs them too.
 */
import type { AnyModule } from '../core/modules/module.ts'
import { messagesApp } from './messages/app.ts'
import { notesApp } from './notes/app.ts'
import { pingApp } from './ping/app.ts'

export interface AppEntry {
  module: AnyModule
  /** Loads the app's inspector panel (kept out of the core's import graph: Node tests never load React). */
  panel: () => Promise<{ default: unknown }>
}

export const apps: readonly AppEntry[] = [
  { module: pingApp, panel: () => import('./ping/panel.tsx') },
  { module: notesApp, panel: () => import('./notes/panel.tsx') },
  { module: messagesApp, panel: () => import('./messages/panel.tsx') },
]

/** The modules of every listed app, in order. */
export const appModules: readonly AnyModule[] = apps.map((a) => a.module)

/**
 * The apps named in `?apps=` (comma-separated), in list order; all of them
 * when the parameter is absent. Unknown names are returned apart so the page
 * can say so rather than silently ignore them.
 */
export function selectApps(param: string | null): { modules: AnyModule[]; unknown: string[] } {
  if (param === null) return { modules: [...appModules], unknown: [] }
  const wanted = param
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
  const known = new Set(appModules.map((m) => m.name))
  return {
    modules: appModules.filter((m) => wanted.includes(m.name)),
    unknown: wanted.filter((w) => !known.has(w)),
  }
}
