import type * as httpModule from 'node:http';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type KoaClass from 'koa';
import type { Middleware } from 'koa';
import type RouterClass from '@koa/router';
import { floorMiddleware, registerAutoInstrumentation, startSdk } from '../lib/otel.js';
import { closeServer, defineScenarios, listen } from '../lib/scenario.js';

/**
 * @koa-mesh/tracing against bare Koa and against OpenTelemetry's auto-instrumentation, on the app
 * koa.ts serves (one handler, small JSON). Every request carries a sampled `traceparent`, as an
 * internal call would. Each scenario runs in its own process, so SDK registration and
 * monkey-patching never leak between them.
 */
type HttpModule = typeof httpModule;

const HEADERS = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };

const handler: Middleware = (ctx) => {
  ctx.body = { id: 1, name: 'ada' };
};

/**
 * A typical service's app: an error handler, a response-time header, an API-key check and a
 * @koa/router route with a parameter, answering the same small JSON body. Built from the `Koa`
 * and `Router` passed in, so the auto-instrumented scenario can hand in its patched copies.
 */
function serviceApp(Koa: typeof KoaClass, Router: typeof RouterClass, first?: Middleware) {
  const app = new Koa();
  if (first) app.use(first);
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      ctx.status = 500;
      ctx.body = { error: String(err) };
    }
  });
  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    await next();
    ctx.set('x-response-time', `${Number(process.hrtime.bigint() - started) / 1e6}ms`);
  });
  app.use(async (ctx, next) => {
    if (ctx.get('x-api-key') !== 'bench') ctx.throw(401);
    await next();
  });
  const router = new Router();
  router.get('/users/:id', (ctx) => {
    ctx.body = { id: Number(ctx.params.id), name: 'ada' };
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

const APP_HEADERS = { ...HEADERS, 'x-api-key': 'bench' };

/** Shuts the SDK down; with BENCH_DEBUG set, says how many spans were recorded (a sanity check). */
function stopSdk(
  name: string,
  provider: { shutdown(): Promise<void> },
  counter: { spans: number },
) {
  return async () => {
    await provider.shutdown();
    if (process.env.BENCH_DEBUG) console.error(`${name}: ${counter.spans} spans recorded`);
  };
}

async function serve(server: Server, close?: () => Promise<void>) {
  const url = await listen(server);
  return {
    url: `${url}/users/1`,
    async close() {
      await closeServer(server);
      await close?.();
    },
  };
}

export default defineScenarios([
  {
    name: 'tracing:sdk-floor',
    description:
      'the least any SDK-based middleware does: continue the inbound trace, start one span, make it active, end it; same SDK',
    headers: HEADERS,
    compareTo: ['tracing:sdk', 'tracing:otel-instrumentation'],
    async start() {
      const counter = { spans: 0 };
      const provider = await startSdk(counter);
      const { default: Koa } = await import('koa');
      const app = new Koa();
      app.use(await floorMiddleware());
      app.use(handler);
      return serve(createServer(app.callback()), stopSdk('tracing:sdk-floor', provider, counter));
    },
  },
  {
    name: 'tracing:app',
    description:
      'a typical service app (3 middleware + @koa/router route), no tracing: its baseline',
    headers: APP_HEADERS,
    async start() {
      const { default: Koa } = await import('koa');
      const { default: Router } = await import('@koa/router');
      return serve(createServer(serviceApp(Koa, Router).callback()));
    },
  },
  {
    name: 'tracing:app-sdk',
    description: 'the typical service app + tracing() with the OTel SDK recording every request',
    headers: APP_HEADERS,
    compareTo: ['tracing:app', 'tracing:app-otel-instrumentation'],
    async start() {
      const counter = { spans: 0 };
      const provider = await startSdk(counter);
      const { default: Koa } = await import('koa');
      const { default: Router } = await import('@koa/router');
      const { tracing } = await import('@koa-mesh/tracing');
      const app = serviceApp(Koa, Router, tracing());
      return serve(createServer(app.callback()), stopSdk('tracing:app-sdk', provider, counter));
    },
  },
  {
    name: 'tracing:app-otel-instrumentation',
    description:
      'the typical service app under instrumentation-http + instrumentation-koa, same SDK, no tracing()',
    headers: APP_HEADERS,
    compareTo: ['tracing:app', 'tracing:app-sdk'],
    async start() {
      const counter = { spans: 0 };
      const provider = await startSdk(counter);
      await registerAutoInstrumentation(provider);
      const require = createRequire(import.meta.url);
      const http = require('node:http') as HttpModule;
      const Koa = require('koa') as typeof KoaClass;
      const Router = require('@koa/router') as typeof RouterClass;
      return serve(
        http.createServer(serviceApp(Koa, Router).callback()),
        stopSdk('tracing:app-otel-instrumentation', provider, counter),
      );
    },
  },
  {
    name: 'tracing:bare',
    description:
      'bare Koa receiving the same requests as the tracing scenarios (with a traceparent header)',
    headers: HEADERS,
    async start() {
      const { default: Koa } = await import('koa');
      const app = new Koa();
      app.use(handler);
      return serve(createServer(app.callback()));
    },
  },
  {
    name: 'tracing',
    description: 'tracing() with no SDK registered: continue + propagate context, ids on ctx.state',
    headers: HEADERS,
    compareTo: ['tracing:bare'],
    async start() {
      const { default: Koa } = await import('koa');
      const { tracing } = await import('@koa-mesh/tracing');
      const app = new Koa();
      app.use(tracing());
      app.use(handler);
      return serve(createServer(app.callback()));
    },
  },
  {
    name: 'tracing:sdk',
    description:
      'tracing() with the OTel SDK recording every request (BatchSpanProcessor, no-op exporter)',
    headers: HEADERS,
    compareTo: ['tracing:otel-instrumentation'],
    async start() {
      const counter = { spans: 0 };
      const provider = await startSdk(counter);
      const { default: Koa } = await import('koa');
      const { tracing } = await import('@koa-mesh/tracing');
      const app = new Koa();
      app.use(tracing());
      app.use(handler);
      return serve(createServer(app.callback()), stopSdk('tracing:sdk', provider, counter));
    },
  },
  {
    name: 'tracing:otel-instrumentation',
    description:
      '@opentelemetry/instrumentation-http + instrumentation-koa, same SDK, same app, no tracing()',
    headers: HEADERS,
    compareTo: ['tracing:sdk'],
    async start() {
      const counter = { spans: 0 };
      const provider = await startSdk(counter);
      await registerAutoInstrumentation(provider);
      // The instrumentations patch on require(); load http and Koa after registering, through
      // require, as an auto-instrumented CommonJS service does.
      const require = createRequire(import.meta.url);
      const http = require('node:http') as HttpModule;
      const Koa = require('koa') as typeof KoaClass;
      const app = new Koa();
      app.use(handler);
      return serve(
        http.createServer(app.callback()),
        stopSdk('tracing:otel-instrumentation', provider, counter),
      );
    },
  },
]);
