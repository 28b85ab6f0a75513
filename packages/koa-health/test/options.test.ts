// Every validation message: options are checked once, at construction, with the option named.
import { createServer } from 'node:http';
import {
  consulCheck,
  eventLoopDelayCheck,
  gracefulShutdown,
  health,
  heapCheck,
  httpCheck,
  redisCheck,
  type GracefulShutdownOptions,
  type HealthOptions,
} from '../src/index.js';

const bad = (options: unknown) => () => health(options as HealthOptions);

describe('health() options', () => {
  it.each<[string, unknown, string]>([
    ['a non-object', 42, 'expected `options` to be an object, got 42'],
    [
      'a relative path',
      { livenessPath: 'health' },
      'expected `livenessPath` to be a path starting with "/" without query or fragment, got "health"',
    ],
    [
      'a path with a query',
      { readinessPath: '/ready?x=1' },
      'expected `readinessPath` to be a path starting with "/" without query or fragment, got "/ready?x=1"',
    ],
    [
      'a non-string path',
      { startupPath: 7 },
      'expected `startupPath` to be a path starting with "/" without query or fragment, got 7',
    ],
    [
      'two probes on one path',
      { readinessPath: '/health' },
      'expected `livenessPath, readinessPath and startupPath` to be three different paths, got "/health, /health, /startup"',
    ],
    ['checks not an object', { checks: [] }, 'expected `checks` to be an object, got an array'],
    ['details not a function', { details: true }, 'expected `details` to be a function, got true'],
    [
      'initiallyReady not a boolean',
      { initiallyReady: 'yes' },
      'expected `initiallyReady` to be a boolean, got "yes"',
    ],
    ['version not a string', { version: 2 }, 'expected `version` to be a string, got 2'],
    [
      'releaseId not a string',
      { releaseId: null },
      'expected `releaseId` to be a string, got null',
    ],
    [
      'serviceId not a string',
      { serviceId: {} },
      'expected `serviceId` to be a string, got an object',
    ],
    [
      'description not a string',
      { description: 1 },
      'expected `description` to be a string, got 1',
    ],
    [
      'onCheckChange not a function',
      { onCheckChange: 'x' },
      'expected `onCheckChange` to be a function, got "x"',
    ],
  ])('rejects %s', (_what, options, message) => {
    expect(bad(options)).toThrow(new TypeError(`@koa-mesh/health: ${message}`));
  });

  it.each<[string, unknown, string]>([
    [
      'a check that is not a function or spec',
      { db: 'redis' },
      'expected `checks.db` to be a function, an object with healthCheck() or a check spec, got "redis"',
    ],
    [
      'a spec without check',
      { db: {} },
      'expected `checks.db.check` to be a function or an object with healthCheck(), got undefined',
    ],
    [
      'an unknown kind',
      { db: { check: () => undefined, kind: 'ready' } },
      'expected `checks.db.kind` to be one of liveness, readiness, startup, got "ready"',
    ],
    [
      'critical not a boolean',
      { db: { check: () => undefined, critical: 1 } },
      'expected `checks.db.critical` to be a boolean, got 1',
    ],
    [
      'a zero timeout',
      { db: { check: () => undefined, timeoutMs: 0 } },
      'expected `checks.db.timeoutMs` to be a positive integer, got 0',
    ],
    [
      'a fractional interval',
      { db: { check: () => undefined, intervalMs: 1.5 } },
      'expected `checks.db.intervalMs` to be a positive integer, got 1.5',
    ],
    [
      'a negative failureThreshold',
      { db: { check: () => undefined, failureThreshold: -1 } },
      'expected `checks.db.failureThreshold` to be a positive integer, got -1',
    ],
    [
      'a NaN successThreshold',
      { db: { check: () => undefined, successThreshold: NaN } },
      'expected `checks.db.successThreshold` to be a positive integer, got NaN',
    ],
    [
      'a timeout past the longest Node.js timer',
      { db: { check: () => undefined, timeoutMs: 2 ** 31 } },
      'expected `checks.db.timeoutMs` to be at most 2147483647 ms (the longest Node.js timer), got 2147483648',
    ],
    [
      'an interval past the longest Node.js timer',
      { db: { check: () => undefined, intervalMs: 30 * 24 * 3_600_000 } },
      'expected `checks.db.intervalMs` to be at most 2147483647 ms (the longest Node.js timer), got 2592000000',
    ],
    [
      'close not a function',
      { db: { check: () => undefined, close: 1 } },
      'expected `checks.db.close` to be a function, got 1',
    ],
    [
      'a name with a colon',
      { 'db:main': () => undefined },
      'expected `check name` to be a non-empty string without ":", got "db:main"',
    ],
  ])('rejects %s', (_what, checks, message) => {
    expect(bad({ checks })).toThrow(new TypeError(`@koa-mesh/health: ${message}`));
  });

  it('validates addCheck() and markNotReady() arguments', () => {
    const probes = health();
    expect(() => probes.addCheck('', () => undefined)).toThrow(
      new TypeError(
        '@koa-mesh/health: expected `check name` to be a non-empty string without ":", got ""',
      ),
    );
    expect(() => probes.markNotReady(5 as unknown as string)).toThrow(
      new TypeError('@koa-mesh/health: expected `markNotReady(reason)` to be a string, got 5'),
    );
    probes.close();
  });

  it('is callable with no arguments', () => {
    const probes = health();
    expect(probes.name).toBe('healthProbeMiddleware');
    probes.close();
  });
});

