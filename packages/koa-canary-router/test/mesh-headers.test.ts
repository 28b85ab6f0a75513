import { AsyncLocalStorage } from 'node:async_hooks';
import * as api from '@opentelemetry/api';
import type Koa from 'koa';
import { startApp } from '@koa-mesh/testkit';
import { canaryRouter, type CanaryRouterOptions } from '../src/index.js';
import { appWith, send, upstream } from './helpers.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  api.propagation.disable();
  while (open.length) await open.pop()!.close();
});

/** Where @koa-mesh/tracing leaves the request's OpenTelemetry context on the ctx. */
const TRACING_CONTEXT = Symbol.for('@koa-mesh/tracing.context');

const CLIENT_TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const HOP = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' };
const HOP_TP = `00-${HOP.traceId}-${HOP.spanId}-01`;

/**
 * A W3C trace-context propagator in miniature (like @koa-mesh/tracing's MeshPropagator with
 * `tracecontext` only): writes the context's span as `traceparent`, nothing for an empty context.
 */
const traceparentPropagator: api.TextMapPropagator = {
  inject(context, carrier, setter) {
    const sc = api.trace.getSpanContext(context);
    if (sc === undefined || !api.isSpanContextValid(sc)) return;
    setter.set(carrier, 'traceparent', `00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags}`);
  },
  extract: (context) => context,
  fields: () => ['traceparent'],
};

/**
 * What @koa-mesh/tracing does without an SDK: this hop's ids in a context left on the ctx under
 * its registry symbol, and `ctx.state.requestId`; no context manager, so context.active() is empty.
 */
const tracingLike: Koa.Middleware = (ctx, next) => {
  const sc: api.SpanContext = { ...HOP, traceFlags: api.TraceFlags.SAMPLED };
  (ctx as unknown as Record<symbol, unknown>)[TRACING_CONTEXT] = api.trace.setSpanContext(
    api.ROOT_CONTEXT,
    sc,
  );
  return next();
};

async function gateway(
  target: string,
  before: Koa.Middleware[] = [],
  rest: Partial<CanaryRouterOptions> = {},
) {
  const router = canaryRouter({
    arms: { stable: { target, version: 'v1' } },
    stickiness: { cookie: false },
    ...rest,
  });
  const app = appWith(...before, router);
  const server = await startApp(app);
  open.push(server, router);
  return { router, app, url: server.url };
}

function values(raw: string[], name: string): string[] {
  return raw.filter((_, i) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === name);
}

/**
 * A context manager on AsyncLocalStorage, as an SDK registers (the packages here do not depend on
 * @opentelemetry/context-async-hooks): enough for `context.with` to reach the router.
 */
function alsContextManager(): api.ContextManager {
  const store = new AsyncLocalStorage<api.Context>();
  const manager: api.ContextManager = {
    active: () => store.getStore() ?? api.ROOT_CONTEXT,
    with: (context, fn, thisArg, ...args) => store.run(context, () => fn.apply(thisArg, args)),
    bind: (_context, target) => target,
    enable: () => manager,
    disable: () => manager,
  };
  return manager;
}

describe('trace context with a context manager', () => {
  it('makes a span the app started around the router the parent of the upstream call', async () => {
    api.propagation.setGlobalPropagator(traceparentPropagator);
    api.context.setGlobalContextManager(alsContextManager());
    try {
      const up = await upstream('up');
      open.push(up);
      const user = { traceId: HOP.traceId, spanId: '1111111111111111' };
      const userSpan: Koa.Middleware = (_ctx, next) =>
        api.context.with(
          api.trace.setSpanContext(api.context.active(), {
            ...user,
            traceFlags: api.TraceFlags.SAMPLED,
          }),
          next,
        );
      const gw = await gateway(up.url, [tracingLike, userSpan]);
      await send(`${gw.url}/`);
      expect(values(up.seen[0]!.rawHeaders, 'traceparent')).toEqual([
        `00-${user.traceId}-${user.spanId}-01`,
      ]);
    } finally {
      api.context.disable();
    }
  });
});

