/**
 * Ed25519 through WebCrypto (`crypto.subtle`), identical in Chromium and in
 * Node 20. Private keys are generated non-extractable, so they can be stored
 * in IndexedDB as CryptoKey objects but never read out.
 */
import type { Signer, Verifier } from '../core/ports.ts'
import { toHex } from '../core/series/hash.ts'

const ALG = { name: 'Ed25519' } as const

export interface KeyPair {
  publicKey: Uint8Array
  privateKey: CryptoKey
}

export async function generateKeyPair(subtle: SubtleCrypto = globalThis.crypto.subtle): Promise<KeyPair> {
  const pair = (await subtle.generateKey(ALG, false, ['sign', 'verify'])) as CryptoKeyPair
  const publicKey = new Uint8Array(await subtle.exportKey('raw', pair.publicKey))
  return { publicKey, privateKey: pair.privateKey }
}

export function createWebCryptoSigner(pair: KeyPair, subtle: SubtleCrypto = globalThis.crypto.subtle): Signer {
  return {
    publicKey: pair.publicKey,
    async sign(message) {
      return new Uint8Array(await subtle.sign(ALG, pair.privateKey, message as Uint8Array<ArrayBuffer>))
    },
  }
}

export function createWebCryptoVerifier(subtle: SubtleCrypto = globalThis.crypto.subtle): Verifier {
  const keys = new Map<string, Promise<CryptoKey>>()
  return {
    async verify(publicKey, message, signature) {
      if (publicKey.length !== 32 || signature.length !== 64) return false
      const hex = toHex(publicKey)
      let key = keys.get(hex)
      if (!key) {
        key = subtle.importKey('raw', publicKey as Uint8Array<ArrayBuffer>, ALG, true, ['verify'])
        if (keys.size > 1000) keys.clear()
        keys.set(hex, key)
      }
      try {
        return await subtle.verify(
          ALG,
          await key,
          signature as Uint8Array<ArrayBuffer>,
          message as Uint8Array<ArrayBuffer>,
        )
      } catch {
        return false
      }
    },
  }
}
