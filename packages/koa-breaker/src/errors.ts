/**
 * The errors this package throws and renders. Identify them by `code` (never `instanceof`: the ESM
 * and CJS builds hold different classes). Each carries Koa's error fields (`status`, `expose`,
 * `headers`) so that, thrown through Koa's error handler, the response keeps its headers.
 */

/** Code of {@link BrokenCircuitError}. */
export const BREAKER_OPEN = 'ERR_KOA_MESH_BREAKER_OPEN';
/** Code of {@link BulkheadRejectedError}. */
export const BULKHEAD_REJECTED = 'ERR_KOA_MESH_BULKHEAD_REJECTED';
/** Code of {@link TimeoutError}. */
export const BREAKER_TIMEOUT = 'ERR_KOA_MESH_BREAKER_TIMEOUT';

/** Why a call was refused without running. */
export type RejectReason = 'open' | 'halfOpen' | 'bulkhead' | 'queueTimeout' | 'closed';

/** `Retry-After` in whole seconds: rounded up, never 0 (a 0 invites an immediate retry storm). */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** The breaker is open (or half-open with every probe slot taken): the call was not made. */
export class BrokenCircuitError extends Error {
  readonly code = BREAKER_OPEN;
  readonly status = 503;
  readonly expose = true;
  readonly headers: Record<string, string>;
  /** Milliseconds until the breaker lets a probe through (at least 1000 in `Retry-After`). */
  readonly retryAfterMs: number;
  /** `open`, or `halfOpen` when the probes in flight are all the breaker allows. */
  readonly reason: 'open' | 'halfOpen';
  /** The breaker's `name`. */
  readonly breaker: string;

  constructor(breaker: string, reason: 'open' | 'halfOpen', retryAfterMs: number) {
    super(
      reason === 'open'
        ? `circuit breaker "${breaker}" is open`
        : `circuit breaker "${breaker}" is half-open and its probes are taken`,
    );
    this.name = 'BrokenCircuitError';
    this.breaker = breaker;
    this.reason = reason;
    this.retryAfterMs = retryAfterMs;
    this.headers = { 'Retry-After': String(retryAfterSeconds(retryAfterMs)) };
  }
}

/** The bulkhead is full (or the wait in its queue ran out): the call was not made. */
export class BulkheadRejectedError extends Error {
  readonly code = BULKHEAD_REJECTED;
  readonly status = 503;
  readonly expose = true;
  readonly headers: Record<string, string> = { 'Retry-After': '1' };
  /** `bulkhead` (full), `queueTimeout` (waited `queueTimeoutMs`) or `closed` (breaker closed). */
  readonly reason: 'bulkhead' | 'queueTimeout' | 'closed';
  readonly breaker: string;

  constructor(breaker: string, reason: 'bulkhead' | 'queueTimeout' | 'closed') {
    super(
      reason === 'bulkhead'
        ? `bulkhead of "${breaker}" is full`
        : reason === 'queueTimeout'
          ? `waited too long in the bulkhead queue of "${breaker}"`
          : `breaker "${breaker}" was closed`,
    );
    this.name = 'BulkheadRejectedError';
    this.breaker = breaker;
    this.reason = reason;
  }
}

/** The guarded work did not settle within `timeoutMs`; its signal has been aborted. */
export class TimeoutError extends Error {
  readonly code = BREAKER_TIMEOUT;
  readonly status = 504;
  readonly expose = true;
  readonly headers: Record<string, string> = {};
  readonly timeoutMs: number;
  readonly breaker: string;

  constructor(breaker: string, timeoutMs: number) {
    super(`"${breaker}" timed out after ${timeoutMs} ms`);
    this.name = 'TimeoutError';
    this.breaker = breaker;
    this.timeoutMs = timeoutMs;
  }
}

function hasCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/** True for a {@link BrokenCircuitError} from any copy of this package. */
export function isBrokenCircuitError(err: unknown): err is BrokenCircuitError {
  return hasCode(err, BREAKER_OPEN);
}

/** True for a {@link BulkheadRejectedError} from any copy of this package. */
export function isBulkheadRejectedError(err: unknown): err is BulkheadRejectedError {
  return hasCode(err, BULKHEAD_REJECTED);
}

/** True for a {@link TimeoutError} from any copy of this package. */
export function isTimeoutError(err: unknown): err is TimeoutError {
  return hasCode(err, BREAKER_TIMEOUT);
}

/** A local rejection (open breaker or full bulkhead): the call never ran. */
export function isRejection(err: unknown): boolean {
  return isBrokenCircuitError(err) || isBulkheadRejectedError(err);
}
