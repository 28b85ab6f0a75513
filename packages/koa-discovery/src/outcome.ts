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
 * Whether an outcome counts against the instance for outlier detection: a 5xx, or an error that is
 * not the caller giving up (connect refused, reset, timeout).
 */
export function isInstanceFailure(outcome: Outcome): boolean {
  return isFailure(outcome.ok, outcome.status, outcome.error);
}

/** {@link isInstanceFailure} on the outcome's fields (no object needed). */
export function isFailure(ok: boolean, status: number | undefined, error: unknown): boolean {
  if (status !== undefined) return status >= 500;
  if (ok) return false;
  return !isClientAbort(error);
}
