import { CircuitBreaker } from '@koa-mesh/breaker';
import type { DiscoveryClient } from '@koa-mesh/discovery';
import { injectTraceHeaders } from '@koa-mesh/tracing';
import type { Context } from 'koa';
import type { OrdersCallConfig } from '../config.js';
import type { OrdersCall } from './gateway.js';
import { OrdersUpstreamError, parseUpstreamOrders } from './http-call.js';

/** One breaker per orders version, so a failing canary does not cut users off stable. */
export function ordersBreakers(
  config: OrdersCallConfig,
  versions: readonly string[],
): Record<string, CircuitBreaker> {
  const out: Record<string, CircuitBreaker> = {};
  for (const version of versions) {
    out[version] = new CircuitBreaker({
      name: `${config.serviceName}-${version}`,
      failureThreshold: config.breakerFailureThreshold,
      openMs: config.breakerOpenMs,
      timeoutMs: config.timeoutMs,
    });
  }
  return out;
}

/**
 * Calls the orders service of one version through discovery (instances filtered on
 * `meta.version`, balanced, retried on another instance) inside that version's breaker, carrying
 * the request's trace context.
 */
export function meshOrdersCall(
  config: OrdersCallConfig,
  breakers: Readonly<Record<string, CircuitBreaker>>,
): OrdersCall {
  return async function callOrders(ctx: Context, version: string, userId: string) {
    const breaker = breakers[version];
    const client = ctx.state.discovery as DiscoveryClient | undefined;
    if (!breaker || !client) throw new OrdersUpstreamError(`no route to orders ${version}`);
    return breaker.execute(async (signal) => {
      const res = await client.fetch(config.serviceName, `/orders/${encodeURIComponent(userId)}`, {
        filter: { meta: { version } },
        headers: injectTraceHeaders({ accept: 'application/json' } as Record<string, string>, {
          ctx,
        }),
        hashKey: userId,
        timeoutMs: config.timeoutMs,
        signal,
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new OrdersUpstreamError(
          `orders ${version} answered ${res.statusCode}`,
          res.statusCode,
        );
      }
      let body: unknown;
      try {
        body = await res.body.json();
      } catch {
        // Not JSON (an HTML error page from a proxy, a cut body): the parser's message would
        // quote the upstream's bytes, so it is not passed on.
        throw new OrdersUpstreamError(`orders ${version} answered a body that is not JSON`);
      }
      return parseUpstreamOrders(body);
    });
  };
}
