import type { Context, Next } from 'koa';
import Koa2 from 'koa2';
import request from 'supertest';
import { startApp, type RunningServer } from '@koa-mesh/testkit';
import { canaryRouter, type CanaryDecision, type CanaryRouterOptions } from '../src/index.js';
import { appWith } from './helpers.js';

/** An in-process arm that answers with its name and what the router recorded. */
const answer = (name: string) =>
  async function armHandler(ctx: Context, _next: Next) {
    ctx.body = { arm: name, version: ctx.state.version, canary: ctx.state.canary };
  };

function routerWith(extra: Partial<CanaryRouterOptions> = {}, weight = 0) {
  return canaryRouter({
    rollout: 'r1',
    arms: {
      stable: { target: answer('stable'), version: '1.0.0' },
      canary: { target: answer('canary'), version: '2.0.0', weight },
    },
    ...extra,
  });
}

describe('rules', () => {
  it('routes on an exact header and adds Vary for it', async () => {
    const app = appWith(
      routerWith({ rules: [{ header: 'X-Canary', value: 'always', arm: 'canary' }] }),
    );
    const hit = await request(app.callback()).get('/').set('X-Canary', 'always');
    expect(hit.body.arm).toBe('canary');
    expect(hit.headers['x-service-version']).toBe('2.0.0');
    expect(hit.headers.vary).toMatch(/x-canary/i);
    expect(hit.body.canary).toEqual({
      rollout: 'r1',
      arm: 'canary',
      version: '2.0.0',
      reason: 'rule',
    });
    const miss = await request(app.callback()).get('/').set('X-Canary', 'never');
    expect(miss.body.arm).toBe('stable');
    expect(miss.body.canary.reason).toBe('weight');
    expect(miss.headers.vary).toMatch(/x-canary/i);
    expect(miss.headers.vary).toMatch(/cookie/i);
  });

  it('routes on a header regex, a cookie, a query parameter, a path prefix, a method and a predicate', async () => {
    const app = appWith(
      routerWith({
        rules: [
          { header: 'x-version', value: /^2\./, arm: 'canary' },
          { cookie: 'beta', value: 'yes', arm: 'canary' },
          { query: 'arm', value: 'canary', arm: 'canary' },
          { pathPrefix: '/beta', arm: 'canary' },
          { method: ['PATCH'], arm: 'canary' },
          { predicate: (ctx) => (ctx.get('x-team') === 'qa' ? 'canary' : undefined) },
        ],
      }),
    );
    const cb = app.callback();
    expect((await request(cb).get('/').set('x-version', '2.1')).body.arm).toBe('canary');
    expect((await request(cb).get('/').set('x-version', '1.9')).body.arm).toBe('stable');
    expect((await request(cb).get('/').set('Cookie', 'beta=yes')).body.arm).toBe('canary');
    expect((await request(cb).get('/').set('Cookie', 'beta=no')).body.arm).toBe('stable');
    expect((await request(cb).get('/?arm=canary')).body.arm).toBe('canary');
    expect((await request(cb).get('/beta/x')).body.arm).toBe('canary');
    expect((await request(cb).get('/beta')).body.arm).toBe('canary');
    expect((await request(cb).get('/betamax')).body.arm).toBe('stable');
    expect((await request(cb).patch('/')).body.arm).toBe('canary');
    expect((await request(cb).get('/').set('x-team', 'qa')).body.arm).toBe('canary');
    expect((await request(cb).get('/')).body.arm).toBe('stable');
  });

  it('ignores an untrusted client sending a trusted override header', async () => {
    const app = appWith(
      routerWith({
        rules: [{ header: 'x-canary-override', value: 'canary', arm: 'canary', trusted: true }],
        trust: (ctx) => ctx.get('x-internal-token') === 's3cret',
      }),
    );
    const cb = app.callback();
    const untrusted = await request(cb).get('/').set('x-canary-override', 'canary');
    expect(untrusted.body.arm).toBe('stable');
    const forged = await request(cb)
      .get('/')
      .set('x-canary-override', 'canary')
      .set('x-internal-token', 'guess');
    expect(forged.body.arm).toBe('stable');
    const trusted = await request(cb)
      .get('/')
      .set('x-canary-override', 'canary')
      .set('x-internal-token', 's3cret');
    expect(trusted.body.arm).toBe('canary');
  });

  it('treats a throwing trust() as untrusted and a throwing predicate as no match, reporting both', async () => {
    const app = appWith(
      routerWith({
        rules: [
          {
            predicate: () => {
              throw new Error('predicate broke');
            },
          },
          { predicate: () => 'nope' },
          { header: 'x-c', arm: 'canary', trusted: true },
        ],
        trust: () => {
          throw new Error('trust broke');
        },
      }),
    );
    const res = await request(app.callback()).get('/').set('x-c', '1');
    expect(res.status).toBe(200);
    expect(res.body.arm).toBe('stable');
    expect(app.errors.map((e) => (e as Error).message)).toEqual([
      'predicate broke',
      expect.stringContaining('unknown arm "nope"'),
      'trust broke',
    ]);
  });
});

