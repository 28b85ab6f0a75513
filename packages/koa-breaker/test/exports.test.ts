// Pins the public surface: what index exports, and the structural contracts other packages use.
import * as api from '../src/index.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
  koaMesh: { factory: string };
};

describe('public surface', () => {
  it('exports exactly the documented runtime values', () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        'BrokenCircuitError',
        'BulkheadRejectedError',
        'CircuitBreaker',
        'RetryBudget',
        'TimeoutError',
        'breaker',
        'isBrokenCircuitError',
        'isBulkheadRejectedError',
        'isRetryable',
        'isTimeoutError',
        'retry',
      ].sort(),
    );
  });

  it('names the factory in package.json', () => {
    expect(pkg.koaMesh.factory).toBe('breaker');
    expect(typeof (api as Record<string, unknown>)[pkg.koaMesh.factory]).toBe('function');
  });

  it('the middleware carries its controls', () => {
    const mw = api.breaker();
    for (const m of ['on', 'off', 'stats', 'get', 'healthCheck', 'close'] as const)
      expect(typeof mw[m]).toBe('function');
  });

  it('CircuitBreaker satisfies the structural Breaker contract', async () => {
    const b: api.Breaker = new api.CircuitBreaker();
    await expect(b.execute(async (signal) => signal instanceof AbortSignal)).resolves.toBe(true);
  });

  it('errors carry code/status/expose/headers and the guards identify them by code alone', () => {
    const open = new api.BrokenCircuitError('x', 'open', 1);
    expect(open).toMatchObject({
      code: 'ERR_KOA_MESH_BREAKER_OPEN',
      status: 503,
      expose: true,
      headers: { 'Retry-After': '1' },
    });
    expect(new api.BulkheadRejectedError('x', 'bulkhead')).toMatchObject({
      code: 'ERR_KOA_MESH_BULKHEAD_REJECTED',
      status: 503,
    });
    expect(new api.TimeoutError('x', 5)).toMatchObject({
      code: 'ERR_KOA_MESH_BREAKER_TIMEOUT',
      status: 504,
    });
    // A copy from another build (ESM vs CJS) is a plain object with the code.
    expect(api.isBrokenCircuitError({ code: 'ERR_KOA_MESH_BREAKER_OPEN' })).toBe(true);
    expect(api.isBulkheadRejectedError({ code: 'ERR_KOA_MESH_BULKHEAD_REJECTED' })).toBe(true);
    expect(api.isTimeoutError({ code: 'ERR_KOA_MESH_BREAKER_TIMEOUT' })).toBe(true);
    expect(api.isTimeoutError(new Error('x'))).toBe(false);
  });
});
