import Router from '@koa/router';
import type { Context } from 'koa';
import type { OrdersConfig } from '../config.js';
import { HttpError, ValidationError } from '../http/errors.js';
import type { Logger } from '../logger.js';
import { ordersFor } from './data.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface OrdersAppOptions {
  config: OrdersConfig;
  logger: Logger;
  /** Random source for the failure injection. @default Math.random */
  random?: () => number;
}

/**
 * The orders companion service's routes: `GET /orders/:userId`. v2 can be told to be slow
 * (`ORDERS_DELAY_MS`) or to fail a share of requests (`ORDERS_FAILURE_RATE`), to show the breaker
 * and the canary at work.
 */
export function ordersRouter({ config, random = Math.random }: OrdersAppOptions): Router {
  const router = new Router();
  router.get('/orders/:userId', async function listOrders(ctx: Context) {
    const userId = ctx.params.userId;
    if (userId === undefined || !UUID.test(userId)) {
      throw new ValidationError([{ field: 'params.userId', message: 'must be a UUID' }]);
    }
    if (config.delayMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, config.delayMs);
        // A client that gave up does not keep the timer (and the process) busy.
        ctx.res.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    if (config.failureRate > 0 && random() < config.failureRate) {
      throw new HttpError(
        'ERR_DEMO_INJECTED_FAILURE',
        500,
        'Internal Server Error',
        'injected failure',
      );
    }
    ctx.set('X-Service-Version', config.version);
    ctx.body = {
      userId: userId.toLowerCase(),
      version: config.version,
      instance: `${config.serviceName}-${config.version}-${config.port}`,
      // The trace this request belongs to, as @koa-mesh/tracing continued it from the caller.
      traceId: ctx.state.traceId as string | undefined,
      orders: ordersFor(userId.toLowerCase(), config.version),
    };
  });
  return router;
}
