import {
  extractTraceContext,
  formatTraceparent,
  injectTraceHeaders,
  parseBaggage,
  parseTraceparent,
  parseTracestate,
  tracing,
  type PropagationFormat,
} from '@koa-mesh/tracing';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import Koa from 'koa';
import { floorMiddleware, startSdk } from '../lib/otel.js';
import { defineMicro } from '../lib/scenario.js';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const TRACESTATE = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7,vendor@tenant=opaque-value-1';
const BAGGAGE = 'userId=alice,serverNode=DF%2028,isProduction=false';
const get = (c: Record<string, string>, name: string): string | undefined => c[name];

/**
 * A Koa context for a request with a sampled traceparent, built the way Koa's callback builds it
 * (real IncomingMessage/ServerResponse, no socket I/O); `run` is what happens to it.
 */
function perRequest(run?: (ctx: Koa.Context) => unknown): () => unknown {
  const app = new Koa();
  const socket = new Socket();
  return () => {
    const req = new IncomingMessage(socket);
    req.method = 'GET';
    req.url = '/users/1';
    req.headers = { host: '127.0.0.1:3000', traceparent: TRACEPARENT };
    const ctx = app.createContext(req, new ServerResponse(req));
    return run?.(ctx);
  };
}

/** The service's app with `middleware` before the same handler as the HTTP scenarios. */
function serviceCallback(middleware: Koa.Middleware[]) {
  const app = new Koa();
  for (const m of middleware) app.use(m);
  app.use((ctx) => {
    ctx.body = { id: 1, name: 'ada' };
  });
  return app.callback();
}

const RAW_HEADERS = ['host', '127.0.0.1:3000', 'user-agent', 'bench', 'traceparent', TRACEPARENT];
const socket = new Socket();

/** A request as Node's parser hands it over: `req.headers` is built only if something reads it. */
function parsedRequest(): IncomingMessage {
  const req = new IncomingMessage(socket);
  req.method = 'GET';
  req.url = '/users/1';
  (req as unknown as { _addHeaderLines(h: string[], n: number): void })._addHeaderLines(
    [...RAW_HEADERS],
    RAW_HEADERS.length,
  );
  return req;
}

/**
 * A whole request through `app.callback()`, a real ServerResponse with no socket. The four cases
 * below differ only in the middleware before the handler; each runs in its own process.
 */
function wholeRequest(middleware: Koa.Middleware[]): () => Promise<void> {
  const callback = serviceCallback(middleware);
  return async () => {
    const req = parsedRequest();
    await callback(req, new ServerResponse(req));
  };
}

/**
 * A whole request as above, answered through a socket stand-in that accepts every write, with
 * 'close' emitted once the response has finished (as Node's server does), so that a recorded
 * span ends as it would in a server. `middleware` is built after the SDK is registered (this case
 * runs in a process of its own).
 */
async function wholeRecordedRequest(
  middleware: () => Promise<Koa.Middleware>,
): Promise<() => Promise<void>> {
  await startSdk();
  const callback = serviceCallback([await middleware()]);
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() }) as unknown as Socket;
  return async () => {
    const req = parsedRequest();
    const res = new ServerResponse(req);
    res.assignSocket(sink);
    const finished = new Promise<void>((resolve) =>
      res.once('finish', () => {
        res.detachSocket(sink);
        res.emit('close');
        resolve();
      }),
    );
    await callback(req, res);
    await finished;
  };
}

