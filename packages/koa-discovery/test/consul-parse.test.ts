import { MalformedAnswerError, parseHealthService } from '../src/consul-parse.js';

const entry = (
  service: Record<string, unknown>,
  checks: string[] = ['passing'],
  node: Record<string, unknown> = { Node: 'n1', Address: '10.0.0.9', Datacenter: 'dc1' },
) => ({
  Node: node,
  Service: { ID: 'orders-1', Service: 'orders', Tags: ['api'], Port: 4001, Meta: {}, ...service },
  Checks: checks.map((Status) => ({ Status })),
});

describe('parseHealthService', () => {
  it('reads id, address, port, tags, meta, node and datacenter', () => {
    const [i] = parseHealthService(
      [entry({ Address: '10.0.0.5', Meta: { version: 'v2' } })],
      'orders',
    );
    expect(i).toEqual({
      id: 'orders-1',
      service: 'orders',
      address: '10.0.0.5',
      port: 4001,
      url: 'http://10.0.0.5:4001',
      tags: ['api'],
      meta: { version: 'v2' },
      weight: 1,
      status: 'passing',
      node: 'n1',
      datacenter: 'dc1',
    });
  });

  it("falls back to the node's address when the service has none", () => {
    expect(parseHealthService([entry({ Address: '' })], 'orders')[0]!.url).toBe(
      'http://10.0.0.9:4001',
    );
  });

  it('brackets IPv6 addresses in the URL', () => {
    expect(parseHealthService([entry({ Address: '::1' })], 'orders')[0]!.url).toBe(
      'http://[::1]:4001',
    );
  });

  it('takes the weight from meta.weight, else Consul Weights (Warning when warning)', () => {
    expect(
      parseHealthService(
        [entry({ Meta: { weight: '7' }, Weights: { Passing: 3, Warning: 1 } })],
        'o',
      )[0]!.weight,
    ).toBe(7);
    expect(
      parseHealthService([entry({ Weights: { Passing: 3, Warning: 1 } })], 'o')[0]!.weight,
    ).toBe(3);
    const warn = parseHealthService(
      [entry({ Weights: { Passing: 3, Warning: 2 } }, ['passing', 'warning'])],
      'o',
    )[0]!;
    expect(warn.status).toBe('warning');
    expect(warn.weight).toBe(2);
  });

  it('reports the worst check status', () => {
    expect(
      parseHealthService([entry({}, ['passing', 'critical', 'warning'])], 'o')[0]!.status,
    ).toBe('critical');
  });

  it.each([
    ['not an array', { a: 1 }],
    ['an entry without Service', [{ Node: {} }]],
    ['a missing id', [entry({ ID: '' })]],
    ['a bad port', [entry({ Port: 0 })]],
    ['no address at all', [entry({ Address: '' }, ['passing'], {})]],
  ])('rejects %s', (_name, body) => {
    expect(() => parseHealthService(body, 'orders')).toThrow(MalformedAnswerError);
  });
});
