// B3 (https://github.com/openzipkin/b3-propagation) and Jaeger `uber-trace-id` rules.
import { formatB3Single, parseB3Multi, parseB3Single } from '../src/b3.js';
import {
  formatUberTraceId,
  parseUberBaggage,
  parseUberTraceId,
  writeUberBaggage,
} from '../src/jaeger.js';
import { MAX_BAGGAGE_LENGTH, MAX_BAGGAGE_MEMBERS } from '../src/baggage.js';

const T128 = '80f198ee56343ba864fe8b2a57d3eff7';
const T64 = '64fe8b2a57d3eff7';
const S = 'e457b5a2e4d86bd1';
const P = '05e3ac9a4f6e3b90';

describe('parseB3Single', () => {
  it('reads traceId-spanId-sampling-parentSpanId', () => {
    expect(parseB3Single(`${T128}-${S}-1-${P}`)).toEqual({
      traceId: T128,
      spanId: S,
      traceFlags: 1,
    });
  });

  it('reads traceId-spanId with the sampling decision deferred (unsampled)', () => {
    expect(parseB3Single(`${T128}-${S}`)).toEqual({ traceId: T128, spanId: S, traceFlags: 0 });
  });

  it('reads sampling 0 as unsampled and d (debug) as sampled', () => {
    expect(parseB3Single(`${T128}-${S}-0`)?.traceFlags).toBe(0);
    expect(parseB3Single(`${T128}-${S}-d`)?.traceFlags).toBe(1);
  });

  it('left-pads a 64-bit trace id to 128 bits', () => {
    expect(parseB3Single(`${T64}-${S}-1`)?.traceId).toBe(`0000000000000000${T64}`);
  });

  it('yields nothing for a sampling-only value', () => {
    expect(parseB3Single('0')).toBeUndefined();
    expect(parseB3Single('1')).toBeUndefined();
  });

  it('rejects a trace id that is neither 16 nor 32 hex, or all zeros', () => {
    expect(parseB3Single(`${T128.slice(1)}-${S}-1`)).toBeUndefined();
    expect(parseB3Single(`${'0'.repeat(32)}-${S}-1`)).toBeUndefined();
  });

  it('rejects a span id that is not 16 hex, or all zeros', () => {
    expect(parseB3Single(`${T128}-${S}0-1`)).toBeUndefined();
    expect(parseB3Single(`${T128}-${'0'.repeat(16)}-1`)).toBeUndefined();
  });

  it('rejects uppercase hex', () => {
    expect(parseB3Single(`${T128.toUpperCase()}-${S}-1`)).toBeUndefined();
  });

  it('rejects an unknown sampling state', () => {
    expect(parseB3Single(`${T128}-${S}-x`)).toBeUndefined();
  });

  it('rejects a malformed parent span id and too many fields', () => {
    expect(parseB3Single(`${T128}-${S}-1-xyz`)).toBeUndefined();
    expect(parseB3Single(`${T128}-${S}-1-${P}-extra`)).toBeUndefined();
  });

  it('formats the single header', () => {
    expect(formatB3Single(T128, S, 1)).toBe(`${T128}-${S}-1`);
    expect(formatB3Single(T128, S, 2)).toBe(`${T128}-${S}-0`);
  });
});

describe('parseB3Multi', () => {
  const h = (over: Partial<Record<'traceId' | 'spanId' | 'sampled' | 'flags', string>>) => ({
    traceId: T128,
    spanId: S,
    sampled: undefined,
    flags: undefined,
    ...over,
  });

  it('reads X-B3-TraceId, X-B3-SpanId and X-B3-Sampled', () => {
    expect(parseB3Multi(h({ sampled: '1' }))).toEqual({ traceId: T128, spanId: S, traceFlags: 1 });
    expect(parseB3Multi(h({ sampled: '0' }))?.traceFlags).toBe(0);
  });

  it('accepts the legacy true/false sampled values', () => {
    expect(parseB3Multi(h({ sampled: 'true' }))?.traceFlags).toBe(1);
    expect(parseB3Multi(h({ sampled: 'false' }))?.traceFlags).toBe(0);
  });

  it('treats X-B3-Flags: 1 (debug) as sampled', () => {
    expect(parseB3Multi(h({ flags: '1' }))?.traceFlags).toBe(1);
  });

  it('needs both ids', () => {
    expect(parseB3Multi(h({ traceId: undefined }))).toBeUndefined();
    expect(
      parseB3Multi({ traceId: T128, spanId: undefined, sampled: '1', flags: undefined }),
    ).toBeUndefined();
  });

  it('rejects an invalid sampled value', () => {
    expect(parseB3Multi(h({ sampled: 'yes' }))).toBeUndefined();
  });
});

