import { Readable } from 'node:stream';
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  trace,
  type Context,
  type ContextManager,
  type TextMapPropagator,
} from '@opentelemetry/api';
import { freePort, startApp, waitFor, type RunningServer } from '@koa-mesh/testkit';
import Koa from 'koa';
import Koa2 from 'koa2';
import request from 'supertest';
import { discovery, StaticRegistry, type DiscoveryMiddleware } from '../src/index.js';
import { manualClock, seeded } from './helpers.js';

type Behaviour = (ctx: Koa.Context) => void | Promise<void>;

/** Where @koa-mesh/tracing leaves the request's OpenTelemetry context on ctx. */
const TRACING_CONTEXT = Symbol.for('@koa-mesh/tracing.context');
const SPAN = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  traceFlags: 1,
};
const TRACEPARENT = `00-${SPAN.traceId}-${SPAN.spanId}-01`;

/** W3C `traceparent` from a context's span context, in a few lines (these tests run no SDK). */
const traceparentPropagator: TextMapPropagator = {
  inject(context, carrier, setter) {
    const span = trace.getSpanContext(context);
    if (span) setter.set(carrier, 'traceparent', `00-${span.traceId}-${span.spanId}-01`);
  },
  extract: (context) => context,
  fields: () => ['traceparent'],
};

/** An upstream answering `{ name }`, or whatever `behaviour` says. */
async function upstream(
  name: string,
  behaviour?: Behaviour,
): Promise<RunningServer & { hits: number; seen: Koa.Context['headers'][] }> {
  const app = new Koa();
  const stats = { hits: 0, seen: [] as Koa.Context['headers'][] };
  app.use(async (ctx) => {
    stats.hits++;
    stats.seen.push(ctx.headers);
    if (behaviour) await behaviour(ctx);
    else ctx.body = { name };
  });
  const server = await startApp(app);
  return Object.defineProperties(server, {
    hits: { get: () => stats.hits },
    seen: { value: stats.seen },
  }) as RunningServer & { hits: number; seen: Koa.Context['headers'][] };
}

const started: { close(): Promise<void> }[] = [];
const mids: DiscoveryMiddleware[] = [];
afterEach(async () => {
  await Promise.all(mids.splice(0).map((m) => m.stop()));
  await Promise.all(started.splice(0).map((s) => s.close()));
});

function track<T extends { close(): Promise<void> }>(s: T): T {
  started.push(s);
  return s;
}

function front(mw: DiscoveryMiddleware, handler: Behaviour): Koa {
  mids.push(mw);
  const app = new Koa();
  app.use(async (ctx, next) => {
    ctx.state.requestId = 'req-1';
    await next();
  });
  app.use(mw);
  app.use(handler);
  return app;
}

