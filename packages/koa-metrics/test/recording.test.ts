import Router from '@koa/router';
import Koa from 'koa';
import request from 'supertest';
import { metrics, type MetricsMiddleware, type MetricsOptions } from '../src/index.js';
import { parseExposition, value, find, type Parsed } from './helpers.js';

const REQ = 'http_requests_total';
const DUR = 'http_request_duration_seconds';

function buildApp(options: MetricsOptions = {}): { app: Koa; m: MetricsMiddleware } {
  const m = metrics({ defaultMetrics: false, ...options });
  const app = new Koa();
  app.silent = true;
  app.use(m);

  const users = new Router({ prefix: '/users' });
  users.get('/:id', (ctx) => {
    ctx.body = { id: ctx.params.id };
  });
  users.post('/', (ctx) => {
    ctx.status = 201;
  });

  const posts = new Router();
  posts.get('/:postId', (ctx) => {
    ctx.body = { post: ctx.params.postId };
  });
  const api = new Router({ prefix: '/api' });
  api.use('/users/:userId/posts', posts.routes(), posts.allowedMethods());

  const misc = new Router();
  misc.get('/boom', () => {
    throw new Error('kaboom');
  });
  misc.get('/teapot', () => {
    const err = Object.assign(new Error('short and stout'), { status: 418, expose: true });
    throw err;
  });
  misc.get('/empty', () => undefined);
  misc.get('/health', (ctx) => {
    ctx.body = 'ok';
  });

  app.use(users.routes()).use(users.allowedMethods());
  app.use(api.routes());
  app.use(misc.routes());
  return { app, m };
}

async function scrapeText(app: Koa): Promise<Parsed> {
  const res = await request(app.callback()).get('/metrics').expect(200);
  return parseExposition(res.text, false);
}

