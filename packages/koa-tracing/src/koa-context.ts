import { context as otelContext, trace, type Context } from '@opentelemetry/api';

/**
 * Where the middleware leaves the request's OpenTelemetry context on the Koa `ctx`. A registry
 * symbol, so that the ESM and CommonJS builds (and two copies of the package) agree.
 */
export const OTEL_CONTEXT: unique symbol = Symbol.for('@koa-mesh/tracing.context') as never;

/** The OpenTelemetry context of a traced request (its server span, its baggage), if any. */
export function traceContextOf(ctx: object): Context | undefined {
  return (ctx as { [OTEL_CONTEXT]?: Context })[OTEL_CONTEXT];
}

/**
 * The context an outbound call made for `ctx` should carry: the active one when it holds a span
 * (with a context manager that is the request's span, or a span the handler started inside it,
 * which must be the callee's parent); otherwise the request's context left on `ctx` (without a
 * context manager the active context is empty), or the active one.
 */
export function outboundContext(ctx: object | undefined): Context {
  const active = otelContext.active();
  if (ctx === undefined || trace.getSpan(active) !== undefined) return active;
  return traceContextOf(ctx) ?? active;
}
