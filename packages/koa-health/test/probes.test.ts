// Probe semantics through a real Koa app (supertest on app.callback()).
import Koa from 'koa';
import Koa2 from 'koa2';
import request from 'supertest';
import { health, type HealthMiddleware, type HealthOptions } from '../src/index.js';

const opened: HealthMiddleware[] = [];
afterEach(() => {
  for (const h of opened.splice(0)) h.close();
});

function appWith(options: HealthOptions = {}): { app: Koa; probes: HealthMiddleware } {
  const probes = health(options);
  opened.push(probes);
  const app = new Koa();
  app.use(probes);
  app.use((ctx) => {
    ctx.body = { handledBy: 'app', path: ctx.path };
  });
  return { app, probes };
}

const slowCheck = { intervalMs: 60_000 };

describe('probe paths', () => {
  it('answers liveness, readiness and startup on the default paths with health+json', async () => {
    const { app, probes } = appWith();
    probes.markReady();
    for (const path of ['/health', '/ready', '/startup']) {
      const res = await request(app.callback()).get(path).expect(200);
      expect(res.headers['content-type']).toBe('application/health+json');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(JSON.parse(res.text)).toEqual({ status: 'pass' });
    }
  });

  it('answers HEAD with the status and no body, and tolerates a query string', async () => {
    const { app } = appWith();
    const head = await request(app.callback()).head('/ready').expect(503);
    expect(head.text).toBeUndefined();
    await request(app.callback()).get('/health?probe=kubelet&x=%ZZ').expect(200);
  });

  it('leaves unknown sub-paths and other paths to the app', async () => {
    const { app } = appWith();
    for (const path of ['/health/extra', '/healthz', '/ready/', '/users/1']) {
      const res = await request(app.callback()).get(path).expect(200);
      expect(res.body).toEqual({ handledBy: 'app', path });
    }
  });

  it('refuses other methods on a probe path with a 405 problem+json', async () => {
    const { app } = appWith();
    const res = await request(app.callback()).post('/health').send({}).expect(405);
    expect(res.headers.allow).toBe('GET, HEAD');
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(res.text)).toEqual({
      type: 'urn:koa-mesh:health:method-not-allowed',
      title: 'Method Not Allowed',
      status: 405,
      detail: 'POST is not allowed on a health probe; use GET or HEAD',
      code: 'ERR_KOA_MESH_HEALTH_METHOD_NOT_ALLOWED',
    });
  });

  it('serves configured paths instead of the defaults', async () => {
    const { app, probes } = appWith({
      livenessPath: '/livez',
      readinessPath: '/readyz',
      startupPath: '/startupz',
    });
    probes.markReady();
    await request(app.callback()).get('/livez').expect(200);
    await request(app.callback()).get('/readyz').expect(200);
    await request(app.callback()).get('/startupz').expect(200);
    const res = await request(app.callback()).get('/health').expect(200);
    expect(res.body).toEqual({ handledBy: 'app', path: '/health' });
  });

  it('works on Koa 2', async () => {
    const probes = health({ details: () => true });
    opened.push(probes);
    const app = new Koa2();
    app.use(probes);
    app.use((ctx) => {
      ctx.body = 'app';
    });
    await request(app.callback()).get('/ready').expect(503);
    probes.markReady();
    const res = await request(app.callback()).get('/ready').expect(200);
    expect(JSON.parse(res.text)).toMatchObject({ status: 'pass' });
    await request(app.callback()).get('/other').expect(200, 'app');
  });
});

