/**
 * One error convention for the whole node. Caller mistakes and refused
 * operations throw an `Ir3Error` with a stable `code` (UPPER_SNAKE, `ERR_`…);
 * the message says what was wrong for a person. Listeners and protocol
 * handlers catch with `safetyCatch`: operational errors are swallowed (and
 * counted by whoever catches), programmer errors are rethrown.
 */
export type ErrorCode =
  | 'ERR_NOT_JSON'
  | 'ERR_BAD_KIND'
  | 'ERR_ENTRY_TOO_LARGE'
  | 'ERR_DAMAGED'
  | 'ERR_DESTROYED'
  | 'ERR_BAD_RANGE'
  | 'ERR_BAD_SIZE'
  | 'ERR_BAD_HASH'
  | 'ERR_BAD_FRONTIER'
  | 'ERR_NO_MESH'
  | 'ERR_READ_ONLY'
  | 'ERR_NOT_FOUND'
  | 'ERR_NOT_OPEN'
  | 'ERR_BAD_MODULE'
  | 'ERR_DUPLICATE_MODULE'
  | 'ERR_BAD_ARGUMENT'
  | 'ERR_TEXT_TOO_LONG'
  | 'ERR_UNKNOWN_NODE'
  | 'ERR_NO_KEY'
  | 'ERR_NO_CIPHER'
  | 'ERR_STOPPED'
  | 'ERR_STARTED'
  | 'ERR_BACKLOG_FULL'

export class Ir3Error extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string) {
    super(`${code}: ${message}`)
    this.code = code
    this.name = 'Ir3Error'
  }
}

/** Errors that mean the code is wrong, not the input or the world: they must not be swallowed. */
export function isProgrammerError(e: unknown): boolean {
  return (
    e instanceof TypeError ||
    e instanceof ReferenceError ||
    e instanceof SyntaxError ||
    e instanceof RangeError ||
    e instanceof EvalError
  )
}

/**
 * For `catch (e) { safetyCatch(e) }` in listeners and handlers (hypercore's
 * safety-catch): an operational error (an `Ir3Error`, a refused input, a
 * closed store) is swallowed; a programmer error is rethrown on a fresh task
 * so that it surfaces (test runners and the console report it) without
 * unwinding the caller that was only delivering an event.
 */
export function safetyCatch(e: unknown): void {
  if (!isProgrammerError(e)) return
  queueMicrotask(() => {
    throw e
  })
}

/** The stable code of an error, or null (for UIs and counters). */
export function errorCode(e: unknown): string | null {
  return e instanceof Ir3Error ? e.code : null
}
