import { Registry } from 'prom-client';
import { clusterMetricsServer, metrics, type MetricsOptions } from '../src/index.js';

const bad: Array<[string, unknown, string]> = [
  ['options', 'yes', 'expected `options` to be an object, got "yes"'],
  ['registry', {}, 'expected `registry` to be a prom-client Registry, got an object'],
  [
    'prefix',
    'my-app',
    'expected `prefix` to be a valid metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*), got "my-app"',
  ],
  ['path', 'metrics', 'expected `path` to be a string starting with "/", got "metrics"'],
  [
    'buckets',
    [0.1, 0.05],
    'expected `buckets` to be a non-empty array of finite positive numbers in increasing order, got [0.1, 0.05]',
  ],
  [
    'buckets',
    [],
    'expected `buckets` to be a non-empty array of finite positive numbers in increasing order, got []',
  ],
  [
    'buckets',
    [0, 1],
    'expected `buckets` to be a non-empty array of finite positive numbers in increasing order, got [0, 1]',
  ],
  [
    'buckets',
    [1, Infinity],
    'expected `buckets` to be a non-empty array of finite positive numbers in increasing order, got [1, Infinity]',
  ],
  [
    'buckets',
    [1, 1],
    'expected `buckets` to be a non-empty array of finite positive numbers in increasing order, got [1, 1]',
  ],
  ['sloSeconds', 0, 'expected `sloSeconds` to be a finite positive number of seconds, got 0'],
  ['sizes', 'yes', 'expected `sizes` to be a boolean, got "yes"'],
  [
    'sizeBuckets',
    [-1],
    'expected `sizeBuckets` to be a non-empty array of finite positive numbers in increasing order, got [-1]',
  ],
  [
    'defaultMetrics',
    'on',
    'expected `defaultMetrics` to be a boolean or an options object, got "on"',
  ],
  [
    'defaultMetrics',
    { prefix: 'a-b' },
    'expected `defaultMetrics.prefix` to be a valid metric name prefix, got "a-b"',
  ],
  ['labels', [], 'expected `labels` to be an object of label functions, got []'],
  ['labels', { 'bad-name': () => 1 }, 'got "bad-name"'],
  [
    'labels',
    { route: () => 1 },
    'not one of method, route, status_code, le, quantile, got "route"',
  ],
  ['labels', { le: () => 1 }, 'got "le"'],
  ['labels', { __name: () => 1 }, 'not starting with "__"'],
  [
    'labels',
    { version: 'v1' },
    'expected `labels.version` to be a function (ctx) => value, got "v1"',
  ],
  [
    'ignore',
    '/health',
    'expected `ignore` to be an array of paths and RegExps, or a function, got "/health"',
  ],
  [
    'ignore',
    ['health'],
    'expected `ignore` to be paths starting with "/" or RegExps, got "health"',
  ],
  ['maxSeries', 0, 'expected `maxSeries` to be a positive integer, got 0'],
  ['maxSeries', 1.5, 'expected `maxSeries` to be a positive integer, got 1.5'],
  ['maxLabelValueLength', -1, 'expected `maxLabelValueLength` to be a positive integer, got -1'],
  ['exemplars', 1, 'expected `exemplars` to be a boolean, got 1'],
  ['authorize', true, 'expected `authorize` to be a function (ctx) => boolean, got true'],
  [
    'listen',
    70000,
    'expected `listen` to be a port number (0-65535) or { port, host? }, got 70000',
  ],
  ['listen', { port: 0, host: '' }, 'expected `listen.host` to be a non-empty string, got ""'],
  ['cluster', 'yes', 'expected `cluster` to be a boolean, got "yes"'],
];

describe('options are validated at construction', () => {
  it.each(bad)('rejects a bad `%s` (%p)', (option, value, message) => {
    const options = (option === 'options' ? value : { [option]: value }) as MetricsOptions;
    let thrown: unknown;
    try {
      metrics(options);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message.startsWith('@koa-mesh/metrics: expected `')).toBe(true);
    expect((thrown as Error).message).toContain(message);
  });

  it('rejects `listen` together with `cluster: true` (each worker would serve only its own share)', () => {
    expect(() => metrics({ defaultMetrics: false, cluster: true, listen: 9464 })).toThrow(
      new TypeError(
        '@koa-mesh/metrics: expected `listen` to be unset with `cluster: true` (the primary serves the sum with clusterMetricsServer()), got 9464',
      ),
    );
  });

  it('accepts no options at all, with a private registry', () => {
    const a = metrics();
    const b = metrics();
    expect(a.registry).not.toBe(b.registry);
    expect(a.registry.getSingleMetric('http_requests_total')).toBeDefined();
  });

  it('accepts every option at once', async () => {
    const m = metrics({
      registry: new Registry(),
      prefix: 'app_',
      path: '/internal/metrics',
      buckets: [0.01, 0.1, 1],
      sloSeconds: 0.2,
      sizes: true,
      sizeBuckets: [10, 100],
      defaultMetrics: { prefix: 'app_', eventLoopMonitoringPrecision: 20 },
      labels: { version: (ctx) => ctx.state.version },
      ignore: [/^\/static\//g, '/ping'],
      maxSeries: 10,
      maxLabelValueLength: 64,
      exemplars: false,
      authorize: () => true,
      cluster: false,
    });
    expect(m.registry.getSingleMetric('app_http_requests_total')).toBeDefined();
    expect(m.registry.getSingleMetric('app_process_cpu_seconds_total')).toBeDefined();
    expect(m.registry.getSingleMetric('app_nodejs_active_handles_total')).toBeUndefined();
    await m.close();
  });

  it('validates clusterMetricsServer options', () => {
    expect(() => clusterMetricsServer({ port: -1 })).toThrow(
      '@koa-mesh/metrics: expected `port` to be a port number (0-65535), got -1',
    );
    expect(() => clusterMetricsServer({ port: 0, path: 'x' })).toThrow(
      '@koa-mesh/metrics: expected `path` to be a string starting with "/", got x',
    );
  });
});