describe('stickiness', () => {
  let server: RunningServer;
  let router: ReturnType<typeof routerWith>;

  beforeAll(async () => {
    router = routerWith({}, 10);
    const app = appWith(router);
    app.proxy = true; // the test varies the client IP through X-Forwarded-For
    app.keys = ['k1'];
    server = await startApp(app);
  });
  afterAll(() => server.close());

  it('keeps each client on its arm across weight changes with real cookie jars', async () => {
    router.setWeights({ canary: 10 });
    const clients = Array.from({ length: 60 }, (_, i) => ({
      ip: `10.0.${i >> 8}.${i & 255}`,
      jar: request.agent(server.url),
    }));
    const first: string[] = [];
    for (const c of clients) {
      const res = await c.jar.get('/').set('X-Forwarded-For', c.ip);
      expect(res.body.canary.key).toBe('ip');
      expect((res.headers['set-cookie'] as unknown as string[] | undefined)?.join(';')).toMatch(
        /koa_mesh_canary=/,
      );
      first.push(res.body.arm);
    }
    expect(first).toEqual(router.simulate(clients.map((c) => c.ip)));

    // The cookie now decides, whatever address the client comes from.
    router.setWeights({ canary: 60 });
    const second: string[] = [];
    for (const c of clients) {
      const res = await c.jar.get('/').set('X-Forwarded-For', '192.0.2.1');
      expect(res.body.canary.key).toBe('cookie');
      expect(res.headers['set-cookie']).toBeUndefined(); // not re-set when unchanged
      second.push(res.body.arm);
    }
    first.forEach((arm, i) => {
      if (arm === 'canary') expect(second[i]).toBe('canary');
    });
    expect(second.filter((a) => a === 'canary').length).toBeGreaterThan(
      first.filter((a) => a === 'canary').length,
    );
    // Unconcerned clients did not move: exactly those the change covers did.
    expect(second).toEqual(router.simulate(clients.map((c) => c.ip)));

    router.setWeights({ canary: 0 });
    for (const c of clients) {
      const res = await c.jar.get('/').set('X-Forwarded-For', '192.0.2.1');
      expect(res.body.arm).toBe('stable');
    }
  });

  it('sets the cookie on stable decisions too, signed with app.keys', async () => {
    router.setWeights({ canary: 0 });
    const res = await request(server.url).get('/').set('X-Forwarded-For', '10.9.9.9');
    expect(res.body.arm).toBe('stable');
    const cookies = res.headers['set-cookie'] as unknown as string[];
    expect(cookies.some((c) => c.startsWith('koa_mesh_canary='))).toBe(true);
    expect(cookies.some((c) => c.startsWith('koa_mesh_canary.sig='))).toBe(true);
    expect(cookies.join(';')).toMatch(/httponly/i);
  });

  it('ignores and replaces a tampered cookie', async () => {
    router.setWeights({ canary: 50 });
    // A client forging a bucket of 0 (always canary) without a valid signature.
    const res = await request(server.url)
      .get('/')
      .set('X-Forwarded-For', '10.1.1.1')
      .set('Cookie', 'koa_mesh_canary=0.r1; koa_mesh_canary.sig=forged');
    expect(res.status).toBe(200);
    expect(res.body.canary.key).toBe('ip');
    expect(res.body.arm).toBe(router.simulate(['10.1.1.1'])[0]);
    const cookies = (res.headers['set-cookie'] as unknown as string[]).join(';');
    expect(cookies).toMatch(/koa_mesh_canary=[0-9a-z]+\.r1/);
  });

  it.each(['garbage', '.r1', 'zzzzzzzz.r1', '0.other-rollout', '%E0%A4%A', 'a.b.c'])(
    'ignores a malformed or stale cookie %p (unsigned app)',
    async (value) => {
      const app = appWith(routerWith({}, 50));
      const res = await request(app.callback()).get('/').set('Cookie', `koa_mesh_canary=${value}`);
      expect(res.status).toBe(200);
      expect(res.body.canary.key).toBe('ip');
      expect((res.headers['set-cookie'] as unknown as string[] | undefined)?.join(';')).toMatch(
        /koa_mesh_canary=[0-9a-z]+\.r1/,
      );
    },
  );

  it('accepts an unsigned cookie when the app has no keys', async () => {
    const app = appWith(routerWith({}, 50));
    const canary = await request(app.callback()).get('/').set('Cookie', 'koa_mesh_canary=0.r1');
    expect(canary.body).toMatchObject({ arm: 'canary', canary: { key: 'cookie' } });
    const stable = await request(app.callback())
      .get('/')
      .set('Cookie', `koa_mesh_canary=${(0xffffffff).toString(36)}.r1`);
    expect(stable.body).toMatchObject({ arm: 'stable', canary: { key: 'cookie' } });
  });

  it('prefers the user key over the cookie and the IP, and stores its bucket in the cookie', async () => {
    const router2 = routerWith(
      { stickiness: { key: (ctx) => ctx.get('x-user') || undefined, vary: ['X-User'] } },
      50,
    );
    const app = appWith(router2);
    const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    for (const user of users) {
      const res = await request(app.callback())
        .get('/')
        .set('x-user', user)
        .set('Cookie', 'koa_mesh_canary=0.r1');
      expect(res.body.canary.key).toBe('user');
      expect(res.body.arm).toBe(router2.simulate([user])[0]);
      expect(res.headers.vary).toMatch(/x-user/i);
    }
  });

  it('keys by a numeric user id as by its decimal string (ids from a database are numbers)', async () => {
    const router2 = routerWith(
      { stickiness: { key: (ctx) => (ctx.state as { user?: { id: string } }).user?.id } },
      50,
    );
    const authenticate = async (ctx: Context, next: Next) => {
      ctx.state.user = { id: Number(ctx.get('x-user')) };
      await next();
    };
    const app = appWith(authenticate, router2);
    for (let id = 1; id <= 20; id++) {
      const res = await request(app.callback()).get('/').set('x-user', String(id));
      expect(res.body.canary.key).toBe('user');
      expect(res.body.arm).toBe(router2.simulate([String(id)])[0]);
    }
  });

  it('reports a throwing key function and falls back to the next key', async () => {
    const app = appWith(
      routerWith({
        stickiness: {
          key: () => {
            throw new Error('key broke');
          },
          cookie: false,
        },
      }),
    );
    const res = await request(app.callback()).get('/');
    expect(res.body.canary.key).toBe('ip');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect((app.errors[0] as Error).message).toBe('key broke');
  });
});

