import { bucketIndex, OVERFLOW, RequestTable } from '../src/request-table.js';

const bounds = [0.1, 0.5, 1];

function table(maxSeries = 2000): RequestTable {
  return new RequestTable({
    labelNames: ['method', 'route', 'status_code'],
    bounds,
    sizeBounds: undefined,
    maxSeries,
  });
}

describe('RequestTable (pure logic)', () => {
  it('puts a value on a boundary in that bucket (le is inclusive) and larger ones in +Inf', () => {
    const b = Float64Array.from(bounds);
    expect(bucketIndex(b, 0)).toBe(0);
    expect(bucketIndex(b, 0.1)).toBe(0);
    expect(bucketIndex(b, 0.10001)).toBe(1);
    expect(bucketIndex(b, 1)).toBe(2);
    expect(bucketIndex(b, 1.5)).toBe(3);
  });

  it('holds at most maxSeries label sets across 100k distinct keys', () => {
    const t = table(2000);
    for (let i = 0; i < 100_000; i++) {
      const route = `/r/${i}`;
      const key = `${route}|GET|200`;
      const s = t.find(key) ?? t.add(key, ['GET', route, '200']);
      t.observe(s, 0.05, undefined, undefined, () => 0);
    }
    expect(t.size).toBe(2000);
    expect(t.overflows).toBe(98_000);
    const all = [...t.all()];
    expect(all).toHaveLength(2001);
    const overflow = all[2000]!;
    expect(overflow.labels).toEqual({ method: OVERFLOW, route: OVERFLOW, status_code: OVERFLOW });
    expect(overflow.count).toBe(98_000);
    expect(all.reduce((n, s) => n + s.count, 0)).toBe(100_000);
  });

  it('keeps the latest exemplar per bucket, reusing its record', () => {
    const t = table();
    const s = t.add('k', ['GET', '/', '200']);
    let now = 100;
    t.observe(s, 0.05, 'a'.repeat(32), 'b'.repeat(16), () => now);
    const first = s.exemplars![0];
    now = 200;
    t.observe(s, 0.07, 'c'.repeat(32), 'd'.repeat(16), () => now);
    t.observe(s, 0.7, undefined, undefined, () => now);
    expect(s.exemplars![0]).toBe(first);
    expect(first).toEqual({
      traceId: 'c'.repeat(32),
      spanId: 'd'.repeat(16),
      value: 0.07,
      timestamp: 200,
    });
    expect(s.exemplars![2]).toBeUndefined();
    expect([...s.buckets]).toEqual([2, 0, 1, 0]);
    expect(s.count).toBe(3);
    expect(s.sum).toBeCloseTo(0.82);
  });

  it('starts over on reset()', () => {
    const t = table(1);
    t.add('a', ['GET', '/a', '200']);
    t.add('b', ['GET', '/b', '200']);
    t.reset();
    expect(t.size).toBe(0);
    expect(t.overflows).toBe(0);
    expect([...t.all()]).toHaveLength(0);
  });
});
