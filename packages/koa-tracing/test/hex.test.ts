import {
  createIdGenerator,
  hexDigitAt,
  isAllZeros,
  isLowerHex,
  padHex,
  scanLowerHex,
} from '../src/hex.js';

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

  it('makes version 4 UUIDs, all different, across several refills of the pool', () => {
    const ids = createIdGenerator();
    const seen = new Set<string>();
    // The pool holds 128 UUIDs: this crosses it several times.
    for (let i = 0; i < 1000; i++) {
      const id = ids.uuid();
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(1000);
    expect(createIdGenerator().uuid()).not.toBe(createIdGenerator().uuid());
  });

  it('uses every hex digit in UUIDs (the random bits are really random)', () => {
    const ids = createIdGenerator();
    const digits = new Set<string>();
    for (let i = 0; i < 200; i++) for (const c of ids.uuid().replaceAll('-', '')) digits.add(c);
    expect([...digits].sort().join('')).toBe('0123456789abcdef');
  });

  it('scans hex digits: invalid, all zeros, or not', () => {
    expect(scanLowerHex('x00f0', 1, 5)).toBe(1);
    expect(scanLowerHex('x0000', 1, 5)).toBe(0);
    expect(scanLowerHex('x00F0', 1, 5)).toBe(-1);
    expect(scanLowerHex('00g0', 0, 4)).toBe(-1);
    // Characters that only look like digits, or sit above Latin-1.
    expect(scanLowerHex('0\uff10', 0, 2)).toBe(-1);
    expect(scanLowerHex('0\u0130', 0, 2)).toBe(-1);
    expect(hexDigitAt('af', 0)).toBe(10);
    expect(hexDigitAt('af', 1)).toBe(15);
    expect(hexDigitAt('9', 0)).toBe(9);
    expect(hexDigitAt('A', 0)).toBe(-1);
    expect(hexDigitAt('a', 1)).toBe(-1);
    expect(hexDigitAt('\u0161', 0)).toBe(-1);
  });

  it('checks hex ranges and pads short ids', () => {
    expect(isLowerHex('0af9')).toBe(true);
    expect(isLowerHex('0aF9')).toBe(false);
    expect(isLowerHex('')).toBe(false);
    expect(isLowerHex('abc', 1, 5)).toBe(false);
    expect(padHex('abc', 8)).toBe('00000abc');
  });
});
