import type { Context } from '@opentelemetry/api';

/**
 * Where the middleware leaves the request's OpenTelemetry context on the Koa `ctx`. A registry
 * symbol, so that the ESM and CommonJS builds (and two copies of the package) agree.
 */
export const OTEL_CONTEXT: unique symbol = Symbol.for('@koa-mesh/tracing.context') as never;

/** The OpenTelemetry context of a traced request (its server span, its baggage), if any. */
export function traceContextOf(ctx: object): Context | undefined {
  return (ctx as { [OTEL_CONTEXT]?: Context })[OTEL_CONTEXT];
}