describe('built-in check options', () => {
  it.each<[string, unknown, string]>([
    [
      'redisCheck without ping',
      () => redisCheck({} as never),
      'expected `redisCheck client` to be a Redis client with ping(), got an object',
    ],
    [
      'consulCheck with a bad url',
      () => consulCheck({ url: 'not a url' }),
      'expected `consulCheck url` to be an absolute http(s) URL, got "not a url"',
    ],
    [
      'consulCheck with ftp',
      () => consulCheck({ url: 'ftp://x' }),
      'expected `consulCheck url` to be an absolute http(s) URL, got "ftp://x"',
    ],
    [
      'consulCheck with a bad token',
      () => consulCheck({ token: 1 as never }),
      'expected `consulCheck token` to be a string, got 1',
    ],
    [
      'httpCheck with a relative url',
      () => httpCheck('/health'),
      'expected `httpCheck url` to be an absolute http(s) URL, got "/health"',
    ],
    [
      'httpCheck with POST',
      () => httpCheck('http://x/', { method: 'POST' as never }),
      'expected `httpCheck method` to be "GET" or "HEAD", got "POST"',
    ],
    [
      'httpCheck with a bad expectStatus',
      () => httpCheck('http://x/', { expectStatus: 200 as never }),
      'expected `httpCheck expectStatus` to be a function, got 200',
    ],
    [
      'eventLoopDelayCheck with warn above max',
      () => eventLoopDelayCheck({ maxDelayMs: 100, warnDelayMs: 200 }),
      'expected `eventLoopDelayCheck warnDelayMs` to be at most maxDelayMs (100), got 200',
    ],
    [
      'eventLoopDelayCheck with percentile 0',
      () => eventLoopDelayCheck({ percentile: 0 }),
      'expected `eventLoopDelayCheck percentile` to be a positive number, got 0',
    ],
    [
      'eventLoopDelayCheck with percentile 101',
      () => eventLoopDelayCheck({ percentile: 101 }),
      'expected `eventLoopDelayCheck percentile` to be a number in (0, 100], got 101',
    ],
    [
      'eventLoopDelayCheck with a bad resolution',
      () => eventLoopDelayCheck({ resolutionMs: 0.5 }),
      'expected `eventLoopDelayCheck resolutionMs` to be a positive integer, got 0.5',
    ],
    [
      'eventLoopDelayCheck with a resolution past the longest Node.js timer',
      () => eventLoopDelayCheck({ resolutionMs: 2 ** 31 }),
      'expected `eventLoopDelayCheck resolutionMs` to be at most 2147483647 ms (the longest Node.js timer), got 2147483648',
    ],
    [
      'heapCheck with a ratio above 1',
      () => heapCheck({ maxRatio: 2 }),
      'expected `heapCheck maxRatio` to be a ratio in (0, 1], got 2',
    ],
    [
      'heapCheck with warn above max',
      () => heapCheck({ maxRatio: 0.5, warnRatio: 0.7 }),
      'expected `heapCheck warnRatio` to be at most maxRatio (0.5), got 0.7',
    ],
  ])('rejects %s', (_what, make, message) => {
    expect(make).toThrow(new TypeError(`@koa-mesh/health: ${message}`));
  });

  it('passes scheduling fields through, validated when the check is added', () => {
    const spec = redisCheck({ ping: async () => 'PONG' }, { kind: 'liveness', timeoutMs: -5 });
    expect(spec).toMatchObject({ kind: 'liveness', timeoutMs: -5 });
    const probes = health();
    expect(() => probes.addCheck('redis', spec)).toThrow(
      new TypeError(
        '@koa-mesh/health: expected `checks.redis.timeoutMs` to be a positive integer, got -5',
      ),
    );
    probes.close();
  });
});

