/**
 * Signing and checking the payloads of signed frames (hello, peer, sig,
 * intent, resp): the signature covers `signedBytes(type, p)` (frames.ts), and
 * a key speaks for a node only if the node's id is derived from it. Used by
 * the link layer (hello), records, signaling, and through `Mesh.sign` /
 * `Mesh.verify` by the intents.
 */
import { nodeIdFromPublicKey } from '../identity.ts'
import type { JsonValue } from '../json.ts'
import type { Signer, Verifier } from '../ports.ts'
import { fromHex, toHex } from '../series/hash.ts'
import { signedBytes, type SignedFrame } from './frames.ts'

export class Signatures {
  private readonly signer: Signer
  private readonly verifier: Verifier

  constructor(signer: Signer, verifier: Verifier) {
    this.signer = signer
    this.verifier = verifier
  }

  /** Signs a payload as this node for a frame of type `type`. */
  async sign(type: SignedFrame['t'], p: JsonValue): Promise<string> {
    return toHex(await this.signer.sign(signedBytes(type, p)))
  }

  /** Checks that `key` belongs to `id` and signed `p` as a `type` frame. */
  async verify(type: SignedFrame['t'], p: JsonValue, id: string, key: string, sig: string): Promise<boolean> {
    const k = fromHex(key)
    const s = fromHex(sig)
    if (!k || k.length !== 32 || !s || s.length !== 64 || nodeIdFromPublicKey(k) !== id) return false
    try {
      return await this.verifier.verify(k, signedBytes(type, p), s)
    } catch {
      // A verifier that cannot check a key (e.g. WebCrypto refusing it) means: not verified.
      return false
    }
  }
}
