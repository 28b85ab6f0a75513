import { Registry } from 'prom-client';
import request from 'supertest';
import Koa from 'koa';
import { clusterMetricsServer, metrics, type MetricsOptions } from '../src/index.js';

const OPTIONS =
  '`registry`, `prefix`, `path`, `buckets`, `sloSeconds`, `sizes`, `sizeBuckets`, `defaultMetrics`, `labels`, `ignore`, `maxSeries`, `maxLabelValueLength`, `exemplars`, `authorize`, `listen`, `cluster`';

function thrownBy(fn: () => unknown): Error {
  try {
    const made = fn() as { close?: () => unknown } | undefined;
    void made?.close?.();
  } catch (err) {
    return err as Error;
  }
  throw new Error('nothing was thrown');
}

describe('unknown options are rejected at construction', () => {
  it('metrics() rejects a misspelt top-level option (`bucket` kept the default buckets)', () => {
    const err = thrownBy(() =>
      metrics({ defaultMetrics: false, bucket: [0.1, 1] } as unknown as MetricsOptions),
    );
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe(
      `@koa-mesh/metrics: unknown option \`bucket\` (did you mean \`buckets\`?); expected one of ${OPTIONS}`,
    );
  });

  it('metrics() suggests case-insensitively and only within two edits', () => {
    expect(
      thrownBy(() => metrics({ maxseries: 10 } as unknown as MetricsOptions)).message,
    ).toContain('unknown option `maxseries` (did you mean `maxSeries`?)');
    expect(
      thrownBy(() => metrics({ exmplars: false } as unknown as MetricsOptions)).message,
    ).toContain('unknown option `exmplars` (did you mean `exemplars`?)');
    const far = thrownBy(() => metrics({ colour: 'blue' } as unknown as MetricsOptions));
    expect(far).toBeInstanceOf(TypeError);
    expect(far.message).toBe(
      `@koa-mesh/metrics: unknown option \`colour\`; expected one of ${OPTIONS}`,
    );
  });

  it('metrics() rejects an unknown key of `defaultMetrics` by its full path', () => {
    const err = thrownBy(() =>
      metrics({
        defaultMetrics: { gcDurationBucket: [0.1, 1] },
      } as unknown as MetricsOptions),
    );
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe(
      '@koa-mesh/metrics: unknown option `defaultMetrics.gcDurationBucket` (did you mean `defaultMetrics.gcDurationBuckets`?); expected one of `prefix`, `gcDurationBuckets`, `eventLoopMonitoringPrecision`',
    );
  });

  it('metrics() rejects an unknown key of `listen` by its full path, before the missing port', () => {
    const typo = thrownBy(() =>
      metrics({ defaultMetrics: false, listen: { prot: 0 } } as unknown as MetricsOptions),
    );
    expect(typo).toBeInstanceOf(TypeError);
    expect(typo.message).toBe(
      '@koa-mesh/metrics: unknown option `listen.prot` (did you mean `listen.port`?); expected one of `port`, `host`',
    );
    expect(
      thrownBy(() =>
        metrics({
          defaultMetrics: false,
          listen: { port: 0, hots: '127.0.0.1' },
        } as unknown as MetricsOptions),
      ).message,
    ).toContain('unknown option `listen.hots` (did you mean `listen.host`?)');
  });

  it('metrics() makes no guess when two names are equally close (`pos`: `port` or `host`)', () => {
    const err = thrownBy(() =>
      metrics({ defaultMetrics: false, listen: { pos: 0 } } as unknown as MetricsOptions),
    );
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe(
      '@koa-mesh/metrics: unknown option `listen.pos`; expected one of `port`, `host`',
    );
  });

  it('metrics() accepts unknown keys set to undefined (a spread partial config) and known keys set to undefined', async () => {
    const m = metrics({
      defaultMetrics: { prefix: 'app_', gcDurationBucket: undefined },
      bucket: undefined,
      buckets: undefined,
      sloSeconds: undefined,
      listen: { port: 0, host: '127.0.0.1', hots: undefined },
    } as unknown as MetricsOptions);
    const address = await m.ready;
    expect(address?.port).toBeGreaterThan(0);
    expect(m.registry.getSingleMetric('app_process_cpu_seconds_total')).toBeDefined();
    await m.close();
  });

  it('metrics() accepts any label name in the user map `labels` and any registry object', async () => {
    const registry = new Registry();
    // Properties of the user's own registry are never taken for options.
    (registry as unknown as Record<string, unknown>).bucket = 'not an option';
    const m = metrics({
      registry,
      defaultMetrics: false,
      labels: { tenant_tier: () => 'gold', buckets: () => 'x' },
    });
    const app = new Koa();
    app.use(m);
    app.use((ctx) => {
      ctx.body = 'ok';
    });
    await request(app.callback()).get('/a').expect(200);
    const res = await request(app.callback()).get('/metrics').expect(200);
    expect(res.text).toMatch(/http_requests_total\{[^}]*tenant_tier="gold"[^}]*buckets="x"/);
  });

  it('clusterMetricsServer() rejects an unknown option with a suggestion', () => {
    const err = thrownBy(() =>
      clusterMetricsServer({ port: 0, pth: '/m' } as unknown as { port: number }),
    );
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe(
      '@koa-mesh/metrics: unknown option `pth` (did you mean `path`?); expected one of `port`, `host`, `path`',
    );
  });

  it('clusterMetricsServer() accepts an unknown key set to undefined', async () => {
    const server = clusterMetricsServer({
      port: 0,
      host: '127.0.0.1',
      pth: undefined,
    } as unknown as { port: number });
    expect((await server.ready).port).toBeGreaterThan(0);
    await server.close();
  });
});
