/** Derived state of the mesh, from `peer-connected` / `peer-disconnected` / `peer-dropped` entries. */
import type { JsonValue } from '../json.ts'
import type { Reducer } from '../series/reducers.ts'

export interface PeersState {
  [k: string]: JsonValue
  /** Live links by peer id. */
  connected: { [id: string]: { via: string; initiator: boolean; purpose: string; since: number } }
  connects: number
  disconnects: number
  /** Peers disconnected for abuse. */
  dropped: number
  byVia: { [via: string]: number }
}

const obj = (v: JsonValue): Record<string, JsonValue> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}
const str = (v: JsonValue | undefined): string => (typeof v === 'string' ? v : '')

export const peersReducer: Reducer<PeersState> = {
  name: 'peers',
  version: 1,
  initial: { connected: {}, connects: 0, disconnects: 0, dropped: 0, byVia: {} },
  reduce(s, e) {
    const b = obj(e.body)
    switch (e.kind) {
      case 'peer-connected': {
        const via = str(b['via'])
        return {
          ...s,
          connected: {
            ...s.connected,
            [str(b['peer'])]: { via, initiator: b['initiator'] === true, purpose: str(b['purpose']), since: e.t },
          },
          connects: s.connects + 1,
          byVia: { ...s.byVia, [via]: (s.byVia[via] ?? 0) + 1 },
        }
      }
      case 'peer-disconnected': {
        const connected = { ...s.connected }
        delete connected[str(b['peer'])]
        return { ...s, connected, disconnects: s.disconnects + 1 }
      }
      case 'mesh-started':
        return { ...s, connected: {} }
      case 'peer-dropped':
        return { ...s, dropped: s.dropped + 1 }
      default:
        return s
    }
  },
}
