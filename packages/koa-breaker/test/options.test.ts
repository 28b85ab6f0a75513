// Every validation message: thrown once, at construction, naming the package and the option.
import { breaker, CircuitBreaker, retry, RetryBudget } from '../src/index.js';

const P = '@koa-mesh/breaker: expected';

const cases: Array<[string, Record<string, unknown>, string]> = [
  [
    'options',
    'nope' as unknown as Record<string, unknown>,
    `${P} \`options\` to be an object, got "nope"`,
  ],
  ['name', { name: '' }, `${P} \`name\` to be a non-empty string, got ""`],
  [
    'failureThreshold',
    { failureThreshold: -1 },
    `${P} \`failureThreshold\` to be a positive integer, got -1`,
  ],
  [
    'failureThreshold (float)',
    { failureThreshold: 1.5 },
    `${P} \`failureThreshold\` to be a positive integer, got 1.5`,
  ],
  ['failureRate', { failureRate: 0.5 }, `${P} \`failureRate\` to be an object, got 0.5`],
  [
    'failureRate.threshold',
    { failureRate: { threshold: 0 } },
    `${P} \`failureRate.threshold\` to be a number above 0 and at most 1, got 0`,
  ],
  [
    'failureRate.windowMs',
    { failureRate: { threshold: 0.5, windowMs: -5 } },
    `${P} \`failureRate.windowMs\` to be a positive finite number of milliseconds, got -5`,
  ],
  [
    'failureRate.minimumCalls',
    { failureRate: { threshold: 0.5, minimumCalls: 0 } },
    `${P} \`failureRate.minimumCalls\` to be a positive integer, got 0`,
  ],
  [
    'slowCall.durationMs',
    { slowCall: { rateThreshold: 0.5 } },
    `${P} \`slowCall.durationMs\` to be a positive finite number of milliseconds, got undefined`,
  ],
  [
    'slowCall.rateThreshold',
    { slowCall: { durationMs: 100, rateThreshold: 2 } },
    `${P} \`slowCall.rateThreshold\` to be a number above 0 and at most 1, got 2`,
  ],
  [
    'openMs',
    { openMs: 0 },
    `${P} \`openMs\` to be a positive finite number of milliseconds, got 0`,
  ],
  [
    'maxOpenMs',
    { openMs: 1000, maxOpenMs: 10 },
    `${P} \`maxOpenMs\` to be a number of milliseconds >= openMs (1000), got 10`,
  ],
  ['openBackoff', { openBackoff: 0.5 }, `${P} \`openBackoff\` to be a finite number >= 1, got 0.5`],
  [
    'openJitter',
    { openJitter: 1 },
    `${P} \`openJitter\` to be a number from 0 to less than 1, got 1`,
  ],
  [
    'openJitter (range)',
    { openJitter: -0.1 },
    `${P} \`openJitter\` to be a number from 0 to 1, got -0.1`,
  ],
  ['halfOpen', { halfOpen: [] }, `${P} \`halfOpen\` to be an object, got an array`],
  [
    'halfOpen.probes',
    { halfOpen: { probes: 0 } },
    `${P} \`halfOpen.probes\` to be a positive integer, got 0`,
  ],
  [
    'halfOpen.successThreshold',
    { halfOpen: { probes: 2, successThreshold: 3 } },
    `${P} \`halfOpen.successThreshold\` to be a positive integer <= halfOpen.probes (2), got 3`,
  ],
  [
    'halfOpen.maxConcurrent',
    { halfOpen: { maxConcurrent: -2 } },
    `${P} \`halfOpen.maxConcurrent\` to be a positive integer, got -2`,
  ],
  [
    'timeoutMs',
    { timeoutMs: 'soon' },
    `${P} \`timeoutMs\` to be a positive finite number of milliseconds, got "soon"`,
  ],
  ['maxConcurrent', { maxConcurrent: 0 }, `${P} \`maxConcurrent\` to be a positive integer, got 0`],
  [
    'maxQueue',
    { maxConcurrent: 1, maxQueue: -1 },
    `${P} \`maxQueue\` to be a non-negative integer, got -1`,
  ],
  [
    'maxQueue without maxConcurrent',
    { maxQueue: 5 },
    `${P} \`maxQueue\` to be 0 when \`maxConcurrent\` is not set, got 5`,
  ],
  [
    'queueTimeoutMs without a queue',
    { maxConcurrent: 4, queueTimeoutMs: 500 },
    `${P} \`queueTimeoutMs\` to be false when \`maxQueue\` is 0 (no request ever waits), got 500`,
  ],
  [
    'queueTimeoutMs',
    { queueTimeoutMs: -1 },
    `${P} \`queueTimeoutMs\` to be a positive finite number of milliseconds, got -1`,
  ],
  [
    'timeoutMs (past the longest timer)',
    { timeoutMs: 30 * 24 * 3600 * 1000 },
    `${P} \`timeoutMs\` to be at most 2147483647 ms (the longest Node.js timer), got 2592000000`,
  ],
  [
    'queueTimeoutMs (past the longest timer)',
    { maxConcurrent: 1, queueTimeoutMs: 2 ** 31 },
    `${P} \`queueTimeoutMs\` to be at most 2147483647 ms (the longest Node.js timer), got 2147483648`,
  ],
  [
    'respectRetryAfter',
    { respectRetryAfter: 'yes' },
    `${P} \`respectRetryAfter\` to be a boolean, got "yes"`,
  ],
  [
    'maxRetryAfterMs',
    { maxRetryAfterMs: Infinity },
    `${P} \`maxRetryAfterMs\` to be a positive finite number of milliseconds, got Infinity`,
  ],
  ['openHealth', { openHealth: 'pass' }, `${P} \`openHealth\` to be "warn" or "fail", got "pass"`],
  ['clock', { clock: 5 }, `${P} \`clock\` to be a function, got 5`],
  ['random', { random: {} }, `${P} \`random\` to be a function, got an object`],
];

