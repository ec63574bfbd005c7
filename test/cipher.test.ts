import { describe, expect, it } from 'vitest'
import { createWebCryptoCipher } from '../src/adapters/webcrypto-cipher.ts'
import { createSyncCipher } from './support/cipher.ts'
import { seededSigner } from './support/sim.ts'
import { createSeededRng } from '../src/core/testing/manual-clock.ts'
import { utf8 } from '../src/core/series/encoding.ts'

const rng = createSeededRng(7)
const [alice, bob, eve] = [seededSigner(rng), seededSigner(rng), seededSigner(rng)]
const aad = utf8('ir3/msg/v1\nalice\nbob\nm1')

describe('the cipher (X25519 → HKDF → AES-256-GCM)', () => {
  it('derives the same key from the same node key, every time (a reload reads old messages)', async () => {
    const a1 = await createWebCryptoCipher(alice)
    const a2 = await createWebCryptoCipher(alice)
    const a3 = await createSyncCipher(alice, rng)
    expect(a1!.publicKey).toMatch(/^x25519:[0-9a-f]{64}$/)
    expect(a2!.publicKey).toBe(a1!.publicKey)
    expect(a3.publicKey).toBe(a1!.publicKey)
    expect((await createWebCryptoCipher(bob))!.publicKey).not.toBe(a1!.publicKey)
  })

  it('lets sender and recipient open what was sealed, and nobody else', async () => {
    const a = (await createWebCryptoCipher(alice))!
    const b = (await createWebCryptoCipher(bob))!
    const e = (await createWebCryptoCipher(eve))!
    const sealed = await a.seal(b.publicKey, utf8('meet at noon'), aad)
    expect(sealed.length).toBe(12 + 12 + 16)
    expect(new TextDecoder().decode((await b.open(a.publicKey, sealed, aad))!)).toBe('meet at noon')
    expect(new TextDecoder().decode((await a.open(b.publicKey, sealed, aad))!)).toBe('meet at noon')
    expect(await e.open(a.publicKey, sealed, aad)).toBeNull()
    expect(await e.open(b.publicKey, sealed, aad)).toBeNull()
  })

  it('refuses tampered ciphertext, other additional data, malformed and low-order keys', async () => {
    const a = (await createWebCryptoCipher(alice))!
    const b = (await createWebCryptoCipher(bob))!
    const sealed = await a.seal(b.publicKey, utf8('x'), aad)
    const flipped = sealed.slice()
    flipped[20]! ^= 1
    expect(await b.open(a.publicKey, flipped, aad)).toBeNull()
    expect(await b.open(a.publicKey, sealed, utf8('ir3/msg/v1\nalice\nbob\nm2'))).toBeNull()
    expect(await b.open(a.publicKey, sealed.slice(0, 20), aad)).toBeNull()
    expect(await b.open('x25519:zz', sealed, aad)).toBeNull()
    expect(await b.open('x25519:' + '0'.repeat(64), sealed, aad)).toBeNull()
    await expect(a.seal('x25519:' + '0'.repeat(64), utf8('x'), aad)).rejects.toThrow()
  })

  it('interoperates with the simulation’s synchronous cipher, both ways', async () => {
    const aWeb = (await createWebCryptoCipher(alice))!
    const bSync = await createSyncCipher(bob, rng)
    const s1 = await aWeb.seal(bSync.publicKey, utf8('web → sync'), aad)
    expect(new TextDecoder().decode((await bSync.open(aWeb.publicKey, s1, aad))!)).toBe('web → sync')
    const bWeb = (await createWebCryptoCipher(bob))!
    const aSync = await createSyncCipher(alice, rng)
    const s2 = await aSync.seal(bWeb.publicKey, utf8('sync → web'), aad)
    expect(new TextDecoder().decode((await bWeb.open(aSync.publicKey, s2, aad))!)).toBe('sync → web')
  })
})