describe('fetch through ctx.state.discovery', () => {
  it('calls an instance of the service and returns its response', async () => {
    const a = track(await upstream('a'));
    const mw = discovery({ services: { orders: [a.url] }, env: false });
    const app = front(mw, async (ctx) => {
      const res = await ctx.state.discovery.fetch('orders', '/orders/1');
      ctx.body = { upstream: await res.body.json(), instance: res.instance.id };
    });
    const res = await request(app.callback()).get('/').expect(200);
    expect(res.body).toEqual({ upstream: { name: 'a' }, instance: `orders-127.0.0.1-${a.port}` });
  });

  it('answers 503 problem+json when a handler lets ServiceUnavailableError through', async () => {
    const mw = discovery({ services: {}, env: false, readyTimeoutMs: 0 });
    const app = front(mw, async (ctx) => {
      await ctx.state.discovery.fetch('nowhere', '/');
    });
    const res = await request(app.callback()).get('/').expect(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      type: 'urn:koa-mesh:discovery:service-unavailable',
      status: 503,
      code: 'ERR_KOA_MESH_SERVICE_UNAVAILABLE',
      requestId: 'req-1',
    });
    expect(res.body.detail).toMatch(/nowhere/);
  });

  it('rethrows other errors untouched', async () => {
    const mw = discovery({ env: false });
    const app = front(mw, () => {
      throw Object.assign(new Error('teapot'), { status: 418, expose: true });
    });
    await request(app.callback()).get('/').expect(418);
  });

  it('works on Koa 2', async () => {
    const a = track(await upstream('a'));
    const mw = discovery({ services: { orders: [a.url] }, env: false });
    mids.push(mw);
    const app = new Koa2();
    app.use(mw);
    app.use(async (ctx) => {
      const res = await (ctx.state.discovery as DiscoveryMiddleware['client']).fetch('orders', '/');
      ctx.body = await res.body.json();
    });
    const res = await request(app.callback()).get('/').expect(200);
    expect(res.body).toEqual({ name: 'a' });
  });

  it('retries a GET on another instance when the first refuses connections', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const b = track(await upstream('b'));
    const mw = discovery({
      services: { orders: [dead, b.url] },
      balancer: 'round-robin',
      env: false,
    });
    mids.push(mw);
    for (let i = 0; i < 4; i++) {
      const res = await mw.client.fetch('orders', '/');
      expect(await res.body.json()).toEqual({ name: 'b' });
    }
    expect(b.hits).toBe(4);
  });

  it('never retries a stream body, not even when the first instance refused the connection', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const b = track(await upstream('b'));
    const mw = discovery({
      services: { orders: [dead, b.url] },
      balancer: 'round-robin',
      random: () => 0, // round robin starts at `dead`
      env: false,
    });
    mids.push(mw);
    await expect(
      mw.client.fetch('orders', '/', { method: 'PUT', body: Readable.from(['x']) }),
    ).rejects.toMatchObject({ code: 'ERR_KOA_MESH_SERVICE_UNAVAILABLE' });
    expect(b.hits).toBe(0);
    // The same request with a string body goes on to `b`.
    const res = await mw.client.fetch('orders', '/', { method: 'PUT', body: 'x' });
    expect(await res.body.json()).toEqual({ name: 'b' });
  });

  it('retries an idempotent request after a 503 but returns a POST 503 as is', async () => {
    const bad = track(
      await upstream('bad', (ctx) => void ((ctx.status = 503), (ctx.body = 'busy'))),
    );
    const good = track(await upstream('good'));
    const mw = discovery({
      services: { orders: [bad.url, good.url] },
      balancer: 'round-robin',
      random: () => 0, // round robin starts at `bad`
      env: false,
    });
    mids.push(mw);
    const get = await mw.client.fetch('orders', '/');
    expect(get.statusCode).toBe(200);
    expect(get.attempts).toBe(2);
    await get.body.dump();
    // round robin is now back at `bad`
    await (await mw.client.fetch('orders', '/')).body.dump();
    const post = await mw.client.fetch('orders', '/', { method: 'POST', body: '{}' });
    expect(post.statusCode).toBe(503);
    expect(post.attempts).toBe(1);
    await post.body.dump();
  });

  it('does not retry a POST that failed after reaching the instance', async () => {
    const reset = track(await upstream('reset', (ctx) => void ctx.req.socket.destroy()));
    const mw = discovery({ services: { orders: [reset.url] }, env: false });
    mids.push(mw);
    await expect(
      mw.client.fetch('orders', '/', { method: 'POST', body: 'x' }),
    ).rejects.toMatchObject({
      code: 'ERR_KOA_MESH_SERVICE_UNAVAILABLE',
    });
    expect(reset.hits).toBe(1);
  });

  it('stops retrying when the retry budget is spent', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const b = track(await upstream('b'));
    const mw = discovery({
      services: { orders: [dead, b.url] },
      balancer: 'round-robin',
      random: () => 0, // starts at `dead`
      fetch: { retryBudget: { ratio: 0, minRetriesPerSecond: 0 } },
      env: false,
    });
    mids.push(mw);
    await expect(mw.client.fetch('orders', '/')).rejects.toMatchObject({
      code: 'ERR_KOA_MESH_SERVICE_UNAVAILABLE',
      message: expect.stringMatching(/1 instance\(s\) tried/),
    });
    expect(b.hits).toBe(0);
  });

  it('carries the trace context through @opentelemetry/api when a propagator is set', async () => {
    const a = track(await upstream('a'));
    const propagator: TextMapPropagator = {
      inject: (_ctx, carrier, setter) => setter.set(carrier, 'x-test-propagated', 'yes'),
      extract: (ctx) => ctx,
      fields: () => ['x-test-propagated'],
    };
    propagation.setGlobalPropagator(propagator);
    try {
      const mw = discovery({ services: { orders: [a.url] }, env: false });
      mids.push(mw);
      await (await mw.client.fetch('orders', '/')).body.dump();
      expect(a.seen[0]!['x-test-propagated']).toBe('yes');
    } finally {
      propagation.disable();
    }
  });

  it("sends the request's trace context that tracing left on ctx when no context manager is set (no SDK)", async () => {
    const a = track(await upstream('a'));
    propagation.setGlobalPropagator(traceparentPropagator);
    try {
      const mw = discovery({ services: { orders: [a.url] }, env: false });
      mids.push(mw);
      const app = new Koa();
      // What @koa-mesh/tracing does: the request's context on ctx, under its registry symbol.
      app.use(async (ctx, next) => {
        if (ctx.get('x-traced')) {
          (ctx as unknown as Record<symbol, Context>)[TRACING_CONTEXT] = trace.setSpanContext(
            ROOT_CONTEXT,
            SPAN,
          );
        }
        await next();
      });
      app.use(mw);
      app.use(async (ctx) => {
        await (await ctx.state.discovery.fetch('orders', '/')).body.dump();
        // Handed around detached, as the client's methods may be.
        const { fetch } = ctx.state.discovery as DiscoveryMiddleware['client'];
        await (await fetch('orders', '/')).body.dump();
        ctx.body = 'ok';
      });
      await request(app.callback()).get('/').set('x-traced', '1').expect(200);
      expect(a.seen.map((h) => h.traceparent)).toEqual([TRACEPARENT, TRACEPARENT]);

      // No context on ctx, or no ctx: context.active(), empty without a context manager.
      await request(app.callback()).get('/').expect(200);
      await (await mw.client.fetch('orders', '/')).body.dump();
      expect(a.seen.slice(2).map((h) => h.traceparent)).toEqual([undefined, undefined, undefined]);
    } finally {
      propagation.disable();
    }
  });

  it('makes a span the handler started the parent of its call, with a context manager', async () => {
    const a = track(await upstream('a'));
    propagation.setGlobalPropagator(traceparentPropagator);
    const store = new AsyncLocalStorage<Context>();
    const manager: ContextManager = {
      active: () => store.getStore() ?? ROOT_CONTEXT,
      with: (c, fn, thisArg, ...args) => store.run(c, () => fn.apply(thisArg, args)),
      bind: (_c, target) => target,
      enable: () => manager,
      disable: () => manager,
    };
    context.setGlobalContextManager(manager);
    try {
      const mw = discovery({ services: { orders: [a.url] }, env: false });
      mids.push(mw);
      const app = new Koa();
      app.use(async (ctx, next) => {
        // What @koa-mesh/tracing leaves: this hop's context on ctx, and active downstream.
        const own = trace.setSpanContext(ROOT_CONTEXT, SPAN);
        (ctx as unknown as Record<symbol, Context>)[TRACING_CONTEXT] = own;
        await context.with(own, next);
      });
      app.use(mw);
      const child = { ...SPAN, spanId: '1111111111111111' };
      app.use(async (ctx) => {
        await context.with(trace.setSpanContext(context.active(), child), async () => {
          await (await ctx.state.discovery.fetch('orders', '/')).body.dump();
        });
        ctx.body = 'ok';
      });
      await request(app.callback()).get('/').expect(200);
      expect(a.seen[0]!.traceparent).toBe(`00-${child.traceId}-${child.spanId}-01`);
    } finally {
      context.disable();
      propagation.disable();
    }
  });

  it("drops a forwarded client's trace headers of every format when this hop's context is injected, and keeps them when nothing is", async () => {
    const a = track(await upstream('a'));
    const client = {
      traceparent: '00-11111111111111111111111111111111-2222222222222222-01',
      tracestate: 'clientvendor=forged',
      baggage: 'userid=alice,secret=hunter2',
      b3: '11111111111111111111111111111111-2222222222222222-1',
      'x-b3-traceid': '11111111111111111111111111111111',
      'x-b3-spanid': '2222222222222222',
      'x-b3-parentspanid': '3333333333333333',
      'x-b3-sampled': '1',
      'x-b3-flags': '1',
      'uber-trace-id': '11111111111111111111111111111111:2222222222222222:0:1',
      'uberctx-user': 'alice',
      'x-user': 'u1',
    };
    const mw = discovery({ services: { orders: [a.url] }, env: false });
    mids.push(mw);
    const app = new Koa();
    app.use(async (ctx, next) => {
      if (ctx.get('x-traced')) {
        (ctx as unknown as Record<symbol, Context>)[TRACING_CONTEXT] = trace.setSpanContext(
          ROOT_CONTEXT,
          SPAN,
        );
      }
      await next();
    });
    app.use(mw);
    app.use(async (ctx) => {
      await (await ctx.state.discovery.fetch('orders', '/', { headers: ctx.headers })).body.dump();
      ctx.body = 'ok';
    });
    const forwarded = (): Record<string, unknown> => {
      const seen = a.seen.at(-1)!;
      return Object.fromEntries(Object.keys(client).map((h) => [h, seen[h]]));
    };

    propagation.setGlobalPropagator(traceparentPropagator);
    try {
      await request(app.callback()).get('/').set(client).set('x-traced', '1').expect(200);
      // Only what the propagator writes: this hop's traceparent, none of the client's.
      expect(forwarded()).toEqual({
        ...Object.fromEntries(Object.keys(client).map((h) => [h, undefined])),
        traceparent: TRACEPARENT,
        'x-user': 'u1',
      });

      // The propagator writes nothing (no context): the caller's headers go as given.
      await request(app.callback()).get('/').set(client).expect(200);
      expect(forwarded()).toEqual(client);
    } finally {
      propagation.disable();
    }
    // No propagator: as given.
    await request(app.callback()).get('/').set(client).set('x-traced', '1').expect(200);
    expect(forwarded()).toEqual(client);
  });

  it("replaces a forwarded client's X-Request-Id with ctx.state.requestId, keeping an id the caller chose", async () => {
    const a = track(await upstream('a'));
    const mw = discovery({ services: { orders: [a.url] }, env: false });
    const app = front(mw, async (ctx) => {
      // The request's own headers forwarded: its X-Request-Id is the client's, not this service's.
      await (await ctx.state.discovery.fetch('orders', '/', { headers: ctx.headers })).body.dump();
      ctx.body = 'ok';
    });
    await request(app.callback()).get('/').set('X-Request-Id', 'not valid for tracing').expect(200);
    expect(a.seen.map((h) => h['x-request-id'])).toEqual(['req-1']);
  });

  it('sends the call without trace headers, and reports, when the propagator throws', async () => {
    const a = track(await upstream('a'));
    const broken: TextMapPropagator = {
      inject: (_ctx, carrier, setter) => {
        setter.set(carrier, 'traceparent', TRACEPARENT);
        throw new Error('propagator bug');
      },
      extract: (ctx) => ctx,
      fields: () => ['traceparent'],
    };
    propagation.setGlobalPropagator(broken);
    try {
      const mw = discovery({ services: { orders: [a.url] }, env: false });
      const app = front(mw, async (ctx) => {
        const res = await ctx.state.discovery.fetch('orders', '/');
        await res.body.dump();
        ctx.body = String(res.statusCode);
      });
      const errors: unknown[] = [];
      app.on('error', (err) => errors.push(err));
      await request(app.callback()).get('/').expect(200, '200');
      expect(a.seen[0]!.traceparent).toBeUndefined();
      expect((errors[0] as Error).message).toBe('propagator bug');
    } finally {
      propagation.disable();
    }
  });

  it('forwards ctx.state.requestId upstream as x-request-id unless the caller set one', async () => {
    const a = track(await upstream('a'));
    const mw = discovery({ services: { orders: [a.url] }, env: false });
    const app = front(mw, async (ctx) => {
      await (await ctx.state.discovery.fetch('orders', '/')).body.dump();
      await (
        await ctx.state.discovery.fetch('orders', '/', { headers: { 'X-Request-Id': 'chosen' } })
      ).body.dump();
      ctx.body = 'ok';
    });
    await request(app.callback()).get('/').expect(200);
    // Not made for a request: no id to send.
    await (await mw.client.fetch('orders', '/')).body.dump();
    expect(a.seen.map((h) => h['x-request-id'])).toEqual(['req-1', 'chosen', undefined]);
  });

  it('drops hop-by-hop headers when a handler forwards its request headers', async () => {
    const a = track(await upstream('a'));
    const mw = discovery({ services: { orders: [a.url] }, env: false });
    const app = front(mw, async (ctx) => {
      const res = await ctx.state.discovery.fetch('orders', '/', {
        method: 'POST',
        headers: ctx.headers,
        body: JSON.stringify({ re: 'serialised' }),
      });
      ctx.status = res.statusCode;
      ctx.body = await res.body.json();
    });
    await request(app.callback())
      .post('/')
      .set('Connection', 'keep-alive, X-Hop')
      .set('Keep-Alive', 'timeout=5')
      .set('X-Hop', 'one hop only')
      .set('TE', 'trailers')
      .set('Proxy-Connection', 'keep-alive')
      .set('X-User', 'u1')
      .set('Content-Type', 'application/json')
      .send('{"original":"body, longer than the one forwarded"}')
      .expect(200);
    const seen = a.seen[0]!;
    expect(seen['x-user']).toBe('u1');
    expect(seen['content-type']).toBe('application/json');
    expect(seen['content-length']).toBe(String(JSON.stringify({ re: 'serialised' }).length));
    for (const h of ['keep-alive', 'x-hop', 'te', 'proxy-connection']) {
      expect(seen[h]).toBeUndefined();
    }
  });

  it('drops a forwarded Transfer-Encoding and Upgrade instead of failing the call', async () => {
    const a = track(await upstream('a'));
    const mw = discovery({ services: { orders: [a.url] }, env: false });
    mids.push(mw);
    const res = await mw.client.fetch('orders', '/', {
      method: 'PUT',
      headers: { 'Transfer-Encoding': 'chunked', Upgrade: 'websocket', Expect: '100-continue' },
      body: 'x',
    });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(a.seen[0]!['transfer-encoding']).toBeUndefined();
    expect(a.seen[0]!.upgrade).toBeUndefined();
    expect(a.seen[0]!.expect).toBeUndefined();
  });

  it('sends the caller headers', async () => {
    const a = track(await upstream('a'));
    const mw = discovery({ services: { orders: [a.url] }, env: false });
    mids.push(mw);
    await (await mw.client.fetch('orders', '/', { headers: { 'X-User': 'u1' } })).body.dump();
    expect(a.seen[0]!['x-user']).toBe('u1');
  });
});

