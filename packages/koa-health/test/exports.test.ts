// Pins the public surface: a removed or renamed export is a breaking change.
import * as api from '../src/index.js';

describe('public surface', () => {
  it('exports exactly these values', () => {
    expect(Object.keys(api).sort()).toEqual([
      'CHECK_DEFAULTS',
      'DEFAULTS',
      'HealthCheckTimeoutError',
      'SHUTDOWN_DEFAULTS',
      'ShutdownStepError',
      'consulCheck',
      'eventLoopDelayCheck',
      'gracefulShutdown',
      'health',
      'heapCheck',
      'httpCheck',
      'isHealthCheckTimeoutError',
      'isShutdownStepError',
      'redisCheck',
    ]);
  });

  it('freezes the defaults and documents them', () => {
    expect(Object.isFrozen(api.DEFAULTS)).toBe(true);
    expect(api.DEFAULTS).toEqual({
      livenessPath: '/health',
      readinessPath: '/ready',
      startupPath: '/startup',
      initiallyReady: false,
    });
    expect(api.CHECK_DEFAULTS).toEqual({
      kind: 'readiness',
      critical: true,
      timeoutMs: 2000,
      intervalMs: 10_000,
      failureThreshold: 2,
      successThreshold: 1,
    });
    expect(api.SHUTDOWN_DEFAULTS).toEqual({
      signals: ['SIGTERM', 'SIGINT'],
      drainDelayMs: 5000,
      timeoutMs: 10_000,
      hookTimeoutMs: 5000,
      terminationGracePeriodMs: 30_000,
    });
  });

  it('identifies its errors by code', () => {
    const timeout = new api.HealthCheckTimeoutError('db', 50);
    expect(timeout).toMatchObject({
      code: 'ERR_KOA_MESH_HEALTH_CHECK_TIMEOUT',
      status: 503,
      expose: false,
    });
    expect(api.isHealthCheckTimeoutError(timeout)).toBe(true);
    expect(api.isHealthCheckTimeoutError({ code: 'ERR_KOA_MESH_HEALTH_CHECK_TIMEOUT' })).toBe(true);
    expect(api.isHealthCheckTimeoutError(new Error('x'))).toBe(false);
    const step = new api.ShutdownStepError('close', 'timeout', 'overran');
    expect(step).toMatchObject({ code: 'ERR_KOA_MESH_HEALTH_SHUTDOWN_TIMEOUT', step: 'close' });
    expect(api.isShutdownStepError(step)).toBe(true);
    expect(api.isShutdownStepError(timeout)).toBe(false);
  });

  it('installs no signal handler at import', () => {
    // Loading the module in a fresh registry must not touch process listeners.
    const before = process.listenerCount('SIGTERM') + process.listenerCount('SIGINT');
    jest.isolateModules(() => {
      jest.requireActual('../src/index.js');
    });
    expect(process.listenerCount('SIGTERM') + process.listenerCount('SIGINT')).toBe(before);
  });
});
