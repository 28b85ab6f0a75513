// One test per rule of https://www.w3.org/TR/baggage/#header-content and its limits.
import { formatBaggage, MAX_BAGGAGE_MEMBERS, parseBaggage } from '../src/baggage.js';

describe('parseBaggage', () => {
  it('reads key=value members', () => {
    expect(parseBaggage('userId=alice,serverNode=DF%2028')).toEqual([
      { key: 'userId', value: 'alice' },
      { key: 'serverNode', value: 'DF 28' },
    ]);
  });

  it('allows optional whitespace around keys, values and separators', () => {
    expect(parseBaggage(' a = 1 ,\tb=2\t')).toEqual([
      { key: 'a', value: '1' },
      { key: 'b', value: '2' },
    ]);
  });

  it('percent-decodes values (UTF-8)', () => {
    expect(parseBaggage('city=S%C3%A3o%20Paulo')[0]?.value).toBe('São Paulo');
  });

  it('keeps properties as metadata', () => {
    expect(parseBaggage('a=1;ttl=30;secret')).toEqual([
      { key: 'a', value: '1', metadata: 'ttl=30;secret' },
    ]);
  });

  it('skips a member whose key is not a token', () => {
    expect(parseBaggage('a b=1,c=2')).toEqual([{ key: 'c', value: '2' }]);
    expect(parseBaggage('=1,c=2')).toEqual([{ key: 'c', value: '2' }]);
  });

  it('skips a member whose value has characters that must be percent-encoded', () => {
    expect(parseBaggage('a=x y,b="q",c=\\,d=2')).toEqual([{ key: 'd', value: '2' }]);
  });

  it('skips a member whose percent-encoding is broken', () => {
    expect(parseBaggage('a=%E0%A4%A,b=2')).toEqual([{ key: 'b', value: '2' }]);
  });

  it('skips a member without `=`', () => {
    expect(parseBaggage('novalue,b=2')).toEqual([{ key: 'b', value: '2' }]);
  });

  it('skips a member with a malformed property', () => {
    expect(parseBaggage('a=1;bad key=1,b=2')).toEqual([{ key: 'b', value: '2' }]);
  });

  it('keeps the last value of a repeated key', () => {
    expect(parseBaggage('a=1,a=2')).toEqual([{ key: 'a', value: '2' }]);
  });

  it(`reads at most ${MAX_BAGGAGE_MEMBERS} members`, () => {
    const header = Array.from({ length: 100 }, (_, i) => `k${i}=${i}`).join(',');
    const members = parseBaggage(header);
    expect(members).toHaveLength(MAX_BAGGAGE_MEMBERS);
    expect(members.at(-1)?.key).toBe(`k${MAX_BAGGAGE_MEMBERS - 1}`);
  });

  it('ignores a header over 8192 characters', () => {
    expect(parseBaggage(`a=${'x'.repeat(8200)}`)).toEqual([]);
  });

  it('keeps only allowed keys when given an allowlist', () => {
    expect(parseBaggage('tenant=t1,secret=s', (k) => k === 'tenant')).toEqual([
      { key: 'tenant', value: 't1' },
    ]);
  });
});

describe('formatBaggage', () => {
  it('percent-encodes values and keeps metadata', () => {
    expect(
      formatBaggage([
        { key: 'city', value: 'São Paulo' },
        { key: 'a', value: '1', metadata: 'ttl=30' },
      ]),
    ).toBe('city=S%C3%A3o%20Paulo,a=1;ttl=30');
  });

  it('round-trips through parseBaggage', () => {
    const members = [
      { key: 'x', value: 'a,b;c=d "e"' },
      { key: 'y', value: '%' },
    ];
    expect(parseBaggage(formatBaggage(members))).toEqual(members);
  });

  it('stops before the header passes 8192 characters', () => {
    const members = Array.from({ length: 10 }, (_, i) => ({
      key: `k${i}`,
      value: 'v'.repeat(1000),
    }));
    const out = formatBaggage(members);
    expect(out.length).toBeLessThanOrEqual(8192);
    expect(out.split(',')).toHaveLength(8);
  });

  it('skips keys that are not tokens', () => {
    expect(
      formatBaggage([
        { key: 'bad key', value: '1' },
        { key: 'ok', value: '2' },
      ]),
    ).toBe('ok=2');
  });
});