describe('startup and readiness', () => {
  it('fails readiness and startup until markReady(), while liveness passes', async () => {
    const { app, probes } = appWith({ details: () => true });
    const ready = await request(app.callback()).get('/ready').expect(503);
    expect(JSON.parse(ready.text)).toEqual({
      status: 'fail',
      output: 'starting: markReady() has not been called yet',
    });
    await request(app.callback()).get('/startup').expect(503);
    await request(app.callback()).get('/health').expect(200);
    probes.markReady();
    await request(app.callback()).get('/ready').expect(200);
    await request(app.callback()).get('/startup').expect(200);
  });

  it('starts ready with initiallyReady', async () => {
    const { app } = appWith({ initiallyReady: true });
    await request(app.callback()).get('/ready').expect(200);
    await request(app.callback()).get('/startup').expect(200);
  });

  it('markNotReady(reason) fails readiness with the reason, markReady() lifts it; startup stays passed', async () => {
    const { app, probes } = appWith({ details: () => true, initiallyReady: true });
    probes.markNotReady('maintenance');
    const res = await request(app.callback()).get('/ready').expect(503);
    expect(JSON.parse(res.text)).toEqual({ status: 'fail', output: 'not ready: maintenance' });
    await request(app.callback()).get('/startup').expect(200);
    await request(app.callback()).get('/health').expect(200);
    probes.markReady();
    await request(app.callback()).get('/ready').expect(200);
  });

  it('startup checks gate startup and make the service ready once they pass', async () => {
    let migrated = false;
    const migrations = jest.fn(async () => {
      if (!migrated) throw new Error('migrations pending');
    });
    const { app, probes } = appWith({
      details: () => true,
      checks: { migrations: { check: migrations, kind: 'startup', ...slowCheck } },
    });
    await probes.refresh();
    const before = await request(app.callback()).get('/startup').expect(503);
    expect(JSON.parse(before.text)).toMatchObject({
      status: 'fail',
      output: 'starting: startup checks have not passed yet',
      checks: { migrations: [{ status: 'fail', output: 'migrations pending' }] },
    });
    await request(app.callback()).get('/ready').expect(503);
    migrated = true;
    await probes.refresh();
    await request(app.callback()).get('/startup').expect(200);
    await request(app.callback()).get('/ready').expect(200);
    // Startup is latched: its checks stop running.
    const calls = migrations.mock.calls.length;
    await probes.refresh();
    expect(migrations.mock.calls.length).toBe(calls);
  });

  it('a failing non-critical startup check does not hold startup back (200, then ready)', async () => {
    const { app, probes } = appWith({
      details: () => true,
      checks: {
        schema: { check: () => undefined, kind: 'startup', ...slowCheck },
        warmCache: {
          check: () => {
            throw new Error('cache cold');
          },
          kind: 'startup',
          critical: false,
          ...slowCheck,
        },
      },
    });
    await probes.refresh();
    const res = await request(app.callback()).get('/startup').expect(200);
    expect(JSON.parse(res.text)).toMatchObject({
      checks: { warmCache: [{ status: 'fail', output: 'cache cold', critical: false }] },
    });
    await request(app.callback()).get('/ready').expect(200);
  });

  it('startup still completes when markNotReady() was called before the startup checks passed', async () => {
    const { app, probes } = appWith({
      details: () => true,
      checks: { warmup: { check: () => undefined, kind: 'startup', ...slowCheck } },
    });
    probes.markNotReady('cache warming');
    await probes.refresh();
    // Started (the kubelet must not restart it), but not ready until markReady().
    await request(app.callback()).get('/startup').expect(200);
    const res = await request(app.callback()).get('/ready').expect(503);
    expect(JSON.parse(res.text)).toMatchObject({ output: 'not ready: cache warming' });
    probes.markReady();
    await request(app.callback()).get('/ready').expect(200);
  });

  it('readiness fails for good on beginShutdown() while liveness and startup still pass', async () => {
    const { app, probes } = appWith({ details: () => true, initiallyReady: true });
    probes.beginShutdown();
    expect(probes.shuttingDown).toBe(true);
    probes.markReady();
    const res = await request(app.callback()).get('/ready').expect(503);
    expect(JSON.parse(res.text)).toEqual({ status: 'fail', output: 'shutting down' });
    await request(app.callback()).get('/health').expect(200);
    await request(app.callback()).get('/startup').expect(200);
  });
});

