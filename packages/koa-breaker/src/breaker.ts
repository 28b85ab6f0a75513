/**
 * The middleware factory: guards everything downstream of it with a circuit breaker, a timeout and
 * a bulkhead; one breaker for the middleware, or one per `key(ctx)` in a bounded LRU.
 */
import type { Context, Middleware, Next } from 'koa';
import {
  isRejection,
  type BrokenCircuitError,
  type BulkheadRejectedError,
  type TimeoutError,
} from './errors.js';
import { defaultIsFailure, warn } from './circuit-breaker.js';
import { Emitter, type BreakerEventName, type BreakerListener } from './events.js';
import type { HealthCheckResult } from './health.js';
import { PolicyRegistry } from './keys.js';
import { optionNames } from './known-keys.js';
import { POLICY_OPTIONS } from './option-names.js';
import {
  functionOption,
  normalizePolicy,
  objectOption,
  positiveInt,
  positiveMs,
  type PolicyOptions,
} from './options.js';
import { Policy, type BreakerStats } from './policy.js';
import { isOwnError, renderProblem } from './problem.js';
import { parseRetryAfter, retryAfterOf } from './retry-after.js';
import type { Outcome } from './state.js';

/** Options of {@link breaker}: the policy, plus how the middleware keys, judges and answers. */
export interface BreakerOptions extends PolicyOptions {
  /**
   * One breaker per key (e.g. route or tenant). A key function that throws (bad client input)
   * falls back to the shared key `''`, and the error is reported on `app.emit('error')`.
   * @default one breaker for the middleware
   */
  key?: (ctx: Context) => string;
  /** Most keys kept; past it the least recently used is dropped. @default 1000 */
  maxKeys?: number;
  /** A key unused for this long (nothing running, not open) is dropped lazily. @default 600000 */
  idleMs?: number;
  /**
   * Whether a finished request counts as a failure; `err` is what downstream threw, the
   * TimeoutError when it ran past `timeoutMs`, or undefined when it answered. Not asked for client
   * aborts and local rejections (they count as neither).
   * @default a thrown error without a 4xx status, or a response status >= 500
   */
  isFailure?: (ctx: Context, err: unknown) => boolean;
  /**
   * Answers instead of the problem+json response when the breaker refuses a request or it times
   * out (`err` is a BrokenCircuitError, BulkheadRejectedError or TimeoutError).
   */
  fallback?: (
    ctx: Context,
    err: BrokenCircuitError | BulkheadRejectedError | TimeoutError,
  ) => unknown;
}

const BREAKER_OPTIONS: readonly string[] = Object.freeze([
  ...POLICY_OPTIONS,
  ...optionNames<Omit<BreakerOptions, keyof PolicyOptions>>({
    key: true,
    maxKeys: true,
    idleMs: true,
    isFailure: true,
    fallback: true,
  }),
]);

/** The middleware `breaker()` returns, with its controls attached. */
export interface BreakerMiddleware extends Middleware {
  /** Subscribes to an event; payloads carry `name` and, for keyed breakers, `key`. */
  on<E extends BreakerEventName>(event: E, listener: BreakerListener<E>): BreakerMiddleware;
  off<E extends BreakerEventName>(event: E, listener: BreakerListener<E>): BreakerMiddleware;
  /** The stats of every live breaker (one when there is no `key`). O(keys). */
  stats(): BreakerStats[];
  /** The stats of one key's breaker (no argument: the unkeyed breaker), if it exists. */
  get(key?: string): BreakerStats | undefined;
  /** `pass` when every breaker is closed, else `openHealth` (default `warn`) naming the open ones. */
  healthCheck(): Promise<HealthCheckResult>;
  /** Rejects bulkhead waiters, drops every key and listener. */
  close(): void;
}

/** Set on `ctx` when a breaker answered with its own rejection: an outer breaker counts neither. */
const REJECTED = Symbol.for('@koa-mesh/breaker.rejected');

/**
 * Why a queued request left the bulkhead queue: its client went away while it waited for a slot.
 * Status 499 (the usual "client closed request"), `expose`d; the middleware swallows it, since
 * nobody is left to answer.
 */
function clientClosed(name: string): Error {
  return Object.assign(
    new Error(`the client went away while waiting in the bulkhead queue of "${name}"`),
    { name: 'ClientClosedRequestError', code: 'ECONNRESET', status: 499, expose: true },
  );
}

function isClientClosed(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'ClientClosedRequestError';
}

/** Exposes the work's signal when there is one (a timeout or an outer breaker's signal). */
function runNext(signal: AbortSignal | undefined, ctx: Context, next: Next): Promise<unknown> {
  if (signal !== undefined) ctx.state.signal = signal;
  return next();
}

/**
 * Guards everything downstream with a circuit breaker (plus optional timeout and bulkhead).
 *
 * @example
 * app.use(breaker({ failureThreshold: 5, openMs: 10_000, timeoutMs: 2_000 }));
 */
