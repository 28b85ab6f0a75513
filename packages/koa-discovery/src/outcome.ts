/** How an exchange with an instance ended (the Resolver `release` contract). */
export interface Outcome {
  ok: boolean;
  status?: number;
  error?: unknown;
  durationMs: number;
}

const ABORT_CODES = new Set(['ABORT_ERR', 'UND_ERR_ABORTED', 'ECONNABORTED']);

/** A client abort says nothing about the instance's health. */
export function isClientAbort(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { name?: unknown; code?: unknown };
  return e.name === 'AbortError' || (typeof e.code === 'string' && ABORT_CODES.has(e.code));
}

/**
 * undici refused the request as the caller built it (a path or header value it cannot send, an
 * unsupported header, a body that contradicts its Content-Length): the caller's mistake, which
 * says nothing about the instance.
 */
const CALLER_CODES = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
]);

/** An error undici raised for the request itself, not for the instance (see CALLER_CODES). */
export function isCallerError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CALLER_CODES.has(code);
}

/**
 * Whether an outcome counts against the instance for outlier detection: a 5xx, or an error that is
 * neither the caller giving up nor the caller's own mistake (connect refused, reset, timeout).
 */
export function isInstanceFailure(outcome: Outcome): boolean {
  return isFailure(outcome.ok, outcome.status, outcome.error);
}

/** {@link isInstanceFailure} on the outcome's fields (no object needed). */
export function isFailure(ok: boolean, status: number | undefined, error: unknown): boolean {
  if (status !== undefined) return status >= 500;
  if (ok) return false;
  return !isClientAbort(error) && !isCallerError(error);
}
