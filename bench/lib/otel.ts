/**
 * OpenTelemetry pieces the tracing scenarios and micro cases share: the SDK set-up a service
 * would use, the auto-instrumentation, and the "floor" middleware (the least any middleware built
 * on the SDK does). Everything is imported lazily: a scenario process loads only what it runs.
 */
import type { Middleware } from 'koa';
import type { SpanExporter } from '@opentelemetry/sdk-trace-node';

/** A span exporter that drops everything: the cost measured is recording, not exporting. */
function noopExporter(counter: { spans: number }): SpanExporter {
  return {
    export(spans, done) {
      counter.spans += spans.length;
      done({ code: 0 });
    },
    shutdown: () => Promise.resolve(),
  };
}

/** Registers an SDK as a service would: NodeTracerProvider + BatchSpanProcessor. */
export async function startSdk(counter: { spans: number } = { spans: 0 }) {
  const { BatchSpanProcessor, NodeTracerProvider } = await import('@opentelemetry/sdk-trace-node');
  const provider = new NodeTracerProvider({
    spanProcessors: [new BatchSpanProcessor(noopExporter(counter))],
  });
  provider.register();
  return provider;
}

/** Registers instrumentation-http + instrumentation-koa; load http and Koa through require after. */
export async function registerAutoInstrumentation(
  provider: Awaited<ReturnType<typeof startSdk>>,
): Promise<void> {
  const { registerInstrumentations } = await import('@opentelemetry/instrumentation');
  const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
  const { KoaInstrumentation } = await import('@opentelemetry/instrumentation-koa');
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [new HttpInstrumentation(), new KoaInstrumentation()],
  });
}

/**
 * The least any SDK-based middleware does: continue the caller's trace with the registered W3C
 * propagator, start one SERVER span, make it active for the chain, end it when the chain returns.
 * No attributes, no route, no request id.
 */
export async function floorMiddleware(): Promise<Middleware> {
  const { context, propagation, SpanKind, trace } = await import('@opentelemetry/api');
  const tracer = trace.getTracer('floor');
  return async (ctx, next) => {
    const parent = propagation.extract(context.active(), ctx.req.headers);
    const span = tracer.startSpan('GET', { kind: SpanKind.SERVER }, parent);
    try {
      await context.with(trace.setSpan(parent, span), next);
    } finally {
      span.end();
    }
  };
}
