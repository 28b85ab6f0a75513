/**
 * Retries with exponential backoff and full jitter, abortable sleeps, `Retry-After`, idempotency
 * rules and a retry budget. It never retries a breaker or bulkhead rejection: the dependency is
 * known to be unavailable and retrying would only add load.
 */
import { warn } from './circuit-breaker.js';
import { isRejection } from './errors.js';
import { functionOption, invalid, objectOption, positiveMs, timerMs } from './options.js';
import { retryAfterOf, statusOf } from './retry-after.js';
import type { RetryBudget } from './retry-budget.js';

/** Options of {@link retry}. */
export interface RetryOptions {
  /** Retries after the first attempt. @default 3 */
  retries?: number;
  /** Backoff base: attempt n sleeps a random time in [0, min(maxDelayMs, baseMs * 2^(n-1))). @default 100 */
  baseMs?: number;
  /** Cap of one backoff sleep in ms. @default 10000 */
  maxDelayMs?: number;
  /** Longest upstream `Retry-After` honoured, in ms; a longer one ends the retries. @default 30000 */
  maxRetryAfterMs?: number;
  /**
   * The HTTP method of the request being retried. Only idempotent methods (GET, HEAD, OPTIONS,
   * TRACE, PUT, DELETE) are retried unless `retryNonIdempotent` is true. @default undefined (not HTTP)
   */
  method?: string;
  /** Retry POST, PATCH and other non-idempotent methods too. @default false */
  retryNonIdempotent?: boolean;
  /**
   * Whether an error is worth another attempt. A throwing one is reported as a process warning
   * and the default decides.
   * @default not a breaker/bulkhead rejection, not an abort, not a 4xx other than 408, 425 and 429
   */
  shouldRetry?: (err: unknown, attempt: number) => boolean;
  /** Shared budget limiting retries to a ratio of calls. @default undefined (only `retries` limits) */
  budget?: RetryBudget;
  /** Aborts the sleeps and is handed to `fn`. */
  signal?: AbortSignal;
  /** Called before each retry's sleep. A throwing one is reported as a process warning. */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  /** Random source in [0, 1) for the jitter. @default Math.random */
  random?: () => number;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** The default `shouldRetry`. */
export function isRetryable(err: unknown): boolean {
  if (isRejection(err)) return false;
  if ((err as { name?: unknown } | null)?.name === 'AbortError') return false;
  const status = statusOf(err);
  if (status !== undefined && status >= 400 && status < 500)
    return status === 408 || status === 425 || status === 429;
  return true;
}

/** `shouldRetry(err, attempt)`; a throwing predicate is reported and the default applies. */
function judge(
  shouldRetry: (err: unknown, attempt: number) => boolean,
  err: unknown,
  attempt: number,
): boolean {
  try {
    return shouldRetry(err, attempt);
  } catch (hookErr) {
    warn(hookErr);
    return isRetryable(err);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Calls `fn(signal, attempt)` (attempt 0 first) until it resolves, the error is not retryable,
 * the retries or the budget are spent, or `signal` aborts; rejects with the last error.
 *
 * @example
 * const budget = new RetryBudget();
 * const users = new CircuitBreaker({ name: 'users' });
 * await retry((signal) => users.execute((s) => getUser(id, s), signal), { method: 'GET', budget });
 */
export async function retry<T>(
  fn: (signal: AbortSignal | undefined, attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  if (typeof fn !== 'function') invalid('fn', 'a function', fn);
  const o = objectOption('options', options) ?? {};
  const retries = o.retries ?? 3;
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0)
    invalid('retries', 'a non-negative integer', retries);
  const baseMs = positiveMs('baseMs', o.baseMs, 100);
  const maxDelayMs = timerMs('maxDelayMs', o.maxDelayMs, 10_000);
  const maxRetryAfterMs = timerMs('maxRetryAfterMs', o.maxRetryAfterMs, 30_000);
  const method = o.method;
  if (method !== undefined && typeof method !== 'string') invalid('method', 'a string', method);
  const shouldRetry = functionOption<(err: unknown, attempt: number) => boolean>(
    'shouldRetry',
    o.shouldRetry,
    isRetryable,
  );
  const random = functionOption<() => number>('random', o.random, Math.random);
  const onRetry = functionOption<RetryOptions['onRetry']>('onRetry', o.onRetry, undefined);
  const signal = o.signal as AbortSignal | undefined;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    invalid('signal', 'an AbortSignal', signal);
  const budget = o.budget as RetryBudget | undefined;
  const mayRetry =
    retries > 0 &&
    (method === undefined || o.retryNonIdempotent === true || IDEMPOTENT.has(method.toUpperCase()));

  budget?.recordCall();
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(signal, attempt);
    } catch (err) {
      if (!mayRetry || attempt >= retries || signal?.aborted) throw err;
      if (isRejection(err) || !judge(shouldRetry, err, attempt)) throw err;
      const pushBack = retryAfterOf(err);
      if (pushBack !== undefined && pushBack > maxRetryAfterMs) throw err;
      if (budget && !budget.tryRetry()) throw err;
      const delayMs = pushBack ?? random() * Math.min(maxDelayMs, baseMs * 2 ** attempt);
      if (onRetry) {
        try {
          onRetry({ attempt: attempt + 1, delayMs, error: err });
        } catch (hookErr) {
          // A logging hook must not replace the upstream error or stop the retries.
          warn(hookErr);
        }
      }
      await sleep(delayMs, signal);
    }
  }
}