describe('the decision record', () => {
  it('emits decision and weights events and counts per arm', async () => {
    const router = routerWith({ rules: [{ header: 'x-c', arm: 'canary' }] });
    const decisions: CanaryDecision[] = [];
    const weights: unknown[] = [];
    const onDecision = (d: CanaryDecision) => decisions.push(d);
    router.on('decision', onDecision).on('weights', (w) => weights.push(w));
    const app = appWith(router);
    await request(app.callback()).get('/').set('x-c', '1');
    await request(app.callback()).get('/');
    expect(decisions.map((d) => [d.arm, d.reason])).toEqual([
      ['canary', 'rule'],
      ['stable', 'weight'],
    ]);
    expect(decisions[0]).toHaveProperty('ctx');
    router.off('decision', onDecision);
    await request(app.callback()).get('/');
    expect(decisions).toHaveLength(2);
    expect(router.stats()).toEqual({ served: { stable: 2, canary: 1 }, fallbacks: 0 });
    router.setWeights({ canary: 25 });
    expect(weights).toEqual([
      { previous: { canary: 0, stable: 100 }, current: { canary: 25, stable: 75 } },
    ]);
    expect(router.weights()).toEqual({ canary: 25, stable: 75 });
  });

  it('keeps serving when a decision listener throws', async () => {
    const router = routerWith();
    router.on('decision', () => {
      throw new Error('listener broke');
    });
    const app = appWith(router);
    const res = await request(app.callback()).get('/');
    expect(res.status).toBe(200);
    expect((app.errors[0] as Error).message).toBe('listener broke');
  });

  it('rejects bad setWeights calls without changing anything', () => {
    const router = routerWith({}, 10);
    expect(() => router.setWeights({ nope: 5 })).toThrow(/`setWeights\(\)\.nope`/);
    expect(() => router.setWeights({ canary: 101 })).toThrow(/from 0 to 100, got 101/);
    expect(() => router.setWeights({ canary: Number.NaN })).toThrow(TypeError);
    expect(() => router.setWeights({ stable: 50 })).toThrow(/remainder/);
    expect(router.weights()).toEqual({ canary: 10, stable: 90 });
    expect(router.setWeights({ canary: 30, stable: 70 })).toEqual({ canary: 30, stable: 70 });
  });

  it('keeps X-Service-Version on errors thrown by an in-process arm', async () => {
    const router = canaryRouter({
      arms: {
        stable: {
          target: {
            middleware: () => {
              throw Object.assign(new Error('teapot'), { status: 418, expose: true });
            },
          },
          version: 'v1',
        },
      },
    });
    const res = await request(appWith(router).callback()).get('/');
    expect(res.status).toBe(418);
    expect(res.headers['x-service-version']).toBe('v1');
  });
});

