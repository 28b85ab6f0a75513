import type { Context } from 'koa';
import { canaryRouter, type CanaryRouterOptions } from '../src/index.js';

const P = '@koa-mesh/canary-router: unknown option';
const T = 'http://127.0.0.1:9';
const build = (o: unknown) => () => canaryRouter(o as CanaryRouterOptions);
const withArms = (arms: unknown, extra: object = {}) => build({ arms, ...extra });
const ok = { stable: { target: T } };
const breaker = {
  execute: <R>(fn: (signal: AbortSignal) => Promise<R>) => fn(new AbortController().signal),
};

const ROOT = '`rollout`, `arms`, `stable`, `rules`, `trust`, `stickiness`, `proxy`';
const ARM = '`target`, `weight`, `version`, `headers`, `breaker`';
const COOKIE = '`name`, `maxAgeMs`, `path`, `domain`, `sameSite`, `secure`, `signed`';
const PROXY =
  '`connectTimeoutMs`, `headersTimeoutMs`, `bodyTimeoutMs`, `connections`, `keepAliveTimeoutMs`, `host`, `bufferLimitBytes`, `stripPrefix`';

describe('unknown options', () => {
  it.each<[string, () => unknown, string]>([
    [
      'a misspelt top-level option, with the suggestion',
      withArms(ok, { stickyness: { cookie: false } }),
      `${P} \`stickyness\` (did you mean \`stickiness\`?); expected one of ${ROOT}`,
    ],
    [
      'a top-level option in the wrong case',
      withArms(ok, { Rollout: 'x' }),
      `${P} \`Rollout\` (did you mean \`rollout\`?); expected one of ${ROOT}`,
    ],
    [
      'a top-level option with no near name',
      withArms(ok, { timeout: 5 }),
      `${P} \`timeout\`; expected one of ${ROOT}`,
    ],
    [
      'a singular `arm`, before the missing `arms` is reported',
      build({ arm: ok }),
      `${P} \`arm\` (did you mean \`arms\`?); expected one of ${ROOT}`,
    ],
    // The integration review's case: the arm ran with no breaker at all.
    [
      'a misspelt arm breaker (`breakr`), which left the arm unguarded',
      withArms({ ...ok, canary: { target: T, weight: 5, breakr: breaker } }),
      `${P} \`arms.canary.breakr\` (did you mean \`arms.canary.breaker\`?); expected one of ${ARM}`,
    ],
    [
      'a misspelt arm weight, which sent the arm no traffic',
      withArms({ ...ok, canary: { target: T, wieght: 5 } }),
      `${P} \`arms.canary.wieght\` (did you mean \`arms.canary.weight\`?); expected one of ${ARM}`,
    ],
    [
      // `release` belongs on the resolver function itself, where the router reads it.
      'a `release` beside the resolver of a { resolver } target',
      withArms({ stable: { target: { resolver: async () => new URL(T), release: () => {} } } }),
      `${P} \`arms.stable.target.release\`; expected one of \`resolver\`, \`middleware\``,
    ],
    [
      'a misspelt { middleware } target',
      withArms({ stable: { target: { middlware: () => undefined } } }),
      `${P} \`arms.stable.target.middlware\` (did you mean \`arms.stable.target.middleware\`?); expected one of \`resolver\`, \`middleware\``,
    ],
    [
      'a misspelt rule kind',
      withArms(ok, { rules: [{ headr: 'x-beta', arm: 'stable' }] }),
      `${P} \`rules[0].headr\` (did you mean \`rules[0].header\`?); expected one of \`header\`, \`cookie\`, \`query\`, \`pathPrefix\`, \`method\`, \`predicate\`, \`value\`, \`arm\`, \`trusted\``,
    ],
    [
      'a misspelt rule value, which matched any value',
      withArms(ok, { rules: [{ header: 'x-beta', valeu: '1', arm: 'stable' }] }),
      `${P} \`rules[0].valeu\` (did you mean \`rules[0].value\`?); expected one of \`header\`, \`value\`, \`arm\`, \`trusted\``,
    ],
    [
      'a misspelt `trusted`, which let the public pick the arm',
      withArms(ok, { rules: [{ query: 'beta', arm: 'stable', trustd: true }] }),
      `${P} \`rules[0].trustd\` (did you mean \`rules[0].trusted\`?); expected one of \`query\`, \`value\`, \`arm\`, \`trusted\``,
    ],
    [
      'a value on a path-prefix rule, which reads none',
      withArms(ok, { rules: [{ pathPrefix: '/beta', value: 'x', arm: 'stable' }] }),
      `${P} \`rules[0].value\`; expected one of \`pathPrefix\`, \`arm\`, \`trusted\``,
    ],
    [
      'an arm on a predicate rule, whose arm is what it returns',
      withArms(ok, { rules: [{ predicate: () => undefined, arm: 'stable' }] }),
      `${P} \`rules[0].arm\`; expected one of \`predicate\`, \`trusted\``,
    ],
    [
      'a misspelt stickiness option',
      withArms(ok, { stickiness: { cookei: false } }),
      `${P} \`stickiness.cookei\` (did you mean \`stickiness.cookie\`?); expected one of \`key\`, \`cookie\`, \`vary\``,
    ],
    [
      'a misspelt cookie option',
      withArms(ok, { stickiness: { cookie: { sameSit: 'strict' } } }),
      `${P} \`stickiness.cookie.sameSit\` (did you mean \`stickiness.cookie.sameSite\`?); expected one of ${COOKIE}`,
    ],
    [
      'a cookie option in the wrong case',
      withArms(ok, { stickiness: { cookie: { maxAgeMS: 1000 } } }),
      `${P} \`stickiness.cookie.maxAgeMS\` (did you mean \`stickiness.cookie.maxAgeMs\`?); expected one of ${COOKIE}`,
    ],
    [
      'a cookie option with no near name',
      withArms(ok, { stickiness: { cookie: { httpOnly: false } } }),
      `${P} \`stickiness.cookie.httpOnly\`; expected one of ${COOKIE}`,
    ],
    [
      'a cookie option equally near two names (no guess)',
      withArms(ok, { stickiness: { cookie: { pam: '/' } } }),
      `${P} \`stickiness.cookie.pam\`; expected one of ${COOKIE}`,
    ],
    [
      'a proxy timeout in the wrong case',
      withArms(ok, { proxy: { connectTimeoutMS: 100 } }),
      `${P} \`proxy.connectTimeoutMS\` (did you mean \`proxy.connectTimeoutMs\`?); expected one of ${PROXY}`,
    ],
    [
      'a misspelt proxy option',
      withArms(ok, { proxy: { headerTimeoutMs: 100 } }),
      `${P} \`proxy.headerTimeoutMs\` (did you mean \`proxy.headersTimeoutMs\`?); expected one of ${PROXY}`,
    ],
  ])('rejects %s with a TypeError naming its full path', (_name, fn, message) => {
    expect(fn).toThrow(TypeError);
    expect(fn).toThrow(message);
  });

  it('ignores unknown keys set to undefined, at every level, and known keys set to undefined', async () => {
    const router = canaryRouter({
      arms: {
        stable: { target: T, weight: undefined, breakr: undefined },
        canary: { target: { resolver: async () => new URL(T), relase: undefined }, weight: 10 },
      },
      rollout: undefined,
      stickyness: undefined,
      rules: [{ header: 'x-beta', arm: 'canary', valeu: undefined }],
      stickiness: { key: undefined, cookei: undefined, cookie: { sameSit: undefined } },
      proxy: { headersTimeoutMs: undefined, headerTimeoutMs: undefined },
    } as unknown as CanaryRouterOptions);
    expect(router.weights()).toEqual({ canary: 10, stable: 90 });
    await router.close();
    // The same key with a value is refused: only the undefined ones pass.
    expect(withArms({ stable: { target: T, weight: undefined, breakr: breaker } })).toThrow(
      `${P} \`arms.stable.breakr\``,
    );
  });

  it('does not check the user’s maps and objects: arm names, arm headers, breakers, resolvers, middleware', async () => {
    // Arm names that look like misspelt options, and a breaker carrying more than `execute`.
    const opossumLike = Object.assign(Object.create(breaker) as object, {
      execute: breaker.execute,
      opts: { timeout: 1 },
      fire: () => undefined,
    });
    const resolver = Object.assign(async () => new URL(T), { release: () => {}, pool: 'x' });
    const middleware = Object.assign((_ctx: Context, next: () => Promise<void>) => next(), {
      router: {},
    });
    const router = canaryRouter({
      stable: 'breakr',
      arms: {
        breakr: { target: T, headers: { 'x-tenant': 'a', 'X-Weight': 'b' }, breaker: opossumLike },
        wieght: { target: resolver, weight: 10 },
        stickyness: { target: middleware, weight: 5 },
        proxy: { target: { middleware: [middleware] }, weight: 5 },
      },
      rules: [{ header: 'x-beta', arm: 'wieght' }],
    } as CanaryRouterOptions);
    expect(router.weights()).toEqual({ wieght: 10, stickyness: 5, proxy: 5, breakr: 80 });
    await router.close();
    // While an unknown key inside one of those arms is refused.
    expect(
      withArms({ stable: { target: T, headers: { 'x-a': 'b' }, header: { 'x-a': 'b' } } }),
    ).toThrow(`${P} \`arms.stable.header\` (did you mean \`arms.stable.headers\`?)`);
  });
});
