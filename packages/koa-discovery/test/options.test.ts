import { ConsulRegistry, discovery, StaticRegistry, type DiscoveryOptions } from '../src/index.js';

const P = '@koa-mesh/discovery: expected';

describe('discovery() option validation', () => {
  const cases: [string, unknown, string][] = [
    ['options', 5, `${P} \`options\` to be an object, got 5`],
    [
      'balancer',
      { balancer: 'least-conn' },
      `${P} \`balancer\` to be one of 'p2c', 'round-robin', 'random', 'weighted', 'consistent-hash', got "least-conn"`,
    ],
    ['balancers', { balancers: { carts: 'ring' } }, `${P} \`balancers.carts\` to be one of`],
    [
      'balancers object',
      { balancers: [] },
      `${P} \`balancers\` to be an object of strategies, got []`,
    ],
    ['outlier', { outlier: 1 }, `${P} \`outlier\` to be an object, got 1`],
    [
      'outlier.consecutiveFailures',
      { outlier: { consecutiveFailures: 0 } },
      `${P} \`outlier.consecutiveFailures\` to be a positive integer, got 0`,
    ],
    [
      'outlier.baseEjectionMs',
      { outlier: { baseEjectionMs: -1 } },
      `${P} \`outlier.baseEjectionMs\` to be a positive integer, got -1`,
    ],
    [
      'outlier.maxEjectionMs',
      { outlier: { baseEjectionMs: 1000, maxEjectionMs: 10 } },
      `${P} \`outlier.maxEjectionMs\` to be an integer >= outlier.baseEjectionMs (1000), got 10`,
    ],
    [
      'outlier.maxEjectionPercent',
      { outlier: { maxEjectionPercent: 101 } },
      `${P} \`outlier.maxEjectionPercent\` to be a number between 0 and 100, got 101`,
    ],
    [
      'outlier.panicThreshold',
      { outlier: { panicThreshold: 2 } },
      `${P} \`outlier.panicThreshold\` to be a number between 0 and 1, got 2`,
    ],
    ['fetch', { fetch: 'fast' }, `${P} \`fetch\` to be an object, got "fast"`],
    [
      'fetch.timeoutMs',
      { fetch: { timeoutMs: 0 } },
      `${P} \`fetch.timeoutMs\` to be a positive integer, got 0`,
    ],
    [
      'fetch.retries',
      { fetch: { retries: 1.5 } },
      `${P} \`fetch.retries\` to be a non-negative integer, got 1.5`,
    ],
    [
      'fetch.retryOn',
      { fetch: { retryOn: [700] } },
      `${P} \`fetch.retryOn\` to be an array of HTTP status codes, got [700]`,
    ],
    [
      'fetch.retryBudget',
      { fetch: { retryBudget: 3 } },
      `${P} \`fetch.retryBudget\` to be an object, got 3`,
    ],
    [
      'fetch.retryBudget.ratio',
      { fetch: { retryBudget: { ratio: -1 } } },
      `${P} \`fetch.retryBudget.ratio\` to be a number between 0 and 1000, got -1`,
    ],
    [
      'fetch.retryBudget.minRetriesPerSecond',
      { fetch: { retryBudget: { minRetriesPerSecond: -1 } } },
      `${P} \`fetch.retryBudget.minRetriesPerSecond\` to be a non-negative integer, got -1`,
    ],
    [
      'fetch.connections',
      { fetch: { connections: 0 } },
      `${P} \`fetch.connections\` to be a positive integer, got 0`,
    ],
    [
      'fetch.keepAliveTimeoutMs',
      { fetch: { keepAliveTimeoutMs: 'x' } },
      `${P} \`fetch.keepAliveTimeoutMs\` to be a positive integer, got "x"`,
    ],
    [
      'watch',
      { watch: 'orders' },
      `${P} \`watch\` to be an array of non-empty strings, got "orders"`,
    ],
    [
      'watch (a service name Consul cannot be asked for)',
      { watch: ['orders', 'a\nb'] },
      `${P} \`watch\` to be an array of valid service names ("a\\nb" is not: it has a control, format, non-printable or unpaired surrogate character, which Consul refuses in a URL), got ["orders","a\\nb"]`,
    ],
    ['watch (empty)', { watch: [''] }, `${P} \`watch\` to be an array of non-empty strings`],
    ['breaker', { breaker: {} }, `${P} \`breaker\` to be a function, got {}`],
    [
      'readyTimeoutMs',
      { readyTimeoutMs: -5 },
      `${P} \`readyTimeoutMs\` to be a non-negative integer, got -5`,
    ],
    [
      'maxFilteredPools',
      { maxFilteredPools: 0 },
      `${P} \`maxFilteredPools\` to be a positive integer, got 0`,
    ],
    [
      'maxFilteredPools (not an integer)',
      { maxFilteredPools: Infinity },
      `${P} \`maxFilteredPools\` to be a positive integer, got Infinity`,
    ],
    ['maxServices', { maxServices: 0 }, `${P} \`maxServices\` to be a positive integer, got 0`],
    [
      'maxServices (not an integer)',
      { maxServices: 2.5 },
      `${P} \`maxServices\` to be a positive integer, got 2.5`,
    ],
    ['random', { random: 0.5 }, `${P} \`random\` to be a function, got 0.5`],
    ['now', { now: 'today' }, `${P} \`now\` to be a function, got "today"`],
    [
      'registry',
      { registry: {} },
      `${P} \`registry\` to be a Registry (ConsulRegistry, StaticRegistry or { watch, close, on, off }), got {}`,
    ],
    ['env', { env: 'yes' }, `${P} \`env\` to be a boolean or an environment object, got "yes"`],
    [
      'services',
      { services: { orders: 'http://x' } },
      `${P} \`services.orders\` to be an array of URLs, got "http://x"`,
    ],
    [
      'services url',
      { services: { orders: ['ftp://x'] } },
      `${P} \`services.orders[0]\` to be an http(s) URL such as http://127.0.0.1:4001, got "ftp://x"`,
    ],
    [
      'services weight',
      { services: { orders: [{ url: 'http://x:1', weight: 0 }] } },
      `${P} \`services.orders[0].weight\` to be a positive number, got 0`,
    ],
    ['register', { register: 'me' }, `${P} \`register\` to be an object, got "me"`],
    [
      'register.name',
      { register: { check: { ttlMs: 5000 } } },
      `${P} \`register.name\` to be a non-empty string, got undefined`,
    ],
    [
      'register.port',
      { register: { name: 'a', port: 70000, check: { ttlMs: 5000 } } },
      `${P} \`register.port\` to be a port number (1-65535), got 70000`,
    ],
    [
      'register.tags',
      { register: { name: 'a', tags: [1], check: { ttlMs: 5000 } } },
      `${P} \`register.tags\` to be an array of non-empty strings, got [1]`,
    ],
    [
      'register.meta',
      { register: { name: 'a', meta: { v: 2 }, check: { ttlMs: 5000 } } },
      `${P} \`register.meta\` to be an object of string values, got {"v":2}`,
    ],
    [
      'register.check',
      { register: { name: 'a' } },
      `${P} \`register.check\` to be an object with \`http\` and/or \`ttlMs\`, got undefined`,
    ],
    [
      'register.check.http',
      { register: { name: 'a', check: { http: 'ready' } } },
      `${P} \`register.check.http\` to be a path starting with / or an http(s) URL, got "ready"`,
    ],
    [
      'register.check.intervalMs',
      { register: { name: 'a', check: { http: '/ready', intervalMs: 500 } } },
      `${P} \`register.check.intervalMs\` to be an integer >= 1000 (Consul checks run at most once a second), got 500`,
    ],
    [
      'register.check.ttlMs',
      { register: { name: 'a', check: { ttlMs: 10 } } },
      `${P} \`register.check.ttlMs\` to be an integer >= 1000 (Consul checks run at most once a second), got 10`,
    ],
    [
      'register.check.deregisterCriticalServiceAfterMs',
      { register: { name: 'a', check: { ttlMs: 5000, deregisterCriticalServiceAfterMs: 30_000 } } },
      `${P} \`register.check.deregisterCriticalServiceAfterMs\` to be an integer >= 60000 (Consul enforces a 1-minute floor), got 30000`,
    ],
    [
      'consul',
      { consul: 'localhost' },
      `${P} \`consul\` to be an object of ConsulRegistry options or true, got "localhost"`,
    ],
    [
      'consul.url',
      { consul: { url: 'http://[bad' } },
      `${P} \`consul.url\` to be an http(s) URL such as http://127.0.0.1:8500, got "http://[bad"`,
    ],
    [
      'consul.watch.waitMs',
      { consul: { watch: { waitMs: 700_000 } } },
      `${P} \`consul.watch.waitMs\` to be at most 600000 (Consul caps wait at 10 minutes), got 700000`,
    ],
    [
      'consul.watch.minIntervalMs',
      { consul: { watch: { minIntervalMs: -1 } } },
      `${P} \`consul.watch.minIntervalMs\` to be a non-negative integer, got -1`,
    ],
    [
      'consul.syncIntervalMs',
      { consul: { syncIntervalMs: 10 } },
      `${P} \`consul.syncIntervalMs\` to be an integer >= 100, got 10`,
    ],
    [
      'consul.requestTimeoutMs',
      { consul: { requestTimeoutMs: 0 } },
      `${P} \`consul.requestTimeoutMs\` to be a positive integer, got 0`,
    ],
  ];

  it.each(cases)('%s', (_name, options, message) => {
    let thrown: unknown;
    try {
      discovery(options as DiscoveryOptions);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message.startsWith(message)).toBe(true);
  });

  it('accepts no options at all (static registry from the environment)', () => {
    const mw = discovery({ env: {} });
    expect(mw.snapshot().registry).toBe('static');
    return mw.stop();
  });

  it('accepts a port given later to start()', () => {
    const mw = discovery({ env: {}, register: { name: 'a', check: { ttlMs: 5000 } } });
    return mw.stop();
  });

  it('uses a ConsulRegistry for `consul`', async () => {
    const mw = discovery({ consul: { url: 'http://127.0.0.1:1' } });
    expect(mw.snapshot().registry).toBe('consul');
    await mw.stop();
  });

  it('names the middleware distinctly', () => {
    const mw = discovery({ env: {} });
    expect(mw.name).toBe('discoveryMiddleware');
    return mw.stop();
  });

  it('registries validate on their own too', async () => {
    expect(() => new StaticRegistry({ services: { a: ['nope'] } })).toThrow(TypeError);
    expect(() => new ConsulRegistry({ watch: { backoffBaseMs: 0 } })).toThrow(
      `${P} \`consul.watch.backoffBaseMs\` to be a positive integer, got 0`,
    );
  });
});