describe('trace context without an SDK', () => {
  it("injects this hop's context that @koa-mesh/tracing left on the ctx, not the client's stale traceparent", async () => {
    api.propagation.setGlobalPropagator(traceparentPropagator);
    const up = await upstream('up');
    open.push(up);
    const gw = await gateway(up.url, [tracingLike]);
    await send(`${gw.url}/`, { headers: { traceparent: CLIENT_TP } });
    await send(`${gw.url}/`);
    expect(values(up.seen[0]!.rawHeaders, 'traceparent')).toEqual([HOP_TP]);
    expect(values(up.seen[1]!.rawHeaders, 'traceparent')).toEqual([HOP_TP]);
  });
});

/** A client's headers of every trace format, from a trace other than this hop's. */
const FOREIGN_TRACE_HEADERS = {
  traceparent: CLIENT_TP,
  tracestate: 'clientvendor=forged-state',
  baggage: 'userid=alice,secret=hunter2',
  b3: '11111111111111111111111111111111-2222222222222222-1',
  'x-b3-traceid': '11111111111111111111111111111111',
  'x-b3-spanid': '2222222222222222',
  'x-b3-parentspanid': '3333333333333333',
  'x-b3-sampled': '1',
  'x-b3-flags': '1',
  'uber-trace-id': '11111111111111111111111111111111:2222222222222222:0:1',
  'uberctx-user': 'alice',
};

describe('inbound trace headers', () => {
  it("drops the client's tracestate, baggage, b3, x-b3-* and uber headers when a context is injected, sending only the propagator's", async () => {
    api.propagation.setGlobalPropagator(traceparentPropagator);
    const up = await upstream('up');
    open.push(up);
    const gw = await gateway(up.url, [tracingLike]);
    await send(`${gw.url}/`, { headers: { ...FOREIGN_TRACE_HEADERS, 'x-custom': 'kept' } });
    const seen = up.seen[0]!;
    expect(values(seen.rawHeaders, 'traceparent')).toEqual([HOP_TP]);
    for (const name of Object.keys(FOREIGN_TRACE_HEADERS)) {
      if (name !== 'traceparent') expect([name, seen.headers[name]]).toEqual([name, undefined]);
    }
    expect(seen.headers['x-custom']).toBe('kept');
  });

  it('passes every trace header through untouched when no propagator is registered', async () => {
    const up = await upstream('up');
    open.push(up);
    const gw = await gateway(up.url, [tracingLike]);
    await send(`${gw.url}/`, { headers: FOREIGN_TRACE_HEADERS });
    const seen = up.seen[0]!;
    for (const [name, value] of Object.entries(FOREIGN_TRACE_HEADERS)) {
      expect([name, seen.headers[name]]).toEqual([name, value]);
    }
  });
});

describe('X-Request-Id', () => {
  /** What @koa-mesh/tracing does: the request id on ctx.state, echoed on the response. */
  const requestIdLike =
    (id: string): Koa.Middleware =>
    (ctx, next) => {
      ctx.state.requestId = id;
      ctx.set('X-Request-Id', id);
      return next();
    };

  it("sends the gateway's ctx.state.requestId upstream, replacing the client's, and keeps the gateway's echo over the upstream's", async () => {
    const up = await upstream('up', (_req, res) => {
      res.setHeader('x-request-id', 'upstream-own-id');
      res.end('ok');
    });
    open.push(up);
    const gw = await gateway(up.url, [requestIdLike('gateway-id')]);
    const res = await send(`${gw.url}/`, { headers: { 'x-request-id': 'client-copy' } });
    expect(values(up.seen[0]!.rawHeaders, 'x-request-id')).toEqual(['gateway-id']);
    expect(values(res.rawHeaders, 'x-request-id')).toEqual(['gateway-id']);
  });

  it("passes the client's X-Request-Id up and the upstream's down when there is no ctx.state.requestId", async () => {
    const up = await upstream('up', (_req, res) => {
      res.setHeader('x-request-id', 'upstream-own-id');
      res.end('ok');
    });
    open.push(up);
    const gw = await gateway(up.url);
    const res = await send(`${gw.url}/`, { headers: { 'x-request-id': 'client-copy' } });
    expect(values(up.seen[0]!.rawHeaders, 'x-request-id')).toEqual(['client-copy']);
    expect(res.headers['x-request-id']).toBe('upstream-own-id');
  });
});
