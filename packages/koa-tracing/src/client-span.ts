import { randomBytes } from 'node:crypto';
import {
  isSpanContextValid,
  SpanKind,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type TracerProvider,
} from '@opentelemetry/api';
import { isAllZeros } from './hex.js';
import { outboundContext } from './koa-context.js';
import { FLAG_RANDOM, KNOWN_FLAGS } from './traceparent.js';

/** Options of {@link startClientSpan}. */
export interface ClientSpanOptions {
  /** A Koa context the middleware traced: the span is a child of its request span. */
  ctx?: object;
  /** The parent context. @default context.active() when it holds a span, else the `ctx`'s */
  context?: Context;
  /** @default trace.getTracerProvider() */
  tracerProvider?: TracerProvider;
  /** Attributes given at start (e.g. `http.request.method`, `server.address`). */
  attributes?: Attributes;
}

/** A started client span and the context to propagate for the call it covers. */
export interface ClientSpan {
  /** End it when the call ends (`span.end()`); record errors on it. */
  span: Span;
  /** Pass to `injectTraceHeaders(headers, { context })`. */
  context: Context;
}

function randomHex(bytes: number): string {
  for (;;) {
    const id = randomBytes(bytes).toString('hex');
    if (!isAllZeros(id)) return id;
  }
}

/**
 * Starts a CLIENT span for an outbound call made by hand, so the callee's parent is this call
 * rather than the whole request. With an SDK it is a recorded child span; without one it is a
 * non-recording span that still gets a fresh span id, so every outbound call carries its own
 * `parent-id` as W3C Trace Context asks.
 *
 * @example
 * ```ts
 * const call = startClientSpan('GET', { ctx });
 * try {
 *   await fetch(url, { headers: injectTraceHeaders({}, { context: call.context }) });
 * } finally {
 *   call.span.end();
 * }
 * ```
 */
export function startClientSpan(name: string, options: ClientSpanOptions = {}): ClientSpan {
  const parent = options.context ?? outboundContext(options.ctx);
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(
    '@koa-mesh/tracing',
  );
  let span = tracer.startSpan(
    name,
    options.attributes
      ? { kind: SpanKind.CLIENT, attributes: options.attributes }
      : { kind: SpanKind.CLIENT },
    parent,
  );
  const own = span.spanContext();
  const up = trace.getSpanContext(parent);
  const upValid = up !== undefined && isSpanContextValid(up);
  if (!span.isRecording() && (!isSpanContextValid(own) || (upValid && own.spanId === up.spanId))) {
    // No SDK: the no-op tracer returned the parent's ids (or none).
    const sc: SpanContext = upValid
      ? { traceId: up.traceId, spanId: randomHex(8), traceFlags: up.traceFlags & KNOWN_FLAGS }
      : { traceId: randomHex(16), spanId: randomHex(8), traceFlags: FLAG_RANDOM };
    if (upValid && up.traceState) sc.traceState = up.traceState;
    span = trace.wrapSpanContext(sc);
  }
  return { span, context: trace.setSpan(parent, span) };
}