describe('gracefulShutdown() options', () => {
  const server = createServer();
  const make = (options: unknown) => () =>
    gracefulShutdown(server, { signals: [], ...(options as GracefulShutdownOptions) }).dispose();

  it('rejects something that is not a server', () => {
    expect(() => gracefulShutdown({} as never)).toThrow(
      new TypeError(
        '@koa-mesh/health: expected `server` to be a node:http or node:https Server, got an object',
      ),
    );
  });

  it.each<[string, unknown, string]>([
    [
      'health without beginShutdown',
      { health: {} },
      'expected `health` to be the middleware health() returned, got an object',
    ],
    [
      'signals not an array',
      { signals: 'SIGTERM' },
      'expected `signals` to be an array of signal names such as "SIGTERM", got "SIGTERM"',
    ],
    [
      'a bad signal name',
      { signals: ['TERM'] },
      'expected `signals` to be an array of signal names such as "SIGTERM", got an array',
    ],
    [
      'a hook that is not a function',
      { beforeDrain: [() => undefined, 'x'] },
      'expected `beforeDrain[1]` to be a function, got "x"',
    ],
    [
      'an onClose that is not a function',
      { onClose: 3 },
      'expected `onClose[0]` to be a function, got 3',
    ],
    [
      'a negative drainDelayMs',
      { drainDelayMs: -1 },
      'expected `drainDelayMs` to be a non-negative integer, got -1',
    ],
    ['a zero timeoutMs', { timeoutMs: 0 }, 'expected `timeoutMs` to be a positive integer, got 0'],
    [
      'a drainDelayMs past the longest Node.js timer',
      { drainDelayMs: 2 ** 31 },
      'expected `drainDelayMs` to be at most 2147483647 ms (the longest Node.js timer), got 2147483648',
    ],
    [
      'a timeoutMs past the longest Node.js timer',
      { timeoutMs: 2 ** 31 },
      'expected `timeoutMs` to be at most 2147483647 ms (the longest Node.js timer), got 2147483648',
    ],
    [
      'a hookTimeoutMs past the longest Node.js timer',
      { hookTimeoutMs: 2 ** 32 },
      'expected `hookTimeoutMs` to be at most 2147483647 ms (the longest Node.js timer), got 4294967296',
    ],
    [
      'a bad hookTimeoutMs',
      { hookTimeoutMs: '5s' },
      'expected `hookTimeoutMs` to be a positive integer, got "5s"',
    ],
    [
      'a bad terminationGracePeriodMs',
      { terminationGracePeriodMs: Infinity },
      'expected `terminationGracePeriodMs` to be a positive integer, got Infinity',
    ],
    ['a bad exit', { exit: 'no' }, 'expected `exit` to be a function, got "no"'],
    [
      'a logger without error()',
      { logger: { info() {}, warn() {} } },
      'expected `logger` to be an object with info(), warn() and error(), got an object',
    ],
  ])('rejects %s', (_what, options, message) => {
    expect(make(options)).toThrow(new TypeError(`@koa-mesh/health: ${message}`));
  });

  it('accepts drainDelayMs 0 (an explicit 0 is a value, not a default)', () => {
    expect(make({ drainDelayMs: 0 })).not.toThrow();
  });

  it('accepts the longest Node.js timer, 2147483647 ms, for every delay', () => {
    const max = 2 ** 31 - 1;
    expect(make({ drainDelayMs: max, timeoutMs: max, hookTimeoutMs: max })).not.toThrow();
    const probes = health({
      checks: { db: { check: () => undefined, timeoutMs: max, intervalMs: max } },
    });
    expect(probes.checks().map((c) => c.name)).toEqual(['db']);
    probes.close();
  });
});

