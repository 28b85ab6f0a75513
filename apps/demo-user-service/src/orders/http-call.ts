import { HttpError } from '../http/errors.js';
import type { UpstreamOrders } from './gateway.js';

/** Thrown when the orders service answers with something other than a 200 and an orders body. */
export class OrdersUpstreamError extends HttpError {
  constructor(
    message: string,
    readonly upstreamStatus?: number,
  ) {
    super('ERR_DEMO_ORDERS_UPSTREAM', 502, 'Bad gateway', message);
    this.name = 'OrdersUpstreamError';
  }
}

/** Checks the orders service's answer rather than trusting it. */
export function parseUpstreamOrders(body: unknown): UpstreamOrders {
  const b = body as Partial<UpstreamOrders> | null;
  if (
    typeof b !== 'object' ||
    b === null ||
    typeof b.userId !== 'string' ||
    typeof b.version !== 'string' ||
    typeof b.instance !== 'string' ||
    !Array.isArray(b.orders)
  ) {
    throw new OrdersUpstreamError('malformed answer from the orders service');
  }
  return {
    userId: b.userId,
    version: b.version,
    instance: b.instance,
    orders: b.orders,
    ...(typeof b.traceId === 'string' ? { traceId: b.traceId } : {}),
  };
}
