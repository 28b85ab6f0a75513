import Router from '@koa/router';
import type { Context, Next } from 'koa';
import request from 'supertest';
import { startApp } from '@koa-mesh/testkit';
import { canaryRouter } from '../src/index.js';
import { appWith, upstream } from './helpers.js';

function versionRouter(version: string) {
  const router = new Router();
  router.get('/users/:id', (ctx) => {
    ctx.body = { id: ctx.params.id, servedBy: version, state: ctx.state.version };
  });
  router.post('/users', (ctx) => {
    ctx.status = 201;
    ctx.body = { servedBy: version };
  });
  return router;
}

describe('in-process dispatch', () => {
  it("runs the chosen arm's @koa/router in the same process", async () => {
    const v1 = versionRouter('v1');
    const v2 = versionRouter('v2');
    const router = canaryRouter({
      rollout: 'users-v2',
      arms: {
        stable: { target: v1.routes(), version: '1.4.0' },
        canary: { target: v2.routes(), version: '2.0.0', weight: 0 },
      },
      rules: [{ header: 'x-canary', value: '1', arm: 'canary' }],
    });
    const app = appWith(router);
    const stable = await request(app.callback()).get('/users/7');
    expect(stable.body).toEqual({ id: '7', servedBy: 'v1', state: '1.4.0' });
    expect(stable.headers['x-service-version']).toBe('1.4.0');
    const canary = await request(app.callback()).post('/users').set('x-canary', '1');
    expect(canary.status).toBe(201);
    expect(canary.body).toEqual({ servedBy: 'v2' });
    expect(canary.headers['x-service-version']).toBe('2.0.0');
  });

  it('falls through to the next middleware when the arm does not handle the route', async () => {
    const router = canaryRouter({
      arms: { stable: { target: versionRouter('v1').routes() } },
    });
    const app = appWith(router, (ctx: Context) => {
      ctx.body = 'downstream';
    });
    const res = await request(app.callback()).get('/not-a-route');
    expect(res.text).toBe('downstream');
  });

  it('composes a list of middlewares with koa-compose, and accepts { middleware }', async () => {
    const order: string[] = [];
    const a = async (_ctx: Context, next: Next) => {
      order.push('a');
      await next();
    };
    const b = (ctx: Context) => {
      order.push('b');
      ctx.body = 'composed';
    };
    const single = (ctx: Context) => {
      ctx.body = 'single';
    };
    const app = appWith(
      canaryRouter({
        arms: {
          stable: { target: [a, b] },
          canary: { target: { middleware: single }, weight: 0 },
        },
        rules: [{ query: 'c', arm: 'canary' }],
      }),
    );
    expect((await request(app.callback()).get('/')).text).toBe('composed');
    expect(order).toEqual(['a', 'b']);
    expect((await request(app.callback()).get('/?c=1')).text).toBe('single');
  });

  it('mixes an in-process stable arm with a proxied canary arm resolved from a static list', async () => {
    const a = await upstream('canary-a');
    const b = await upstream('canary-b');
    const list = [new URL(a.url), new URL(b.url)];
    let i = 0;
    const resolver = async () => list[i++ % list.length]!;
    const router = canaryRouter({
      arms: {
        stable: {
          target: { middleware: (ctx: Context) => void (ctx.body = { upstream: 'local' }) },
        },
        canary: { target: { resolver }, weight: 100 },
      },
    });
    const server = await startApp(appWith(router));
    try {
      const seen: string[] = [];
      for (let n = 0; n < 4; n++) seen.push((await request(server.url).get('/')).body.upstream);
      expect(seen).toEqual(['canary-a', 'canary-b', 'canary-a', 'canary-b']);
      router.setWeights({ canary: 0 });
      expect((await request(server.url).get('/')).body.upstream).toBe('local');
    } finally {
      await router.close();
      await server.close();
      await a.close();
      await b.close();
    }
  });
});
