import { randomFillSync } from 'node:crypto';

/** The value of each lowercase hex digit by character code (`0-9a-f`), -1 for anything else. */
const HEX_VALUE: Int8Array = (() => {
  const table = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) table[48 + i] = i;
  for (let i = 0; i < 6; i++) table[97 + i] = 10 + i;
  return table;
})();

/** The value of the lowercase hex digit at `value[index]`, or -1 when it is not one. */
export function hexDigitAt(value: string, index: number): number {
  const c = value.charCodeAt(index);
  // NaN (past the end) and codes above 255 are not digits.
  return c < 256 ? HEX_VALUE[c]! : -1;
}

/**
 * Checks `value[start, end)` (which must lie within `value`) for lowercase hex: -1 when a
 * character is not a lowercase hex digit, 0 when all are `0`, 1 otherwise. One table look-up per
 * character: this runs on every inbound `traceparent`.
 */
export function scanLowerHex(value: string, start: number, end: number): -1 | 0 | 1 {
  let any = 0;
  for (let i = start; i < end; i++) {
    const c = value.charCodeAt(i);
    const digit = c < 256 ? HEX_VALUE[c]! : -1;
    if (digit < 0) return -1;
    any |= digit;
  }
  return any === 0 ? 0 : 1;
}

/** True when `value[start, end)` is made only of lowercase hex digits (`0-9a-f`). */
export function isLowerHex(value: string, start = 0, end = value.length): boolean {
  if (end > value.length || start >= end) return false;
  return scanLowerHex(value, start, end) >= 0;
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
  /** A random (version 4) UUID in its usual lowercase `8-4-4-4-12` form. */
  uuid(): string;
}

const POOL_BYTES = 4096;
/** UUIDs formatted per refill of the UUID pool. */
const UUID_BATCH = 128;
const UUID_LENGTH = 36;
const HEX_CHAR = new TextEncoder().encode('0123456789abcdef');
/** Where the two hex digits of each of a UUID's 16 bytes go in `8-4-4-4-12`. */
const UUID_DIGIT_AT = Uint8Array.of(0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34);

/**
 * An {@link IdGenerator} drawing from a pool of cryptographic random bytes refilled in blocks and
 * hex-encoded once per block, so an id costs a string slice rather than a system call and an
 * encoding call. UUIDs likewise come from a block of 128 formatted at once into one string.
 * Each call to the factory owns its pools (no module-level state). Ids are fully random, which is
 * what W3C Level 2's `random` trace-flag promises about a trace id.
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
  const uuidRandom = Buffer.allocUnsafe(16 * UUID_BATCH);
  // The dashes never move: written once, the refills only overwrite the hex digits.
  const uuidText = Buffer.alloc(UUID_LENGTH * UUID_BATCH, 45 /* - */);
  let uuids = '';
  let uuidOffset = 0;
  const refillUuids = (): void => {
    randomFillSync(uuidRandom);
    for (let u = 0; u < UUID_BATCH; u++) {
      const r = u * 16;
      // Version 4 and the RFC 9562 variant (10xx) in bytes 6 and 8.
      uuidRandom[r + 6] = (uuidRandom[r + 6]! & 0x0f) | 0x40;
      uuidRandom[r + 8] = (uuidRandom[r + 8]! & 0x3f) | 0x80;
      const t = u * UUID_LENGTH;
      for (let b = 0; b < 16; b++) {
        const byte = uuidRandom[r + b]!;
        const at = t + UUID_DIGIT_AT[b]!;
        uuidText[at] = HEX_CHAR[byte >> 4]!;
        uuidText[at + 1] = HEX_CHAR[byte & 15]!;
      }
    }
    uuids = uuidText.toString('latin1');
    uuidOffset = 0;
  };
  const uuid = (): string => {
    if (uuidOffset === uuids.length) refillUuids();
    const id = uuids.slice(uuidOffset, uuidOffset + UUID_LENGTH);
    uuidOffset += UUID_LENGTH;
    return id;
  };
  return { traceId: () => take(32), spanId: () => take(16), uuid };
}
