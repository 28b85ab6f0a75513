// The middleware with an OpenTelemetry SDK recording into memory: one SERVER span per request,
// named by route, with the stable HTTP attributes, ended when the response really finishes.
import { PassThrough, Readable } from 'node:stream';
import { request as httpRequest } from 'node:http';
import { context, SpanKind, SpanStatusCode, trace, type TracerProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  ParentBasedSampler,
  AlwaysOnSampler,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import Router from '@koa/router';
import { startApp, waitFor, type RunningServer } from '@koa-mesh/testkit';
import Koa from 'koa';
import Koa2 from 'koa2';
import request from 'supertest';
import { Agent, fetch as undiciFetch, request as undiciRequest } from 'undici';
import {
  injectTraceHeaders,
  startClientSpan,
  traceContextOf,
  traceInterceptor,
  tracing,
  type TracingOptions,
} from '../src/index.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

const exporter = new InMemorySpanExporter();
const provider: TracerProvider = new BasicTracerProvider({
  sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(() => {
  context.disable();
});
beforeEach(() => exporter.reset());

function traced(options: TracingOptions = {}, KoaClass: typeof Koa = Koa): Koa {
  const app = new KoaClass();
  app.silent = true;
  app.use(tracing({ tracerProvider: provider, ...options }));
  return app;
}

/** Waits for the server span(s) to be exported and returns them. */
async function serverSpans(count = 1): Promise<ReadableSpan[]> {
  return waitFor(() => {
    const spans = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
    return spans.length >= count ? spans : undefined;
  });
}

describe('span naming', () => {
  it('names the span METHOD route with the @koa/router template', async () => {
    const app = traced();
    const router = new Router();
    router.get('/users/:id', (ctx) => {
      ctx.body = { id: ctx.params.id };
    });
    app.use(router.routes());
    await request(app.callback()).get('/users/42').expect(200);
    const [span] = await serverSpans();
    expect(span!.name).toBe('GET /users/:id');
    expect(span!.attributes['http.route']).toBe('/users/:id');
  });

  it('includes a router prefix', async () => {
    const app = traced();
    const router = new Router({ prefix: '/api' });
    router.post('/orders/:id', (ctx) => {
      ctx.status = 201;
    });
    app.use(router.routes());
    await request(app.callback()).post('/api/orders/7').expect(201);
    expect((await serverSpans())[0]!.name).toBe('POST /api/orders/:id');
  });

  it('includes the path of nested routers', async () => {
    const app = traced();
    const child = new Router();
    child.get('/items/:item', (ctx) => {
      ctx.body = 'ok';
    });
    const parent = new Router();
    parent.use('/v1/shops/:shop', child.routes());
    app.use(parent.routes());
    await request(app.callback()).get('/v1/shops/3/items/9').expect(200);
    expect((await serverSpans())[0]!.name).toBe('GET /v1/shops/:shop/items/:item');
  });

  it('names routes registered after the router was mounted', async () => {
    const app = traced();
    const router = new Router();
    app.use(router.routes());
    router.get('/late/:x', (ctx) => {
      ctx.body = 'late';
    });
    await request(app.callback()).get('/late/1').expect(200);
    expect((await serverSpans())[0]!.name).toBe('GET /late/:x');
  });

  it('names the route, not a router.use() pattern, when that middleware answers itself', async () => {
    const app = traced();
    const router = new Router({ prefix: '/api' });
    // An auth check mounted with router.use() that answers 401 without calling next().
    router.use(async (ctx, next) => {
      if (ctx.get('x-key') !== 'k') return void (ctx.status = 401);
      await next();
    });
    router.get('/users/:id', (ctx) => void (ctx.body = 'u'));
    app.use(router.routes());
    await request(app.callback()).get('/api/users/7').expect(401);
    await request(app.callback()).get('/api/users/7').set('x-key', 'k').expect(200);
    await request(app.callback()).get('/api/nothing/here').expect(404);
    const spans = await serverSpans();
    expect(spans.map((span) => [span.name, span.attributes['http.route']])).toEqual([
      ['GET /api/users/:id', '/api/users/:id'],
      ['GET /api/users/:id', '/api/users/:id'],
      ['GET', undefined],
    ]);
  });

  it('names a request a router.use() middleware answered by a route of its method, not a route of another method on the same path', async () => {
    const app = traced();
    const router = new Router({ prefix: '/api' });
    router.use(async (ctx, next) => {
      if (ctx.get('x-key') !== 'k') return void (ctx.status = 401);
      await next();
    });
    router.post('/items/:id', (ctx) => void (ctx.body = 'p'));
    // Registered later, matches the path of POST /api/items/special too, but only for GET.
    router.get('/items/special', (ctx) => void (ctx.body = 'g'));
    app.use(router.routes());
    await request(app.callback()).post('/api/items/special').expect(401);
    await request(app.callback()).post('/api/items/special').set('x-key', 'k').expect(200);
    await request(app.callback()).head('/api/items/special').expect(401);
    const spans = await serverSpans(3);
    expect(spans.map((span) => [span.name, span.attributes['http.route']])).toEqual([
      ['POST /api/items/:id', '/api/items/:id'],
      ['POST /api/items/:id', '/api/items/:id'],
      ['HEAD /api/items/special', '/api/items/special'],
    ]);
  });

  it('gives unmatched requests a fixed name, never the raw path', async () => {
    const app = traced();
    app.use(new Router().get('/known', (ctx) => void (ctx.body = 1)).routes());
    await request(app.callback()).get('/secret/token-abc').expect(404);
    const [span] = await serverSpans();
    expect(span!.name).toBe('GET');
    expect(span!.attributes['http.route']).toBeUndefined();
    expect(span!.attributes['http.response.status_code']).toBe(404);
  });

  it('uses a custom route function and names unknown methods HTTP', async () => {
    const app = traced({
      route: (ctx) => (ctx.path.startsWith('/files/') ? '/files/*' : undefined),
    });
    app.use((ctx) => void (ctx.body = 'x'));
    await request(app.callback()).get('/files/a/b').expect(200);
    expect((await serverSpans())[0]!.name).toBe('GET /files/*');
    exporter.reset();
    await request(app.callback()).purge('/files/a').expect(200);
    const [other] = await serverSpans();
    expect(other!.name).toBe('HTTP /files/*');
    expect(other!.attributes['http.request.method']).toBe('_OTHER');
    expect(other!.attributes['http.request.method_original']).toBe('PURGE');
  });
});

describe('attributes and ids', () => {
  it('sets the stable HTTP semantic-convention attributes', async () => {
    const app = traced();
    app.use(new Router().get('/a/:b', (ctx) => void (ctx.body = 'ok')).routes());
    const server = await startApp(app);
    try {
      const res = await fetch(`${server.url}/a/1?q=secret`, {
        headers: { 'user-agent': 'tester/1' },
      });
      expect(res.status).toBe(200);
      const [span] = await serverSpans();
      expect(span!.kind).toBe(SpanKind.SERVER);
      expect(span!.attributes).toMatchObject({
        'http.request.method': 'GET',
        'url.path': '/a/1',
        'url.scheme': 'http',
        'http.route': '/a/:b',
        'http.response.status_code': 200,
        'server.address': '127.0.0.1',
        'server.port': server.port,
        'client.address': '127.0.0.1',
        'user_agent.original': 'tester/1',
        'network.protocol.version': '1.1',
      });
      expect(JSON.stringify(span!.attributes)).not.toContain('secret');
      expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    } finally {
      await server.close();
    }
  });

  it('reads server.address, url.scheme and client.address from X-Forwarded-* only behind a trusted proxy', async () => {
    for (const proxy of [false, true, false]) {
      exporter.reset();
      const app = traced();
      app.proxy = proxy;
      app.use((ctx) => void (ctx.body = 'ok'));
      await request(app.callback())
        .get('/')
        .set('host', 'internal:3000')
        .set('x-forwarded-host', 'api.example.com')
        .set('x-forwarded-proto', 'https')
        .set('x-forwarded-for', '203.0.113.7, 10.0.0.1')
        .expect(200);
      const [span] = await serverSpans();
      expect(span!.attributes).toMatchObject(
        proxy
          ? {
              'server.address': 'api.example.com',
              'server.port': 443,
              'url.scheme': 'https',
              'client.address': '203.0.113.7',
            }
          : {
              'server.address': 'internal',
              'server.port': 3000,
              'url.scheme': 'http',
              'client.address': '127.0.0.1',
            },
      );
    }
  });

  it('puts the recorded span ids on ctx.state and continues the inbound trace', async () => {
    const app = traced();
    let state: Record<string, unknown> = {};
    app.use((ctx) => {
      state = { ...ctx.state };
      ctx.body = 'ok';
    });
    await request(app.callback())
      .get('/')
      .set('traceparent', `00-${TRACE}-${PARENT}-01`)
      .expect(200);
    const [span] = await serverSpans();
    expect(state.traceId).toBe(TRACE);
    expect(state.spanId).toBe(span!.spanContext().spanId);
    expect(state.sampled).toBe(true);
    expect(span!.parentSpanContext?.spanId).toBe(PARENT);
    expect(span!.parentSpanContext?.isRemote).toBe(true);
  });

  it('records ctx.state.version set downstream (koa-canary-router)', async () => {
    const app = traced();
    app.use((ctx) => {
      ctx.state.version = 'v2-canary';
      ctx.body = 'ok';
    });
    await request(app.callback()).get('/').expect(200);
    expect((await serverSpans())[0]!.attributes['koa_mesh.version']).toBe('v2-canary');
  });

  it('follows an unsampled parent: nothing recorded, ids still set', async () => {
    const app = traced();
    let state: Record<string, unknown> = {};
    app.use((ctx) => {
      state = { ...ctx.state };
      ctx.body = injectTraceHeaders({});
    });
    const res = await request(app.callback())
      .get('/')
      .set('traceparent', `00-${TRACE}-${PARENT}-00`)
      .expect(200);
    expect(state.sampled).toBe(false);
    expect(state.traceId).toBe(TRACE);
    expect(state.spanId).not.toBe(PARENT);
    expect(res.body.traceparent).toBe(`00-${TRACE}-${state.spanId}-00`);
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });

  it('restartAtEdge starts a new trace linked to the inbound one', async () => {
    const app = traced({ restartAtEdge: true });
    app.use((ctx) => void (ctx.body = 'ok'));
    await request(app.callback())
      .get('/')
      .set('traceparent', `00-${TRACE}-${PARENT}-01`)
      .expect(200);
    const [span] = await serverSpans();
    expect(span!.spanContext().traceId).not.toBe(TRACE);
    expect(span!.parentSpanContext).toBeUndefined();
    expect(span!.links.map((l) => l.context.spanId)).toEqual([PARENT]);
  });

  it('records nothing for ignored paths', async () => {
    const app = traced({ ignore: ['/health'] });
    app.use((ctx) => void (ctx.body = 'ok'));
    await request(app.callback()).get('/health').expect(200);
    await request(app.callback()).get('/other').expect(200);
    const spans = await serverSpans();
    expect(spans.map((s) => s.attributes['url.path'])).toEqual(['/other']);
  });
});

describe('errors', () => {
  it('a sampler that throws is reported and the request goes on, continuing the inbound trace', async () => {
    const broken = new BasicTracerProvider({
      sampler: {
        shouldSample: () => {
          throw new Error('sampler broke');
        },
        toString: () => 'BrokenSampler',
      },
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const app = traced({ tracerProvider: broken });
    const errors: Error[] = [];
    app.on('error', (err: Error) => errors.push(err));
    app.use((ctx) => {
      ctx.body = { traceId: ctx.state.traceId, out: injectTraceHeaders({}, { ctx }) };
    });
    const res = await request(app.callback())
      .get('/x')
      .set('traceparent', `00-${TRACE}-${PARENT}-01`)
      .expect(200);
    expect(res.body.traceId).toBe(TRACE);
    expect(res.body.out.traceparent).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
    expect(res.body.out.traceparent).not.toContain(PARENT);
    expect(errors.map((e) => e.message)).toEqual(['sampler broke']);
  });

  it('a span processor throwing as the span ends is reported, not an uncaught exception', async () => {
    // The span ends in the response's `close` listener: a throw there was uncaught (the process
    // exited on the first request), for plain and streamed bodies alike.
    let ended = 0;
    const broken = new BasicTracerProvider({
      spanProcessors: [
        {
          onStart: () => undefined,
          onEnd: () => {
            ended++;
            throw new Error('processor onEnd broke');
          },
          forceFlush: () => Promise.resolve(),
          shutdown: () => Promise.resolve(),
        },
      ],
    });
    const app = traced({ tracerProvider: broken });
    const errors: Error[] = [];
    app.on('error', (err: Error) => errors.push(err));
    app.use((ctx) => {
      ctx.body = ctx.path === '/stream' ? Readable.from(['a', 'b']) : 'ok';
    });
    const server = await startApp(app);
    const dispatcher = new Agent({ connections: 1 });
    try {
      const statuses: number[] = [];
      for (const path of ['/plain', '/stream', '/plain', '/stream']) {
        const res = await undiciRequest(`${server.url}${path}`, { dispatcher });
        await res.body.text();
        statuses.push(res.statusCode);
      }
      expect(statuses).toEqual([200, 200, 200, 200]);
      await waitFor(() => ended === 4);
      await waitFor(() => errors.length === 4);
      expect(errors.map((e) => e.message)).toEqual(Array(4).fill('processor onEnd broke'));
    } finally {
      await dispatcher.close();
      await server.close();
    }
  });

  it('records a thrown error as an exception with status ERROR', async () => {
    const app = traced();
    app.use(() => {
      throw Object.assign(new TypeError('db down'), { code: 'ERR_DB' });
    });
    await request(app.callback()).get('/').expect(500);
    const [span] = await serverSpans();
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'db down' });
    expect(span!.attributes['error.type']).toBe('ERR_DB');
    expect(span!.attributes['http.response.status_code']).toBe(500);
    expect(span!.events.map((e) => e.name)).toEqual(['exception']);
    expect(span!.events[0]!.attributes?.['exception.message']).toBe('db down');
  });

  it('records an error thrown at once by next() and still ends the span', async () => {
    const app = new Koa();
    app.silent = true;
    const mw = tracing({ tracerProvider: provider });
    app.use((ctx) =>
      mw(ctx, () => {
        throw Object.assign(new Error('sync'), { code: 'ERR_SYNC' });
      }),
    );
    const res = await request(app.callback()).get('/').set('x-request-id', 'r-1').expect(500);
    expect(res.headers['x-request-id']).toBe('r-1');
    const [span] = await serverSpans();
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'sync' });
    expect(span!.attributes['error.type']).toBe('ERR_SYNC');
    expect(span!.events.map((e) => e.name)).toEqual(['exception']);
  });

  it('has named the span by its route before middleware above it resumes', async () => {
    const app = new Koa();
    let nameAfter: string | undefined;
    app.use(async (ctx, next) => {
      await next();
      const otel = traceContextOf(ctx);
      nameAfter = (otel && (trace.getSpan(otel) as unknown as { name: string }))?.name;
    });
    app.use(tracing({ tracerProvider: provider }));
    const router = new Router();
    router.get('/users/:id', (ctx) => {
      ctx.body = 'ok';
    });
    app.use(router.routes());
    await request(app.callback()).get('/users/7').expect(200);
    expect(nameAfter).toBe('GET /users/:id');
  });

  it('marks a 5xx answered without a throw as ERROR with the status as error.type', async () => {
    const app = traced();
    app.use((ctx) => {
      ctx.status = 503;
    });
    await request(app.callback()).get('/').expect(503);
    const [span] = await serverSpans();
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes['error.type']).toBe('503');
  });

  it('records a thrown client error (4xx) without marking the server span as failed', async () => {
    const app = traced();
    app.use(() => {
      throw Object.assign(new Error('no such user'), { status: 404, expose: true });
    });
    await request(app.callback()).get('/').expect(404);
    const [span] = await serverSpans();
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    expect(span!.attributes['error.type']).toBeUndefined();
    expect(span!.events.map((e) => e.name)).toEqual(['exception']);
  });
});

