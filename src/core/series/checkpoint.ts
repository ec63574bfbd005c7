/**
 * Checkpoints: `{ author, size, root, t }` signed with the author's Ed25519
 * key. The signed message is the domain tag `ir3/checkpoint/v1\n` followed by
 * the checkpoint's canonical JSON. One checkpoint is made per group commit.
 */
import type { Checkpoint, SignedCheckpoint, Signer, Verifier } from '../ports.ts'
import { canonicalJson, utf8 } from './encoding.ts'
import { fromHex, toHex } from './hash.ts'
import { nodeIdFromPublicKey } from '../identity.ts'

const DOMAIN = 'ir3/checkpoint/v1\n'

export function checkpointMessage(c: Checkpoint): Uint8Array {
  return utf8(DOMAIN + canonicalJson({ author: c.author, root: c.root, size: c.size, t: c.t }))
}

export async function signCheckpoint(c: Checkpoint, signer: Signer): Promise<SignedCheckpoint> {
  const sig = await signer.sign(checkpointMessage(c))
  return { author: c.author, size: c.size, root: c.root, t: c.t, sig: toHex(sig) }
}

export type CheckpointCheck = { ok: true } | { ok: false; reason: string }

/** Checks shape, that `publicKey` is the author's, and the signature. Never throws. */
export async function verifyCheckpoint(
  c: SignedCheckpoint,
  publicKey: Uint8Array,
  verifier: Verifier,
): Promise<CheckpointCheck> {
  if (!Number.isSafeInteger(c.size) || c.size < 0) return { ok: false, reason: 'bad size' }
  if (!Number.isSafeInteger(c.t)) return { ok: false, reason: 'bad t' }
  if (typeof c.root !== 'string' || !/^[0-9a-f]{64}$/.test(c.root)) return { ok: false, reason: 'bad root' }
  if (nodeIdFromPublicKey(publicKey) !== c.author) return { ok: false, reason: 'key is not the author’s' }
  const sig = typeof c.sig === 'string' ? fromHex(c.sig) : null
  if (!sig || sig.length !== 64) return { ok: false, reason: 'malformed signature' }
  let valid = false
  try {
    valid = await verifier.verify(publicKey, checkpointMessage(c), sig)
  } catch {
    valid = false
  }
  return valid ? { ok: true } : { ok: false, reason: 'bad signature' }
}
