import type { Context } from 'koa';
import { ArmBreakerError, ERROR_CODES, isCanaryRouterError } from './errors.js';
import type { Arm } from './normalize.js';
import type { Breaker, ReleaseOutcome } from './options.js';
import { stateSignal, type UpstreamProxy } from './proxy.js';
import type { Upstream } from './targets.js';

/**
 * A 5xx answer carried out of `execute` as a rejection, so that the breaker counts it as a
 * failure while the client still gets the upstream's response. Its `status` and `Retry-After`
 * let a breaker that reads push-back (`@koa-mesh/breaker` on 503) open for as long as asked.
 */
class UpstreamStatus extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(status: number, retryAfter: string) {
    super(`the upstream answered ${status}`);
    this.name = 'UpstreamStatus';
    this.status = status;
    this.headers = retryAfter === '' ? {} : { 'retry-after': retryAfter };
  }
}

/**
 * An error this router raises about the request itself before anything is sent (no path to
 * forward, a body already read): the client's or the app's fault, never the upstream's, so it
 * leaves `execute` as a value (resolving is the one non-failure every breaker reads the same way).
 */
class CallerFault {
  constructor(readonly error: unknown) {}
}

function isCallerFault(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === ERROR_CODES.BODY_CONSUMED || code === ERROR_CODES.BAD_REQUEST_TARGET;
}

/** The HTTP status a breaker's refusal carries (`status` or `statusCode`), when it is one. */
function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const o = err as { status?: unknown; statusCode?: unknown };
  const s = o.status ?? o.statusCode;
  return typeof s === 'number' && Number.isInteger(s) && s >= 400 && s <= 599 ? s : undefined;
}

/** The string-valued headers of a breaker's refusal (`Retry-After`), for the problem answer. */
function headersOf(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const h = (err as { headers?: unknown }).headers;
  if (typeof h !== 'object' || h === null) return out;
  for (const [name, value] of Object.entries(h)) if (typeof value === 'string') out[name] = value;
  return out;
}

/**
 * Proxies through the arm's breaker. 5xx answers, and this package's upstream errors (refused,
 * reset, timeouts), reject inside `execute` and so count as failures; the first go on to the
 * client as the upstream sent them, the second are rethrown for the router to answer. A refusal
 * by the breaker (an error with an HTTP status: open, bulkhead, its timeout) becomes an
 * {@link ArmBreakerError}; anything else is rethrown as it came. The breaker's signal aborts the
 * exchange (its timeout); `ctx.state.signal` is handed to `execute` as the caller's signal.
 */
export async function guardedForward(
  proxy: UpstreamProxy,
  ctx: Context,
  arm: Arm,
  breaker: Breaker,
  upstream: Upstream,
  release: ((outcome: ReleaseOutcome) => void) | undefined,
): Promise<void> {
  const caller = stateSignal(ctx);
  let started = false;
  let out: number | CallerFault;
  try {
    out = await breaker.execute(
      async (signal) => {
        started = true;
        try {
          const status = await proxy.forward(
            ctx,
            upstream,
            arm.headers,
            arm.version,
            release,
            signal,
          );
          if (status >= 500) throw new UpstreamStatus(status, ctx.response.get('Retry-After'));
          return status;
        } catch (err) {
          if (isCallerFault(err)) return new CallerFault(err);
          throw err;
        }
      },
      caller instanceof AbortSignal ? caller : undefined,
    );
  } catch (err) {
    if (err instanceof UpstreamStatus) return; // the upstream's 5xx is already on ctx
    if (!started && release !== undefined) {
      // The breaker refused before the exchange began: the resolver's instance was never called.
      release({ ok: false, status: undefined, error: err, durationMs: 0 });
    }
    if (isCanaryRouterError(err)) throw err;
    // Whoever aborted the caller's signal (an outer breaker's timeout) answers the client.
    if (caller?.aborted) return;
    const status = statusOf(err);
    if (status === undefined) throw err;
    throw new ArmBreakerError(arm.name, status, headersOf(err), err);
  }
  if (out instanceof CallerFault) throw out.error;
}
