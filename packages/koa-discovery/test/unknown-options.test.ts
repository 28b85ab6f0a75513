import {
  ConsulRegistry,
  discovery,
  StaticRegistry,
  type ConsulRegistryOptions,
  type DiscoveryOptions,
  type StaticRegistryOptions,
} from '../src/index.js';

const P = '@koa-mesh/discovery: unknown option';
const OPTIONS =
  '`registry`, `consul`, `services`, `env`, `register`, `watch`, `balancer`, `balancers`, `outlier`, `fetch`, `breaker`, `readyTimeoutMs`, `maxFilteredPools`, `maxServices`, `random`, `now`';

/** The error `fn` throws; whatever it built instead is stopped, so a missed check leaks nothing. */
function thrownBy(fn: () => unknown): Error {
  let made: unknown;
  try {
    made = fn();
  } catch (err) {
    return err as Error;
  }
  const m = made as { stop?: () => Promise<void>; close?: () => Promise<void> } | undefined;
  void (m?.stop ?? m?.close)?.call(m);
  throw new Error('nothing was thrown');
}

const unknown = (o: unknown): DiscoveryOptions => o as DiscoveryOptions;

describe('unknown options are rejected at construction', () => {
  it('discovery() rejects a misspelt top-level option (`readyTimeoutMS` kept the 5 s default)', () => {
    const err = thrownBy(() => discovery(unknown({ env: {}, readyTimeoutMS: 100 })));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe(
      `${P} \`readyTimeoutMS\` (did you mean \`readyTimeoutMs\`?); expected one of ${OPTIONS}`,
    );
  });

  it('discovery() suggests only a name within two edits', () => {
    const err = thrownBy(() => discovery(unknown({ env: {}, loadBalancing: 'p2c' })));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe(`${P} \`loadBalancing\`; expected one of ${OPTIONS}`);
    expect(thrownBy(() => discovery(unknown({ env: {}, balancr: 'p2c' }))).message).toContain(
      '`balancr` (did you mean `balancer`?)',
    );
  });

  it('discovery() makes no guess when two names are equally close (`ttl`: `http` or `ttlMs`)', () => {
    const err = thrownBy(() =>
      discovery(
        unknown({ env: {}, register: { name: 'a', check: { http: '/ready', ttl: 5000 } } }),
      ),
    );
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe(
      `${P} \`register.check.ttl\`; expected one of \`http\`, \`intervalMs\`, \`timeoutMs\`, \`ttlMs\`, \`deregisterCriticalServiceAfterMs\``,
    );
  });

  it.each([
    [
      { fetch: { timeoutMS: 2000 } },
      '`fetch.timeoutMS` (did you mean `fetch.timeoutMs`?); expected one of `timeoutMs`, `retries`, `retryOn`, `retryBudget`, `connections`, `keepAliveTimeoutMs`',
    ],
    [
      { fetch: { retryBudget: { ratios: 0.1 } } },
      '`fetch.retryBudget.ratios` (did you mean `fetch.retryBudget.ratio`?); expected one of `ratio`, `minRetriesPerSecond`',
    ],
    [
      { outlier: { consecutiveFailure: 3 } },
      '`outlier.consecutiveFailure` (did you mean `outlier.consecutiveFailures`?); expected one of `consecutiveFailures`, `baseEjectionMs`, `maxEjectionMs`, `maxEjectionPercent`, `panicThreshold`',
    ],
    [
      { register: { name: 'a', adress: '10.0.0.1', check: { ttlMs: 5000 } } },
      '`register.adress` (did you mean `register.address`?); expected one of `name`, `id`, `address`, `port`, `tags`, `meta`, `version`, `check`',
    ],
    [
      { register: { name: 'a', check: { http: '/ready', ttlMS: 5000 } } },
      '`register.check.ttlMS` (did you mean `register.check.ttlMs`?); expected one of `http`, `intervalMs`, `timeoutMs`, `ttlMs`, `deregisterCriticalServiceAfterMs`',
    ],
    [
      { consul: { url: 'http://127.0.0.1:1', tokne: 'secret' } },
      '`consul.tokne` (did you mean `consul.token`?); expected one of `url`, `token`, `dc`, `watch`, `requestTimeoutMs`, `syncIntervalMs`, `random`, `now`',
    ],
    [
      { consul: { url: 'http://127.0.0.1:1', watch: { waitMS: 1000 } } },
      '`consul.watch.waitMS` (did you mean `consul.watch.waitMs`?); expected one of `waitMs`, `minIntervalMs`, `backoffBaseMs`, `backoffMaxMs`, `emptyGraceMs`',
    ],
    [
      { env: {}, services: { orders: [{ url: 'http://127.0.0.1:4001', weigth: 3 }] } },
      '`services.orders[0].weigth` (did you mean `services.orders[0].weight`?); expected one of `url`, `id`, `tags`, `meta`, `weight`',
    ],
    [
      { env: {}, services: { orders: [{ uri: 'http://127.0.0.1:4001' }] } },
      '`services.orders[0].uri` (did you mean `services.orders[0].url`?)',
    ],
  ])('discovery() rejects an unknown nested key by its full path: %j', (options, message) => {
    const err = thrownBy(() => discovery(unknown(options)));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message.startsWith(`${P} ${message}`)).toBe(true);
  });

  it('discovery() accepts unknown keys set to undefined (a spread partial config) and known keys set to undefined', async () => {
    const mw = discovery(
      unknown({
        env: {},
        services: { orders: [{ url: 'http://127.0.0.1:4001', weight: 2, weigth: undefined }] },
        readyTimeoutMS: undefined,
        readyTimeoutMs: undefined,
        consul: undefined,
        fetch: { timeoutMs: undefined, timeoutMS: undefined, retryBudget: { ratios: undefined } },
        outlier: { panicThreshold: undefined, treshold: undefined },
        register: { name: 'me', adress: undefined, check: { ttlMs: 5000, ttl: undefined } },
      }),
    );
    expect(mw.client.instances('orders').map((i) => i.weight)).toEqual([2]);
    await mw.start({ port: 3000 });
    expect(mw.snapshot().registration).toMatchObject({ name: 'me', port: 3000 });
    await mw.stop();
  });

  it('discovery() accepts any names in the user maps `services`, `balancers`, `env`, `register.meta` and instances’ `meta`', async () => {
    const mw = discovery({
      env: { KOA_MESH_SERVICES: 'billing=http://127.0.0.1:4002', UNRELATED_VARIABLE: 'x' },
      services: {
        timeoutMs: [{ url: 'http://127.0.0.1:4001', meta: { weigth: 'heavy', version: 'v2' } }],
      },
      balancers: { timeoutMs: 'round-robin', billing: 'random' },
      register: {
        name: 'me',
        meta: { adress: 'not an option', team: 'core' },
        check: { ttlMs: 5000 },
      },
    });
    expect(mw.client.instances('timeoutMs', { meta: { weigth: 'heavy' } })).toHaveLength(1);
    expect(mw.client.instances('billing')).toHaveLength(1);
    await mw.start({ port: 3000 });
    expect(mw.snapshot().registration).toMatchObject({ name: 'me' });
    await mw.stop();
  });

  it('new ConsulRegistry() rejects an unknown top-level and nested key', () => {
    const top = thrownBy(
      () =>
        new ConsulRegistry({
          url: 'http://127.0.0.1:1',
          dc1: 'eu',
        } as unknown as ConsulRegistryOptions),
    );
    expect(top).toBeInstanceOf(TypeError);
    expect(top.message).toBe(
      `${P} \`consul.dc1\` (did you mean \`consul.dc\`?); expected one of \`url\`, \`token\`, \`dc\`, \`watch\`, \`requestTimeoutMs\`, \`syncIntervalMs\`, \`random\`, \`now\``,
    );
    const nested = thrownBy(
      () =>
        new ConsulRegistry({
          url: 'http://127.0.0.1:1',
          watch: { emptyGraceMS: 0 },
        } as unknown as ConsulRegistryOptions),
    );
    expect(nested.message).toContain(
      '`consul.watch.emptyGraceMS` (did you mean `consul.watch.emptyGraceMs`?)',
    );
  });

  it('new ConsulRegistry() accepts unknown keys set to undefined', async () => {
    const r = new ConsulRegistry({
      url: 'http://127.0.0.1:1',
      tokne: undefined,
      watch: { waitMs: 1000, waitMS: undefined },
    } as unknown as ConsulRegistryOptions);
    expect(r.kind).toBe('consul');
    await r.close();
  });

  it('new StaticRegistry() rejects an unknown top-level key and an unknown key of an instance', () => {
    const top = thrownBy(
      () =>
        new StaticRegistry({
          service: { a: ['http://127.0.0.1:1'] },
        } as unknown as StaticRegistryOptions),
    );
    expect(top).toBeInstanceOf(TypeError);
    expect(top.message).toBe(
      `${P} \`service\` (did you mean \`services\`?); expected one of \`services\`, \`env\``,
    );
    const nested = thrownBy(
      () =>
        new StaticRegistry({
          services: { a: [{ url: 'http://127.0.0.1:1', tag: ['x'] }] },
        } as unknown as StaticRegistryOptions),
    );
    expect(nested.message).toContain('`services.a[0].tag` (did you mean `services.a[0].tags`?)');
  });

  it('new StaticRegistry() accepts any service names and unknown keys set to undefined', () => {
    const r = new StaticRegistry({
      services: { serviecs: [{ url: 'http://127.0.0.1:1', weigth: undefined }] },
      envv: undefined,
    } as unknown as StaticRegistryOptions);
    expect(r.services()).toEqual(['serviecs']);
  });

  it('a registry rejects an unknown key of a registration given to register()', async () => {
    const r = new StaticRegistry();
    await expect(
      r.register({ name: 'a', port: 1, prot: 2, check: { ttlMs: 5000 } } as never),
    ).rejects.toThrow(`${P} \`register.prot\` (did you mean \`register.port\`?)`);
    expect(r.registration()).toBeUndefined();
  });

  it('start() rejects an unknown option (`adress` would have registered the default address)', async () => {
    const mw = discovery({ services: { orders: ['http://127.0.0.1:1'] }, env: false });
    try {
      await expect(mw.start({ adress: '10.0.0.7' } as never)).rejects.toThrow(
        /unknown option `start\.adress` \(did you mean `start\.address`\?\)/,
      );
      await expect(mw.start({ port: undefined })).resolves.toBeUndefined();
    } finally {
      await mw.stop();
    }
  });
});