describe('options validation', () => {
  it.each(cases)('%s', (_label, options, message) => {
    expect(() => breaker(options)).toThrow(new TypeError(message));
    expect(() => new CircuitBreaker(options)).toThrow(new TypeError(message));
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['key', { key: 'path' }, `${P} \`key\` to be a function, got "path"`],
    ['maxKeys', { maxKeys: 0 }, `${P} \`maxKeys\` to be a positive integer, got 0`],
    [
      'idleMs',
      { idleMs: -1 },
      `${P} \`idleMs\` to be a positive finite number of milliseconds, got -1`,
    ],
    ['isFailure', { isFailure: true }, `${P} \`isFailure\` to be a function, got true`],
    ['fallback', { fallback: 'x' }, `${P} \`fallback\` to be a function, got "x"`],
  ])('middleware-only %s', (_label, options, message) => {
    expect(() => breaker(options)).toThrow(new TypeError(message));
  });

  it('accepts the documented off-switches', () => {
    expect(() =>
      breaker({
        failureThreshold: false,
        timeoutMs: false,
        queueTimeoutMs: false,
        maxConcurrent: Infinity,
      }),
    ).not.toThrow();
    expect(breaker({ failureThreshold: false }).get()).toMatchObject({ state: 'closed' });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['retries', { retries: -1 }, `${P} \`retries\` to be a non-negative integer, got -1`],
    [
      'baseMs',
      { baseMs: 0 },
      `${P} \`baseMs\` to be a positive finite number of milliseconds, got 0`,
    ],
    [
      'maxDelayMs (past the longest timer)',
      { maxDelayMs: 2 ** 31 },
      `${P} \`maxDelayMs\` to be at most 2147483647 ms (the longest Node.js timer), got 2147483648`,
    ],
    [
      'maxRetryAfterMs (past the longest timer)',
      { maxRetryAfterMs: Number.MAX_SAFE_INTEGER },
      `${P} \`maxRetryAfterMs\` to be at most 2147483647 ms (the longest Node.js timer), got 9007199254740991`,
    ],
    ['method', { method: 5 }, `${P} \`method\` to be a string, got 5`],
    ['signal', { signal: {} }, `${P} \`signal\` to be an AbortSignal, got an object`],
    ['shouldRetry', { shouldRetry: 1 }, `${P} \`shouldRetry\` to be a function, got 1`],
  ])('retry %s', async (_label, options, message) => {
    await expect(retry(async () => 1, options)).rejects.toThrow(new TypeError(message));
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['ratio', { ratio: -1 }, `${P} \`ratio\` to be a finite number >= 0, got -1`],
    [
      'minRetriesPerSecond',
      { minRetriesPerSecond: NaN },
      `${P} \`minRetriesPerSecond\` to be a finite number >= 0, got NaN`,
    ],
    [
      'windowMs',
      { windowMs: 0 },
      `${P} \`windowMs\` to be a positive finite number of milliseconds, got 0`,
    ],
  ])('RetryBudget %s', (_label, options, message) => {
    expect(() => new RetryBudget(options)).toThrow(new TypeError(message));
  });
});

