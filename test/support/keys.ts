import { nodeIdFromPublicKey } from '../../src/core/identity.ts'
import { toHex } from '../../src/core/series/hash.ts'

/** A node's WebCrypto Ed25519 keys as signaling clients in tests hold them. */
export interface Keys {
  id: string
  publicKey: string
  privateKey: CryptoKey
}

export async function makeKeys(): Promise<Keys> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey))
  return { id: nodeIdFromPublicKey(raw), publicKey: toHex(raw), privateKey: pair.privateKey }
}
