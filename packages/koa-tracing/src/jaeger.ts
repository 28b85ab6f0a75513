import {
  isBaggageKey,
  MAX_BAGGAGE_LENGTH,
  MAX_BAGGAGE_MEMBERS,
  type BaggageMember,
} from './baggage.js';
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

/** Jaeger carries each baggage item in its own header: `uberctx-{key}: {url-encoded value}`. */
export const UBERCTX_PREFIX = 'uberctx-';

/**
 * Reads Jaeger baggage from the `uberctx-{key}` headers among `names` (lowercase, as Node gives
 * them). Values are URL-decoded (an undecodable one is skipped); keys must be baggage keys (RFC
 * 7230 tokens); the same caps as W3C `baggage` apply: at most {@link MAX_BAGGAGE_MEMBERS} items and
 * {@link MAX_BAGGAGE_LENGTH} characters of keys and values in all, the rest dropped. `allow`, when
 * given, keeps only the keys it accepts.
 */
export function parseUberBaggage(
  names: Iterable<string>,
  get: (name: string) => string | undefined,
  allow?: (key: string) => boolean,
): BaggageMember[] {
  const out: BaggageMember[] = [];
  let length = 0;
  for (const name of names) {
    if (!name.startsWith(UBERCTX_PREFIX)) continue;
    const key = name.slice(UBERCTX_PREFIX.length);
    const raw = get(name);
    if (raw === undefined || !isBaggageKey(key)) continue;
    if (allow && !allow(key)) continue;
    let value: string;
    try {
      value = decodeURIComponent(raw.trim());
    } catch {
      continue;
    }
    length += key.length + value.length;
    if (out.length >= MAX_BAGGAGE_MEMBERS || length > MAX_BAGGAGE_LENGTH) break;
    out.push({ key, value });
  }
  return out;
}

/**
 * Writes baggage members as Jaeger `uberctx-{key}` headers (values URL-encoded), within the same
 * caps as {@link parseUberBaggage}; a key that is not a baggage key is skipped.
 */
export function writeUberBaggage(
  members: Iterable<Pick<BaggageMember, 'key' | 'value'>>,
  set: (name: string, value: string) => void,
): void {
  let count = 0;
  let length = 0;
  for (const { key, value } of members) {
    if (!isBaggageKey(key)) continue;
    length += key.length + value.length;
    if (count >= MAX_BAGGAGE_MEMBERS || length > MAX_BAGGAGE_LENGTH) break;
    set(UBERCTX_PREFIX + key.toLowerCase(), encodeURIComponent(value));
    count++;
  }
}