export function breaker(options: BreakerOptions = {}): BreakerMiddleware {
  const p = normalizePolicy(options, BREAKER_OPTIONS);
  const o = objectOption('options', options) ?? {};
  const keyFn = functionOption<((ctx: Context) => string) | undefined>('key', o.key, undefined);
  const maxKeys = positiveInt('maxKeys', o.maxKeys, 1000);
  const idleMs = positiveMs('idleMs', o.idleMs, 600_000);
  const isFailure = functionOption<BreakerOptions['isFailure']>(
    'isFailure',
    o.isFailure,
    undefined,
  );
  const fallback = functionOption<BreakerOptions['fallback']>('fallback', o.fallback, undefined);

  let lastApp: Context['app'] | undefined;
  const report = (err: unknown, ctx?: Context): void => {
    const app = ctx?.app ?? lastApp;
    if (app) app.emit('error', err, ctx);
    else warn(err);
  };
  const emitter = new Emitter((err) => report(err));
  const single = keyFn ? undefined : new Policy(p, emitter, undefined);
  const registry = keyFn
    ? new PolicyRegistry((key) => new Policy(p, emitter, key), maxKeys, idleMs)
    : undefined;

  const judge = (ctx: Context, err: unknown, failed: boolean): Outcome => {
    if (ctx.res.destroyed && !ctx.res.writableEnded) return 'ignored';
    if (failed ? isRejection(err) : (ctx as unknown as Record<symbol, unknown>)[REJECTED] === true)
      return 'ignored';
    if (isFailure) {
      try {
        return isFailure(ctx, failed ? err : undefined) ? 'failure' : 'success';
      } catch (hookErr) {
        report(hookErr, ctx);
      }
    }
    if (failed) return defaultIsFailure(err) ? 'failure' : 'success';
    return ctx.status >= 500 ? 'failure' : 'success';
  };

  const pushBack = (ctx: Context, err: unknown): number | undefined => {
    if (!p.respectRetryAfter) return undefined;
    if (err !== undefined) return isRejection(err) ? undefined : retryAfterOf(err);
    const status = ctx.status;
    if (status !== 429 && status !== 503) return undefined;
    if ((ctx as unknown as Record<symbol, unknown>)[REJECTED] === true) return undefined;
    return parseRetryAfter(ctx.response.get('Retry-After'));
  };

  const policyFor = (ctx: Context): Policy => {
    if (single) return single;
    let key: string;
    try {
      key = String(keyFn!(ctx));
    } catch (err) {
      report(err, ctx);
      key = '';
    }
    return registry!.get(key, p.clock());
  };

  const middleware = async function breakerMiddleware(ctx: Context, next: Next): Promise<void> {
    lastApp = ctx.app;
    const policy = policyFor(ctx);
    const parent = ctx.state.signal as unknown;
    const parentSignal = parent instanceof AbortSignal ? parent : undefined;
    let signal = parentSignal;
    let work = runNext;
    let unlink: (() => void) | undefined;
    const bh = policy.bulkhead;
    if (bh !== undefined && bh.active >= bh.maxConcurrent) {
      // This request is about to wait for a slot. A client that goes away meanwhile must not keep
      // its place in the queue: under overload the queue would fill with requests nobody reads.
      // Once admitted it runs like any other request (a client leaving does not abort it). Only
      // queued requests pay for this.
      const controller = new AbortController();
      const res = ctx.res;
      const onClose = (): void => {
        if (!res.writableFinished) controller.abort(clientClosed(p.name));
      };
      const onParentAbort = (): void => controller.abort(parentSignal!.reason);
      res.once('close', onClose);
      parentSignal?.addEventListener('abort', onParentAbort, { once: true });
      unlink = () => {
        res.off('close', onClose);
        parentSignal?.removeEventListener('abort', onParentAbort);
      };
      work = (admitted, c, n) => {
        res.off('close', onClose);
        return runNext(admitted, c, n);
      };
      signal = controller.signal;
    }
    try {
      await policy.run(work, ctx, next, signal, judge, pushBack);
    } catch (err) {
      // Nobody is left to answer, and a client leaving is not an application error to report.
      if (unlink !== undefined && signal!.aborted && err === signal!.reason && isClientClosed(err))
        return;
      if (!isOwnError(err)) throw err;
      if (isRejection(err)) (ctx as unknown as Record<symbol, unknown>)[REJECTED] = true;
      if (fallback) {
        try {
          await fallback(ctx, err as BrokenCircuitError);
          return;
        } catch (fallbackErr) {
          report(fallbackErr, ctx);
        }
      }
      renderProblem(ctx, err);
    } finally {
      unlink?.();
      // A work signal that aborted (timeout, caller abort) stays: the abandoned handler may still
      // be running, and its next outbound call must see it aborted, not the outer one or none.
      const exposed = ctx.state.signal as unknown;
      if (!(exposed !== parentSignal && exposed instanceof AbortSignal && exposed.aborted)) {
        if (parentSignal !== undefined) ctx.state.signal = parentSignal;
        else if (signal !== undefined) delete ctx.state.signal;
      }
    }
  } as BreakerMiddleware;

  const all = (): Policy[] => (single ? [single] : [...registry!.values()]);

  middleware.on = (event, listener) => {
    emitter.on(event, listener);
    return middleware;
  };
  middleware.off = (event, listener) => {
    emitter.off(event, listener);
    return middleware;
  };
  middleware.stats = () => all().map((policy) => policy.stats());
  middleware.get = (key) =>
    single ? (key === undefined ? single.stats() : undefined) : registry!.peek(key ?? '')?.stats();
  middleware.healthCheck = () => {
    const now = p.clock();
    const policies = all();
    if (single) return Promise.resolve(single.healthCheck());
    const notClosed = policies.filter((policy) => policy.state.current(now) !== 'closed');
    if (notClosed.length === 0)
      return Promise.resolve({
        status: 'pass',
        componentType: 'component',
        measurement: 'openCircuits',
        observedValue: 0,
      });
    return Promise.resolve({
      status: p.openHealth,
      componentType: 'component',
      measurement: 'openCircuits',
      observedValue: notClosed.length,
      output: `${notClosed.length} of ${policies.length} circuits of "${p.name}" are open or half-open`,
      details: { keys: notClosed.slice(0, 20).map((policy) => policy.key) },
    });
  };
  middleware.close = () => {
    single?.close();
    registry?.clear();
    emitter.clear();
  };
  return middleware;
}
