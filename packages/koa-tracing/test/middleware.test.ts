// The middleware without any OpenTelemetry SDK: context continued and propagated, ids on
// ctx.state, X-Request-Id, trust options, and bad input never failing a request.
import { propagation } from '@opentelemetry/api';
import Koa from 'koa';
import Koa2 from 'koa2';
import request from 'supertest';
import {
  injectTraceHeaders,
  traceContextOf,
  tracing,
  type PropagationFormat,
  type TracingOptions,
  type TracingState,
} from '../src/index.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE}-${PARENT}-01`;
const B3_TRACE = '80f198ee56343ba864fe8b2a57d3eff7';
const B3_SPAN = 'e457b5a2e4d86bd1';

interface Seen {
  state: TracingState;
  outbound: Record<string, string>;
  baggage: Record<string, string>;
}

/** An app that reports what the handler saw: ctx.state, outbound headers, baggage. */
function app(options?: TracingOptions, KoaClass: typeof Koa = Koa): Koa {
  const a = new KoaClass();
  a.use(tracing(options));
  a.use(async function report(ctx) {
    if (ctx.path === '/boom') {
      throw Object.assign(new Error('boom'), { status: 500 });
    }
    const otel = traceContextOf(ctx);
    const bag = otel && propagation.getBaggage(otel);
    const baggage: Record<string, string> = {};
    for (const [k, v] of bag?.getAllEntries() ?? []) baggage[k] = v.value;
    const s = ctx.state as TracingState;
    ctx.body = {
      state: {
        requestId: s.requestId,
        traceId: s.traceId,
        spanId: s.spanId,
        sampled: s.sampled,
      },
      outbound: injectTraceHeaders(
        {},
        typeof ctx.query.formats === 'string'
          ? { ctx, propagators: ctx.query.formats.split(',') as PropagationFormat[] }
          : { ctx },
      ),
      baggage,
    } satisfies Seen;
  });
  return a;
}

async function seen(a: Koa, headers: Record<string, string> = {}, path = '/x'): Promise<Seen> {
  const res = await request(a.callback()).get(path).set(headers).expect(200);
  return res.body as Seen;
}

