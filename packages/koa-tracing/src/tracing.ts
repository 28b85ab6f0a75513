import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import {
  context as otelContext,
  isSpanContextValid,
  SpanKind,
  ProxyTracerProvider,
  SpanStatusCode,
  trace,
  type Context as OtelContext,
  type Exception,
  type Tracer,
  type TracerProvider,
  type Span,
  type SpanContext,
  type SpanOptions,
} from '@opentelemetry/api';
import type { Context as KoaContext, Middleware, Next } from 'koa';
import { LocalSpan, localSpansWork, spanContextFactory } from './active-context.js';
import { parseBaggage } from './baggage.js';
import { extractTraceContext, getFromRecord } from './extract.js';
import { createIdGenerator } from './hex.js';
import { ATTR, normalizeMethod, requestAttributes, spanName } from './http-attributes.js';
import { normalizeOptions, type TracingOptions } from './options.js';
import { parseUberBaggage } from './jaeger.js';
import { toRemoteSpanContext, withBaggage } from './propagator.js';
import { OTEL_CONTEXT } from './koa-context.js';
import { isValidRequestId } from './request-id.js';
import { FLAG_RANDOM, FLAG_SAMPLED, formatTraceparent, KNOWN_FLAGS } from './traceparent.js';

/** What the middleware leaves on `ctx.state`. */
export interface TracingState {
  /** The request id: the inbound `X-Request-Id` when valid, generated otherwise. */
  requestId: string;
  /** 32 lowercase hex characters (absent on ignored requests). */
  traceId?: string;
  /** This request's span id, 16 lowercase hex characters (absent on ignored requests). */
  spanId?: string;
  /** Whether the trace is sampled (absent on ignored requests). */
  sampled?: boolean;
}

/** Per-request bookkeeping of a recording span, kept on the response under a private symbol. */
interface RequestSpan {
  span: Span;
  ctx: KoaContext;
  error: unknown;
  handlerDone: boolean;
  closed: boolean;
}

function errorTypeOf(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const { code, name } = err as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && code !== '') return code;
    if (typeof name === 'string' && name !== '') return name;
  }
  return '_OTHER';
}

/** Koa's error handler drops headers set before a throw; the ones on `err.headers` survive. */
function keepHeaders(err: unknown, res: ServerResponse, names: readonly string[]): void {
  if (typeof err !== 'object' || err === null) return;
  try {
    const e = err as { headers?: Record<string, unknown> };
    const headers: Record<string, unknown> = { ...e.headers };
    for (const name of names) {
      const value = res.getHeader(name);
      if (value !== undefined && headers[name] === undefined) headers[name] = value;
    }
    e.headers = headers;
  } catch {
    // A frozen error keeps its own headers.
  }
}

/**
 * Koa middleware that joins each request to its distributed trace: it continues the caller's
 * W3C (or B3 / Jaeger) trace context, starts one SERVER span named `METHOD route`, makes it the
 * active context for everything downstream, ends it when the response has really finished, and
 * sets `ctx.state.requestId`, `traceId`, `spanId` and `sampled`. Without an OpenTelemetry SDK it
 * still continues and propagates the context with ids of its own.
 *
 * @example
 * ```ts
 * app.use(tracing({ ignore: ['/health'] }));
 * ```
 */
