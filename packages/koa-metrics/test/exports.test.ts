import * as api from '../src/index.js';

describe('public surface', () => {
  it('exports exactly these values', () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        'ABORTED',
        'DEFAULT_BUCKETS',
        'DEFAULT_IGNORE',
        'DEFAULT_SIZE_BUCKETS',
        'DROPPED_DEFAULT_METRICS',
        'LABEL_ERROR',
        'MetricsError',
        'OPENMETRICS_CONTENT_TYPE',
        'OTHER_METHOD',
        'OVERFLOW',
        'TEXT_CONTENT_TYPE',
        'UNMATCHED',
        'clusterMetricsServer',
        'isMetricsError',
        'metrics',
        'negotiateFormat',
      ].sort(),
    );
  });

  it('returns a named middleware with registry, ready, healthCheck and close', async () => {
    const m = api.metrics({ defaultMetrics: false });
    expect(m.name).toBe('metricsMiddleware');
    expect(typeof m.healthCheck).toBe('function');
    expect(typeof m.close).toBe('function');
    await expect(m.ready).resolves.toBeUndefined();
    expect(await m.healthCheck()).toMatchObject({ status: 'pass', observedValue: 0 });
  });

  it('identifies its errors by code', () => {
    const err = new api.MetricsError('ERR_KOA_MESH_METRICS_FORBIDDEN', 'no');
    expect(api.isMetricsError(err)).toBe(true);
    expect(api.isMetricsError({ code: 'ERR_KOA_MESH_METRICS_FORBIDDEN' })).toBe(true);
    expect(api.isMetricsError(new Error('x'))).toBe(false);
    expect(err).toMatchObject({
      status: 403,
      expose: true,
      code: 'ERR_KOA_MESH_METRICS_FORBIDDEN',
    });
  });
});
