import * as api from '../src/index.js';

describe('public surface', () => {
  it('exports exactly these values', () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        'ConsulRegistry',
        'SERVICES_ENV',
        'SERVICE_UNAVAILABLE',
        'STRATEGIES',
        'ServiceUnavailableError',
        'StaticRegistry',
        'createBalancer',
        'discovery',
        'isServiceUnavailableError',
        'parseServicesEnv',
      ].sort(),
    );
  });

  it('ServiceUnavailableError carries code, status, expose and headers', () => {
    const err = new api.ServiceUnavailableError('orders', 'no instances', { retryAfterS: 2 });
    expect(err).toMatchObject({
      code: 'ERR_KOA_MESH_SERVICE_UNAVAILABLE',
      status: 503,
      expose: true,
      service: 'orders',
      headers: { 'retry-after': '2' },
    });
    expect(api.isServiceUnavailableError(err)).toBe(true);
    expect(api.isServiceUnavailableError({ code: 'ERR_KOA_MESH_SERVICE_UNAVAILABLE' })).toBe(true);
    expect(api.isServiceUnavailableError(new Error('x'))).toBe(false);
  });

  it('lists the strategies', () => {
    expect(api.STRATEGIES).toEqual(['p2c', 'round-robin', 'random', 'weighted', 'consistent-hash']);
  });
});
