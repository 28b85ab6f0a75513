import { isAllZeros, isLowerHex, padHex } from './hex.js';
import { FLAG_SAMPLED, type ParsedTraceContext } from './traceparent.js';

/** Longer `uber-trace-id` values are not parsed (a header size cap). */
const MAX_UBER_LENGTH = 128;
const ENCODED_COLON = /%3a/gi;

/**
 * Parses Jaeger's `uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}`
 * (https://www.jaegertracing.io/docs/1.21/client-libraries/#propagation-format). Ids are hex of
 * at most 32 / 16 digits, left-padded; hex case is folded; `%3A` is accepted for `:` (some clients
 * URL-encode the value); flag bit 1 means sampled, bit 2 (debug) implies it.
 */
export function parseUberTraceId(header: string | undefined): ParsedTraceContext | undefined {
  if (header === undefined || header.length > MAX_UBER_LENGTH) return undefined;
  const parts = header.trim().replace(ENCODED_COLON, ':').toLowerCase().split(':');
  if (parts.length !== 4) return undefined;
  const [rawTrace, rawSpan, rawParent, rawFlags] = parts as [string, string, string, string];
  if (rawTrace.length > 32 || rawSpan.length > 16 || rawParent.length > 16) return undefined;
  if (!isLowerHex(rawTrace) || !isLowerHex(rawSpan) || !isLowerHex(rawParent)) return undefined;
  if (isAllZeros(rawTrace) || isAllZeros(rawSpan)) return undefined;
  if (rawFlags.length === 0 || rawFlags.length > 2 || !isLowerHex(rawFlags)) return undefined;
  const flags = parseInt(rawFlags, 16);
  return {
    traceId: padHex(rawTrace, 32),
    spanId: padHex(rawSpan, 16),
    traceFlags: flags & 0x03 ? FLAG_SAMPLED : 0,
  };
}

/** Formats `uber-trace-id` for an outbound call (parent span id `0`, as the format deprecates it). */
export function formatUberTraceId(traceId: string, spanId: string, traceFlags: number): string {
  return `${traceId}:${spanId}:0:${traceFlags & FLAG_SAMPLED ? '1' : '0'}`;
}
