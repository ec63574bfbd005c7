/**
 * The messages app's wire: intent bodies, decoded from untrusted JSON to a
 * typed value or null (never a throw).
 *
 *   msg-direct     { m, ct, ek, rk }   targeted at the recipient; `ct` is
 *                  base64 of iv ‖ AES-GCM ciphertext ‖ tag, sealed from the
 *                  sender's key-agreement key `ek` to the recipient's `rk`,
 *                  with additional data `ir3/msg/v1\n<from>\n<to>\n<m>`
 *   msg-broadcast  { m, text }         to every node, in the clear
 *
 * `m` is the message id (32 hex), chosen by the sender. The recipient's YES
 * is the receipt; its NO says why (rate-limited, malformed, undecryptable,
 * stale key).
 */
import type { JsonValue } from '../../core/json.ts'
import { AGREEMENT_KEY } from '../../core/mesh/frames.ts'
import { utf8 } from '../../core/series/encoding.ts'

/** Longest text, in UTF-8 bytes. */
export const MAX_TEXT_BYTES = 4096
/** Sealed text: iv + ciphertext + tag, base64. */
const MAX_CT_CHARS = Math.ceil(((MAX_TEXT_BYTES + 28) * 4) / 3) + 4
const ID = /^[0-9a-f]{32}$/
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

export const DIRECT = 'msg-direct'
export const BROADCAST = 'msg-broadcast'

export interface DirectBody {
  [k: string]: JsonValue
  m: string
  ct: string
  ek: string
  rk: string
}

export interface BroadcastBody {
  [k: string]: JsonValue
  m: string
  text: string
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

export function decodeDirect(v: unknown): DirectBody | null {
  if (!isObj(v)) return null
  const { m, ct, ek, rk } = v
  if (typeof m !== 'string' || !ID.test(m)) return null
  if (typeof ct !== 'string' || ct.length > MAX_CT_CHARS || ct.length < 40 || !BASE64.test(ct)) return null
  if (typeof ek !== 'string' || !AGREEMENT_KEY.test(ek)) return null
  if (typeof rk !== 'string' || !AGREEMENT_KEY.test(rk)) return null
  return { m, ct, ek, rk }
}

export function decodeBroadcast(v: unknown): BroadcastBody | null {
  if (!isObj(v)) return null
  const { m, text } = v
  if (typeof m !== 'string' || !ID.test(m)) return null
  if (typeof text !== 'string' || checkText(text) !== null) return null
  return { m, text }
}

/** Why a text cannot be sent (an error code and a message), or null if it can. */
export function checkText(text: unknown): { code: 'ERR_BAD_ARGUMENT' | 'ERR_TEXT_TOO_LONG'; message: string } | null {
  if (typeof text !== 'string') return { code: 'ERR_BAD_ARGUMENT', message: 'text must be a string' }
  if (text.length === 0) return { code: 'ERR_BAD_ARGUMENT', message: 'text is empty' }
  // UTF-8 cannot carry a lone surrogate: it would arrive as U+FFFD, so it is refused rather than changed.
  if (LONE_SURROGATE.test(text))
    return { code: 'ERR_BAD_ARGUMENT', message: 'text has a lone UTF-16 surrogate (not valid Unicode)' }
  const bytes = utf8(text).length
  if (bytes > MAX_TEXT_BYTES)
    return {
      code: 'ERR_TEXT_TOO_LONG',
      message: `text is ${bytes} bytes (UTF-8), limit ${MAX_TEXT_BYTES}: nothing was sent`,
    }
  return null
}

/** Additional authenticated data of a direct message: binds the ciphertext to its sender, recipient and id. */
export function messageAad(from: string, to: string, m: string): Uint8Array {
  return utf8(`ir3/msg/v1\n${from}\n${to}\n${m}`)
}