describe('requests the caller got wrong', () => {
  it('percent-encodes a path built from user input instead of failing every instance', async () => {
    const a = track(await upstream('a', (ctx) => void (ctx.body = { url: ctx.url })));
    const b = track(await upstream('b', (ctx) => void (ctx.body = { url: ctx.url })));
    const ejected: unknown[] = [];
    const mw = discovery({
      services: { orders: [a.url, b.url] },
      outlier: { consecutiveFailures: 1 },
      env: false,
    });
    mw.on('eject', (e) => ejected.push(e));
    // The README's example: the path carries a decoded query value.
    const app = front(mw, async (ctx) => {
      const res = await ctx.state.discovery.fetch('orders', `/orders/${String(ctx.query.id)}`);
      ctx.status = res.statusCode;
      ctx.body = await res.body.json();
    });
    const res = await request(app.callback()).get('/?id=a%20b%C3%A9%E5%B1%B1').expect(200);
    expect(res.body).toEqual({ url: '/orders/a%20b%C3%A9%E5%B1%B1' });
    expect(ejected).toEqual([]);
  });

  it('never ejects or retries an instance for a request undici refuses to send', async () => {
    const a = track(await upstream('a'));
    const b = track(await upstream('b'));
    const ejected: unknown[] = [];
    const mw = discovery({
      services: { orders: [a.url, b.url] },
      outlier: { consecutiveFailures: 2 },
      env: false,
    });
    mids.push(mw);
    mw.on('eject', (e) => ejected.push(e));
    for (let i = 0; i < 6; i++) {
      // A header value outside Latin-1 (a user's name, say) is the caller's mistake.
      await expect(
        mw.client.fetch('orders', '/', { headers: { 'x-user-name': '山田' } }),
      ).rejects.toMatchObject({ code: 'UND_ERR_INVALID_ARG' });
    }
    expect(a.hits + b.hits).toBe(0);
    expect(ejected).toEqual([]);
    const instances = mw.snapshot().services[0]!.instances;
    expect(instances.map((i) => [i.consecutiveFailures, i.inflight])).toEqual([
      [0, 0],
      [0, 0],
    ]);
    const ok = await mw.client.fetch('orders', '/');
    expect(ok.attempts).toBe(1);
    await ok.body.dump();
  });
});