describe('fallback to stable', () => {
  it('serves stable when the canary resolver finds no instance, counted and reported', async () => {
    const stableUp = await startApp((_req, res) => res.end('from stable'));
    try {
      const router = canaryRouter({
        arms: {
          stable: { target: stableUp.url },
          canary: {
            target: () => Promise.reject(new Error('no canary instance')),
            weight: 100,
          },
        },
      });
      const decisions: CanaryDecision[] = [];
      router.on('decision', (d) => decisions.push(d));
      const app = appWith(router);
      const res = await request(app.callback()).get('/');
      expect(res.status).toBe(200);
      expect(res.text).toBe('from stable');
      expect(res.headers['x-service-version']).toBe('stable');
      expect(decisions[0]!.fallback).toEqual({
        from: 'canary',
        error: new Error('no canary instance'),
      });
      expect(router.stats().fallbacks).toBe(1);
      await router.close();
    } finally {
      await stableUp.close();
    }
  });

  it('answers 503 problem+json when stable has no instance either', async () => {
    const none = () => Promise.reject(new Error('empty catalog'));
    const router = canaryRouter({
      arms: { stable: { target: none }, canary: { target: none, weight: 50 } },
    });
    const app = appWith(async (ctx, next) => {
      ctx.state.requestId = 'req-1';
      await next();
    }, router);
    const res = await request(app.callback()).get('/');
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toEqual({
      type: 'urn:koa-mesh:canary-router:no-target',
      title: 'No upstream available',
      status: 503,
      detail: expect.any(String),
      code: 'ERR_KOA_MESH_CANARY_NO_TARGET',
      requestId: 'req-1',
    });
    await router.close();
  });
});

describe('ctx.state.version when nothing serves', () => {
  it('leaves ctx.state.version unset on the 503 (metrics and tracing must not label it stable), keeping the decision in ctx.state.canary', async () => {
    const none = () => Promise.reject(new Error('empty catalog'));
    const router = canaryRouter({
      arms: { stable: { target: none, version: '1.0.0' }, canary: { target: none, weight: 100 } },
    });
    const seen: Array<{ has: boolean; canary: unknown }> = [];
    const app = appWith(async (ctx, next) => {
      await next();
      seen.push({ has: 'version' in ctx.state, canary: ctx.state.canary });
    }, router);
    const res = await request(app.callback()).get('/');
    expect(res.status).toBe(503);
    expect(res.headers['x-service-version']).toBeUndefined();
    expect(seen).toEqual([
      {
        has: false,
        canary: expect.objectContaining({
          arm: 'stable',
          fallback: { from: 'canary', error: new Error('empty catalog') },
        }),
      },
    ]);
    await router.close();
  });
});

describe('Koa 2', () => {
  it('routes, records and dispatches the same way', async () => {
    const app = new Koa2();
    app.use(
      canaryRouter({
        rollout: 'r1',
        arms: {
          stable: { target: answer('stable') as never },
          canary: { target: answer('canary') as never, weight: 100 },
        },
      }) as never,
    );
    const res = await request(app.callback()).get('/');
    expect(res.body).toMatchObject({
      arm: 'canary',
      version: 'canary',
      canary: { reason: 'weight' },
    });
    expect(res.headers['x-service-version']).toBe('canary');
  });
});
