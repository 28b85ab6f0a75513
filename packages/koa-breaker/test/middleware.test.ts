// The middleware through real Koa servers on loopback (supertest on app.callback(), or testkit's
// startApp when the test needs a socket it can cut).
import { request as httpRequest } from 'node:http';
import Koa from 'koa';
import Koa2 from 'koa2';
import Router from '@koa/router';
import supertest from 'supertest';
import { startApp, waitFor } from '@koa-mesh/testkit';
import { breaker, isTimeoutError, type BreakerOptions } from '../src/index.js';

function clock(start = 0) {
  const c = { now: start, fn: () => c.now };
  return c;
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** An app whose handler answers `status` (settable per test) and counts its calls. */
function flakyApp(options: BreakerOptions, KoaClass: typeof Koa = Koa) {
  const state = { status: 500, calls: 0 };
  const app = new KoaClass();
  const mw = breaker(options);
  app.use(mw);
  app.use((ctx) => {
    state.calls++;
    ctx.status = state.status;
    ctx.body = { status: state.status };
  });
  return { app, mw, state };
}

describe('breaker() middleware', () => {
  it('a flaky handler trips it; open answers are 503 problem+json with Retry-After, without calling the handler', async () => {
    const c = clock();
    const { app, mw, state } = flakyApp({
      name: 'users-api',
      failureThreshold: 3,
      openMs: 10_000,
      openJitter: 0,
      clock: c.fn,
    });
    app.use(async (ctx, next) => {
      ctx.state.requestId = 'req-1';
      await next();
    });
    const agent = supertest(app.callback());
    for (let i = 0; i < 3; i++) await agent.get('/').expect(500);
    c.now = 2500;
    const res = await agent.get('/').expect(503);
    expect(state.calls).toBe(3);
    expect(res.headers['retry-after']).toBe('8');
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toEqual({
      type: 'urn:koa-mesh:breaker:open',
      title: 'Service Unavailable',
      status: 503,
      detail: 'circuit breaker "users-api" is open',
      code: 'ERR_KOA_MESH_BREAKER_OPEN',
      breaker: 'users-api',
    });
    expect(mw.get()).toMatchObject({ state: 'open', reason: 'consecutiveFailures' });
  });

  it('carries ctx.state.requestId in the problem body', async () => {
    const app = new Koa();
    app.use(async (ctx, next) => {
      ctx.state.requestId = 'abc-123';
      await next();
    });
    app.use(breaker({ failureThreshold: 1 }));
    app.use(() => {
      throw new Error('down');
    });
    app.silent = true;
    const agent = supertest(app.callback());
    await agent.get('/').expect(500);
    const res = await agent.get('/').expect(503);
    expect(res.body.requestId).toBe('abc-123');
  });

  it('regression: Retry-After is never 0, even with under a second left', async () => {
    const c = clock();
    const { app } = flakyApp({ failureThreshold: 1, openMs: 100, openJitter: 0, clock: c.fn });
    const agent = supertest(app.callback());
    await agent.get('/').expect(500);
    c.now = 99.9;
    const res = await agent.get('/').expect(503);
    expect(res.headers['retry-after']).toBe('1');
  });

  it('a successful probe closes it; a failed probe re-opens it', async () => {
    const c = clock();
    const { app, mw, state } = flakyApp({
      failureThreshold: 1,
      openMs: 1000,
      openJitter: 0,
      clock: c.fn,
    });
    const events: string[] = [];
    for (const e of ['open', 'halfOpen', 'close'] as const) mw.on(e, () => events.push(e));
    const agent = supertest(app.callback());
    await agent.get('/').expect(500);
    c.now = 1000;
    await agent.get('/').expect(500); // the probe fails
    expect(mw.get()).toMatchObject({ state: 'open', reason: 'halfOpenFailure' });
    c.now = 2000;
    state.status = 200;
    await agent.get('/').expect(200);
    await agent.get('/').expect(200);
    expect(mw.get()!.state).toBe('closed');
    expect(events).toEqual(['open', 'halfOpen', 'open', 'halfOpen', 'close']);
  });

  it('half-open: one probe at a time; other callers get an immediate 503 while it runs', async () => {
    const c = clock();
    const app = new Koa();
    const mw = breaker({ failureThreshold: 1, openMs: 1000, openJitter: 0, clock: c.fn });
    const gate = deferred();
    let mode: 'fail' | 'slow' = 'fail';
    let probes = 0;
    app.use(mw);
    app.use(async (ctx) => {
      if (mode === 'fail') {
        ctx.status = 500;
        return;
      }
      probes++;
      await gate.promise;
      ctx.body = 'recovered';
    });
    const server = await startApp(app);
    try {
      const agent = supertest(server.url);
      await agent.get('/').expect(500);
      c.now = 1000;
      mode = 'slow';
      const probe = agent.get('/').then((r) => r.status);
      await waitFor(() => probes === 1);
      const other = await agent.get('/').expect(503);
      expect(other.body.detail).toBe(
        'circuit breaker "breaker" is half-open and its probes are taken',
      );
      expect(other.headers['retry-after']).toBe('1');
      expect(probes).toBe(1);
      gate.resolve();
      await expect(probe).resolves.toBe(200);
      expect(mw.get()!.state).toBe('closed');
    } finally {
      await server.close();
    }
  });

  it('counts 4xx answers and thrown 4xx errors as successes', async () => {
    const app = new Koa();
    const mw = breaker({ failureThreshold: 1 });
    app.use(mw);
    app.use((ctx) => {
      if (ctx.path === '/throw') ctx.throw(422, 'bad input');
      ctx.status = 404;
    });
    const agent = supertest(app.callback());
    await agent.get('/').expect(404);
    await agent.get('/throw').expect(422);
    expect(mw.get()).toMatchObject({ state: 'closed', totals: { successes: 2, failures: 0 } });
  });

  it('isFailure overrides the verdict; a throwing isFailure falls back to the default and is reported', async () => {
    const app = new Koa();
    const errors: unknown[] = [];
    app.on('error', (err) => errors.push(err));
    const mw = breaker({
      failureThreshold: 1,
      isFailure: (ctx) => {
        if (ctx.path === '/bug') throw new Error('hook bug');
        return ctx.status === 404;
      },
    });
    app.use(mw);
    app.use((ctx) => {
      ctx.status = ctx.path === '/bug' ? 200 : 404;
    });
    const agent = supertest(app.callback());
    await agent.get('/bug').expect(200);
    expect(errors).toEqual([expect.objectContaining({ message: 'hook bug' })]);
    expect(mw.get()!.state).toBe('closed');
    await agent.get('/missing').expect(404);
    expect(mw.get()!.state).toBe('open');
  });

  it('timeoutMs answers 504 problem+json and aborts ctx.state.signal; the timeout counts as a failure', async () => {
    const app = new Koa();
    const mw = breaker({ timeoutMs: 25, failureThreshold: 1 });
    const aborted = deferred<unknown>();
    app.use(mw);
    app.use(async (ctx) => {
      const signal = ctx.state.signal as AbortSignal;
      await new Promise<void>((resolve) =>
        signal.addEventListener('abort', () => {
          aborted.resolve(signal.reason);
          resolve();
        }),
      );
      ctx.body = 'too late';
    });
    const res = await supertest(app.callback()).get('/').expect(504);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      type: 'urn:koa-mesh:breaker:timeout',
      code: 'ERR_KOA_MESH_BREAKER_TIMEOUT',
      status: 504,
    });
    await expect(aborted.promise).resolves.toMatchObject({ code: 'ERR_KOA_MESH_BREAKER_TIMEOUT' });
    expect(mw.get()).toMatchObject({ state: 'open', totals: { failures: 1 } });
  });

  it('a 504 drops the representation headers the timed-out work set, keeps those set above, and is no-store', async () => {
    const app = new Koa();
    app.use(async (ctx, next) => {
      ctx.set('Access-Control-Allow-Origin', '*');
      ctx.set('Cache-Control', 'public, max-age=60');
      await next();
    });
    app.use(breaker({ timeoutMs: 20, failureThreshold: false }));
    app.use(async (ctx) => {
      ctx.set('Content-Encoding', 'gzip');
      ctx.set('ETag', '"v1"');
      ctx.set('Last-Modified', new Date(0).toUTCString());
      ctx.set('Content-Disposition', 'attachment; filename="report.csv"');
      ctx.set('Cache-Control', 'public, max-age=600');
      await new Promise<void>((resolve) =>
        (ctx.state.signal as AbortSignal).addEventListener('abort', () => resolve()),
      );
    });
    const res = await supertest(app.callback()).get('/').expect(504);
    expect(res.body).toMatchObject({ code: 'ERR_KOA_MESH_BREAKER_TIMEOUT', status: 504 });
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers.etag).toBeUndefined();
    expect(res.headers['last-modified']).toBeUndefined();
    expect(res.headers['content-disposition']).toBeUndefined();
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['access-control-allow-origin']).toBe('*');
  });

  it('open and bulkhead 503s are no-store even when middleware above made responses cacheable', async () => {
    const app = new Koa();
    app.use(async (ctx, next) => {
      ctx.set('Cache-Control', 'public, max-age=60');
      await next();
    });
    const gate = deferred();
    app.use(breaker({ maxConcurrent: 1, failureThreshold: false }));
    app.use(async (ctx) => {
      await gate.promise;
      ctx.body = 'ok';
    });
    const agent = supertest(app.callback());
    const first = agent.get('/').then((r) => r);
    let rejected: supertest.Response | undefined;
    await waitFor(async () => {
      const r = await agent.get('/');
      if (r.status === 503) rejected = r;
      return rejected;
    });
    gate.resolve();
    expect((await first).headers['cache-control']).toBe('public, max-age=60');
    expect(rejected!.body).toMatchObject({ code: 'ERR_KOA_MESH_BULKHEAD_REJECTED' });
    expect(rejected!.headers['cache-control']).toBe('no-store');
  });

  it("regression: a handler still running after its timeout reads the aborted ctx.state.signal, not the outer breaker's", async () => {
    const app = new Koa();
    const gate = deferred();
    const late = deferred<unknown>();
    app.use(breaker({ name: 'app', timeoutMs: 60_000 }));
    app.use(breaker({ name: 'route', timeoutMs: 20, failureThreshold: false }));
    app.use(async (ctx) => {
      await gate.promise; // non-abortable work (a DB query) outlives the timeout
      // The next outbound call of this abandoned request takes the signal it finds now.
      late.resolve(ctx.state.signal);
      ctx.body = 'too late';
    });
    await supertest(app.callback()).get('/').expect(504);
    gate.resolve();
    const signal = (await late.promise) as AbortSignal | undefined;
    expect(signal).toBeInstanceOf(AbortSignal);
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason).toMatchObject({
      code: 'ERR_KOA_MESH_BREAKER_TIMEOUT',
      breaker: 'route',
    });
  });

  it('regression: a queued request still running after its timeout reads the aborted ctx.state.signal, not none', async () => {
    const app = new Koa();
    const gates = [deferred(), deferred()];
    const late = deferred<unknown>();
    let calls = 0;
    const mw = breaker({ timeoutMs: 20, maxConcurrent: 1, maxQueue: 1, failureThreshold: false });
    app.use(mw);
    app.use(async (ctx) => {
      const n = calls++;
      await gates[n]!.promise; // ignores ctx.state.signal
      if (n === 1) late.resolve(ctx.state.signal);
      ctx.body = 'too late';
    });
    const server = await startApp(app);
    try {
      const first = fetch(`${server.url}/`).then((r) => r.status);
      await waitFor(() => calls === 1);
      const second = fetch(`${server.url}/`).then((r) => r.status);
      await waitFor(() => mw.get()!.queued === 1);
      expect(await first).toBe(504);
      gates[0]!.resolve(); // frees the slot: the queued request runs, and times out in turn
      expect(await second).toBe(504);
      gates[1]!.resolve();
      const signal = (await late.promise) as AbortSignal | undefined;
      expect(signal).toBeInstanceOf(AbortSignal);
      expect(signal!.aborted).toBe(true);
      expect(signal!.reason).toMatchObject({ code: 'ERR_KOA_MESH_BREAKER_TIMEOUT' });
    } finally {
      await server.close();
    }
  });

  it('regression: isFailure is asked about a timeout too, and can decide it is not a failure', async () => {
    const app = new Koa();
    const asked: unknown[] = [];
    const gate = deferred();
    const mw = breaker({
      timeoutMs: 20,
      failureThreshold: 1,
      // A long-poll route: running out of time is its normal end, not a sick dependency.
      isFailure: (ctx, err) => {
        asked.push(err);
        return isTimeoutError(err) ? ctx.path !== '/poll' : ctx.status >= 500;
      },
    });
    app.use(mw);
    app.use(async (ctx) => {
      await gate.promise;
      ctx.body = 'late';
    });
    const agent = supertest(app.callback());
    await agent.get('/poll').expect(504);
    expect(asked).toEqual([expect.objectContaining({ code: 'ERR_KOA_MESH_BREAKER_TIMEOUT' })]);
    expect(mw.get()).toMatchObject({ state: 'closed', totals: { failures: 0, successes: 1 } });
    await agent.get('/other').expect(504);
    expect(mw.get()).toMatchObject({ state: 'open', reason: 'consecutiveFailures' });
    gate.resolve();
  });

  it('exposes a live, unaborted ctx.state.signal to handlers that finish in time', async () => {
    const app = new Koa();
    app.use(breaker({ timeoutMs: 5000 }));
    app.use((ctx) => {
      const signal = ctx.state.signal as AbortSignal;
      ctx.body = { isSignal: signal instanceof AbortSignal, aborted: signal.aborted };
    });
    const res = await supertest(app.callback()).get('/').expect(200);
    expect(res.body).toEqual({ isSignal: true, aborted: false });
  });

  it('leaves ctx.state.signal alone without a timeout', async () => {
    const app = new Koa();
    app.use(breaker());
    app.use((ctx) => {
      ctx.body = { hasSignal: 'signal' in ctx.state };
    });
    const res = await supertest(app.callback()).get('/').expect(200);
    expect(res.body).toEqual({ hasSignal: false });
  });

  it('regression: a burst against a small bulkhead queues, then rejects with 503 problem+json, and never opens the breaker', async () => {
    const app = new Koa();
    const mw = breaker({ maxConcurrent: 1, maxQueue: 1, failureThreshold: 1 });
    const gate = deferred();
    let started = 0;
    app.use(mw);
    app.use(async (ctx) => {
      started++;
      await gate.promise;
      ctx.body = 'ok';
    });
    const server = await startApp(app);
    try {
      const agent = supertest(server.url);
      const first = agent.get('/').then((r) => r.status);
      await waitFor(() => started === 1);
      const second = agent.get('/').then((r) => r.status);
      await waitFor(() => mw.get()!.queued === 1);
      const third = await agent.get('/');
      expect(third.status).toBe(503);
      expect(third.headers['retry-after']).toBe('1');
      expect(third.body).toMatchObject({
        type: 'urn:koa-mesh:breaker:bulkhead',
        code: 'ERR_KOA_MESH_BULKHEAD_REJECTED',
      });
      gate.resolve();
      await expect(Promise.all([first, second])).resolves.toEqual([200, 200]);
      expect(mw.get()).toMatchObject({ state: 'closed', totals: { failures: 0 } });
    } finally {
      await server.close();
    }
  });

  it('regression: a timed-out request keeps its bulkhead slot until its handler really ends', async () => {
    const app = new Koa();
    const mw = breaker({ timeoutMs: 20, maxConcurrent: 1, failureThreshold: false });
    const gate = deferred();
    let finished = 0;
    app.use(mw);
    app.use(async (ctx) => {
      await gate.promise; // ignores ctx.state.signal
      finished++;
      ctx.body = 'late';
    });
    const agent = supertest(app.callback());
    await agent.get('/').expect(504);
    const res = await agent.get('/').expect(503);
    expect(res.body.code).toBe('ERR_KOA_MESH_BULKHEAD_REJECTED');
    expect(mw.get()!.inFlight).toBe(1);
    gate.resolve();
    await waitFor(() => finished === 1 && mw.get()!.inFlight === 0);
    await agent.get('/').expect(200);
  });

  it('a client that disconnects counts as neither success nor failure', async () => {
    const app = new Koa();
    const mw = breaker({ failureThreshold: 1 });
    const gate = deferred();
    let started = false;
    app.use(mw);
    app.use(async (ctx) => {
      started = true;
      await gate.promise;
      ctx.status = 500; // would be a failure if the client were still there
    });
    app.silent = true;
    const server = await startApp(app);
    try {
      const req = httpRequest(`${server.url}/`);
      req.on('error', () => undefined);
      req.end();
      await waitFor(() => started);
      req.destroy();
      await waitFor(
        () => new Promise<boolean>((r) => server.server.getConnections((_, n) => r(n === 0))),
      );
      gate.resolve();
      await waitFor(() => mw.get()!.totals.ignored === 1);
      expect(mw.get()).toMatchObject({ state: 'closed', totals: { failures: 0, successes: 0 } });
    } finally {
      await server.close();
    }
  });

  it('a client that goes away while queued for the bulkhead leaves the queue at once, and its handler never runs', async () => {
    const app = new Koa();
    const mw = breaker({ maxConcurrent: 1, maxQueue: 5, queueTimeoutMs: 60_000 });
    const gate = deferred();
    let calls = 0;
    const errors: unknown[] = [];
    app.on('error', (err) => errors.push(err));
    app.use(mw);
    app.use(async (ctx) => {
      calls++;
      if (calls === 1) await gate.promise;
      ctx.body = 'ok';
    });
    const server = await startApp(app);
    try {
      const first = fetch(`${server.url}/`).then((r) => r.status);
      await waitFor(() => calls === 1);
      const queued = httpRequest(`${server.url}/`);
      queued.on('error', () => undefined);
      queued.end();
      await waitFor(() => mw.get()!.queued === 1);
      queued.destroy();
      // Gone from the queue long before its 60 s queue timeout.
      await waitFor(() => mw.get()!.queued === 0, { timeoutMs: 5000 });
      gate.resolve();
      expect(await first).toBe(200);
      expect(await fetch(`${server.url}/`).then((r) => r.status)).toBe(200);
      expect(calls).toBe(2); // the first and the last: never the one whose client left
      expect(mw.get()).toMatchObject({ inFlight: 0, queued: 0, totals: { failures: 0 } });
      expect(errors).toEqual([]); // exposed 499: Koa does not log it
    } finally {
      await server.close();
    }
  });

  it('a queued request, once admitted, runs like any other: its client leaving does not abort it', async () => {
    const app = new Koa();
    app.silent = true;
    const mw = breaker({ maxConcurrent: 1, maxQueue: 5 });
    const first = deferred();
    const second = deferred();
    let calls = 0;
    let finished = false;
    let signal: AbortSignal | undefined;
    app.use(mw);
    app.use(async (ctx) => {
      calls++;
      if (calls === 1) {
        await first.promise;
        ctx.body = 'first';
        return;
      }
      signal = ctx.state.signal as AbortSignal | undefined;
      await second.promise;
      finished = true;
      ctx.body = 'second';
    });
    const server = await startApp(app);
    try {
      const one = fetch(`${server.url}/`).then((r) => r.status);
      await waitFor(() => calls === 1);
      const queued = httpRequest(`${server.url}/`);
      queued.on('error', () => undefined);
      queued.end();
      await waitFor(() => mw.get()!.queued === 1);
      first.resolve();
      expect(await one).toBe(200);
      await waitFor(() => calls === 2);
      queued.destroy();
      await waitFor(
        () => new Promise<boolean>((r) => server.server.getConnections((_, n) => r(n === 0))),
      );
      expect(signal?.aborted ?? false).toBe(false);
      second.resolve();
      await waitFor(() => finished && mw.get()!.inFlight === 0);
      expect(mw.get()!.totals).toMatchObject({ failures: 0, ignored: 1 });
    } finally {
      await server.close();
    }
  });

  it('an upstream 429 with Retry-After opens it for that long, as reason retryAfter', async () => {
    const c = clock();
    const app = new Koa();
    const mw = breaker({ clock: c.fn });
    app.use(mw);
    app.use((ctx) => {
      ctx.status = 429;
      ctx.set('Retry-After', '3');
    });
    const agent = supertest(app.callback());
    await agent.get('/').expect(429);
    expect(mw.get()).toMatchObject({ state: 'open', reason: 'retryAfter', retryAfterMs: 3000 });
    const res = await agent.get('/').expect(503);
    expect(res.headers['retry-after']).toBe('3');
  });

  it('fallback answers instead; a throwing fallback gives the problem answer and is reported', async () => {
    const app = new Koa();
    const errors: unknown[] = [];
    app.on('error', (err) => errors.push(err));
    let broken = false;
    app.use(
      breaker({
        failureThreshold: 1,
        fallback: (ctx, err) => {
          if (broken) throw new Error('fallback bug');
          ctx.body = { cached: true, code: err.code };
        },
      }),
    );
    app.use((ctx) => {
      ctx.status = 500;
    });
    const agent = supertest(app.callback());
    await agent.get('/').expect(500);
    const res = await agent.get('/').expect(200);
    expect(res.body).toEqual({ cached: true, code: 'ERR_KOA_MESH_BREAKER_OPEN' });
    broken = true;
    await agent.get('/').expect(503);
    expect(errors).toEqual([expect.objectContaining({ message: 'fallback bug' })]);
  });

  it('keys: one breaker per key, independent of the others', async () => {
    const app = new Koa();
    const router = new Router();
    const mw = breaker({ failureThreshold: 1, key: (ctx) => ctx.path });
    router.get('/a', (ctx) => {
      ctx.status = 500;
    });
    router.get('/b', (ctx) => {
      ctx.body = 'b';
    });
    app.use(mw);
    app.use(router.routes());
    const agent = supertest(app.callback());
    await agent.get('/a').expect(500);
    await agent.get('/a').expect(503);
    await agent.get('/b').expect(200);
    expect(mw.get('/a')).toMatchObject({ key: '/a', state: 'open' });
    expect(mw.get('/b')).toMatchObject({ key: '/b', state: 'closed' });
    expect(mw.stats().map((s) => s.key)).toEqual(['/a', '/b']);
    await expect(mw.healthCheck()).resolves.toMatchObject({
      status: 'warn',
      observedValue: 1,
      details: { keys: ['/a'] },
    });
  });

  it('keys: bounded by maxKeys (LRU) and idle keys dropped lazily after idleMs', async () => {
    const c = clock();
    const app = new Koa();
    const mw = breaker({ key: (ctx) => ctx.path, maxKeys: 3, idleMs: 1000, clock: c.fn });
    app.use(mw);
    app.use((ctx) => {
      ctx.body = 'ok';
    });
    const agent = supertest(app.callback());
    for (const k of ['/1', '/2', '/3', '/1', '/4']) await agent.get(k).expect(200);
    expect(mw.stats().map((s) => s.key)).toEqual(['/3', '/1', '/4']); // '/2' was least recent
    c.now = 5000;
    await agent.get('/1').expect(200);
    // The idle keys at the LRU end are dropped on this access (at most two per access).
    expect(mw.stats().map((s) => s.key)).toEqual(['/1']);
  });

  it('keys: past maxKeys an idle key goes before an open breaker, which stays open', async () => {
    const c = clock();
    const app = new Koa();
    let calls = 0;
    const mw = breaker({
      key: (ctx) => ctx.path,
      maxKeys: 2,
      failureThreshold: 1,
      openMs: 60_000,
      clock: c.fn,
    });
    app.use(mw);
    app.use((ctx) => {
      calls++;
      ctx.status = ctx.path === '/down' ? 500 : 200;
    });
    const agent = supertest(app.callback());
    await agent.get('/down').expect(500); // opens '/down', now the least recently used key
    await agent.get('/x').expect(200);
    await agent.get('/y').expect(200); // one key too many: the idle '/x' goes, not '/down'
    expect(mw.stats().map((s) => s.key)).toEqual(['/down', '/y']);
    await agent.get('/down').expect(503);
    expect(calls).toBe(3);
  });

  it('a key function that throws falls back to the shared key and is reported, never a 500', async () => {
    const app = new Koa();
    const errors: unknown[] = [];
    app.on('error', (err) => errors.push(err));
    const mw = breaker({
      key: (ctx) => {
        if (!ctx.get('x-tenant')) throw new Error('no tenant');
        return ctx.get('x-tenant');
      },
    });
    app.use(mw);
    app.use((ctx) => {
      ctx.body = 'ok';
    });
    await supertest(app.callback()).get('/').expect(200);
    expect(mw.get('')).toBeDefined();
    expect(errors).toHaveLength(1);
  });

  it('nested breakers: an inner rejection is neither success nor failure for the outer one', async () => {
    const inner = breaker({ name: 'inner', failureThreshold: 1 });
    const tripInner = new Koa();
    tripInner.use(inner);
    tripInner.use((ctx) => {
      ctx.status = 500;
    });
    await supertest(tripInner.callback()).get('/').expect(500);
    expect(inner.get()!.state).toBe('open');

    const app = new Koa();
    const outer = breaker({ name: 'outer', failureThreshold: 1 });
    app.use(outer);
    app.use(inner);
    const res = await supertest(app.callback()).get('/').expect(503);
    expect(res.body.breaker).toBe('inner');
    expect(outer.get()).toMatchObject({ state: 'closed', totals: { ignored: 1, failures: 0 } });
  });

  it('works on Koa 2', async () => {
    const c = clock();
    const { app } = flakyApp(
      { failureThreshold: 1, openMs: 1000, openJitter: 0, clock: c.fn },
      Koa2 as unknown as typeof Koa,
    );
    const agent = supertest(app.callback());
    await agent.get('/').expect(500);
    const res = await agent.get('/').expect(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.body.code).toBe('ERR_KOA_MESH_BREAKER_OPEN');
  });

  it('names its middleware function distinctly', () => {
    expect(breaker().name).toBe('breakerMiddleware');
  });

  it('close() drops keys and listeners', async () => {
    const app = new Koa();
    const mw = breaker({ key: (ctx) => ctx.path });
    let opens = 0;
    mw.on('success', () => opens++);
    app.use(mw);
    app.use((ctx) => {
      ctx.body = 'ok';
    });
    await supertest(app.callback()).get('/x').expect(200);
    expect(opens).toBe(1);
    mw.close();
    expect(mw.stats()).toEqual([]);
    await supertest(app.callback()).get('/x').expect(200);
    expect(opens).toBe(1);
  });
});
