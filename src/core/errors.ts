/** Caller mistakes and refused operations throw an `Ir3Error` with a stable code. */
export type ErrorCode =
  | 'ERR_NOT_JSON'
  | 'ERR_BAD_KIND'
  | 'ERR_ENTRY_TOO_LARGE'
  | 'ERR_DAMAGED'
  | 'ERR_DESTROYED'
  | 'ERR_BAD_RANGE'
  | 'ERR_BAD_FRONTIER'
  | 'ERR_NO_MESH'
  | 'ERR_READ_ONLY'
  | 'ERR_NOT_FOUND'

export class Ir3Error extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string) {
    super(`${code}: ${message}`)
    this.code = code
    this.name = 'Ir3Error'
  }
}
