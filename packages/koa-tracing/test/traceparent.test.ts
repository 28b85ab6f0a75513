// One test per rule of https://www.w3.org/TR/trace-context-2/#traceparent-header (and the cases the
// W3C test suite exercises for it), through the pure parser.
import {
  FLAG_RANDOM,
  FLAG_SAMPLED,
  formatTraceparent,
  parseTraceparent,
} from '../src/traceparent.js';

const TRACE = '12345678901234567890123456789012';
const PARENT = '1234567890123456';
const VALID = `00-${TRACE}-${PARENT}-01`;

describe('parseTraceparent', () => {
  it('reads version 00: trace-id, parent-id and flags', () => {
    expect(parseTraceparent(VALID)).toEqual({ traceId: TRACE, spanId: PARENT, traceFlags: 1 });
  });

  it('keeps the unsampled flag and the Level 2 random flag as sent', () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-00`)?.traceFlags).toBe(0);
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-03`)?.traceFlags).toBe(
      FLAG_SAMPLED | FLAG_RANDOM,
    );
  });

  it('rejects a missing header', () => {
    expect(parseTraceparent(undefined)).toBeUndefined();
    expect(parseTraceparent('')).toBeUndefined();
  });

  it('rejects version ff', () => {
    expect(parseTraceparent(`ff-${TRACE}-${PARENT}-01`)).toBeUndefined();
  });

  it('rejects illegal characters in the version', () => {
    expect(parseTraceparent(`.0-${TRACE}-${PARENT}-01`)).toBeUndefined();
    expect(parseTraceparent(`0.-${TRACE}-${PARENT}-01`)).toBeUndefined();
    expect(parseTraceparent(`0g-${TRACE}-${PARENT}-01`)).toBeUndefined();
  });

  it('rejects a version longer or shorter than 2 hex digits', () => {
    expect(parseTraceparent(`000-${TRACE}-${PARENT}-01`)).toBeUndefined();
    expect(parseTraceparent(`0000-${TRACE}-${PARENT}-01`)).toBeUndefined();
    expect(parseTraceparent(`0-${TRACE}-${PARENT}-01`)).toBeUndefined();
  });

  it('rejects version 00 with anything after the flags', () => {
    expect(parseTraceparent(`${VALID}.`)).toBeUndefined();
    expect(parseTraceparent(`${VALID}-what-the-future-will-be-like`)).toBeUndefined();
  });

  it('parses a future version by the 00 layout, ignoring a `-`-separated tail', () => {
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-01`)?.traceId).toBe(TRACE);
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-01-what-the-future-will-be-like`)).toEqual({
      traceId: TRACE,
      spanId: PARENT,
      traceFlags: 1,
    });
  });

  it('rejects a future version whose tail does not start with `-`', () => {
    expect(
      parseTraceparent(`cc-${TRACE}-${PARENT}-01.what-the-future-will-be-like`),
    ).toBeUndefined();
  });

  it('rejects an all-zero trace-id', () => {
    expect(parseTraceparent(`00-${'0'.repeat(32)}-${PARENT}-01`)).toBeUndefined();
  });

  it('rejects an all-zero parent-id', () => {
    expect(parseTraceparent(`00-${TRACE}-${'0'.repeat(16)}-01`)).toBeUndefined();
  });

  it('rejects illegal characters in the trace-id', () => {
    expect(parseTraceparent(`00-.${TRACE.slice(1)}-${PARENT}-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE.slice(0, 31)}.-${PARENT}-01`)).toBeUndefined();
  });

  it('rejects uppercase hex', () => {
    expect(parseTraceparent(`00-${'ABCDEF'.padEnd(32, '1')}-${PARENT}-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}-ABCDEF1234567890-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-0A`)).toBeUndefined();
    expect(parseTraceparent(`CC-${TRACE}-${PARENT}-01`)).toBeUndefined();
  });

  it('rejects a trace-id longer or shorter than 32 hex digits', () => {
    expect(parseTraceparent(`00-${TRACE}3-${PARENT}-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE.slice(1)}-${PARENT}-01`)).toBeUndefined();
  });

  it('rejects illegal characters in the parent-id', () => {
    expect(parseTraceparent(`00-${TRACE}-.234567890123456-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}-123456789012345.-01`)).toBeUndefined();
  });

  it('rejects a parent-id longer or shorter than 16 hex digits', () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}7-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}-${PARENT.slice(1)}-01`)).toBeUndefined();
  });

  it('rejects illegal characters in the flags', () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-.0`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-0.`)).toBeUndefined();
  });

  it('rejects characters beyond Latin-1 whose low byte reads as a hex digit', () => {
    // U+0130 and U+0161 end in 0x30 ('0') and 0x61 ('a').
    for (const c of ['\u0130', '\u0161']) {
      expect(parseTraceparent(`00-${c}${TRACE.slice(1)}-${PARENT}-01`)).toBeUndefined();
      expect(parseTraceparent(`00-${TRACE}-${PARENT.slice(1)}${c}-01`)).toBeUndefined();
      expect(parseTraceparent(`${c}0-${TRACE}-${PARENT}-01`)).toBeUndefined();
      expect(parseTraceparent(`00-${TRACE}-${PARENT}-0${c}`)).toBeUndefined();
    }
  });

  it('reads every flag value as hex', () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-ff`)?.traceFlags).toBe(255);
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-a0`)?.traceFlags).toBe(160);
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-09`)?.traceFlags).toBe(9);
  });

  it('rejects flags longer or shorter than 2 hex digits', () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-001`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-1`)).toBeUndefined();
  });

  it('rejects a wrong delimiter', () => {
    expect(parseTraceparent(`00_${TRACE}-${PARENT}-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}_${PARENT}-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}-${PARENT}_01`)).toBeUndefined();
  });

  it('accepts leading and trailing optional whitespace (space, tab)', () => {
    for (const v of [` ${VALID}`, `\t${VALID}`, `${VALID} `, `${VALID}\t`, `\t ${VALID} \t`]) {
      expect(parseTraceparent(v)?.traceId).toBe(TRACE);
    }
  });

  it('rejects two headers combined into one value (duplicates)', () => {
    expect(
      parseTraceparent(`${VALID}, 00-${TRACE.replace('1', '9')}-${PARENT}-01`),
    ).toBeUndefined();
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-01,cc-${TRACE}-${PARENT}-01`)).toBeUndefined();
  });

  it('rejects values over the size cap without parsing', () => {
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-01-${'x'.repeat(600)}`)).toBeUndefined();
  });
});

describe('formatTraceparent', () => {
  it('writes version 00 with lowercase two-digit flags', () => {
    expect(formatTraceparent(TRACE, PARENT, 1)).toBe(VALID);
    expect(formatTraceparent(TRACE, PARENT, 0)).toBe(`00-${TRACE}-${PARENT}-00`);
    expect(formatTraceparent(TRACE, PARENT, 3)).toBe(`00-${TRACE}-${PARENT}-03`);
  });

  it('zeroes flags this version does not define', () => {
    expect(formatTraceparent(TRACE, PARENT, 0xff)).toBe(`00-${TRACE}-${PARENT}-03`);
  });
});