describe('a caller aborting', () => {
  it('never counts against the instance, whatever reason it aborts with', async () => {
    const hung = track(await upstream('hung', () => new Promise(() => undefined)));
    const ejected: unknown[] = [];
    const mw = discovery({
      services: { orders: [hung.url] },
      outlier: { consecutiveFailures: 2 },
      fetch: { retries: 0 },
      env: false,
    });
    mids.push(mw);
    mw.on('eject', (e) => ejected.push(e));
    for (let i = 0; i < 4; i++) {
      const ac = new AbortController();
      const pending = mw.client.fetch('orders', '/', { signal: ac.signal });
      await waitFor(() => hung.hits === i + 1);
      // Not an AbortError: an application's own reason.
      ac.abort(new Error('the user left'));
      await expect(pending).rejects.toThrow('the user left');
    }
    expect(ejected).toEqual([]);
    expect(mw.snapshot().services[0]!.instances[0]!.consecutiveFailures).toBe(0);
  });
});

describe('in-flight counters', () => {
  const inflight = (mw: DiscoveryMiddleware): number =>
    mw
      .snapshot()
      .services.flatMap((s) => s.instances)
      .reduce((n, i) => n + i.inflight, 0);

  it('count a call until its body is consumed, then drop to zero', async () => {
    const a = track(await upstream('a'));
    const mw = discovery({ services: { orders: [a.url] }, env: false });
    mids.push(mw);
    const res = await mw.client.fetch('orders', '/');
    expect(inflight(mw)).toBe(1);
    await res.body.text();
    await waitFor(() => inflight(mw) === 0);
  });

  it('drop to zero after an error, a deadline and a client abort', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const hung = track(await upstream('hung', () => new Promise(() => undefined)));
    const mw = discovery({
      services: { dead: [dead], hung: [hung.url] },
      fetch: { retries: 0 },
      env: false,
    });
    mids.push(mw);
    await expect(mw.client.fetch('dead', '/')).rejects.toMatchObject({ status: 503 });
    await expect(mw.client.fetch('hung', '/', { timeoutMs: 200 })).rejects.toMatchObject({
      code: 'ERR_KOA_MESH_SERVICE_UNAVAILABLE',
      message: expect.stringMatching(/deadline/),
    });
    const ac = new AbortController();
    const pending = mw.client.fetch('hung', '/', { signal: ac.signal });
    await waitFor(() => inflight(mw) === 1);
    ac.abort();
    await expect(pending).rejects.toBeDefined();
    expect(inflight(mw)).toBe(0);
  });

  /**
   * An instance answering only when released, a keep-alive pool of one connection to it, and a
   * first call holding that connection: the next call waits in the pool's queue.
   */
  async function oneConnectionTaken() {
    const held: (() => void)[] = [];
    const slow = track(
      await upstream(
        'slow',
        (ctx) =>
          new Promise<void>((resolve) => {
            held.push(() => {
              ctx.body = 'late';
              resolve();
            });
          }),
      ),
    );
    const mw = discovery({
      services: { orders: [slow.url] },
      fetch: { connections: 1, retries: 0 },
      env: false,
    });
    mids.push(mw);
    const first = mw.client.fetch('orders', '/', { timeoutMs: 60_000 });
    first.catch(() => undefined); // awaited by the test; a failing run must not crash the worker
    return { held, slow, mw, first };
  }

  it('keep the deadline while every connection to the instance is busy (a queued call)', async () => {
    const { held, slow, mw, first } = await oneConnectionTaken();
    try {
      await waitFor(() => held.length === 1);
      // The only connection is taken: this call waits in the keep-alive pool's queue.
      await expect(mw.client.fetch('orders', '/', { timeoutMs: 200 })).rejects.toMatchObject({
        code: 'ERR_KOA_MESH_SERVICE_UNAVAILABLE',
        message: expect.stringMatching(/deadline/),
      });
      expect(held).toHaveLength(1); // the first call still holds the connection
    } finally {
      for (const release of held) release();
    }
    await (await first).body.dump();
    await waitFor(() => inflight(mw) === 0);
    expect(slow.hits).toBe(1); // the call that gave up never went out
  });

  it('reject a queued call when its caller aborts, not at its deadline', async () => {
    const { held, slow, mw, first } = await oneConnectionTaken();
    const reason = new Error('the client went away');
    let outcome: unknown;
    try {
      await waitFor(() => held.length === 1);
      // The only connection is taken: this call waits in the keep-alive pool's queue.
      const ac = new AbortController();
      const queued = mw.client.fetch('orders', '/', { timeoutMs: 60_000, signal: ac.signal });
      queued.then(
        () => (outcome = 'resolved'),
        (err: unknown) => (outcome = err),
      );
      ac.abort(reason);
      await waitFor(() => outcome !== undefined, { timeoutMs: 2_000 }).catch(() => undefined);
      expect(outcome).toBe(reason);
      expect(held).toHaveLength(1); // the first call still holds the connection
    } finally {
      for (const release of held) release();
    }
    await (await first).body.dump();
    await waitFor(() => inflight(mw) === 0);
    expect(slow.hits).toBe(1); // the aborted call never went out
  });

  it('drop to zero when the caller destroys a body it never reads', async () => {
    const a = track(await upstream('a'));
    const mw = discovery({ services: { orders: [a.url] }, env: false });
    mids.push(mw);
    const res = await mw.client.fetch('orders', '/');
    expect(inflight(mw)).toBe(1);
    res.body.destroy();
    await waitFor(() => inflight(mw) === 0);
  });

  it('drop to zero once when the upstream cuts the body, without failing the instance', async () => {
    const cut = track(
      await upstream('cut', (ctx) => {
        ctx.respond = false;
        ctx.res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
        ctx.res.write('partial', () => ctx.res.socket?.destroy());
      }),
    );
    const mw = discovery({
      services: { orders: [cut.url] },
      outlier: { consecutiveFailures: 1 },
      env: false,
    });
    mids.push(mw);
    const unread = await mw.client.fetch('orders', '/'); // errors with nobody reading it
    const read = await mw.client.fetch('orders', '/');
    await expect(read.body.text()).rejects.toBeDefined();
    await waitFor(() => unread.body.destroyed && inflight(mw) === 0);
    expect(inflight(mw)).toBe(0);
    const [instance] = mw.snapshot().services[0]!.instances;
    // A 200 whose body was cut says the instance answered: not an outlier.
    expect(instance).toMatchObject({ ejected: false, consecutiveFailures: 0, inflight: 0 });
  });

  it('resolves without a key when the hashKey callback throws, reporting it on the app', async () => {
    const a = track(await upstream('a'));
    const mw = discovery({ services: { orders: [a.url] }, env: false });
    mids.push(mw);
    const resolve = mw.client.resolver('orders', {
      hashKey: () => {
        throw new Error('bad key');
      },
    });
    const app = new Koa();
    const reported: string[] = [];
    app.on('error', (err: Error) => reported.push(err.message));
    app.use(async (ctx) => {
      const url = await resolve(ctx);
      resolve.release!(url, { ok: true, status: 200, durationMs: 1 });
      ctx.body = url.origin;
    });
    const res = await request(app.callback()).get('/').expect(200);
    expect(res.text).toBe(a.url);
    expect(reported).toEqual(['bad key']);
  });

  it('are released by a resolver when the caller reports the outcome', async () => {
    const a = track(await upstream('a'));
    const mw = discovery({ services: { orders: [a.url] }, env: false });
    mids.push(mw);
    const resolve = mw.client.resolver('orders');
    const url = await resolve({});
    expect(url.href).toBe(`${a.url}/`);
    expect(inflight(mw)).toBe(1);
    resolve.release!(url, { ok: true, status: 200, durationMs: 3 });
    expect(inflight(mw)).toBe(0);
  });

  it("a resolver's release settles the exchange it started after its instance left (pool evictable again) or came back at the same address (the new one untouched)", async () => {
    const a = track(await upstream('a'));
    const b = track(await upstream('b'));
    const c = track(await upstream('c'));
    const registry = new StaticRegistry({ services: { orders: [a.url, b.url], other: [c.url] } });
    const mw = discovery({ registry, maxServices: 1, env: false });
    mids.push(mw);
    const resolve = mw.client.resolver('orders');
    const held: URL[] = [];
    for (let i = 0; i < 20; i++) held.push(await resolve({}));
    expect(held.some((u) => u.origin === a.url)).toBe(true);
    // `a` leaves while exchanges on it are in flight, then they end.
    registry.set('orders', [b.url]);
    for (const url of held) resolve.release!(url, { ok: true, status: 200, durationMs: 1 });
    expect(inflight(mw)).toBe(0);
    // Nothing is in flight on `orders`: it is idle, so a call to another service evicts it.
    await (await mw.client.fetch('other', '/')).body.dump();
    expect(mw.snapshot().services.map((s) => s.service)).toEqual(['other']);

    // An instance that flaps back at the same address is a new endpoint: the old exchanges'
    // outcomes are neither its in-flight count nor its failures.
    registry.set('orders', [a.url]);
    const resolveAgain = mw.client.resolver('orders');
    const old: URL[] = [];
    for (let i = 0; i < 5; i++) old.push(await resolveAgain({}));
    registry.set('orders', []);
    registry.set('orders', [a.url]);
    const fresh = await resolveAgain({});
    for (const url of old) resolveAgain.release!(url, { ok: false, status: 503, durationMs: 1 });
    const [instance] = mw.snapshot().services.find((s) => s.service === 'orders')!.instances;
    expect(instance).toMatchObject({ inflight: 1, ejected: false, consecutiveFailures: 0 });
    resolveAgain.release!(fresh, { ok: true, status: 200, durationMs: 1 });
    // Released once: a second release of the same URL changes nothing.
    resolveAgain.release!(fresh, { ok: false, status: 503, durationMs: 1 });
    expect(inflight(mw)).toBe(0);
    expect(mw.snapshot().services.find((s) => s.service === 'orders')!.instances).toMatchObject([
      { consecutiveFailures: 0 },
    ]);
  });
});