describe('checks on the probes', () => {
  it('a failing critical readiness check answers 503 with the IETF body', async () => {
    const { app, probes } = appWith({
      details: () => true,
      version: '2',
      releaseId: '2.4.1',
      serviceId: 'users-7f9c',
      description: 'user service',
      initiallyReady: true,
      checks: {
        db: {
          check: async () => ({
            status: 'fail',
            componentType: 'datastore',
            measurement: 'connections',
            observedValue: 0,
            observedUnit: 'connections',
            output: 'pool exhausted',
          }),
          ...slowCheck,
        },
      },
    });
    await probes.refresh();
    const res = await request(app.callback()).get('/ready').expect(503);
    expect(res.headers['content-type']).toBe('application/health+json');
    const body = JSON.parse(res.text);
    expect(body).toEqual({
      status: 'fail',
      version: '2',
      releaseId: '2.4.1',
      serviceId: 'users-7f9c',
      description: 'user service',
      output: 'check "db" fails',
      checks: {
        'db:connections': [
          {
            status: 'fail',
            componentType: 'datastore',
            observedValue: 0,
            observedUnit: 'connections',
            time: expect.any(String),
            output: 'pool exhausted',
          },
        ],
      },
    });
    expect(new Date(body.checks['db:connections'][0].time).toISOString()).toBe(
      body.checks['db:connections'][0].time,
    );
    // A readiness check never touches liveness.
    await request(app.callback()).get('/health').expect(200);
  });

  it('a failing non-critical check turns readiness to warn, still 200', async () => {
    const { app, probes } = appWith({
      details: () => true,
      initiallyReady: true,
      checks: {
        cache: {
          check: () => Promise.reject(new Error('cache down')),
          critical: false,
          ...slowCheck,
        },
      },
    });
    await probes.refresh();
    const res = await request(app.callback()).get('/ready').expect(200);
    expect(JSON.parse(res.text)).toEqual({
      status: 'warn',
      output: 'non-critical check "cache" fails',
      checks: {
        cache: [
          { status: 'fail', time: expect.any(String), output: 'cache down', critical: false },
        ],
      },
    });
  });

  it('an object with healthCheck() reporting warn (an open breaker) is warn, not fail', async () => {
    const breakerLike = {
      state: 'open',
      async healthCheck() {
        return {
          status: 'warn' as const,
          componentType: 'component',
          measurement: 'state',
          observedValue: this.state,
          output: 'circuit open',
        };
      },
    };
    const { app, probes } = appWith({ details: () => true, initiallyReady: true });
    probes.addCheck('payments', { check: breakerLike, ...slowCheck });
    await probes.refresh();
    const res = await request(app.callback()).get('/ready').expect(200);
    expect(JSON.parse(res.text)).toMatchObject({
      status: 'warn',
      checks: {
        'payments:state': [{ status: 'warn', observedValue: 'open', output: 'circuit open' }],
      },
    });
  });

  it('a middleware function carrying healthCheck() (breaker, discovery, metrics) is asked through healthCheck(), not called', async () => {
    // Regression: koa-mesh middlewares are functions with a healthCheck() property; taking them for
    // a plain check function ran the middleware with an AbortSignal as its ctx.
    let middlewareCalls = 0;
    const middlewareLike = Object.assign(
      async function breakerMiddleware(_ctx: unknown, next: () => Promise<void>) {
        middlewareCalls += 1;
        await next();
      },
      {
        async healthCheck() {
          return { status: 'warn' as const, measurement: 'state', observedValue: 'open' };
        },
      },
    );
    const { app, probes } = appWith({ details: () => true, initiallyReady: true });
    probes.addCheck('orders-breaker', middlewareLike);
    probes.addCheck('orders-breaker-spec', { check: middlewareLike, ...slowCheck });
    await probes.refresh();
    const res = await request(app.callback()).get('/ready').expect(200);
    expect(middlewareCalls).toBe(0);
    expect(JSON.parse(res.text)).toMatchObject({
      status: 'warn',
      checks: {
        'orders-breaker:state': [{ status: 'warn', observedValue: 'open' }],
        'orders-breaker-spec:state': [{ status: 'warn', observedValue: 'open' }],
      },
    });
  });

  it('a liveness check fails liveness only; readiness ignores it', async () => {
    const { app, probes } = appWith({
      initiallyReady: true,
      checks: { loop: { check: () => ({ status: 'fail' }), kind: 'liveness', ...slowCheck } },
    });
    await probes.refresh();
    await request(app.callback()).get('/health').expect(503);
    await request(app.callback()).get('/ready').expect(200);
  });

  it('a critical readiness check that has not finished its first run fails readiness', async () => {
    const { app, probes } = appWith({
      details: () => true,
      initiallyReady: true,
      checks: { slow: { check: () => new Promise(() => undefined), timeoutMs: 60_000 } },
    });
    const res = await request(app.callback()).get('/ready').expect(503);
    expect(JSON.parse(res.text)).toMatchObject({
      checks: { slow: [{ status: 'fail', output: 'pending: the first run has not finished' }] },
    });
    probes.close();
  });

  it('hides details by default: the status alone', async () => {
    const { app, probes } = appWith({
      version: '1',
      serviceId: 'secret-host',
      initiallyReady: true,
      checks: { db: { check: () => Promise.reject(new Error('password rejected')), ...slowCheck } },
    });
    await probes.refresh();
    const res = await request(app.callback()).get('/ready').expect(503);
    expect(res.text).toBe('{"status":"fail"}');
  });

  it('shows details only to callers details(ctx) allows; a throwing details() hides them and reports the error', async () => {
    const errors: unknown[] = [];
    const { app, probes } = appWith({
      initiallyReady: true,
      details: (ctx) => {
        const token = ctx.get('x-health-token');
        if (token === 'boom') throw new Error('details exploded');
        return token === 's3cret';
      },
      checks: { db: { check: () => undefined, ...slowCheck } },
    });
    app.on('error', (err) => errors.push(err));
    await probes.refresh();
    const open = await request(app.callback()).get('/ready').set('x-health-token', 's3cret');
    expect(JSON.parse(open.text)).toMatchObject({
      status: 'pass',
      checks: { db: [{ status: 'pass' }] },
    });
    const closed = await request(app.callback()).get('/ready').set('x-health-token', 'nope');
    expect(closed.text).toBe('{"status":"pass"}');
    const broken = await request(app.callback())
      .get('/ready')
      .set('x-health-token', 'boom')
      .expect(200);
    expect(broken.text).toBe('{"status":"pass"}');
    expect(errors).toEqual([expect.objectContaining({ message: 'details exploded' })]);
  });

  it('report() and checks() give the state programmatically', async () => {
    const { probes } = appWith({
      initiallyReady: true,
      checks: { db: { check: () => ({ status: 'pass', measurement: 'ping' }), ...slowCheck } },
    });
    await probes.refresh();
    expect(probes.report('readiness')).toMatchObject({
      status: 'pass',
      checks: { 'db:ping': [{ status: 'pass' }] },
    });
    expect(probes.checks()).toEqual([
      expect.objectContaining({
        name: 'db',
        kind: 'readiness',
        critical: true,
        result: { status: 'pass', measurement: 'ping' },
      }),
    ]);
  });
});