describe('span lifetime', () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('one middleware mounted twice (a sub-app sharing it) starts one span and ends it', async () => {
    // The second pass overwrote the first's bookkeeping on the response: the outer span was
    // never ended (one open span per request) and the exported span's parent was never exported.
    let started = 0;
    let ended = 0;
    const counting = new BasicTracerProvider({
      spanProcessors: [
        {
          onStart: () => void started++,
          onEnd: () => void ended++,
          forceFlush: () => Promise.resolve(),
          shutdown: () => Promise.resolve(),
        },
        new SimpleSpanProcessor(exporter),
      ],
    });
    const shared = tracing({ tracerProvider: counting });
    const app = new Koa();
    app.silent = true;
    app.use(shared);
    app.use(shared);
    app.use((ctx) => {
      ctx.body = { spanId: ctx.state.spanId, requestId: ctx.state.requestId };
    });
    server = await startApp(app);
    const dispatcher = new Agent({ connections: 1 });
    try {
      const bodies: Array<{ spanId: string; requestId: string }> = [];
      for (let i = 0; i < 3; i++) {
        const res = await undiciRequest(`${server.url}/x`, { dispatcher });
        const body = (await res.body.json()) as { spanId: string; requestId: string };
        expect(res.headers['x-request-id']).toBe(body.requestId);
        bodies.push(body);
      }
      const spans = await serverSpans(3);
      expect(started).toBe(3);
      await waitFor(() => ended === 3);
      expect(spans.map((s) => s.parentSpanContext)).toEqual([undefined, undefined, undefined]);
      expect(spans.map((s) => s.spanContext().spanId)).toEqual(bodies.map((b) => b.spanId));
    } finally {
      await dispatcher.close();
    }
  });

  it('ends a streamed response span only when the stream has finished', async () => {
    const app = traced();
    const body = new PassThrough();
    app.use((ctx) => {
      ctx.type = 'text/plain';
      ctx.body = body;
    });
    server = await startApp(app);
    const received: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      httpRequest(`${server!.url}/stream`, (res) => {
        res.setEncoding('utf8');
        res.on('data', (c: string) => received.push(c));
        res.on('end', resolve);
      })
        .on('error', reject)
        .end();
    });
    body.write('first ');
    await waitFor(() => received.join('') === 'first ');
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    body.end('last');
    await done;
    const [span] = await serverSpans();
    expect(received.join('')).toBe('first last');
    expect(span!.attributes['http.response.status_code']).toBe(200);
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('ends the span as aborted when the client goes away mid-stream', async () => {
    const app = traced();
    const body = new PassThrough();
    app.use((ctx) => {
      ctx.body = body;
    });
    server = await startApp(app);
    const req = httpRequest(`${server.url}/stream`, (res) => {
      res.once('data', () => req.destroy());
    });
    req.on('error', () => undefined);
    req.end();
    body.write('chunk');
    const [span] = await serverSpans();
    expect(span!.attributes['error.type']).toBe('aborted');
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('ends the span after the handler when the client aborts before the response', async () => {
    const app = traced();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let closed = false;
    let started = false;
    app.use(async (ctx) => {
      ctx.res.on('close', () => (closed = true));
      started = true;
      await gate;
      ctx.body = 'late';
    });
    server = await startApp(app);
    const req = httpRequest(`${server.url}/slow`);
    req.on('error', () => undefined);
    req.end();
    await waitFor(() => started);
    req.destroy();
    await waitFor(() => closed);
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    release();
    const [span] = await serverSpans();
    expect(span!.attributes['error.type']).toBe('aborted');
    expect(span!.attributes['http.response.status_code']).toBeUndefined();
  });
});

describe('context for downstream code', () => {
  it('makes the server span the parent of spans made by handlers', async () => {
    const app = traced();
    app.use(async (ctx) => {
      const child = provider.getTracer('test').startSpan('db.query');
      await Promise.resolve();
      child.end();
      ctx.body = 'ok';
    });
    await request(app.callback()).get('/').expect(200);
    const [server] = await serverSpans();
    const child = exporter.getFinishedSpans().find((s) => s.name === 'db.query');
    expect(child!.parentSpanContext?.spanId).toBe(server!.spanContext().spanId);
    expect(child!.spanContext().traceId).toBe(server!.spanContext().traceId);
  });

  it('injectTraceHeaders and startClientSpan with { ctx } take a span the handler started as parent', async () => {
    const app = traced();
    app.use(async (ctx) => {
      const tracer = provider.getTracer('test');
      const child = tracer.startSpan('batch');
      await context.with(trace.setSpan(context.active(), child), async () => {
        const call = startClientSpan('GET', { ctx, tracerProvider: provider });
        call.span.end();
        ctx.body = { out: injectTraceHeaders({}, { ctx }), childId: child.spanContext().spanId };
      });
      child.end();
    });
    const res = await request(app.callback()).get('/').expect(200);
    const body = res.body as { out: { traceparent: string }; childId: string };
    expect(body.out.traceparent.split('-')[2]).toBe(body.childId);
    await serverSpans();
    const client = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT);
    expect(client!.parentSpanContext?.spanId).toBe(body.childId);
  });

  it('carries parent and child across an outbound call to a second server', async () => {
    const downstream = traced();
    downstream.use((ctx) => void (ctx.body = { traceId: ctx.state.traceId }));
    const b = await startApp(downstream);
    const dispatcher = new Agent().compose(traceInterceptor());
    const upstream = traced();
    upstream.use(async (ctx) => {
      const res = await undiciRequest(`${b.url}/inner`, { dispatcher });
      ctx.body = await res.body.json();
    });
    const a = await startApp(upstream);
    try {
      const res = await fetch(`${a.url}/outer`);
      expect(res.status).toBe(200);
      const spans = await serverSpans(2);
      const outer = spans.find((s) => s.attributes['url.path'] === '/outer')!;
      const inner = spans.find((s) => s.attributes['url.path'] === '/inner')!;
      expect(inner.spanContext().traceId).toBe(outer.spanContext().traceId);
      expect(inner.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
      expect(inner.parentSpanContext?.isRemote).toBe(true);
      expect(await res.json()).toEqual({ traceId: outer.spanContext().traceId });
    } finally {
      await a.close();
      await b.close();
      await dispatcher.close();
    }
  });

  it('traceInterceptor also serves undici fetch, replacing stale trace headers', async () => {
    const downstream = traced();
    downstream.use(
      (ctx) => void (ctx.body = { traceparent: ctx.get('traceparent'), other: ctx.get('x-other') }),
    );
    const b = await startApp(downstream);
    const dispatcher = new Agent().compose(traceInterceptor());
    const upstream = traced();
    upstream.use(async (ctx) => {
      const res = await undiciFetch(`${b.url}/inner`, {
        dispatcher,
        headers: { traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`, 'x-other': 'kept' },
      });
      ctx.body = await res.json();
    });
    try {
      const res = await request(upstream.callback()).get('/outer').expect(200);
      const outer = (await serverSpans(2)).find((s) => s.attributes['url.path'] === '/outer')!;
      const { traceId, spanId } = outer.spanContext();
      expect(res.body).toEqual({ traceparent: `00-${traceId}-${spanId}-01`, other: 'kept' });
    } finally {
      await b.close();
      await dispatcher.close();
    }
  });

  it('traceInterceptor drops a forwarded tracestate the request context does not carry (restartAtEdge)', async () => {
    const downstream = traced();
    downstream.use(
      (ctx) =>
        void (ctx.body = {
          traceparent: ctx.get('traceparent'),
          tracestate: ctx.get('tracestate'),
        }),
    );
    const b = await startApp(downstream);
    const dispatcher = new Agent().compose(traceInterceptor());
    const upstream = traced({ restartAtEdge: true });
    upstream.use(async (ctx) => {
      const res = await undiciRequest(`${b.url}/inner`, {
        dispatcher,
        headers: { tracestate: ctx.get('tracestate') },
      });
      ctx.body = await res.body.json();
    });
    try {
      const res = await request(upstream.callback())
        .get('/outer')
        .set({ traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'evil=1' })
        .expect(200);
      const outer = (await serverSpans(2)).find((s) => s.attributes['url.path'] === '/outer')!;
      const { traceId, spanId } = outer.spanContext();
      expect(traceId).not.toBe(TRACE);
      expect(res.body).toEqual({ traceparent: `00-${traceId}-${spanId}-01`, tracestate: '' });
    } finally {
      await b.close();
      await dispatcher.close();
    }
  });

  it('startClientSpan puts a CLIENT span between the two servers', async () => {
    const downstream = traced();
    downstream.use((ctx) => void (ctx.body = 'ok'));
    const b = await startApp(downstream);
    const upstream = traced();
    upstream.use(async (ctx) => {
      const call = startClientSpan('GET', { ctx, tracerProvider: provider });
      try {
        const res = await fetch(`${b.url}/inner`, {
          headers: injectTraceHeaders({}, { context: call.context }),
        });
        ctx.body = await res.text();
      } finally {
        call.span.end();
      }
    });
    try {
      await request(upstream.callback()).get('/outer').expect(200);
      const spans = await serverSpans(2);
      const outer = spans.find((s) => s.attributes['url.path'] === '/outer')!;
      const inner = spans.find((s) => s.attributes['url.path'] === '/inner')!;
      const client = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT)!;
      expect(client.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
      expect(inner.parentSpanContext?.spanId).toBe(client.spanContext().spanId);
    } finally {
      await b.close();
    }
  });
});

describe('Koa 2', () => {
  it('records the same span on Koa 2', async () => {
    const app = traced({}, Koa2 as unknown as typeof Koa);
    app.use(new Router().get('/k2/:id', (ctx) => void (ctx.body = 'ok')).routes());
    await request(app.callback()).get('/k2/1').expect(200);
    const [span] = await serverSpans();
    expect(span!.name).toBe('GET /k2/:id');
    expect(span!.attributes['http.response.status_code']).toBe(200);
  });
});

// The api's global tracer provider stays unset in this file: everything goes through the option.
it('leaves the global tracer provider alone', () => {
  expect(trace.getTracerProvider()).not.toBe(provider);
});
