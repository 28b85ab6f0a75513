import type { Redis } from 'ioredis';
import type { Context, Middleware, Next } from 'koa';
import ratelimit from 'koa-ratelimit';
import { RateLimitedError, RateLimitStoreUnavailableError } from '../http/errors.js';
import type { HealthCheckResult } from '../health-types.js';
import type { Logger } from '../logger.js';
import { BoundedExpiringMap } from './bounded-map.js';

export interface RateLimiterOptions {
  max: number;
  windowMs: number;
  /** Shared store; the in-process memory driver when absent. */
  redis?: Redis;
  /** What a store failure does to the request: pass it (`open`) or answer 503 (`closed`). */
  failPolicy: 'open' | 'closed';
  /** The client key: user id when authenticated, else the client IP. */
  id: (ctx: Context) => string;
  logger: Logger;
  /** Redis key prefix. @default 'koa-mesh-demo:ratelimit' */
  namespace?: string;
  /** Keys the memory driver keeps at most. @default 100_000 */
  memoryMaxKeys?: number;
  /** How long after a store error /ready keeps saying warn. @default 10_000 */
  warnForMs?: number;
  now?: () => number;
  /** Called once per store failure, e.g. to count it in a metric. A throw is reported, not raised. */
  onStoreError?: (err: unknown) => void;
  /** Called once per 429. */
  onLimited?: () => void;
}

export interface RateLimiterStats {
  /** Requests refused with 429. */
  limited: number;
  /** Store failures (Redis down, timed out). */
  storeErrors: number;
  /** Requests let through because of a store failure (policy `open`). */
  failedOpen: number;
  /** Requests refused with 503 because of a store failure (policy `closed`). */
  failedClosed: number;
}

export interface RateLimiter {
  readonly middleware: Middleware;
  stats(): RateLimiterStats;
  /** `warn` while the store is unreachable or failed recently; never `fail` (the service still answers). */
  healthCheck(): Promise<HealthCheckResult>;
}

/** koa-ratelimit's memory driver sends a fractional `X-RateLimit-Reset`; clients expect whole seconds. */
function wholeSecondReset(ctx: Context): void {
  const reset = ctx.response.get('X-RateLimit-Reset');
  if (reset !== '' && !/^\d+$/.test(reset))
    ctx.set('X-RateLimit-Reset', String(Math.ceil(Number(reset))));
}

/**
 * koa-ratelimit, made safe to run on Redis: a store failure never hangs (short ioredis timeouts,
 * see createRedis) and never becomes a 500. It follows an explicit policy instead, and is counted,
 * logged (once per outage window) and reported by `healthCheck()`. A 429 is a problem+json with
 * `Retry-After` in whole seconds, at least 1 (koa-ratelimit can send 0).
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const now = options.now ?? Date.now;
  const warnForMs = options.warnForMs ?? 10_000;
  const limit = ratelimit({
    driver: options.redis ? 'redis' : 'memory',
    db: options.redis ?? new BoundedExpiringMap(options.memoryMaxKeys ?? 100_000, now),
    duration: options.windowMs,
    max: options.max,
    id: options.id,
    namespace: options.namespace ?? 'koa-mesh-demo:ratelimit',
  });
  const stats: RateLimiterStats = { limited: 0, storeErrors: 0, failedOpen: 0, failedClosed: 0 };
  let lastErrorAt = -Infinity;
  let lastError: unknown;
  let loggedAt = -Infinity;
  let suppressed = 0;

  const limiter: RateLimiter = {
    middleware: async function rateLimitMiddleware(ctx: Context, next: Next): Promise<void> {
      let downstream = false;
      try {
        await limit(ctx, () => {
          downstream = true;
          wholeSecondReset(ctx);
          return next();
        });
      } catch (err) {
        // An error from below is not ours to judge.
        if (downstream) throw err;
        stats.storeErrors += 1;
        lastErrorAt = now();
        lastError = err;
        try {
          options.onStoreError?.(err);
        } catch (hookErr) {
          ctx.app.emit('error', hookErr, ctx);
        }
        if (lastErrorAt - loggedAt >= warnForMs) {
          options.logger.warn(`rate limit store failed; failing ${options.failPolicy}`, {
            err,
            suppressedSinceLast: suppressed,
          });
          loggedAt = lastErrorAt;
          suppressed = 0;
        } else {
          suppressed += 1;
        }
        if (options.failPolicy === 'closed') {
          stats.failedClosed += 1;
          throw new RateLimitStoreUnavailableError(err);
        }
        stats.failedOpen += 1;
        await next();
        return;
      }
      if (!downstream && ctx.status === 429) {
        stats.limited += 1;
        try {
          options.onLimited?.();
        } catch (hookErr) {
          ctx.app.emit('error', hookErr, ctx);
        }
        const header = Math.ceil(Number(ctx.response.get('X-RateLimit-Reset')));
        const reset = Number.isFinite(header) && header > 0 ? header : Number.NaN;
        const retryAfter = Number.isFinite(reset)
          ? Math.max(1, Math.ceil(reset - now() / 1000))
          : 1;
        throw new RateLimitedError(retryAfter, {
          'X-RateLimit-Limit': String(options.max),
          'X-RateLimit-Remaining': '0',
          'X-RateLimit-Reset': String(
            Number.isFinite(reset) ? reset : Math.ceil(now() / 1000) + retryAfter,
          ),
        });
      }
    },
    stats: () => ({ ...stats }),
    async healthCheck(): Promise<HealthCheckResult> {
      const base = {
        componentType: 'datastore',
        observedValue: stats.storeErrors,
        observedUnit: 'store errors',
      };
      if (!options.redis) return { status: 'pass', ...base, output: 'memory store' };
      const recent = now() - lastErrorAt < warnForMs;
      if (options.redis.status !== 'ready' || recent) {
        const why =
          options.redis.status !== 'ready'
            ? `redis is ${options.redis.status}`
            : `redis failed ${Math.round((now() - lastErrorAt) / 1000)} s ago (${(lastError as Error | undefined)?.message ?? 'error'})`;
        return {
          status: 'warn',
          ...base,
          output: `${why}; rate limiting fails ${options.failPolicy}`,
        };
      }
      return { status: 'pass', ...base };
    },
  };
  return limiter;
}
