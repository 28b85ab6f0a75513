import { randomFillSync } from 'node:crypto';

/** True when `value[start, end)` is made only of lowercase hex digits (`0-9a-f`). */
export function isLowerHex(value: string, start = 0, end = value.length): boolean {
  if (end > value.length || start >= end) return false;
  for (let i = start; i < end; i++) {
    const c = value.charCodeAt(i);
    // 0-9 or a-f
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** True when every character of `value[start, end)` is `0`. */
export function isAllZeros(value: string, start = 0, end = value.length): boolean {
  for (let i = start; i < end; i++) if (value.charCodeAt(i) !== 48) return false;
  return true;
}

/** Left-pads a shorter hex id (64-bit B3 or Jaeger trace ids) with zeros to `length`. */
export function padHex(value: string, length: number): string {
  return value.length >= length ? value : '0'.repeat(length - value.length) + value;
}

/** Produces random trace and span ids. */
export interface IdGenerator {
  /** 32 lowercase hex characters, never all zeros. */
  traceId(): string;
  /** 16 lowercase hex characters, never all zeros. */
  spanId(): string;
}

const POOL_BYTES = 4096;

/**
 * An {@link IdGenerator} drawing from a pool of cryptographic random bytes refilled in blocks and
 * hex-encoded once per block, so an id costs a string slice rather than a system call and an
 * encoding call. Each call to the factory owns its pool (no module-level state). Ids are fully
 * random, which is what W3C Level 2's `random` trace-flag promises about a trace id.
 */
export function createIdGenerator(): IdGenerator {
  const pool = Buffer.allocUnsafe(POOL_BYTES);
  let hex = '';
  let offset = 0;
  const take = (chars: number): string => {
    for (;;) {
      if (offset + chars > hex.length) {
        randomFillSync(pool);
        hex = pool.toString('hex');
        offset = 0;
      }
      const id = hex.slice(offset, offset + chars);
      offset += chars;
      if (!isAllZeros(id)) return id;
    }
  };
  return { traceId: () => take(32), spanId: () => take(16) };
}