describe('recording through a real Koa app with @koa/router', () => {
  it('labels the route, not a router.use() pattern, when that middleware answers itself', async () => {
    const m = metrics({ defaultMetrics: false });
    const app = new Koa();
    app.silent = true;
    app.use(m);
    const router = new Router({ prefix: '/api' });
    // An auth check mounted with router.use() that answers 401 without calling next().
    router.use(async (ctx, next) => {
      if (ctx.get('x-key') !== 'k') return void (ctx.status = 401);
      await next();
    });
    router.get('/users/:id', (ctx) => void (ctx.body = 'u'));
    app.use(router.routes());
    const agent = request(app.callback());
    await agent.get('/api/users/7').expect(401);
    await agent.get('/api/users/8').set('x-key', 'k').expect(200);
    const parsed = await scrapeText(app);
    const routes = find(parsed, REQ).map((sample) => sample.labels.route);
    expect(new Set(routes)).toEqual(new Set(['/api/users/:id']));
    expect(routes.some((route) => route?.includes('(?:'))).toBe(false);
  });

  it('labels a request a router.use() middleware answered by a route of its method, not one of another method on the path', async () => {
    const m = metrics({ defaultMetrics: false });
    const app = new Koa();
    app.silent = true;
    app.use(m);
    const router = new Router({ prefix: '/api' });
    router.use(async (ctx, next) => {
      if (ctx.get('x-key') !== 'k') return void (ctx.status = 401);
      await next();
    });
    router.post('/items/:id', (ctx) => void (ctx.body = 'p'));
    // Registered later, matches the path of POST /api/items/special too, but only for GET.
    router.get('/items/special', (ctx) => void (ctx.body = 'g'));
    app.use(router.routes());
    const agent = request(app.callback());
    await agent.post('/api/items/special').expect(401);
    await agent.head('/api/items/special').expect(401);
    const parsed = await scrapeText(app);
    expect(value(parsed, REQ, { method: 'POST', status_code: '401' })).toBe(1);
    expect(
      value(parsed, REQ, { route: '/api/items/:id', method: 'POST', status_code: '401' }),
    ).toBe(1);
    expect(
      value(parsed, REQ, { route: '/api/items/special', method: 'HEAD', status_code: '401' }),
    ).toBe(1);
  });

  it('counts requests per route template, never per raw path, for prefixed routers', async () => {
    const { app } = buildApp();
    const agent = request(app.callback());
    await agent.get('/users/1').expect(200);
    await agent.get('/users/2').expect(200);
    await agent.get('/users/abc').expect(200);
    await agent.post('/users').expect(201);
    const p = await scrapeText(app);
    expect(value(p, REQ, { method: 'GET', route: '/users/:id', status_code: '200' })).toBe(3);
    expect(value(p, REQ, { method: 'POST', route: '/users', status_code: '201' })).toBe(1);
    expect(
      value(p, `${DUR}_count`, { method: 'GET', route: '/users/:id', status_code: '200' }),
    ).toBe(3);
    expect(p.samples.some((s) => s.labels.route === '/users/1')).toBe(false);
  });

  it('labels nested routers with the full template', async () => {
    const { app } = buildApp();
    await request(app.callback()).get('/api/users/7/posts/9').expect(200);
    const p = await scrapeText(app);
    expect(value(p, REQ, { route: '/api/users/:userId/posts/:postId', status_code: '200' })).toBe(
      1,
    );
  });

  it('records unmatched paths as __unmatched__ with their 404', async () => {
    const { app } = buildApp();
    const agent = request(app.callback());
    await agent.get('/nope/1').expect(404);
    await agent.get('/nope/2').expect(404);
    await agent.get('/empty').expect(404);
    const p = await scrapeText(app);
    expect(value(p, REQ, { route: '__unmatched__', status_code: '404', method: 'GET' })).toBe(2);
    // A matched route that sets no body is a 404 of that route, not an unmatched one.
    expect(value(p, REQ, { route: '/empty', status_code: '404' })).toBe(1);
  });

  it('records errors thrown downstream with the status Koa answered', async () => {
    const { app } = buildApp();
    const agent = request(app.callback());
    await agent.get('/boom').expect(500);
    await agent.get('/teapot').expect(418);
    const p = await scrapeText(app);
    expect(value(p, REQ, { route: '/boom', status_code: '500' })).toBe(1);
    expect(value(p, REQ, { route: '/teapot', status_code: '418' })).toBe(1);
  });

  it('records 405 from allowedMethods and maps non-standard methods to _OTHER', async () => {
    const { app } = buildApp();
    const agent = request(app.callback());
    await agent.delete('/users/1').expect(405);
    await agent.propfind('/users/1');
    const p = await scrapeText(app);
    expect(value(p, REQ, { method: 'DELETE', status_code: '405' })).toBe(1);
    expect(find(p, REQ, { method: '_OTHER' })).toHaveLength(1);
    expect(find(p, REQ, { method: 'PROPFIND' })).toHaveLength(0);
  });

  it('does not record the metrics path nor health probes by default', async () => {
    const { app } = buildApp();
    const agent = request(app.callback());
    await agent.get('/health').expect(200);
    await agent.get('/metrics').expect(200);
    const p = await scrapeText(app);
    expect(find(p, REQ)).toHaveLength(0);
  });

  it('honours ignore lists with paths and RegExps, and ignore functions', async () => {
    const { app } = buildApp({ ignore: ['/users/1', /^\/api\//] });
    const agent = request(app.callback());
    await agent.get('/users/1').expect(200);
    await agent.get('/api/users/1/posts/2').expect(200);
    await agent.get('/users/2').expect(200);
    await agent.get('/health').expect(200);
    let p = await scrapeText(app);
    expect(value(p, REQ, { route: '/users/:id' })).toBe(1);
    // A custom list replaces the default probe list.
    expect(value(p, REQ, { route: '/health' })).toBe(1);

    const second = buildApp({ ignore: (ctx) => ctx.get('x-synthetic') === '1' });
    await request(second.app.callback()).get('/users/1').set('x-synthetic', '1').expect(200);
    await request(second.app.callback()).get('/users/1').expect(200);
    p = await scrapeText(second.app);
    expect(value(p, REQ, { route: '/users/:id' })).toBe(1);
  });

  it('adds extra labels; a throwing label function records __error__ and is counted', async () => {
    const errors: unknown[] = [];
    const { app } = buildApp({
      labels: {
        version: (ctx) => ctx.state.version,
        tenant: (ctx) => {
          if (ctx.get('x-tenant') === 'bad') throw new Error('tenant lookup failed');
          return ctx.get('x-tenant');
        },
      },
    });
    app.on('error', (err) => errors.push(err));
    app.use((ctx, next) => next());
    app.middleware.unshift((ctx, next) => {
      ctx.state.version = 'v2';
      return next();
    });
    const agent = request(app.callback());
    await agent.get('/users/1').set('x-tenant', 'acme').expect(200);
    await agent.get('/users/1').set('x-tenant', 'bad').expect(200);
    const p = await scrapeText(app);
    expect(value(p, REQ, { route: '/users/:id', version: 'v2', tenant: 'acme' })).toBe(1);
    expect(value(p, REQ, { route: '/users/:id', version: 'v2', tenant: '__error__' })).toBe(1);
    expect(value(p, 'koa_mesh_metrics_label_errors_total')).toBe(1);
    expect(errors).toHaveLength(1);
  });

  it('observes durations into the configured buckets with the SLO boundary added', async () => {
    const { app } = buildApp({ buckets: [0.1, 1], sloSeconds: 0.3 });
    await request(app.callback()).get('/users/1').expect(200);
    const p = await scrapeText(app);
    const les = find(p, `${DUR}_bucket`, { route: '/users/:id' }).map((s) => s.labels.le);
    expect(les).toEqual(['0.1', '0.3', '1', '+Inf']);
    expect(value(p, `${DUR}_bucket`, { route: '/users/:id', le: '+Inf' })).toBe(1);
    const sum = value(p, `${DUR}_sum`, { route: '/users/:id' });
    expect(sum).toBeGreaterThan(0);
  });

  it('counts in-flight requests while they are served', async () => {
    const { app } = buildApp();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    app.middleware.splice(1, 0, async (ctx, next) => {
      if (ctx.path === '/slow') {
        entered();
        await gate;
        ctx.body = 'done';
        return;
      }
      return next();
    });
    const server = app.listen(0, '127.0.0.1');
    try {
      const agent = request(server);
      const slow = agent.get('/slow').then((r) => r.status);
      await inside;
      let p = parseExposition((await agent.get('/metrics')).text, false);
      expect(value(p, 'http_requests_in_flight')).toBe(1);
      release();
      expect(await slow).toBe(200);
      p = parseExposition((await agent.get('/metrics')).text, false);
      expect(value(p, 'http_requests_in_flight')).toBe(0);
      expect(value(p, REQ, { route: '__unmatched__', status_code: '200' })).toBe(1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('records request and response sizes from Content-Length when sizes is on', async () => {
    const { app } = buildApp({ sizes: true, sizeBuckets: [10, 1000] });
    await request(app.callback())
      .post('/users')
      .send('x'.repeat(50))
      .set('content-type', 'text/plain')
      .expect(201);
    await request(app.callback()).get('/users/12345').expect(200);
    const p = await scrapeText(app);
    expect(value(p, 'http_request_size_bytes_sum', { route: '/users', method: 'POST' })).toBe(50);
    expect(value(p, 'http_request_size_bytes_bucket', { route: '/users', le: '10' })).toBe(0);
    expect(value(p, 'http_response_size_bytes_sum', { route: '/users/:id' })).toBe(
      Buffer.byteLength(JSON.stringify({ id: '12345' })),
    );
  });

  it('records a HEAD response as 0 bytes, although it carries the GET body Content-Length', async () => {
    const { app } = buildApp({ sizes: true, sizeBuckets: [10, 1000] });
    const head = await request(app.callback()).head('/users/12345').expect(200);
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
    const p = await scrapeText(app);
    expect(value(p, 'http_response_size_bytes_sum', { route: '/users/:id', method: 'HEAD' })).toBe(
      0,
    );
    expect(
      value(p, 'http_response_size_bytes_count', { route: '/users/:id', method: 'HEAD' }),
    ).toBe(1);
  });

  it('records a request once when the same middleware runs twice on it', async () => {
    const { app, m } = buildApp();
    app.middleware.splice(1, 0, m as never);
    await request(app.callback()).get('/users/1').expect(200);
    const p = await scrapeText(app);
    expect(value(p, REQ, { route: '/users/:id' })).toBe(1);
    expect(value(p, 'http_requests_in_flight')).toBe(0);
  });

  it('keeps recording under Koa 2', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Koa2 = require('koa2') as typeof Koa;
    const m = metrics({ defaultMetrics: false });
    const app = new Koa2();
    const router = new Router();
    router.get('/items/:id', (ctx) => {
      ctx.body = 'item';
    });
    app.use(m).use(router.routes());
    await request(app.callback()).get('/items/1').expect(200);
    const p = await scrapeText(app);
    expect(value(p, REQ, { route: '/items/:id', status_code: '200' })).toBe(1);
  });
});
