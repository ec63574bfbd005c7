/** Throwaway identities, as an attacker mints them: free, many, each able to sign frames in its own name. */
import { nodeIdFromPublicKey } from '../../src/core/identity.ts'
import type { JsonValue } from '../../src/core/json.ts'
import { signedBytes, type SignedFrame } from '../../src/core/mesh/frames.ts'
import { toHex } from '../../src/core/series/hash.ts'
import { createSeededRng } from '../../src/core/testing/manual-clock.ts'
import { seededSigner } from './sim.ts'

export interface Stranger {
  id: string
  /** Hex Ed25519 public key. */
  key: string
  sign(type: SignedFrame['t'], p: JsonValue): Promise<string>
}

export function strangers(n: number, seed: number): Stranger[] {
  const rng = createSeededRng(seed)
  return Array.from({ length: n }, () => {
    const signer = seededSigner(rng)
    return {
      id: nodeIdFromPublicKey(signer.publicKey),
      key: toHex(signer.publicKey),
      sign: async (type, p) => toHex(await signer.sign(signedBytes(type, p))),
    }
  })
}

/** A random node id (32 hex). */
export function hexId(rng: { next(): number }): string {
  let s = ''
  for (let i = 0; i < 32; i++) s += Math.floor(rng.next() * 16).toString(16)
  return s
}
