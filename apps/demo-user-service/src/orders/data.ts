import { createHash } from 'node:crypto';

export interface Order {
  id: string;
  item: string;
  quantity: number;
  /** Amount in cents. */
  totalCents: number;
  placedAt: string;
}

const ITEMS = [
  'keyboard',
  'monitor',
  'headset',
  'desk lamp',
  'notebook',
  'coffee beans',
  'standing desk',
];

/**
 * Deterministic sample orders for a user: the demo's data is not the point, but the same user must
 * see the same orders from every instance of a version. v2 adds a `currency` field.
 */
export function ordersFor(userId: string, version: string): Array<Order & { currency?: string }> {
  const seed = createHash('sha256').update(userId).digest();
  const count = 1 + (seed[0]! % 3);
  const orders: Array<Order & { currency?: string }> = [];
  for (let i = 0; i < count; i += 1) {
    const b = seed[1 + i * 4]!;
    const quantity = 1 + (seed[2 + i * 4]! % 4);
    const order: Order & { currency?: string } = {
      id: `ord_${seed.subarray(3 + i * 4, 7 + i * 4).toString('hex')}`,
      item: ITEMS[b % ITEMS.length]!,
      quantity,
      totalCents: quantity * (500 + (b % 50) * 100),
      placedAt: new Date(Date.UTC(2026, seed[4 + i * 4]! % 12, 1 + (b % 28))).toISOString(),
    };
    if (version !== 'v1') order.currency = 'EUR';
    orders.push(order);
  }
  return orders;
}
