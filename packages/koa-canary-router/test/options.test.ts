import { canaryRouter, type CanaryRouterOptions } from '../src/index.js';

const P = '@koa-mesh/canary-router: expected';
const T = 'http://127.0.0.1:9';
const build = (o: unknown) => () => canaryRouter(o as CanaryRouterOptions);
const withArms = (arms: unknown, extra: object = {}) => build({ arms, ...extra });
const ok = { stable: { target: T } };

describe('options validation', () => {
  it.each<[string, () => unknown, string]>([
    ['no options', build(undefined), `${P} \`options\` to be an object, got undefined`],
    ['no arms', build({}), `${P} \`arms\` to be an object of arms, got undefined`],
    [
      'no stable arm',
      withArms({ canary: { target: T } }),
      `${P} \`arms\` to be an object with a \`stable\` (stable) arm, got an object`,
    ],
    [
      'a renamed stable arm missing',
      withArms(ok, { stable: 'v1' }),
      `${P} \`arms\` to be an object with a \`v1\` (stable) arm, got an object`,
    ],
    [
      'empty stable name',
      withArms(ok, { stable: '' }),
      `${P} \`stable\` to be a non-empty string, got ""`,
    ],
    [
      'an arm that is not an object',
      withArms({ stable: T }),
      `${P} \`arms.stable\` to be an arm object ({ target, weight? }), got "${T}"`,
    ],
    [
      'a breaker without execute',
      withArms({ stable: { target: T, breaker: { fire: () => undefined } } }),
      `${P} \`arms.stable.breaker\` to be a breaker with an \`execute(fn, signal?)\` function, got an object`,
    ],
    [
      'a breaker that is not an object',
      withArms({ stable: { target: T, breaker: true } }),
      `${P} \`arms.stable.breaker\` to be a breaker with an \`execute(fn, signal?)\` function, got true`,
    ],
    [
      'a breaker on an in-process arm',
      withArms({
        stable: { target: { middleware: () => undefined }, breaker: { execute: () => undefined } },
      }),
      `${P} \`arms.stable.breaker\` to be omitted on an in-process arm (it guards proxied upstreams; wrap the middleware in @koa-mesh/breaker instead), got an object`,
    ],
    [
      'a weight above 100',
      withArms({ ...ok, canary: { target: T, weight: 120 } }),
      `${P} \`arms.canary.weight\` to be a number from 0 to 100, got 120`,
    ],
    [
      'a negative weight',
      withArms({ ...ok, canary: { target: T, weight: -1 } }),
      `${P} \`arms.canary.weight\` to be a number from 0 to 100, got -1`,
    ],
    [
      'a string weight',
      withArms({ ...ok, canary: { target: T, weight: '10' } }),
      `${P} \`arms.canary.weight\` to be a number from 0 to 100, got "10"`,
    ],
    [
      'weights above 100 in sum',
      withArms({ ...ok, a: { target: T, weight: 60 }, b: { target: T, weight: 50 } }),
      `${P} \`arms\` to be weights of the non-stable arms summing to at most 100, got 110`,
    ],
    [
      'an inconsistent stable weight',
      withArms({ stable: { target: T, weight: 50 }, canary: { target: T, weight: 10 } }),
      `${P} \`arms.stable.weight\` to be omitted or the remainder of the other arms (90), got 50`,
    ],
    [
      'a relative URL',
      withArms({ stable: { target: '/x' } }),
      `${P} \`arms.stable.target\` to be an absolute http(s) URL, got "/x"`,
    ],
    [
      'a non-http URL',
      withArms({ stable: { target: 'ftp://h' } }),
      `${P} \`arms.stable.target\` to be an absolute http(s) URL, got "ftp://h"`,
    ],
    [
      'a URL with a query',
      withArms({ stable: { target: `${T}/?a=1` } }),
      `${P} \`arms.stable.target\` to be a URL without query or fragment, got "${T}/?a=1"`,
    ],
    [
      'a bad URL in a list',
      withArms({ stable: { target: [T, 'nope'] } }),
      `${P} \`arms.stable.target[1]\` to be an absolute http(s) URL, got "nope"`,
    ],
    [
      'an empty list',
      withArms({ stable: { target: [] } }),
      `${P} \`arms.stable.target\` to be a non-empty list, got an array`,
    ],
    [
      'a number target',
      withArms({ stable: { target: 5 } }),
      `${P} \`arms.stable.target\` to be a URL, a list of URLs, a resolver, a middleware, { resolver } or { middleware }, got 5`,
    ],
    [
      'a bad { middleware }',
      withArms({ stable: { target: { middleware: 'x' } } }),
      `${P} \`arms.stable.target.middleware\` to be a middleware or a non-empty list of them, got "x"`,
    ],
    [
      'a multi-line version',
      withArms({ stable: { target: T, version: 'a\nb' } }),
      `${P} \`arms.stable.version\` to be a non-empty header value (Latin-1, no control characters), got "a\\nb"`,
    ],
    // Sent as X-Service-Version: Node refused it on every request, which answered 500.
    [
      'a version beyond Latin-1',
      withArms({ stable: { target: T, version: 'v2 🚀' } }),
      `${P} \`arms.stable.version\` to be a non-empty header value (Latin-1, no control characters), got "v2 🚀"`,
    ],
    [
      'a version with a control character',
      withArms({ stable: { target: T, version: 'v2\0' } }),
      `${P} \`arms.stable.version\` to be a non-empty header value (Latin-1, no control characters), got "v2\\u0000"`,
    ],
    [
      'bad arm headers',
      withArms({ stable: { target: T, headers: { 'x-a': 1 } } }),
      `${P} \`arms.stable.headers.x-a\` to be a header value (Latin-1, no control characters), got 1`,
    ],
    // undici refused these on every request, which answered 502.
    [
      'an arm header value beyond Latin-1',
      withArms({ stable: { target: T, headers: { 'x-a': 'ü🚀' } } }),
      `${P} \`arms.stable.headers.x-a\` to be a header value (Latin-1, no control characters), got "ü🚀"`,
    ],
    [
      'an arm header value with a control character',
      withArms({ stable: { target: T, headers: { 'x-a': 'a\0' } } }),
      `${P} \`arms.stable.headers.x-a\` to be a header value (Latin-1, no control characters), got "a\\u0000"`,
    ],
    ...[
      'Keep-Alive',
      'Transfer-Encoding',
      'Connection',
      'Upgrade',
      'Expect',
      'TE',
      'Proxy-Authorization',
      'Content-Length',
    ].map((name): [string, () => unknown, string] => [
      `a ${name} arm header`,
      withArms({ stable: { target: T, headers: { [name]: 'x' } } }),
      `${P} \`arms.stable.headers\` to be a header the proxy may set (not hop-by-hop, Proxy-* or Content-Length), got "${name}"`,
    ]),
    [
      'a bad header name',
      withArms({ stable: { target: T, headers: { 'a b': 'x' } } }),
      `${P} \`arms.stable.headers\` to be an HTTP token (a header, cookie or method name), got "a b"`,
    ],
    [
      'a bad rollout',
      withArms(ok, { rollout: 'has space' }),
      `${P} \`rollout\` to be letters, digits, \`_\`, \`-\` or \`:\` (1 to 64 characters), got "has space"`,
    ],
    [
      'rules not an array',
      withArms(ok, { rules: {} }),
      `${P} \`rules\` to be an array of rules, got an object`,
    ],
    [
      'a rule with two kinds',
      withArms(ok, { rules: [{ header: 'a', cookie: 'b', arm: 'stable' }] }),
      `${P} \`rules[0]\` to be a rule with exactly one of \`header\`, \`cookie\`, \`query\`, \`pathPrefix\`, \`method\`, \`predicate\`, got an object`,
    ],
    [
      'a rule naming an unknown arm',
      withArms(ok, { rules: [{ header: 'x-a', arm: 'canary' }] }),
      `${P} \`rules[0].arm\` to be one of the arms (stable), got "canary"`,
    ],
    [
      'a global regex',
      withArms(ok, { rules: [{ header: 'x-a', value: /a/g, arm: 'stable' }] }),
      `${P} \`rules[0].value\` to be a RegExp without the g or y flag, got /a/g`,
    ],
    [
      'a numeric matcher',
      withArms(ok, { rules: [{ cookie: 'c', value: 1, arm: 'stable' }] }),
      `${P} \`rules[0].value\` to be a string or a RegExp, got 1`,
    ],
    [
      'a bad path prefix',
      withArms(ok, { rules: [{ pathPrefix: 'beta', arm: 'stable' }] }),
      `${P} \`rules[0].pathPrefix\` to be a path starting with /, got "beta"`,
    ],
    [
      'an empty method list',
      withArms(ok, { rules: [{ method: [], arm: 'stable' }] }),
      `${P} \`rules[0].method\` to be a method or a list of methods, got an array`,
    ],
    [
      'a bad trusted flag',
      withArms(ok, { rules: [{ query: 'q', arm: 'stable', trusted: 'yes' }] }),
      `${P} \`rules[0].trusted\` to be a boolean, got "yes"`,
    ],
    [
      'a non-function predicate',
      withArms(ok, { rules: [{ predicate: 'x' }] }),
      `${P} \`rules[0].predicate\` to be a function, got "x"`,
    ],
    [
      'a non-function trust',
      withArms(ok, { trust: true }),
      `${P} \`trust\` to be a function, got true`,
    ],
    [
      'a non-function key',
      withArms(ok, { stickiness: { key: 'id' } }),
      `${P} \`stickiness.key\` to be a function, got "id"`,
    ],
    [
      'a bad cookie option',
      withArms(ok, { stickiness: { cookie: 'x' } }),
      `${P} \`stickiness.cookie\` to be an object or false, got "x"`,
    ],
    [
      'a bad cookie name',
      withArms(ok, { stickiness: { cookie: { name: 'a;b' } } }),
      `${P} \`stickiness.cookie.name\` to be an HTTP token (a header, cookie or method name), got "a;b"`,
    ],
    [
      'a cookie path with a semicolon',
      withArms(ok, { stickiness: { cookie: { path: '/a;b' } } }),
      `${P} \`stickiness.cookie.path\` to be a path starting with / (no \`;\`, spaces or controls), got "/a;b"`,
    ],
    [
      'a bad cookie domain',
      withArms(ok, { stickiness: { cookie: { domain: 'a.com; secure' } } }),
      `${P} \`stickiness.cookie.domain\` to be a domain name, got "a.com; secure"`,
    ],
    [
      'a bad cookie maxAge',
      withArms(ok, { stickiness: { cookie: { maxAgeMs: 0 } } }),
      `${P} \`stickiness.cookie.maxAgeMs\` to be a positive integer, got 0`,
    ],
    [
      'sameSite none without secure',
      withArms(ok, { stickiness: { cookie: { sameSite: 'none', secure: false } } }),
      `${P} \`stickiness.cookie.secure\` to be not false with sameSite 'none' (browsers drop such a cookie), got false`,
    ],
    [
      'a bad sameSite',
      withArms(ok, { stickiness: { cookie: { sameSite: 'loose' } } }),
      `${P} \`stickiness.cookie.sameSite\` to be 'strict', 'lax' or 'none', got "loose"`,
    ],
    [
      'a bad signed flag',
      withArms(ok, { stickiness: { cookie: { signed: 'yes' } } }),
      `${P} \`stickiness.cookie.signed\` to be a boolean or 'auto', got "yes"`,
    ],
    [
      'a bad vary list',
      withArms(ok, { stickiness: { vary: 'x-user' } }),
      `${P} \`stickiness.vary\` to be an array, got "x-user"`,
    ],
    [
      'a bad timeout',
      withArms(ok, { proxy: { headersTimeoutMs: -1 } }),
      `${P} \`proxy.headersTimeoutMs\` to be a positive integer, got -1`,
    ],
    [
      'a bad pool size',
      withArms(ok, { proxy: { connections: 1.5 } }),
      `${P} \`proxy.connections\` to be a positive integer, got 1.5`,
    ],
    [
      'a negative buffer limit',
      withArms(ok, { proxy: { bufferLimitBytes: -1 } }),
      `${P} \`proxy.bufferLimitBytes\` to be a non-negative integer, got -1`,
    ],
    [
      'a bad host mode',
      withArms(ok, { proxy: { host: 'keep' } }),
      `${P} \`proxy.host\` to be 'rewrite' or 'preserve', got "keep"`,
    ],
    [
      'a bad strip prefix',
      withArms(ok, { proxy: { stripPrefix: '/api/' } }),
      `${P} \`proxy.stripPrefix\` to be a path starting with / and not ending with /, got "/api/"`,
    ],
  ])('rejects %s with a TypeError naming the option', (_name, fn, message) => {
    expect(fn).toThrow(TypeError);
    expect(fn).toThrow(message);
  });

  it('accepts the smallest and a full configuration', async () => {
    const small = canaryRouter({ arms: { stable: { target: T } } });
    expect(small.weights()).toEqual({ stable: 100 });
    const full = canaryRouter({
      rollout: 'checkout:v2',
      stable: 'v1',
      arms: {
        v1: { target: [T, new URL(T)], weight: 75, version: '1.0.0', headers: { 'x-a': 'b' } },
        v2: { target: async () => new URL(T), weight: 25 },
      },
      rules: [
        { header: 'x-a', value: /b/i, arm: 'v2', trusted: true },
        { method: 'PATCH', arm: 'v1' },
      ],
      trust: () => true,
      stickiness: { key: () => undefined, cookie: { name: 'c', signed: false }, vary: ['x-user'] },
      proxy: {
        connectTimeoutMs: 1,
        headersTimeoutMs: 1,
        bodyTimeoutMs: 1,
        connections: 1,
        host: 'preserve',
        stripPrefix: '/api',
      },
    });
    expect(full.weights()).toEqual({ v2: 25, v1: 75 });
    await Promise.all([small.close(), full.close()]);
  });
});