export default defineMicro([
  {
    name: 'tracing: whole request, SDK registered, + the SDK floor middleware (see scenarios)',
    setup: () => wholeRecordedRequest(floorMiddleware),
    iterations: 10_000,
  },
  {
    name: 'tracing: whole request, SDK registered, + tracing() recording every request',
    setup: () => wholeRecordedRequest(async () => tracing()),
    iterations: 10_000,
  },
  {
    name: 'tracing: whole request, bare Koa (baseline for the next three)',
    setup: () => wholeRequest([]),
    iterations: 20_000,
  },
  {
    name: 'tracing: whole request, + async pass-through middleware',
    setup: () =>
      wholeRequest([
        async (_ctx, next) => {
          await next();
        },
      ]),
    iterations: 20_000,
  },
  {
    name: 'tracing: whole request, + async middleware setting one response header',
    setup: () =>
      wholeRequest([
        async (ctx, next) => {
          ctx.res.setHeader('x-request-id', '0d8f3c3e-4a7b-4c1e-9a59-6d2f7b8e1c44');
          await next();
        },
      ]),
    iterations: 20_000,
  },
  {
    name: 'tracing: whole request, + sync middleware reading one request header and echoing it (the no-SDK floor)',
    // The least the no-SDK goal asks for before any tracing: look at a request header (which makes
    // Node build req.headers) and echo a request id; no async wrapper, no parsing, no ids.
    setup: () =>
      wholeRequest([
        (ctx, next) => {
          const id = ctx.req.headers['x-request-id'];
          ctx.res.setHeader(
            'x-request-id',
            typeof id === 'string' ? id : '0d8f3c3e-4a7b-4c1e-9a59-6d2f7b8e1c44',
          );
          return next();
        },
      ]),
    iterations: 20_000,
  },
  {
    name: 'tracing: whole request, + tracing(), no SDK',
    setup: () => wholeRequest([tracing()]),
    iterations: 20_000,
  },
  {
    name: 'tracing: baseline, Koa createContext for a request (subtract from the next case)',
    setup: () => perRequest(),
    iterations: 20_000,
  },
  {
    name: 'tracing: createContext + tracing() middleware, no SDK (continue, ids, request id)',
    setup() {
      const middleware = tracing();
      const next = (): Promise<void> => Promise.resolve();
      return perRequest((ctx) => middleware(ctx, next));
    },
    iterations: 20_000,
  },
  {
    name: 'tracing: createContext + tracing() middleware, SDK recording (BatchSpanProcessor, no-op exporter, span ended on close)',
    async setup() {
      const { BatchSpanProcessor, NodeTracerProvider } =
        await import('@opentelemetry/sdk-trace-node');
      // Passed as tracerProvider, not registered: the other cases keep running without an SDK.
      const provider = new NodeTracerProvider({
        spanProcessors: [
          new BatchSpanProcessor({
            export: (_spans, done) => done({ code: 0 }),
            shutdown: () => Promise.resolve(),
          }),
        ],
      });
      const middleware = tracing({ tracerProvider: provider });
      const next = (): Promise<void> => Promise.resolve();
      return perRequest(async (ctx) => {
        await middleware(ctx, next);
        // No socket here: 'close' ends the span (recorded as aborted, as a hung-up client would).
        ctx.res.emit('close');
      });
    },
    iterations: 20_000,
  },
  {
    name: 'tracing: parseTraceparent (valid)',
    setup: () => () => parseTraceparent(TRACEPARENT),
    iterations: 1_000_000,
  },
  {
    name: 'tracing: parseTraceparent (invalid, uppercase)',
    setup: () => () => parseTraceparent(TRACEPARENT.toUpperCase()),
    iterations: 1_000_000,
  },
  {
    name: 'tracing: parseTracestate (3 members)',
    setup: () => () => parseTracestate(TRACESTATE),
  },
  {
    name: 'tracing: parseBaggage (3 members)',
    setup: () => () => parseBaggage(BAGGAGE),
  },
  {
    name: 'tracing: extract, W3C first then B3 and Jaeger (only uber-trace-id present)',
    setup() {
      const formats: PropagationFormat[] = ['tracecontext', 'b3', 'jaeger'];
      const carrier = { 'uber-trace-id': '4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1' };
      return () => extractTraceContext(carrier, get, formats);
    },
  },
  {
    name: 'tracing: formatTraceparent',
    setup: () => () => formatTraceparent('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', 1),
    iterations: 1_000_000,
  },
  {
    name: 'tracing: injectTraceHeaders (traceparent, no baggage)',
    setup() {
      const context = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
        spanId: '00f067aa0ba902b7',
        traceFlags: 1,
      });
      return () => injectTraceHeaders({}, { context });
    },
  },
]);
