// One test per rule of https://www.w3.org/TR/trace-context-2/#tracestate-header.
import { parseTracestate, W3CTraceState } from '../src/tracestate.js';

const entries = (header: string): string | undefined => parseTracestate(header)?.serialize();

describe('parseTracestate', () => {
  it('reads members in order', () => {
    const ts = parseTracestate('foo=1,bar=2')!;
    expect(ts.get('foo')).toBe('1');
    expect(ts.get('bar')).toBe('2');
    expect(ts.serialize()).toBe('foo=1,bar=2');
  });

  it('combines several headers (joined with `,`) keeping their order', () => {
    expect(entries('foo=1,bar=2, rojo=1,congo=2, baz=3')).toBe('foo=1,bar=2,rojo=1,congo=2,baz=3');
  });

  it('treats an empty header as an empty list', () => {
    expect(parseTracestate('')?.size).toBe(0);
  });

  it('ignores empty list members, including an empty header joined with another', () => {
    expect(entries('foo=1, ')).toBe('foo=1');
    expect(entries(', foo=1')).toBe('foo=1');
    expect(entries('foo=1,,bar=2')).toBe('foo=1,bar=2');
  });

  it('accepts optional whitespace around members', () => {
    expect(entries('foo=1 \t , \t bar=2, \t baz=3')).toBe('foo=1,bar=2,baz=3');
    expect(entries('\t foo=1 \t')).toBe('foo=1');
  });

  it('accepts every allowed key and value character', () => {
    const key = 'abcdefghijklmnopqrstuvwxyz0123456789_-*/';
    let value = '';
    for (const [a, b] of [
      [0x20, 0x2b],
      [0x2d, 0x3c],
      [0x3e, 0x7e],
    ] as const) {
      for (let c = a; c <= b; c++) value += String.fromCharCode(c);
    }
    expect(parseTracestate(`${key}=${value}`)?.get(key)).toBe(value);
    expect(parseTracestate(`${key}@a-z0-9_-*/=${value}`)?.get(`${key}@a-z0-9_-*/`)).toBe(value);
  });

  it('drops the whole header when a key repeats', () => {
    expect(parseTracestate('foo=1,foo=1')).toBeUndefined();
    expect(parseTracestate('foo=1,foo=2')).toBeUndefined();
    expect(parseTracestate('foo=1, foo=2')).toBeUndefined();
  });

  it('drops the whole header when a key has illegal characters', () => {
    expect(parseTracestate('foo =1')).toBeUndefined();
    expect(parseTracestate('FOO=1')).toBeUndefined();
    expect(parseTracestate('foo.bar=1')).toBeUndefined();
    expect(parseTracestate('1foo=1')).toBeUndefined();
  });

  it('drops the whole header on an illegal multi-tenant (vendor) key', () => {
    expect(parseTracestate('foo@=1,bar=2')).toBeUndefined();
    expect(parseTracestate('@foo=1,bar=2')).toBeUndefined();
    expect(parseTracestate('foo@@bar=1,bar=2')).toBeUndefined();
    expect(parseTracestate('foo@bar@baz=1,bar=2')).toBeUndefined();
  });

  it('limits a simple key to 256 characters', () => {
    expect(parseTracestate(`foo=1,${'z'.repeat(256)}=1`)?.get('foo')).toBe('1');
    expect(parseTracestate(`foo=1,${'z'.repeat(257)}=1`)).toBeUndefined();
  });

  it('limits the tenant to 241 and the system id to 14 characters', () => {
    expect(parseTracestate(`foo=1,${'t'.repeat(241)}@${'v'.repeat(14)}=1`)?.get('foo')).toBe('1');
    expect(parseTracestate(`foo=1,${'t'.repeat(242)}@v=1`)).toBeUndefined();
    expect(parseTracestate(`foo=1,t@${'v'.repeat(15)}=1`)).toBeUndefined();
  });

  it('drops the whole header on an illegal value', () => {
    expect(parseTracestate('foo=bar=baz')).toBeUndefined();
    expect(parseTracestate('foo=,bar=3')).toBeUndefined();
    expect(parseTracestate('foo=a\u00e9')).toBeUndefined();
  });

  it('limits a value to 256 characters', () => {
    expect(parseTracestate(`foo=${'v'.repeat(256)}`)?.get('foo')).toHaveLength(256);
    expect(parseTracestate(`foo=${'v'.repeat(257)}`)).toBeUndefined();
  });

  it('drops a member without `=`', () => {
    expect(parseTracestate('foo')).toBeUndefined();
  });

  it('accepts 32 members and drops a header with 33', () => {
    const members = (n: number): string =>
      Array.from({ length: n }, (_, i) => `bar${String(i + 1).padStart(2, '0')}=${i}`).join(',');
    expect(parseTracestate(members(32))?.size).toBe(32);
    expect(parseTracestate(members(33))).toBeUndefined();
  });

  it('drops values over the header size cap without parsing', () => {
    expect(parseTracestate(`foo=1,${'a=1,'.repeat(3000)}`)).toBeUndefined();
  });
});

describe('W3CTraceState', () => {
  it('moves a set key to the front and replaces its value', () => {
    const ts = new W3CTraceState([
      ['a', '1'],
      ['b', '2'],
    ]).set('b', '3');
    expect(ts.serialize()).toBe('b=3,a=1');
  });

  it('ignores an invalid key or value on set', () => {
    const ts = new W3CTraceState([['a', '1']]);
    expect(ts.set('B', '1').serialize()).toBe('a=1');
    expect(ts.set('b', 'x,y').serialize()).toBe('a=1');
  });

  it('unsets a key', () => {
    expect(
      new W3CTraceState([
        ['a', '1'],
        ['b', '2'],
      ])
        .unset('a')
        .serialize(),
    ).toBe('b=2');
  });

  it('truncates past 512 characters by dropping members over 128 characters first', () => {
    const long = `long=${'x'.repeat(200)}`;
    const shorts = Array.from({ length: 20 }, (_, i) => [`k${i}`, 'v'.repeat(15)] as const);
    const ts = new W3CTraceState([['long', 'x'.repeat(200)], ...shorts]);
    const out = ts.serialize();
    expect(out.length).toBeLessThanOrEqual(512);
    expect(out).not.toContain(long);
    expect(out.split(',')).toHaveLength(20);
  });

  it('then drops members from the right until it fits', () => {
    const members = Array.from({ length: 32 }, (_, i) => [`k${i}`, 'v'.repeat(30)] as const);
    const out = new W3CTraceState(members).serialize();
    expect(out.length).toBeLessThanOrEqual(512);
    expect(out.startsWith(`k0=${'v'.repeat(30)}`)).toBe(true);
    expect(out).not.toContain('k31=');
  });
});
