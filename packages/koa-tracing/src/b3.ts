import { isAllZeros, isLowerHex, padHex } from './hex.js';
import { FLAG_SAMPLED, type ParsedTraceContext } from './traceparent.js';

/** Longer B3 header values are not parsed (a header size cap). */
const MAX_B3_LENGTH = 128;

function traceIdOf(value: string): string | undefined {
  if ((value.length !== 16 && value.length !== 32) || !isLowerHex(value) || isAllZeros(value)) {
    return undefined;
  }
  return padHex(value, 32);
}

function spanIdOf(value: string): string | undefined {
  return value.length === 16 && isLowerHex(value) && !isAllZeros(value) ? value : undefined;
}

/** `1` and `d` (debug) sample, `0` does not; absent defers, which continues unsampled. */
function sampledOf(value: string | undefined): number | undefined {
  if (value === undefined || value === '0') return 0;
  if (value === '1' || value === 'd') return FLAG_SAMPLED;
  return undefined;
}

/**
 * Parses the B3 single header `b3: {traceId}-{spanId}[-{sampling}[-{parentSpanId}]]`
 * (https://github.com/openzipkin/b3-propagation#single-header). A 64-bit trace id is left-padded
 * to 128 bits. A sampling-only value (`b3: 0`) carries no ids and yields `undefined`.
 */
export function parseB3Single(header: string | undefined): ParsedTraceContext | undefined {
  if (header === undefined || header.length > MAX_B3_LENGTH) return undefined;
  const parts = header.trim().split('-');
  if (parts.length < 2 || parts.length > 4) return undefined;
  const traceId = traceIdOf(parts[0]!);
  const spanId = spanIdOf(parts[1]!);
  const sampled = sampledOf(parts[2]);
  if (!traceId || !spanId || sampled === undefined) return undefined;
  if (parts[3] !== undefined && !spanIdOf(parts[3])) return undefined;
  return { traceId, spanId, traceFlags: sampled };
}

/** The B3 multi-header set, as read from a request. */
export interface B3MultiHeaders {
  traceId: string | undefined;
  spanId: string | undefined;
  sampled: string | undefined;
  flags: string | undefined;
}

/**
 * Parses B3 multi headers (`X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled`, `X-B3-Flags`).
 * `X-B3-Flags: 1` (debug) implies sampled; `X-B3-Sampled` also accepts the legacy `true`/`false`.
 */
export function parseB3Multi(headers: B3MultiHeaders): ParsedTraceContext | undefined {
  if (headers.traceId === undefined || headers.spanId === undefined) return undefined;
  const traceId = traceIdOf(headers.traceId.trim());
  const spanId = spanIdOf(headers.spanId.trim());
  if (!traceId || !spanId) return undefined;
  let sampledValue = headers.sampled?.trim();
  if (sampledValue === 'true') sampledValue = '1';
  else if (sampledValue === 'false') sampledValue = '0';
  let traceFlags = sampledOf(sampledValue);
  if (traceFlags === undefined) return undefined;
  if (headers.flags?.trim() === '1') traceFlags = FLAG_SAMPLED;
  return { traceId, spanId, traceFlags };
}

/** Formats the B3 single header for an outbound call. */
export function formatB3Single(traceId: string, spanId: string, traceFlags: number): string {
  return `${traceId}-${spanId}-${traceFlags & FLAG_SAMPLED ? '1' : '0'}`;
}
