/**
 * The Cipher port through WebCrypto: X25519 → HKDF-SHA-256 → AES-256-GCM
 * (see `Cipher` in src/core/ports.ts). Works in Chromium (X25519 since 133)
 * and in Node ≥ 20.
 *
 * The X25519 private key is not stored anywhere: it is derived from the
 * node's Ed25519 signature over a fixed, domain-separated message
 * (`ir3/agreement-key/v1\n<public key hex>`). Ed25519 signatures are
 * deterministic (RFC 8032), so a reloaded or resumed node gets the same key
 * back and can read its old messages, and nodes created before this key
 * existed get one without a storage migration. No protocol of the node signs
 * bytes a stranger chooses (every signed message carries its own `ir3/…`
 * prefix), so that signature stays private.
 */
import type { Cipher, Signer } from '../core/ports.ts'
import { fromHex, toHex } from '../core/series/hash.ts'

const PKCS8_X25519 = fromHex('302e020100300506032b656e04220420')!
const KEY = /^x25519:([0-9a-f]{64})$/
const IV_BYTES = 12
const TAG_BYTES = 16
const enc = new TextEncoder()

export function agreementSeedMessage(ed25519PublicKey: Uint8Array): Uint8Array {
  return enc.encode(`ir3/agreement-key/v1\n${toHex(ed25519PublicKey)}`)
}

/** HKDF salt: both public keys, sorted, so both ends derive the same AES key. */
export function sealSalt(a: string, b: string): Uint8Array {
  return enc.encode([a, b].sort().join('\n'))
}
export const SEAL_INFO = enc.encode('ir3/seal/v1')

const b64urlToBytes = (s: string): Uint8Array => {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4))
  return Uint8Array.from(b, (c) => c.charCodeAt(0))
}

/** The node's cipher, or null where the platform has no X25519 (or signs non-deterministically). */
export async function createWebCryptoCipher(
  signer: Signer,
  subtle: SubtleCrypto = globalThis.crypto.subtle,
): Promise<Cipher | null> {
  const message = agreementSeedMessage(signer.publicKey)
  const sig = await signer.sign(message)
  // The key must come back the same after a reload: check that this platform's Ed25519 is deterministic.
  const again = await signer.sign(message)
  const same = sig.length === again.length && sig.every((b, i) => b === again[i])
  again.fill(0)
  if (!same) {
    sig.fill(0)
    return null
  }
  const seed = new Uint8Array(await subtle.digest('SHA-256', sig as Uint8Array<ArrayBuffer>))
  sig.fill(0)
  const pkcs8 = new Uint8Array(PKCS8_X25519.length + 32)
  pkcs8.set(PKCS8_X25519)
  pkcs8.set(seed, PKCS8_X25519.length)
  let privateKey: CryptoKey
  let publicHex: string
  try {
    const extractable = await subtle.importKey('pkcs8', pkcs8, { name: 'X25519' }, true, ['deriveBits'])
    const jwk = await subtle.exportKey('jwk', extractable)
    if (typeof jwk.x !== 'string') return null
    publicHex = toHex(b64urlToBytes(jwk.x))
    privateKey = await subtle.importKey('pkcs8', pkcs8, { name: 'X25519' }, false, ['deriveBits'])
  } catch {
    // No X25519 in this browser: the node runs without encryption (messages then says ERR_NO_CIPHER).
    return null
  } finally {
    seed.fill(0)
    pkcs8.fill(0)
  }
  const publicKey = `x25519:${publicHex}`
  const aesKeys = new Map<string, Promise<CryptoKey | null>>()

  const aesKey = (peerKey: string): Promise<CryptoKey | null> => {
    let k = aesKeys.get(peerKey)
    if (!k) {
      k = (async () => {
        const raw = KEY.exec(peerKey)?.[1]
        const bytes = raw ? fromHex(raw) : null
        if (!bytes) return null
        try {
          const peer = await subtle.importKey('raw', bytes as Uint8Array<ArrayBuffer>, { name: 'X25519' }, false, [])
          const shared = await subtle.deriveBits({ name: 'X25519', public: peer }, privateKey, 256)
          const hkdf = await subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey'])
          return await subtle.deriveKey(
            {
              name: 'HKDF',
              hash: 'SHA-256',
              salt: sealSalt(publicKey, peerKey) as Uint8Array<ArrayBuffer>,
              info: SEAL_INFO as Uint8Array<ArrayBuffer>,
            },
            hkdf,
            { name: 'AES-GCM', length: 256 },
            false,
            ['encrypt', 'decrypt'],
          )
        } catch {
          // A low-order or invalid point: no key with it.
          return null
        }
      })()
      if (aesKeys.size > 1000) aesKeys.clear()
      aesKeys.set(peerKey, k)
    }
    return k
  }

  return {
    publicKey,
    async seal(peerKey, plain, aad) {
      const key = await aesKey(peerKey)
      if (!key) throw new Error(`cannot derive a key with ${peerKey.slice(0, 16)}…`)
      const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES))
      const ct = new Uint8Array(
        await subtle.encrypt(
          { name: 'AES-GCM', iv, additionalData: aad as Uint8Array<ArrayBuffer> },
          key,
          plain as Uint8Array<ArrayBuffer>,
        ),
      )
      const out = new Uint8Array(IV_BYTES + ct.length)
      out.set(iv)
      out.set(ct, IV_BYTES)
      return out
    },
    async open(peerKey, sealed, aad) {
      if (sealed.length < IV_BYTES + TAG_BYTES) return null
      const key = await aesKey(peerKey)
      if (!key) return null
      try {
        return new Uint8Array(
          await subtle.decrypt(
            { name: 'AES-GCM', iv: sealed.slice(0, IV_BYTES), additionalData: aad as Uint8Array<ArrayBuffer> },
            key,
            sealed.slice(IV_BYTES),
          ),
        )
      } catch {
        return null
      }
    },
  }
}