// Regression: a misspelt option (`readinesPath`, a check's `timeoutMS`) was silently ignored, so
// the probe or check ran with the default. Every constructor taking an options bag now refuses
// unknown keys, check specs included, naming the full path and the accepted names.
describe('unknown options', () => {
  const U = '@koa-mesh/health: unknown option';
  const specNames =
    '`check`, `kind`, `critical`, `timeoutMs`, `intervalMs`, `failureThreshold`, `successThreshold`, `close`';
  const scheduling =
    '`kind`, `critical`, `timeoutMs`, `intervalMs`, `failureThreshold`, `successThreshold`';
  const check = (): undefined => undefined;

  it('health() refuses an unknown top-level key, suggesting the near option (readinesPath)', () => {
    expect(bad({ readinesPath: '/ready' })).toThrow(
      new TypeError(
        `${U} \`readinesPath\` (did you mean \`readinessPath\`?); expected one of \`livenessPath\`, ` +
          '`readinessPath`, `startupPath`, `checks`, `details`, `initiallyReady`, `version`, ' +
          '`releaseId`, `serviceId`, `description`, `onCheckChange`',
      ),
    );
  });

  it('health() and addCheck() refuse an unknown key of a check spec by its full path', () => {
    expect(bad({ checks: { db: { check, timeoutMS: 500 } } })).toThrow(
      new TypeError(
        `${U} \`checks.db.timeoutMS\` (did you mean \`checks.db.timeoutMs\`?); expected one of ${specNames}`,
      ),
    );
    const probes = health();
    expect(() => probes.addCheck('db', { check, critcal: false } as never)).toThrow(
      new TypeError(
        `${U} \`checks.db.critcal\` (did you mean \`checks.db.critical\`?); expected one of ${specNames}`,
      ),
    );
    expect(probes.checks()).toEqual([]);
    probes.close();
  });

  it('health() accepts keys set to undefined and any check name, and does not look into check sources', () => {
    const source = { healthCheck: async () => ({ status: 'pass' as const }), timeoutMS: 1 };
    const probes = health({
      version: '1.0.0',
      releaseId: undefined,
      releaseID: undefined,
      checks: {
        timeoutMS: check,
        livenessPath: source,
        'Any Name': { check, kind: undefined, knd: undefined },
      },
    } as HealthOptions);
    expect(probes.checks().map((c) => [c.name, c.kind])).toEqual([
      ['timeoutMS', 'readiness'],
      ['livenessPath', 'readiness'],
      ['Any Name', 'readiness'],
    ]);
    probes.close();
  });

  it('gracefulShutdown() and the middleware method refuse an unknown key (drainDelay)', () => {
    const server = createServer();
    const names =
      '`health`, `signals`, `beforeDrain`, `drainDelayMs`, `timeoutMs`, `hookTimeoutMs`, ' +
      '`onClose`, `terminationGracePeriodMs`, `exit`, `logger`';
    expect(() => gracefulShutdown(server, { signals: [], drainDelay: 0 } as never)).toThrow(
      new TypeError(
        `${U} \`drainDelay\` (did you mean \`drainDelayMs\`?); expected one of ${names}`,
      ),
    );
    const probes = health();
    expect(() => probes.gracefulShutdown(server, { signals: [], hookTimeout: 5 } as never)).toThrow(
      new TypeError(
        `${U} \`hookTimeout\` (did you mean \`hookTimeoutMs\`?); expected one of ${names}`,
      ),
    );
    probes.close();
  });

  it('gracefulShutdown() accepts keys set to undefined and does not look into the logger or health', () => {
    const lines: string[] = [];
    const logger = { info() {}, warn: (m: string) => lines.push(m), error() {}, debug() {} };
    const probes = health();
    const shutdown = gracefulShutdown(createServer(), {
      signals: [],
      health: probes,
      logger,
      drainDelayMs: undefined,
      drainDelay: undefined,
      terminationGracePeriodMs: 1,
    } as GracefulShutdownOptions);
    // The logger taken (extra method and all) is the one the grace-period warning went to.
    expect(lines).toHaveLength(1);
    shutdown.dispose();
    probes.close();
  });

  it.each<[string, () => unknown, string]>([
    [
      'heapCheck.maxRatoi',
      () => heapCheck({ maxRatoi: 0.5 } as never),
      `${U} \`heapCheck.maxRatoi\` (did you mean \`heapCheck.maxRatio\`?); expected one of ${scheduling}, \`maxRatio\`, \`warnRatio\``,
    ],
    [
      'eventLoopDelayCheck maxDelay',
      () => eventLoopDelayCheck({ maxDelay: 100 } as never),
      `${U} \`eventLoopDelayCheck.maxDelay\` (did you mean \`eventLoopDelayCheck.maxDelayMs\`?); expected one of ${scheduling}, \`maxDelayMs\`, \`warnDelayMs\`, \`percentile\`, \`resolutionMs\``,
    ],
    [
      'consulCheck.URL',
      () => consulCheck({ URL: 'http://127.0.0.1:8500' } as never),
      `${U} \`consulCheck.URL\` (did you mean \`consulCheck.url\`?); expected one of ${scheduling}, \`url\`, \`token\``,
    ],
    [
      'httpCheck header',
      () => httpCheck('http://x/', { header: { a: 'b' } } as never),
      `${U} \`httpCheck.header\` (did you mean \`httpCheck.headers\`?); expected one of ${scheduling}, \`method\`, \`headers\`, \`expectStatus\``,
    ],
    [
      'redisCheck interval',
      () => redisCheck({ ping: async () => 'PONG' }, { interval: 5 } as never),
      `${U} \`redisCheck.interval\` (did you mean \`redisCheck.intervalMs\`?); expected one of ${scheduling}`,
    ],
  ])('the built-in check refuses the unknown key %s', (_what, make, message) => {
    expect(make).toThrow(new TypeError(message));
  });

  it('makes no guess between two equally near names (arRatio: maxRatio or warnRatio)', () => {
    expect(() => heapCheck({ arRatio: 0.5 } as never)).toThrow(
      new TypeError(
        `${U} \`heapCheck.arRatio\`; expected one of ${scheduling}, \`maxRatio\`, \`warnRatio\``,
      ),
    );
  });

  it('httpCheck() accepts any header name and keys set to undefined', () => {
    const spec = httpCheck('http://x/', {
      headers: { 'X-Timeout-MS': '1', method: 'POST' },
      timeoutMs: undefined,
      timeoutMS: undefined,
    } as never);
    expect(spec.timeoutMs).toBeUndefined();
    expect(typeof spec.check).toBe('function');
  });
});
