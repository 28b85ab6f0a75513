import { hexDigitAt, scanLowerHex } from './hex.js';

/** The `sampled` bit of W3C trace-flags. */
export const FLAG_SAMPLED = 0x01;
/** W3C Trace Context Level 2 `random` bit: the trace id's right-most 7 bytes are random. */
export const FLAG_RANDOM = 0x02;
/** The flags this version of the spec defines; the others are zeroed when propagating. */
export const KNOWN_FLAGS = FLAG_SAMPLED | FLAG_RANDOM;

/** A trace context read from an inbound header. */
export interface ParsedTraceContext {
  /** 32 lowercase hex characters, not all zeros. */
  traceId: string;
  /** The caller's span id: 16 lowercase hex characters, not all zeros. */
  spanId: string;
  /** Trace flags as sent (unknown bits included); mask with {@link KNOWN_FLAGS} to propagate. */
  traceFlags: number;
}

/** A version-00 traceparent is exactly this long; later versions are at least this long. */
export const TRACEPARENT_LENGTH = 55;
/** Longer `traceparent` values are not parsed at all (a header size cap). */
export const MAX_TRACEPARENT_LENGTH = 512;

function trimOws(value: string): string {
  // HTTP optional whitespace is space and horizontal tab only.
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 32 || value.charCodeAt(start) === 9)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9))
    end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

/**
 * Parses a W3C `traceparent` header value following the rules of
 * https://www.w3.org/TR/trace-context-2/#traceparent-header, returning `undefined` for anything
 * invalid (the caller then starts a new trace):
 *
 * - `version` is two lowercase hex digits and not `ff`;
 * - version `00` is exactly `00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>`;
 * - a higher version is parsed by the version-00 layout for its first 55 characters, and anything
 *   after them must start with `-` (forward compatibility);
 * - trace-id and parent-id must not be all zeros; hex must be lowercase;
 * - several headers (joined with `,` by Node) never parse, because the length or the 56th
 *   character is wrong.
 */
export function parseTraceparent(header: string | undefined): ParsedTraceContext | undefined {
  if (header === undefined || header.length > MAX_TRACEPARENT_LENGTH) return undefined;
  const value = trimOws(header);
  const length = value.length;
  if (length < TRACEPARENT_LENGTH) return undefined;
  // The fixed layout: `-` at 2, 35 and 52, lowercase hex elsewhere (a table look-up per
  // character), and a non-zero digit somewhere in the trace-id (3..34) and the parent-id (36..51).
  if (
    value.charCodeAt(2) !== 45 ||
    value.charCodeAt(35) !== 45 ||
    value.charCodeAt(52) !== 45 ||
    scanLowerHex(value, 3, 35) !== 1 ||
    scanLowerHex(value, 36, 52) !== 1
  ) {
    return undefined;
  }
  const v0 = hexDigitAt(value, 0);
  const v1 = hexDigitAt(value, 1);
  const f0 = hexDigitAt(value, 53);
  const f1 = hexDigitAt(value, 54);
  if (v0 < 0 || v1 < 0 || f0 < 0 || f1 < 0) return undefined;
  if (v0 === 15 && v1 === 15) return undefined; // version ff
  if (length > TRACEPARENT_LENGTH) {
    // Version 00 is exactly 55 characters; a later version may carry a `-`-separated tail.
    if ((v0 === 0 && v1 === 0) || value.charCodeAt(TRACEPARENT_LENGTH) !== 45) return undefined;
  }
  return { traceId: value.slice(3, 35), spanId: value.slice(36, 52), traceFlags: f0 * 16 + f1 };
}

/** Formats a version-00 `traceparent`, zeroing flags this version does not define. */
export function formatTraceparent(traceId: string, spanId: string, traceFlags: number): string {
  const flags = traceFlags & KNOWN_FLAGS;
  return `00-${traceId}-${spanId}-0${flags.toString(16)}`;
}