export function tracing(options?: TracingOptions): Middleware {
  const o = normalizeOptions(options);
  const fixedTracer = o.tracerProvider?.getTracer(o.tracerName);
  // The global provider's delegate and its tracer, looked up again only when an SDK registers
  // or unregisters; `undefined` while none is registered (the no-SDK fast path).
  let seenDelegate: TracerProvider | undefined;
  let globalTracer: Tracer | undefined;
  const currentTracer = (): Tracer | undefined => {
    if (fixedTracer !== undefined) return fixedTracer;
    const global = trace.getTracerProvider();
    const delegate = global instanceof ProxyTracerProvider ? global.getDelegate() : global;
    if (delegate !== seenDelegate) {
      seenDelegate = delegate;
      globalTracer =
        global instanceof ProxyTracerProvider
          ? global.getDelegateTracer(o.tracerName)
          : global.getTracer(o.tracerName);
    }
    return globalTracer;
  };
  const jaeger = o.propagators.includes('jaeger');
  const readBaggage = (headers: IncomingHttpHeaders, parent: OtelContext): OtelContext => {
    // A named read (not getFromRecord's keyed one): this runs on every request.
    const raw = headers.baggage;
    const allow = o.baggage || undefined;
    if (jaeger && headers['uber-trace-id'] !== undefined) {
      // Jaeger's `uberctx-*` items first, so W3C baggage wins on a key both carry.
      const members = parseUberBaggage(
        Object.keys(headers),
        (name) => getFromRecord(headers, name),
        allow,
      );
      if (raw !== undefined)
        members.push(...parseBaggage(Array.isArray(raw) ? raw.join(',') : raw, allow));
      return withBaggage(parent, members);
    }
    if (raw === undefined) return parent;
    const value = Array.isArray(raw) ? raw.join(',') : raw;
    return withBaggage(parent, parseBaggage(value, allow));
  };
  const ids = createIdGenerator();
  const setSpan = spanContextFactory();
  const useLocalSpans = localSpansWork();
  const kSpan = Symbol('@koa-mesh/tracing span');
  const requestIdHeader = o.requestIdHeader;
  const generateRequestId = o.generateRequestId;
  const preserved: string[] = [];
  if (requestIdHeader) preserved.push(requestIdHeader);
  if (o.serverTiming) preserved.push('server-timing');

  const report = (err: unknown, ctx: KoaContext): void => {
    ctx.app.emit('error', err, ctx);
  };

  /**
   * `generateRequestId()`'s id, held to the rule inbound ids meet (it is echoed in a header and
   * logged); a throw or an id outside it is reported and a random UUID is used instead.
   */
  function customRequestId(ctx: KoaContext): string {
    let id: string;
    try {
      id = String(generateRequestId!());
    } catch (err) {
      report(err, ctx);
      return randomUUID();
    }
    // Checked through a widened copy: the guard would narrow `id` itself to never below.
    if (isValidRequestId(id as string | undefined)) return id;
    report(
      new TypeError(
        `@koa-mesh/tracing: generateRequestId returned ${JSON.stringify(id.slice(0, 64))}, not a ` +
          'request id (1-128 characters of A-Z a-z 0-9 . _ : + / = @ -); a random UUID is used',
      ),
      ctx,
    );
    return randomUUID();
  }

  /**
   * {@link readBaggage} with the user's allowlist predicate, which may throw: the error is
   * reported and the request goes on with none of the caller's baggage (a broken allowlist fails
   * closed rather than letting untrusted members through, or failing the request).
   */
  const readBaggageSafely = (
    ctx: KoaContext,
    headers: IncomingHttpHeaders,
    parent: OtelContext,
  ): OtelContext => {
    try {
      return readBaggage(headers, parent);
    } catch (err) {
      report(err, ctx);
      return parent;
    }
  };

  function finish(rs: RequestSpan): void {
    const { span, ctx, error } = rs;
    const res = ctx.res;
    (res as unknown as Record<symbol, unknown>)[kSpan] = undefined;
    const status = res.statusCode;
    if (res.headersSent) span.setAttribute(ATTR.status, status);
    if (error !== undefined) span.recordException(error as Exception);
    if (res.headersSent && status >= 500) {
      span.setAttribute(ATTR.errorType, error !== undefined ? errorTypeOf(error) : String(status));
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : `HTTP ${status}`,
      });
    } else if (!res.writableFinished) {
      span.setAttribute(ATTR.errorType, error !== undefined ? errorTypeOf(error) : 'aborted');
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: 'the connection closed before the response finished',
      });
    }
    span.end();
  }

  function onResponseClose(this: ServerResponse): void {
    const rs = (this as unknown as Record<symbol, RequestSpan | undefined>)[kSpan];
    if (rs === undefined) return;
    rs.closed = true;
    if (!rs.handlerDone) return;
    // An event listener: a throw here (a span processor's onEnd runs inside span.end()) would be
    // an uncaught exception, which ends the process.
    try {
      finish(rs);
    } catch (err) {
      report(err, rs.ctx);
    }
  }

  function nameSpan(ctx: KoaContext, span: Span, method: string): void {
    let route: string | undefined;
    try {
      route = o.route(ctx);
    } catch (err) {
      report(err, ctx);
    }
    if (typeof route === 'string' && route !== '') {
      span.updateName(spanName(method, route));
      span.setAttribute(ATTR.route, route);
    }
    const version: unknown = ctx.state.version;
    if (typeof version === 'string' && version !== '') span.setAttribute(ATTR.version, version);
  }

  /**
   * After the chain under a recorded span: name it by its route, note the error, and end it if
   * the response has already closed (otherwise onResponseClose ends it). Never throws: it runs on
   * a side branch of the chain's promise, where a throw would be an unhandled rejection.
   */
  function afterChain(rs: RequestSpan, method: string, err: unknown, failed: boolean): void {
    const { ctx, span } = rs;
    try {
      if (failed) {
        rs.error = err;
        keepHeaders(err, ctx.res, preserved);
      }
      nameSpan(ctx, span, method);
      rs.handlerDone = true;
      if (rs.closed || ctx.res.destroyed) finish(rs);
    } catch (e) {
      report(e, ctx);
    }
  }

  /** Runs `next` and returns its promise, a rejection when it throws at once. */
  function run(active: OtelContext | undefined, next: Next): Promise<void> {
    try {
      return Promise.resolve(active === undefined ? next() : otelContext.with(active, next));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * `chain` itself, watched on a side branch that copies the preserved response headers onto a
   * rejection's `err.headers` (Koa's error handler drops the others). The side branch's reaction is
   * registered before the caller's, so it runs before Koa's error handler or an upstream `await`.
   */
  function keepingHeaders(chain: Promise<void>, res: ServerResponse): Promise<void> {
    if (preserved.length > 0) {
      chain.then(undefined, (err: unknown) => {
        keepHeaders(err, res, preserved);
      });
    }
    return chain;
  }

  // Not an async function: the chain's own promise is returned, with the work after it on a side
  // branch. An async function would add a promise and an await, each costing an async-hook call
  // per request once an SDK's context manager has enabled AsyncLocalStorage.
  return function tracingMiddleware(ctx: KoaContext, next: Next): Promise<void> {
    const req = ctx.req;
    const res = ctx.res;
    // This middleware already records this response (mounted twice, e.g. in a sub-app): its span
    // is active and its ids are set; a second span would take over the bookkeeping and leave the
    // first one open. (Only a recorded span is kept here, so the no-SDK path never stops here.)
    if ((res as unknown as Record<symbol, unknown>)[kSpan] !== undefined) return next();
    const headers = req.headers;

    let requestId: string | undefined;
    if (requestIdHeader) {
      const inbound = headers[requestIdHeader];
      if (typeof inbound === 'string' && isValidRequestId(inbound)) requestId = inbound;
    }
    if (requestId === undefined) {
      requestId = generateRequestId === undefined ? ids.uuid() : customRequestId(ctx);
    }
    const state = ctx.state as TracingState;
    state.requestId = requestId;
    if (requestIdHeader) res.setHeader(requestIdHeader, requestId);

    let ignored = false;
    if (o.ignore) {
      try {
        ignored = o.ignore(ctx);
      } catch (err) {
        report(err, ctx);
      }
    }
    if (ignored) return keepingHeaders(run(undefined, next), res);

    const inbound = extractTraceContext(headers, getFromRecord, o.propagators);
    let restart = false;
    if (inbound) {
      try {
        restart = o.restartAtEdge(ctx);
      } catch (err) {
        report(err, ctx);
        restart = true;
      }
    }
    let parent = otelContext.active();
    const continued = inbound !== undefined && !restart;
    const tracer = currentTracer();
    let span: Span | undefined;
    let method = '';
    if (tracer !== undefined) {
      method = normalizeMethod(ctx.method);
      const spanOptions: SpanOptions = {
        kind: SpanKind.SERVER,
        attributes: { [ATTR.method]: method, [ATTR.path]: ctx.path },
      };
      if (inbound) {
        const remote = toRemoteSpanContext(inbound);
        if (restart) {
          spanOptions.root = true;
          spanOptions.links = [{ context: remote }];
        } else {
          parent = setSpan(parent, trace.wrapSpanContext(remote));
        }
      }
      if (o.baggage !== false) parent = readBaggageSafely(ctx, headers, parent);
      try {
        span = tracer.startSpan(spanName(method, undefined), spanOptions, parent);
      } catch (err) {
        // The SDK runs user code here (a sampler, a span processor's onStart): a throw there is
        // reported, and this request goes on with ids of its own, as without an SDK.
        report(err, ctx);
      }
      if (span !== undefined) {
        const got = span.spanContext();
        // A tracer that records nothing may hand back the parent's ids (or none): not this hop's.
        if (
          !span.isRecording() &&
          (!isSpanContextValid(got) || (continued && got.spanId === inbound.spanId))
        ) {
          span = undefined;
        }
      }
    } else if (o.baggage !== false) {
      parent = readBaggageSafely(ctx, headers, parent);
    }
    let active: OtelContext;
    if (span === undefined) {
      // No SDK: this hop's own ids, continuing the inbound trace unless restarted.
      const traceId = continued ? inbound.traceId : ids.traceId();
      const flags = continued ? inbound.traceFlags & KNOWN_FLAGS : FLAG_RANDOM;
      const traceState = continued ? inbound.traceState : undefined;
      if (useLocalSpans) {
        const local = new LocalSpan(parent, traceId, ids.spanId(), flags, traceState);
        span = local;
        active = local;
      } else {
        const own: SpanContext = { traceId, spanId: ids.spanId(), traceFlags: flags };
        if (traceState) own.traceState = traceState;
        span = trace.wrapSpanContext(own);
        active = setSpan(parent, span);
      }
    } else {
      active = setSpan(parent, span);
    }
    const sc = span.spanContext();
    state.traceId = sc.traceId;
    state.spanId = sc.spanId;
    state.sampled = (sc.traceFlags & FLAG_SAMPLED) === FLAG_SAMPLED;
    if (o.serverTiming) {
      res.setHeader(
        'server-timing',
        `traceparent;desc="${formatTraceparent(sc.traceId, sc.spanId, sc.traceFlags)}"`,
      );
    }
    // Without a context manager (no SDK) context.active() stays empty downstream; outbound calls
    // can still find the request's context through the ctx (injectTraceHeaders(h, { ctx })).
    (ctx as unknown as { [OTEL_CONTEXT]: unknown })[OTEL_CONTEXT] = active;

    if (!span.isRecording()) return keepingHeaders(run(active, next), res);

    span.setAttributes(requestAttributes(ctx, method));
    const rs: RequestSpan = { span, ctx, error: undefined, handlerDone: false, closed: false };
    (res as unknown as Record<symbol, RequestSpan>)[kSpan] = rs;
    res.on('close', onResponseClose);
    const chain = run(active, next);
    chain.then(
      () => afterChain(rs, method, undefined, false),
      (err: unknown) => afterChain(rs, method, err, true),
    );
    return chain;
  };
}