describe('passive outlier ejection', () => {
  it('ejects a 5xx-returning instance and brings it back after the ejection time', async () => {
    const clock = manualClock();
    const bad = track(await upstream('bad', (ctx) => void ((ctx.status = 500), (ctx.body = 'x'))));
    const good = track(await upstream('good'));
    const events: string[] = [];
    const mw = discovery({
      services: { orders: [bad.url, good.url] },
      balancer: 'round-robin',
      outlier: { consecutiveFailures: 3, baseEjectionMs: 10_000 },
      fetch: { retries: 0 },
      now: clock.now,
      random: seeded(9),
      env: false,
    });
    mids.push(mw);
    mw.on('eject', (e) => events.push(`eject ${String(e.url)}`));
    mw.on('uneject', (e) => events.push(`uneject ${String(e.url)}`));
    for (let i = 0; i < 6; i++) await (await mw.client.fetch('orders', '/')).body.dump();
    expect(bad.hits).toBe(3);
    expect(events).toEqual([`eject ${bad.url}`]);
    const snap = mw.snapshot().services[0]!.instances.find((i) => i.url === bad.url)!;
    expect(snap.ejected).toBe(true);
    expect(snap.effectiveWeight).toBe(0);

    for (let i = 0; i < 10; i++) await (await mw.client.fetch('orders', '/')).body.dump();
    expect(bad.hits).toBe(3); // out of rotation

    clock.advance(11_001); // 10 s ± 10 % jitter
    for (let i = 0; i < 4; i++) await (await mw.client.fetch('orders', '/')).body.dump();
    expect(bad.hits).toBeGreaterThan(3);
    expect(events).toContain(`uneject ${bad.url}`);
  });

  it('forgives one ejection once the instance stayed healthy as long as it lasted', async () => {
    const clock = manualClock();
    let failing = true;
    const flaky = track(
      await upstream('flaky', (ctx) => {
        ctx.status = failing ? 500 : 200;
        ctx.body = 'x';
      }),
    );
    const good = track(await upstream('good'));
    const mw = discovery({
      services: { orders: [flaky.url, good.url] },
      balancer: 'round-robin',
      outlier: { consecutiveFailures: 2, baseEjectionMs: 10_000 },
      fetch: { retries: 0 },
      now: clock.now,
      random: seeded(3),
      env: false,
    });
    mids.push(mw);
    const flakyState = () => mw.snapshot().services[0]!.instances.find((i) => i.url === flaky.url)!;
    for (let i = 0; i < 4; i++) await (await mw.client.fetch('orders', '/')).body.dump();
    expect(flakyState()).toMatchObject({ ejected: true, ejections: 1 });

    failing = false;
    clock.advance(11_001); // past the ejection (10 s ± 10 %)
    for (let i = 0; i < 2; i++) await (await mw.client.fetch('orders', '/')).body.dump();
    expect(flakyState()).toMatchObject({ ejected: false, ejections: 1 });

    clock.advance(10_000); // healthy for as long as the ejection lasted
    for (let i = 0; i < 2; i++) await (await mw.client.fetch('orders', '/')).body.dump();
    expect(flakyState()).toMatchObject({ ejected: false, ejections: 0 });
  });

  it('counts 5xx outcomes a resolver caller reports', async () => {
    const a = track(await upstream('a'));
    const b = track(await upstream('b'));
    const mw = discovery({
      services: { orders: [a.url, b.url] },
      outlier: { consecutiveFailures: 2 },
      env: false,
    });
    mids.push(mw);
    const resolve = mw.client.resolver('orders');
    const urlA = new URL(a.url);
    for (let i = 0; i < 2; i++) {
      await resolve({});
      resolve.release!(urlA, { ok: false, status: 502, durationMs: 1 });
    }
    const picked = new Set<string>();
    for (let i = 0; i < 20; i++) picked.add((await resolve({})).origin);
    expect([...picked]).toEqual([b.url]);
  });

  it('keeps traffic flowing to every instance in panic mode when most are failing', async () => {
    const failing = await Promise.all(
      ['f1', 'f2', 'f3'].map(async (n) =>
        track(await upstream(n, (ctx) => void ((ctx.status = 500), (ctx.body = 'x')))),
      ),
    );
    const ok = track(await upstream('ok'));
    const events: string[] = [];
    const mw = discovery({
      services: { orders: [...failing.map((f) => f.url), ok.url] },
      balancer: 'round-robin',
      outlier: { consecutiveFailures: 1, maxEjectionPercent: 100, panicThreshold: 0.5 },
      fetch: { retries: 0 },
      env: false,
    });
    mids.push(mw);
    mw.on('panic', () => events.push('panic'));
    for (let i = 0; i < 40; i++) await (await mw.client.fetch('orders', '/')).body.dump();
    expect(events).toEqual(['panic']);
    expect(mw.snapshot().services[0]!.panic).toBe(true);
    // Ejected or not, every instance keeps receiving traffic rather than only `ok`.
    for (const f of failing) expect(f.hits).toBeGreaterThan(3);
  });

  it('never ejects more than maxEjectionPercent of the instances (but at least one)', async () => {
    const servers = await Promise.all(
      ['f1', 'f2', 'f3', 'f4'].map(async (n) =>
        track(await upstream(n, (ctx) => void ((ctx.status = 500), (ctx.body = 'x')))),
      ),
    );
    const mw = discovery({
      services: { orders: servers.map((s) => s.url) },
      outlier: { consecutiveFailures: 1, maxEjectionPercent: 10 },
      fetch: { retries: 0 },
      env: false,
    });
    mids.push(mw);
    for (let i = 0; i < 20; i++) await (await mw.client.fetch('orders', '/')).body.dump();
    const ejected = mw.snapshot().services[0]!.instances.filter((i) => i.ejected);
    expect(ejected).toHaveLength(1);
  });
});

