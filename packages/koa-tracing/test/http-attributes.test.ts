import { normalizeMethod, spanName, splitHost } from '../src/http-attributes.js';

describe('HTTP semantic-convention helpers', () => {
  it('keeps known methods and folds the rest into _OTHER', () => {
    expect(normalizeMethod('GET')).toBe('GET');
    expect(normalizeMethod('QUERY')).toBe('QUERY');
    expect(normalizeMethod('PURGE')).toBe('_OTHER');
    expect(normalizeMethod('get')).toBe('_OTHER');
  });

  it('names spans METHOD route, the method alone without a route, HTTP for _OTHER', () => {
    expect(spanName('GET', '/users/:id')).toBe('GET /users/:id');
    expect(spanName('POST', undefined)).toBe('POST');
    expect(spanName('_OTHER', '/x')).toBe('HTTP /x');
  });

  it('splits host and port, including IPv6 literals and scheme defaults', () => {
    expect(splitHost('example.com:8080', 'http')).toEqual({ address: 'example.com', port: 8080 });
    expect(splitHost('example.com', 'http')).toEqual({ address: 'example.com', port: 80 });
    expect(splitHost('example.com', 'https')).toEqual({ address: 'example.com', port: 443 });
    expect(splitHost('[::1]:3000', 'http')).toEqual({ address: '::1', port: 3000 });
    expect(splitHost('[::1]', 'https')).toEqual({ address: '::1', port: 443 });
    expect(splitHost('example.com:99999', 'http')).toEqual({
      address: 'example.com',
      port: undefined,
    });
    expect(splitHost('example.com:abc', 'http')).toEqual({
      address: 'example.com',
      port: undefined,
    });
  });
});