describe('ids on ctx.state', () => {
  it('starts a trace with its own ids when the request carries none', async () => {
    const { state } = await seen(app());
    expect(state.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(state.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(state.sampled).toBe(false);
  });

  it('continues the inbound trace with a span id of its own', async () => {
    const { state } = await seen(app(), { traceparent: TRACEPARENT });
    expect(state.traceId).toBe(TRACE);
    expect(state.spanId).not.toBe(PARENT);
    expect(state.sampled).toBe(true);
  });

  it('starts a new trace for an invalid traceparent, never an error', async () => {
    const { state } = await seen(app(), { traceparent: `00-${TRACE.toUpperCase()}-${PARENT}-01` });
    expect(state.traceId).not.toBe(TRACE);
    expect(state.traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('gives two requests different ids', async () => {
    const a = app();
    const [one, two] = await Promise.all([seen(a), seen(a)]);
    expect(one!.state.traceId).not.toBe(two!.state.traceId);
    expect(one!.state.requestId).not.toBe(two!.state.requestId);
  });
});

describe('outbound propagation without an SDK', () => {
  it('writes traceparent with the request span as parent', async () => {
    const { state, outbound } = await seen(app(), { traceparent: TRACEPARENT });
    expect(outbound.traceparent).toBe(`00-${TRACE}-${state.spanId}-01`);
  });

  it('propagates a valid tracestate and drops an invalid one', async () => {
    const ok = await seen(app(), {
      traceparent: TRACEPARENT,
      tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
    });
    expect(ok.outbound.tracestate).toBe('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
    const bad = await seen(app(), { traceparent: TRACEPARENT, tracestate: 'congo=1,congo=2' });
    expect(bad.outbound.tracestate).toBeUndefined();
    expect(bad.state.traceId).toBe(TRACE);
  });

  it('reads Jaeger uberctx-* baggage beside uber-trace-id, W3C baggage winning, and writes it back', async () => {
    const jaeger = app({ propagators: ['tracecontext', 'jaeger'] });
    const uber = `${B3_TRACE}:${B3_SPAN}:0:1`;
    const got = await seen(
      jaeger,
      {
        'uber-trace-id': uber,
        'uberctx-user': 'alice%20b',
        'uberctx-tenant': 't1',
        baggage: 'user=bob',
      },
      '/x?formats=jaeger',
    );
    expect(got.baggage).toEqual({ user: 'bob', tenant: 't1' });
    expect(got.outbound).toMatchObject({
      'uber-trace-id': `${B3_TRACE}:${got.state.spanId}:0:1`,
      'uberctx-user': 'bob',
      'uberctx-tenant': 't1',
    });
    // Without uber-trace-id (not a Jaeger caller), or without the jaeger format, uberctx-* is
    // not read; the allowlist applies to it as to W3C baggage.
    expect((await seen(jaeger, { 'uberctx-user': 'alice' })).baggage).toEqual({});
    const w3cOnly = await seen(app(), { 'uber-trace-id': uber, 'uberctx-user': 'alice' });
    expect(w3cOnly.baggage).toEqual({});
    const allowed = app({ propagators: ['jaeger'], baggage: ['tenant'] });
    const some = await seen(allowed, {
      'uber-trace-id': uber,
      'uberctx-user': 'a',
      'uberctx-tenant': 't',
    });
    expect(some.baggage).toEqual({ tenant: 't' });
    // An undecodable value is skipped on its own; the request still answers.
    const bad = await seen(jaeger, {
      'uber-trace-id': uber,
      'uberctx-a': '%E0%A4%A',
      'uberctx-b': 'ok',
    });
    expect(bad.baggage).toEqual({ b: 'ok' });
  });

  it('propagates baggage, and only allowlisted keys when configured', async () => {
    const all = await seen(app(), { baggage: 'tenant=t1,user=u%201' });
    expect(all.baggage).toEqual({ tenant: 't1', user: 'u 1' });
    expect(all.outbound.baggage).toBe('tenant=t1,user=u%201');
    const some = await seen(app({ baggage: ['tenant'] }), { baggage: 'tenant=t1,user=u1' });
    expect(some.baggage).toEqual({ tenant: 't1' });
    const none = await seen(app({ baggage: false }), { baggage: 'tenant=t1' });
    expect(none.baggage).toEqual({});
    expect(none.outbound.baggage).toBeUndefined();
  });

  it('writes B3 single, B3 multi and Jaeger headers on request', async () => {
    const { state, outbound } = await seen(
      app(),
      { traceparent: TRACEPARENT },
      '/x?formats=b3,b3multi,jaeger',
    );
    expect(outbound).toEqual({
      b3: `${TRACE}-${state.spanId}-1`,
      'x-b3-traceid': TRACE,
      'x-b3-spanid': state.spanId,
      'x-b3-sampled': '1',
      'uber-trace-id': `${TRACE}:${state.spanId}:0:1`,
    });
  });

  it('writes nothing outside a traced request', () => {
    expect(injectTraceHeaders({ accept: 'a' })).toEqual({ accept: 'a' });
  });

  it('replaces a header of another case in a plain object instead of adding a second one', async () => {
    const a = new Koa();
    a.use(tracing());
    a.use((ctx) => {
      ctx.body = injectTraceHeaders(
        { Traceparent: '00-11111111111111111111111111111111-2222222222222222-01', Accept: 'a' },
        { ctx },
      );
    });
    const res = await request(a.callback()).get('/').set('traceparent', TRACEPARENT).expect(200);
    const out = res.body as Record<string, string>;
    expect(Object.keys(out).sort()).toEqual(['Accept', 'traceparent']);
    expect(out.traceparent).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
  });

  it('writes into a Headers object', async () => {
    const { state } = await seen(app(), { traceparent: TRACEPARENT });
    const headers = new Headers();
    const sc = { traceId: TRACE, spanId: state.spanId!, traceFlags: 1 };
    const { trace, ROOT_CONTEXT } = await import('@opentelemetry/api');
    injectTraceHeaders(headers, { context: trace.setSpanContext(ROOT_CONTEXT, sc) });
    expect(headers.get('traceparent')).toBe(`00-${TRACE}-${state.spanId}-01`);
  });
});

describe('formats and precedence', () => {
  const multi = app({ propagators: ['tracecontext', 'b3', 'jaeger'] });

  it('reads B3 single when listed', async () => {
    const { state } = await seen(multi, { b3: `${B3_TRACE}-${B3_SPAN}-1` });
    expect(state.traceId).toBe(B3_TRACE);
    expect(state.sampled).toBe(true);
  });

  it('reads B3 multi headers when listed', async () => {
    const { state } = await seen(multi, {
      'X-B3-TraceId': B3_TRACE,
      'X-B3-SpanId': B3_SPAN,
      'X-B3-Sampled': '0',
    });
    expect(state.traceId).toBe(B3_TRACE);
    expect(state.sampled).toBe(false);
  });

  it('reads Jaeger uber-trace-id when listed', async () => {
    const { state } = await seen(multi, { 'uber-trace-id': `${B3_TRACE}:${B3_SPAN}:0:1` });
    expect(state.traceId).toBe(B3_TRACE);
  });

  it('prefers the first listed format that is valid', async () => {
    const both = { traceparent: TRACEPARENT, b3: `${B3_TRACE}-${B3_SPAN}-1` };
    expect((await seen(multi, both)).state.traceId).toBe(TRACE);
    const b3First = app({ propagators: ['b3', 'tracecontext'] });
    expect((await seen(b3First, both)).state.traceId).toBe(B3_TRACE);
  });

  it('falls through to the next format when the first is invalid', async () => {
    const { state } = await seen(multi, {
      traceparent: `00-${'0'.repeat(32)}-${PARENT}-01`,
      b3: `${B3_TRACE}-${B3_SPAN}-1`,
    });
    expect(state.traceId).toBe(B3_TRACE);
  });

  it('ignores formats that are not listed', async () => {
    const { state } = await seen(app(), { b3: `${B3_TRACE}-${B3_SPAN}-1` });
    expect(state.traceId).not.toBe(B3_TRACE);
  });
});

describe('X-Request-Id', () => {
  it('accepts a valid inbound id and echoes it', async () => {
    const res = await request(app().callback())
      .get('/x')
      .set('x-request-id', 'abc-123_Z.9:/+=@')
      .expect(200);
    expect(res.headers['x-request-id']).toBe('abc-123_Z.9:/+=@');
    expect((res.body as Seen).state.requestId).toBe('abc-123_Z.9:/+=@');
  });

  it('replaces an invalid inbound id (unsafe characters, too long, empty) with a generated one', async () => {
    for (const bad of ['a b', 'x'.repeat(129), '<script>', 'a"b', '']) {
      const res = await request(app().callback()).get('/x').set('x-request-id', bad).expect(200);
      expect(res.headers['x-request-id']).not.toBe(bad);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('generates a version 4 UUID per request by default', async () => {
    const a = app();
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const res = await request(a.callback()).get('/x').expect(200);
      const id = res.headers['x-request-id'] as string;
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect((res.body as Seen).state.requestId).toBe(id);
      ids.add(id);
    }
    expect(ids.size).toBe(3);
  });

  it('generates an id with the given generator and header name', async () => {
    const a = app({ requestIdHeader: 'X-Correlation-Id', generateRequestId: () => 'gen-1' });
    const res = await request(a.callback()).get('/x').expect(200);
    expect(res.headers['x-correlation-id']).toBe('gen-1');
    expect(res.headers['x-request-id']).toBeUndefined();
  });

  it('neither reads nor echoes a header when requestIdHeader is false', async () => {
    const res = await request(app({ requestIdHeader: false }).callback())
      .get('/x')
      .set('x-request-id', 'given')
      .expect(200);
    expect(res.headers['x-request-id']).toBeUndefined();
    expect((res.body as Seen).state.requestId).not.toBe('given');
  });

  it('keeps the header on an error response', async () => {
    const a = app();
    a.silent = true;
    const res = await request(a.callback()).get('/boom').set('x-request-id', 'req-7').expect(500);
    expect(res.headers['x-request-id']).toBe('req-7');
  });

  it('keeps the header when next() throws at once instead of rejecting', async () => {
    const a = new Koa();
    a.silent = true;
    const mw = tracing();
    a.use((ctx) =>
      mw(ctx, () => {
        throw Object.assign(new Error('sync'), { status: 503, expose: true });
      }),
    );
    const res = await request(a.callback()).get('/').set('x-request-id', 'req-8').expect(503);
    expect(res.headers['x-request-id']).toBe('req-8');
    expect(res.text).toBe('sync');
  });

  it('has the header on err.headers before an upstream error handler sees the error', async () => {
    const a = new Koa();
    let seenHeaders: unknown;
    a.use(async (ctx, next) => {
      try {
        await next();
      } catch (err) {
        seenHeaders = (err as { headers?: unknown }).headers;
        ctx.status = 502;
      }
    });
    a.use(tracing({ ignore: ['/ignored'] }));
    a.use(() => {
      throw new Error('downstream');
    });
    await request(a.callback()).get('/x').set('x-request-id', 'req-9').expect(502);
    expect(seenHeaders).toEqual({ 'x-request-id': 'req-9' });
    seenHeaders = undefined;
    await request(a.callback()).get('/ignored').set('x-request-id', 'req-10').expect(502);
    expect(seenHeaders).toEqual({ 'x-request-id': 'req-10' });
  });

  it('falls back to a UUID when the generator returns an id unfit for a header, and reports it', async () => {
    const a = app({ generateRequestId: () => 'bad\nid' });
    const errors: unknown[] = [];
    a.on('error', (err) => errors.push(err));
    const res = await request(a.callback()).get('/x').expect(200);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect((res.body as Seen).state.requestId).toBe(res.headers['x-request-id']);
    expect((errors[0] as Error).message).toMatch(/generateRequestId returned "bad\\nid"/);
  });

  it('falls back to a UUID when the generator throws, and reports the error', async () => {
    const a = app({
      generateRequestId: () => {
        throw new Error('gen broke');
      },
    });
    const errors: unknown[] = [];
    a.on('error', (err) => errors.push(err));
    const res = await request(a.callback()).get('/x').expect(200);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect((errors[0] as Error).message).toBe('gen broke');
  });
});

describe('Server-Timing', () => {
  it('adds traceparent to Server-Timing when enabled', async () => {
    const res = await request(app({ serverTiming: true }).callback())
      .get('/x')
      .set('traceparent', TRACEPARENT)
      .expect(200);
    const { state } = res.body as Seen;
    expect(res.headers['server-timing']).toBe(`traceparent;desc="00-${TRACE}-${state.spanId}-01"`);
  });

  it('is off by default', async () => {
    const res = await request(app().callback()).get('/x').expect(200);
    expect(res.headers['server-timing']).toBeUndefined();
  });
});

describe('trust and ignore options', () => {
  it('restartAtEdge starts a new trace and drops the inbound tracestate', async () => {
    const { state, outbound } = await seen(app({ restartAtEdge: true }), {
      traceparent: TRACEPARENT,
      tracestate: 'vendor=1',
    });
    expect(state.traceId).not.toBe(TRACE);
    expect(outbound.tracestate).toBeUndefined();
  });

  it('restartAtEdge: injecting over forwarded inbound headers drops their tracestate', async () => {
    const a = new Koa();
    a.use(tracing({ restartAtEdge: true }));
    a.use((ctx) => {
      // A proxy-like handler forwarding the client's headers with this hop's context on top.
      const forwarded = injectTraceHeaders({ ...ctx.headers } as Record<string, unknown>, { ctx });
      const headers = new Headers({ tracestate: ctx.get('tracestate') });
      injectTraceHeaders(headers, { ctx });
      ctx.body = { forwarded, fromHeaders: headers.get('tracestate') };
    });
    const res = await request(a.callback())
      .get('/')
      .set({ traceparent: TRACEPARENT, tracestate: 'evil=1' })
      .expect(200);
    const body = res.body as { forwarded: Record<string, unknown>; fromHeaders: string | null };
    expect(body.forwarded.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-02$/);
    expect(body.forwarded.traceparent).not.toContain(TRACE);
    // The untrusted tracestate belongs to the caller's traceparent: it must not ride on ours.
    expect(body.forwarded).not.toHaveProperty('tracestate');
    expect(body.fromHeaders).toBeNull();
  });

  it('restartAtEdge as a predicate decides per request', async () => {
    const a = app({ restartAtEdge: (ctx) => ctx.get('x-internal') !== 'yes' });
    expect((await seen(a, { traceparent: TRACEPARENT })).state.traceId).not.toBe(TRACE);
    expect((await seen(a, { traceparent: TRACEPARENT, 'x-internal': 'yes' })).state.traceId).toBe(
      TRACE,
    );
  });

  it('ignored paths get a request id but no trace', async () => {
    const a = app({ ignore: ['/health', /^\/metrics/] });
    for (const path of ['/health', '/metrics/x']) {
      const res = await request(a.callback()).get(path).set('traceparent', TRACEPARENT).expect(200);
      const { state, outbound } = res.body as Seen;
      expect(state.requestId).toBe(res.headers['x-request-id']);
      expect(state.traceId).toBeUndefined();
      expect(outbound.traceparent).toBeUndefined();
    }
    expect((await seen(a, {}, '/other')).state.traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('a throwing ignore predicate is reported and the request is traced', async () => {
    const a = app({
      ignore: () => {
        throw new Error('predicate broke');
      },
    });
    const errors: Error[] = [];
    a.on('error', (err: Error) => errors.push(err));
    expect((await seen(a)).state.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(errors.map((e) => e.message)).toEqual(['predicate broke']);
  });

  it('a throwing baggage predicate is reported and the request goes on without baggage', async () => {
    const allow = (key: string): boolean => {
      if (key === 'tenant') return true;
      throw new Error('allowlist broke');
    };
    for (const propagators of [['tracecontext'], ['jaeger']] as PropagationFormat[][]) {
      const a = app({ baggage: allow, propagators });
      const errors: Error[] = [];
      a.on('error', (err: Error) => errors.push(err));
      const { state, baggage, outbound } = await seen(a, {
        'uber-trace-id': `${TRACE}:${PARENT}:0:1`,
        'uberctx-user': 'u2',
        baggage: 'tenant=t1,user=u1',
      });
      expect(state.traceId).toMatch(/^[0-9a-f]{32}$/);
      // Fails closed: a broken allowlist lets nothing of the caller's baggage through.
      expect(baggage).toEqual({});
      expect(outbound.baggage).toBeUndefined();
      expect(errors.map((e) => e.message)).toEqual(['allowlist broke']);
    }
  });
});

describe('bad input', () => {
  it('never turns malformed trace headers into an error', async () => {
    const a = app({ propagators: ['tracecontext', 'b3', 'jaeger'] });
    const garbage = {
      traceparent: 'x'.repeat(600),
      tracestate: '=,=,'.repeat(2300),
      baggage: '%%%;;;,,,'.repeat(300),
      b3: '-'.repeat(300),
      'uber-trace-id': ':::::',
    };
    const { state } = await seen(a, garbage);
    expect(state.traceId).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('Koa 2', () => {
  it('works the same on Koa 2', async () => {
    const a = app({ serverTiming: true }, Koa2 as unknown as typeof Koa);
    const res = await request(a.callback()).get('/x').set('traceparent', TRACEPARENT).expect(200);
    const { state, outbound } = res.body as Seen;
    expect(state.traceId).toBe(TRACE);
    expect(outbound.traceparent).toBe(`00-${TRACE}-${state.spanId}-01`);
    expect(res.headers['x-request-id']).toBe(state.requestId);
  });
});
