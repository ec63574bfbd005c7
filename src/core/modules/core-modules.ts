/**
 * The core's own modules: the derived state every node keeps of itself
 * (counts by kind, links, rate limiters, intents, chunks). Each is a reducer
 * with the entry kinds its layer records; apps may read these kinds but never
 * record them (the host refuses an app that claims one).
 */
import type { JsonValue } from '../json.ts'
import type { Reducer } from '../series/reducers.ts'
import { viewReducer } from '../series/reducers.ts'
import { peersReducer } from '../mesh/reducers.ts'
import { limitsReducer } from '../intents/limits.ts'
import { intentsReducer } from '../intents/reducers.ts'
import { chunksReducer } from '../chunks/reducers.ts'
import type { AnyModule, Module } from './module.ts'

function core<S extends JsonValue>(r: Reducer<S>, kinds: string[]): Module<S> {
  return { ...r, kinds }
}

export const viewModule = core(viewReducer, [])
export const peersModule = core(peersReducer, ['mesh-started', 'peer-connected', 'peer-disconnected', 'peer-dropped'])
export const limitsModule = core(limitsReducer, ['limits-set'])
export const intentsModule = core(intentsReducer, [
  'intent-declared',
  'intent-received',
  'intent-ignored',
  'response-sent',
  'response-received',
  'silence-recorded',
  'intents-summarized',
])
export const chunksModule = core(chunksReducer, ['chunk-holders', 'chunk-stored', 'chunk-dropped', 'chunk-rejected'])

/** In this order, before any app. */
export const coreModuleList: readonly AnyModule[] = [viewModule, peersModule, limitsModule, intentsModule, chunksModule]
export const coreModules: readonly Reducer[] = coreModuleList as readonly Reducer[]
