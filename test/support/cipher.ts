/**
 * The Cipher port with Node's synchronous crypto, for the seeded simulation
 * (WebCrypto completes on a thread pool, which would make a run's
 * interleaving depend on more than its seed). Same key derivation and the
 * same sealed format as src/adapters/webcrypto-cipher.ts — test/cipher.test.ts
 * checks that each opens what the other sealed.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
} from 'node:crypto'
import type { Cipher, Rng, Signer } from '../../src/core/ports.ts'
import { agreementSeedMessage, SEAL_INFO, sealSalt } from '../../src/adapters/webcrypto-cipher.ts'

const PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex')
const SPKI = Buffer.from('302a300506032b656e032100', 'hex')
const KEY = /^x25519:([0-9a-f]{64})$/

export async function createSyncCipher(signer: Signer, rng: Rng): Promise<Cipher> {
  const seed = createHash('sha256')
    .update(await signer.sign(agreementSeedMessage(signer.publicKey)))
    .digest()
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8, seed]), format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' })
  const publicKey = `x25519:${spki.subarray(spki.length - 32).toString('hex')}`
  const keys = new Map<string, Buffer | null>()
  const aesKey = (peerKey: string): Buffer | null => {
    if (keys.has(peerKey)) return keys.get(peerKey)!
    let k: Buffer | null = null
    const raw = KEY.exec(peerKey)?.[1]
    if (raw) {
      try {
        const pub = createPublicKey({
          key: Buffer.concat([SPKI, Buffer.from(raw, 'hex')]),
          format: 'der',
          type: 'spki',
        })
        const shared = diffieHellman({ privateKey: priv, publicKey: pub })
        k = Buffer.from(hkdfSync('sha256', shared, sealSalt(publicKey, peerKey), SEAL_INFO, 32))
      } catch {
        k = null
      }
    }
    keys.set(peerKey, k)
    return k
  }
  return {
    publicKey,
    async seal(peerKey, plain, aad) {
      const key = aesKey(peerKey)
      if (!key) throw new Error('cannot derive a key')
      const iv = Buffer.from(Array.from({ length: 12 }, () => Math.floor(rng.next() * 256)))
      const c = createCipheriv('aes-256-gcm', key, iv)
      c.setAAD(aad)
      const ct = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()])
      return new Uint8Array(Buffer.concat([iv, ct]))
    },
    async open(peerKey, sealed, aad) {
      const key = aesKey(peerKey)
      if (!key || sealed.length < 28) return null
      try {
        const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12))
        d.setAAD(aad)
        d.setAuthTag(sealed.subarray(sealed.length - 16))
        return new Uint8Array(Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]))
      } catch {
        return null
      }
    },
  }
}
