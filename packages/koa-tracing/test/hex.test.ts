import { createIdGenerator, isAllZeros, isLowerHex, padHex } from '../src/hex.js';

describe('ids', () => {
  it('makes lowercase hex trace and span ids of the right length, all different', () => {
    const ids = createIdGenerator();
    const seen = new Set<string>();
    // Enough draws to cross several refills of the 4 KiB pool.
    for (let i = 0; i < 2000; i++) {
      const t = ids.traceId();
      const s = ids.spanId();
      expect(t).toMatch(/^[0-9a-f]{32}$/);
      expect(s).toMatch(/^[0-9a-f]{16}$/);
      expect(isAllZeros(t) || isAllZeros(s)).toBe(false);
      seen.add(t).add(s);
    }
    expect(seen.size).toBe(4000);
  });

  it('gives two generators independent pools', () => {
    const a = createIdGenerator();
    const b = createIdGenerator();
    expect(a.spanId()).not.toBe(b.spanId());
  });

  it('checks hex ranges and pads short ids', () => {
    expect(isLowerHex('0af9')).toBe(true);
    expect(isLowerHex('0aF9')).toBe(false);
    expect(isLowerHex('')).toBe(false);
    expect(isLowerHex('abc', 1, 5)).toBe(false);
    expect(padHex('abc', 8)).toBe('00000abc');
  });
});