// Regression: a misspelt option (`timeoutMS`, `treshold`) was silently ignored, so the breaker was
// built without it. Every constructor taking an options bag now refuses unknown keys, nested ones
// included, naming the full path and the accepted names.
describe('unknown options', () => {
  const U = '@koa-mesh/breaker: unknown option';
  const policyNames =
    '`name`, `failureThreshold`, `failureRate`, `slowCall`, `openMs`, `maxOpenMs`, `openBackoff`, ' +
    '`openJitter`, `halfOpen`, `timeoutMs`, `maxConcurrent`, `maxQueue`, `queueTimeoutMs`, ' +
    '`respectRetryAfter`, `maxRetryAfterMs`, `openHealth`, `clock`, `random`';

  it('breaker() refuses an unknown top-level key, suggesting the near option (timeoutMS)', () => {
    expect(() => breaker({ timeoutMS: 2000 } as Record<string, unknown>)).toThrow(
      new TypeError(
        `${U} \`timeoutMS\` (did you mean \`timeoutMs\`?); expected one of ${policyNames}, ` +
          '`key`, `maxKeys`, `idleMs`, `isFailure`, `fallback`',
      ),
    );
  });

  it('new CircuitBreaker() refuses an unknown top-level key, and the middleware-only options', () => {
    const circuitNames = `${policyNames}, \`isFailure\``;
    expect(() => new CircuitBreaker({ maxConcurrency: 4 } as Record<string, unknown>)).toThrow(
      new TypeError(
        `${U} \`maxConcurrency\` (did you mean \`maxConcurrent\`?); expected one of ${circuitNames}`,
      ),
    );
    // `fallback` answers HTTP requests: a CircuitBreaker never called it.
    expect(() => new CircuitBreaker({ fallback: () => 1 } as Record<string, unknown>)).toThrow(
      new TypeError(`${U} \`fallback\`; expected one of ${circuitNames}`),
    );
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'failureRate.treshold',
      { failureRate: { treshold: 0.5 } },
      `${U} \`failureRate.treshold\` (did you mean \`failureRate.threshold\`?); expected one of \`threshold\`, \`windowMs\`, \`minimumCalls\``,
    ],
    [
      'slowCall.duration',
      { slowCall: { duration: 100, rateThreshold: 0.5 } },
      `${U} \`slowCall.duration\` (did you mean \`slowCall.durationMs\`?); expected one of \`durationMs\`, \`rateThreshold\``,
    ],
    [
      'halfOpen.probs',
      { halfOpen: { probs: 3 } },
      `${U} \`halfOpen.probs\` (did you mean \`halfOpen.probes\`?); expected one of \`probes\`, \`successThreshold\`, \`maxConcurrent\``,
    ],
    [
      'halfOpen.concurrency (nothing near)',
      { halfOpen: { concurrency: 3 } },
      `${U} \`halfOpen.concurrency\`; expected one of \`probes\`, \`successThreshold\`, \`maxConcurrent\``,
    ],
  ])(
    'breaker() and new CircuitBreaker() refuse the nested key %s by its full path',
    (_l, options, message) => {
      expect(() => breaker(options)).toThrow(new TypeError(message));
      expect(() => new CircuitBreaker(options)).toThrow(new TypeError(message));
    },
  );

  it('makes no guess between two equally near names (idenMs: idleMs or openMs)', () => {
    expect(() => breaker({ idenMs: 1 } as Record<string, unknown>)).toThrow(
      new TypeError(
        `${U} \`idenMs\`; expected one of ${policyNames}, ` +
          '`key`, `maxKeys`, `idleMs`, `isFailure`, `fallback`',
      ),
    );
  });

  it('new RetryBudget() refuses an unknown key (ratoi)', () => {
    expect(() => new RetryBudget({ ratoi: 0.1 } as Record<string, unknown>)).toThrow(
      new TypeError(
        `${U} \`ratoi\` (did you mean \`ratio\`?); expected one of \`ratio\`, \`minRetriesPerSecond\`, \`windowMs\`, \`clock\``,
      ),
    );
  });

  it('accepts known and unknown keys set to undefined (a spread partial config), defaults applied', () => {
    const partial = {
      name: 'users',
      timeoutMs: undefined,
      timeoutMS: undefined,
      halfOpen: { probes: undefined, probs: undefined },
      failureRate: { threshold: 0.5, windowMs: undefined, windowMS: undefined },
    } as Record<string, unknown>;
    const b = new CircuitBreaker(partial);
    expect(b.name).toBe('users');
    expect(b.stats().window.windowMs).toBe(10_000);
    expect(
      breaker({ ...partial, key: undefined, keys: undefined } as Record<string, unknown>).get(),
    ).toMatchObject({
      name: 'users',
      state: 'closed',
    });
    expect(
      () => new RetryBudget({ ratio: undefined, ratoi: undefined } as Record<string, unknown>),
    ).not.toThrow();
  });

  it('does not look into user-supplied functions (clock, key, isFailure, fallback)', () => {
    const clock = Object.assign(() => 0, { timeoutMS: 1 });
    const key = Object.assign((): string => 'k', { anything: true });
    const mw = breaker({ clock, key, isFailure: () => true, fallback: () => undefined });
    expect(mw.stats()).toEqual([]);
  });
});