describe('breaker per instance', () => {
  it('wraps each instance and moves on when one breaker refuses', async () => {
    const a = track(await upstream('a'));
    const b = track(await upstream('b'));
    const ids: string[] = [];
    const mw = discovery({
      services: { orders: [a.url, b.url] },
      balancer: 'round-robin',
      breaker: (id) => {
        ids.push(id);
        const open = id.endsWith(String(a.port));
        return {
          execute: (fn, signal) =>
            open
              ? Promise.reject(
                  Object.assign(new Error('open'), { code: 'ERR_KOA_MESH_BREAKER_OPEN' }),
                )
              : fn(signal ?? new AbortController().signal),
        };
      },
      env: false,
    });
    mids.push(mw);
    for (let i = 0; i < 4; i++) {
      const res = await mw.client.fetch('orders', '/');
      expect(await res.body.json()).toEqual({ name: 'b' });
    }
    expect(a.hits).toBe(0);
    expect(ids.sort()).toEqual([`orders-127.0.0.1-${a.port}`, `orders-127.0.0.1-${b.port}`].sort());
  });
});

describe('StaticRegistry', () => {
  it('reads KOA_MESH_SERVICES', () => {
    const r = new StaticRegistry({
      env: {
        KOA_MESH_SERVICES:
          'orders=http://127.0.0.1:4001, http://127.0.0.1:4002;users=http://127.0.0.1:4003',
      },
    });
    const seen: string[][] = [];
    r.watch('orders', undefined, (list) => seen.push(list.map((i) => i.url)));
    expect(seen).toEqual([['http://127.0.0.1:4001', 'http://127.0.0.1:4002']]);
    expect(r.services().sort()).toEqual(['orders', 'users']);
  });

  it('rejects a malformed KOA_MESH_SERVICES entry naming it', () => {
    expect(() => new StaticRegistry({ env: { KOA_MESH_SERVICES: 'http://x:1' } })).toThrow(
      /KOA_MESH_SERVICES/,
    );
  });

  it('pushes set() to running clients', async () => {
    const a = track(await upstream('a'));
    const b = track(await upstream('b'));
    const registry = new StaticRegistry({ services: { orders: [a.url] } });
    const mw = discovery({ registry });
    mids.push(mw);
    expect(mw.client.pick('orders')?.url).toBe(a.url);
    registry.set('orders', [b.url]);
    expect(mw.client.pick('orders')?.url).toBe(b.url);
    expect(mw.client.instances('orders').map((i) => i.url)).toEqual([b.url]);
  });

  it('filters by tags and meta', () => {
    const registry = new StaticRegistry({
      services: {
        orders: [
          { url: 'http://127.0.0.1:4001', meta: { version: 'v1' } },
          { url: 'http://127.0.0.1:4002', meta: { version: 'v2' }, tags: ['canary'] },
        ],
      },
    });
    const mw = discovery({ registry });
    mids.push(mw);
    expect(mw.client.instances('orders', { meta: { version: 'v2' } }).map((i) => i.port)).toEqual([
      4002,
    ]);
    expect(mw.client.instances('orders', { tags: ['canary'] }).map((i) => i.port)).toEqual([4002]);
    expect(mw.client.pick('orders', { filter: { meta: { version: 'v1' } } })?.port).toBe(4001);
  });

  it('routes one key to one instance with consistent-hash', () => {
    const urls = [4001, 4002, 4003, 4004].map((p) => `http://127.0.0.1:${p}`);
    const mw = discovery({
      services: { carts: urls },
      balancers: { carts: 'consistent-hash' },
      env: false,
    });
    mids.push(mw);
    const first = mw.client.pick('carts', { hashKey: 'user-42' })!.id;
    for (let i = 0; i < 20; i++)
      expect(mw.client.pick('carts', { hashKey: 'user-42' })!.id).toBe(first);
  });
});

describe('lifecycle', () => {
  it('stop() is idempotent and later calls fail cleanly', async () => {
    const mw = discovery({ services: { orders: ['http://127.0.0.1:4001'] }, env: false });
    await mw.start();
    await Promise.all([mw.stop(), mw.stop()]);
    await mw.stop();
    expect(mw.client.pick('orders')).toBeUndefined();
    await expect(mw.client.fetch('orders', '/')).rejects.toMatchObject({ status: 503 });
  });

  it('reports health', async () => {
    const mw = discovery({
      services: { orders: ['http://127.0.0.1:4001'] },
      watch: ['orders'],
      env: false,
    });
    mids.push(mw);
    await mw.start();
    await expect(mw.healthCheck()).resolves.toMatchObject({ status: 'pass', observedValue: 1 });
  });
});