describe('parseUberTraceId', () => {
  it('reads trace:span:parent:flags', () => {
    expect(parseUberTraceId(`${T128}:${S}:0:1`)).toEqual({
      traceId: T128,
      spanId: S,
      traceFlags: 1,
    });
  });

  it('reads flags without the sampled bit as unsampled, debug (2) as sampled', () => {
    expect(parseUberTraceId(`${T128}:${S}:0:0`)?.traceFlags).toBe(0);
    expect(parseUberTraceId(`${T128}:${S}:0:2`)?.traceFlags).toBe(1);
  });

  it('left-pads short ids', () => {
    expect(parseUberTraceId('abc:def:0:1')).toEqual({
      traceId: 'abc'.padStart(32, '0'),
      spanId: 'def'.padStart(16, '0'),
      traceFlags: 1,
    });
  });

  it('accepts the URL-encoded form and folds hex case', () => {
    expect(parseUberTraceId(`${T128.toUpperCase()}%3A${S}%3a0%3A1`)?.traceId).toBe(T128);
  });

  it('rejects all-zero ids', () => {
    expect(parseUberTraceId(`0:${S}:0:1`)).toBeUndefined();
    expect(parseUberTraceId(`${T128}:0:0:1`)).toBeUndefined();
  });

  it('rejects ids that are too long or not hex, and a wrong field count', () => {
    expect(parseUberTraceId(`${T128}0:${S}:0:1`)).toBeUndefined();
    expect(parseUberTraceId(`${T128}:${S}0:0:1`)).toBeUndefined();
    expect(parseUberTraceId(`${T128}:xyz:0:1`)).toBeUndefined();
    expect(parseUberTraceId(`${T128}:${S}:1`)).toBeUndefined();
    expect(parseUberTraceId(`${T128}:${S}:0:`)).toBeUndefined();
  });

  it('formats the header with a zero parent', () => {
    expect(formatUberTraceId(T128, S, 1)).toBe(`${T128}:${S}:0:1`);
  });
});

describe('Jaeger baggage (uberctx-{key} headers)', () => {
  const read = (headers: Record<string, string>, allow?: (key: string) => boolean) =>
    parseUberBaggage(Object.keys(headers), (name) => headers[name], allow);

  it('reads uberctx-* headers only, URL-decoding values', () => {
    expect(read({ 'uberctx-user': 'alice%20b%2Cc', 'uberctx-n': ' 1 ', other: 'x' })).toEqual([
      { key: 'user', value: 'alice b,c' },
      { key: 'n', value: '1' },
    ]);
  });

  it('skips an empty or non-token key and an undecodable value, each on its own', () => {
    expect(
      read({ 'uberctx-': 'a', 'uberctx-a b': 'x', 'uberctx-bad': '%zz', 'uberctx-ok': 'y' }),
    ).toEqual([{ key: 'ok', value: 'y' }]);
  });

  it('keeps only allowed keys', () => {
    expect(read({ 'uberctx-a': '1', 'uberctx-b': '2' }, (k) => k === 'b')).toEqual([
      { key: 'b', value: '2' },
    ]);
  });

  it('caps the number of items and their total size like W3C baggage', () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < MAX_BAGGAGE_MEMBERS + 10; i++) many[`uberctx-k${i}`] = 'v';
    expect(read(many)).toHaveLength(MAX_BAGGAGE_MEMBERS);
    const big = { 'uberctx-a': 'x'.repeat(MAX_BAGGAGE_LENGTH - 10), 'uberctx-b': 'y'.repeat(100) };
    expect(read(big).map((m) => m.key)).toEqual(['a']);
  });

  it('writes items as uberctx-* headers with URL-encoded values, skipping invalid keys, within the caps', () => {
    const out: Record<string, string> = {};
    writeUberBaggage(
      [
        { key: 'User', value: 'alice b,c' },
        { key: 'a b', value: 'x' },
      ],
      (name, value) => (out[name] = value),
    );
    expect(out).toEqual({ 'uberctx-user': 'alice%20b%2Cc' });
    const many: Record<string, string> = {};
    writeUberBaggage(
      Array.from({ length: MAX_BAGGAGE_MEMBERS + 5 }, (_, i) => ({ key: `k${i}`, value: 'v' })),
      (name, value) => (many[name] = value),
    );
    expect(Object.keys(many)).toHaveLength(MAX_BAGGAGE_MEMBERS);
  });
});
