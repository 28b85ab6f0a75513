import * as api from '../src/index.js';

describe('public surface', () => {
  it('exports exactly these runtime names', () => {
    expect(Object.keys(api).sort()).toEqual([
      'ArmBreakerError',
      'BadRequestTargetError',
      'BodyConsumedError',
      'CanaryRouterError',
      'ConnectTimeoutError',
      'ERROR_CODES',
      'NoTargetError',
      'UpstreamTimeoutError',
      'UpstreamUnreachableError',
      'bucketOf',
      'canaryRouter',
      'isCanaryRouterError',
    ]);
  });

  it('returns a named middleware with its control surface', () => {
    const router = api.canaryRouter({ arms: { stable: { target: 'http://127.0.0.1:9' } } });
    expect(router.name).toBe('canaryRouterMiddleware');
    for (const m of ['setWeights', 'weights', 'simulate', 'stats', 'on', 'off', 'close'] as const) {
      expect(typeof router[m]).toBe('function');
    }
    expect(router.rollout).toBe('default');
    return router.close();
  });

  it('closes idempotently, and answers 502 rather than hanging after close', async () => {
    const { startApp } = await import('@koa-mesh/testkit');
    const { appWith } = await import('./helpers.js');
    const up = await startApp((_q, s) => s.end('up'));
    const router = api.canaryRouter({ arms: { stable: { target: up.url } } });
    const server = await startApp(appWith(router));
    try {
      await router.close();
      await router.close();
      const res = await fetch(`${server.url}/`);
      expect(res.status).toBe(502);
    } finally {
      await server.close();
      await up.close();
    }
  });

  it('identifies its errors by code', () => {
    const err = new api.UpstreamTimeoutError();
    expect(err).toMatchObject({
      status: 504,
      expose: true,
      code: 'ERR_KOA_MESH_CANARY_UPSTREAM_TIMEOUT',
    });
    expect(api.isCanaryRouterError(err)).toBe(true);
    expect(api.isCanaryRouterError({ code: 'ERR_KOA_MESH_CANARY_NO_TARGET' })).toBe(true);
    expect(api.isCanaryRouterError(new Error('x'))).toBe(false);
    expect(api.isCanaryRouterError(null)).toBe(false);
  });
});
