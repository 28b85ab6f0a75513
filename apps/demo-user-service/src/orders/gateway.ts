import type { Context, Middleware, Next } from 'koa';
import type { Logger } from '../logger.js';
import { type Lru } from './lru.js';

/** What the orders service answers. */
export interface UpstreamOrders {
  userId: string;
  version: string;
  instance: string;
  traceId?: string;
  orders: unknown[];
}

/** What `GET /api/users/:id/orders` answers. */
export interface OrdersAnswer {
  userId: string;
  /** The orders version that answered (or would have). */
  version: string;
  /** True when the orders service could not be used and the answer is a fallback. */
  degraded: boolean;
  /** `live`, or the fallback used: the last good answer (`cache`) or nothing (`empty`). */
  source: 'live' | 'cache' | 'empty';
  orders: unknown[];
  upstream?: { instance: string; traceId?: string };
  /** Why the answer is degraded. */
  reason?: string;
}

/** Calls one version of the orders service for a user. */
export type OrdersCall = (ctx: Context, version: string, userId: string) => Promise<UpstreamOrders>;

export interface OrdersArmOptions {
  version: string;
  call: OrdersCall;
  cache: Lru<string, UpstreamOrders>;
  logger: Logger;
  /** Called for every degraded answer, e.g. to count it in a metric. */
  onFallback?: (version: string, source: 'cache' | 'empty') => void;
}

/**
 * The in-process handler of one canary arm: calls that version of the orders service, remembers
 * the last good answer per user, and answers from it (or with an empty list), marked as degraded,
 * when the call fails or the breaker is open. A fallback is a 200: the user's page still renders.
 */
export function ordersArm({
  version,
  call,
  cache,
  logger,
  onFallback,
}: OrdersArmOptions): Middleware {
  return async function ordersArmHandler(ctx: Context, _next: Next): Promise<void> {
    const userId = ctx.params.id as string;
    let answer: OrdersAnswer;
    try {
      const upstream = await call(ctx, version, userId);
      cache.set(userId, upstream);
      answer = {
        userId,
        version: upstream.version,
        degraded: false,
        source: 'live',
        orders: upstream.orders,
        upstream: {
          instance: upstream.instance,
          ...(upstream.traceId !== undefined ? { traceId: upstream.traceId } : {}),
        },
      };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      // Only an error code goes to the client: a message may quote internals or upstream bytes.
      const reason =
        typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code)
          ? code
          : 'ERR_DEMO_ORDERS_FAILED';
      logger.debug('orders fallback', { err, version, requestId: ctx.state.requestId });
      const cached = cache.get(userId);
      answer = {
        userId,
        version,
        degraded: true,
        source: cached ? 'cache' : 'empty',
        orders: cached?.orders ?? [],
        reason,
      };
      ctx.set('X-Degraded', 'orders');
      onFallback?.(version, answer.source as 'cache' | 'empty');
    }
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = answer;
  };
}
