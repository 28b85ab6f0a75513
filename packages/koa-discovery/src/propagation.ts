import type * as OtelApiNamespace from '@opentelemetry/api';

type OtelApi = typeof OtelApiNamespace;

/**
 * Where `@koa-mesh/tracing` leaves the request's OpenTelemetry context on the Koa `ctx`, read by
 * its registry key (no runtime import of tracing). Without a context manager (no SDK),
 * `context.active()` is empty in a handler: this is the only place the request's trace context
 * can be found then.
 */
const TRACING_CONTEXT = Symbol.for('@koa-mesh/tracing.context');

/**
 * Injects the trace context into outgoing headers through `@opentelemetry/api`, an optional
 * peer: imported lazily once per factory (cached here, in the closure), and skipped silently when
 * it is not installed.
 */
export function createPropagation(): {
  ready(): Promise<void> | undefined;
  /** Injects the context `@koa-mesh/tracing` left on `ctx` when there is one, else the active one. */
  inject(headers: Record<string, string | string[]>, ctx: object | undefined): void;
  /** What the propagator writes for that context, or undefined when it writes nothing. */
  carrier(ctx: object | undefined): Record<string, string> | undefined;
} {
  let api: OtelApi | null | undefined;
  let loading: Promise<void> | undefined;
  return {
    ready() {
      if (api !== undefined) return undefined;
      loading ??= import('@opentelemetry/api').then(
        (m) => {
          // CJS interop hands back the namespace under `default` in some loaders.
          const ns = (m as unknown as { default?: OtelApi }).default ?? m;
          api = ns.propagation && ns.context && ns.trace ? ns : null;
        },
        () => {
          api = null;
        },
      );
      return loading;
    },
    inject(headers, ctx) {
      if (api) injectInto(api, ctx, headers);
    },
    carrier(ctx) {
      if (!api) return undefined;
      const carrier: Record<string, string> = {};
      if (!injectInto(api, ctx, carrier)) return undefined;
      for (const _ in carrier) return carrier;
      return undefined;
    },
  };
}

/**
 * Has the registered propagator write the request's context into `carrier`; false when it threw.
 * A throwing propagator (a bug in it, or in a custom one) is reported (through the request's
 * `app.emit('error')` when the call is made for a request, as a process warning otherwise), what
 * it may have written of the trace headers is taken out again, and the call goes out without
 * them: tracing never fails a call.
 */
function injectInto(
  api: OtelApi,
  ctx: object | undefined,
  carrier: Record<string, string | string[]>,
): boolean {
  try {
    api.propagation.inject(contextOf(api, ctx), carrier);
    return true;
  } catch (err) {
    try {
      for (const name of api.propagation.fields()) delete carrier[name.toLowerCase()];
    } catch {
      // A propagator broken this far keeps what it wrote; the call still goes.
    }
    const app = (ctx as { app?: { emit?: unknown } } | undefined)?.app;
    if (app && typeof app.emit === 'function') {
      (app.emit as (event: string, ...args: unknown[]) => void).call(app, 'error', err, ctx);
    } else {
      process.emitWarning(
        `the registered propagator threw; the call goes out without trace headers: ${String(err)}`,
        { type: 'KoaMeshDiscoveryWarning' },
      );
    }
    return false;
  }
}

/**
 * The active context when it carries a span (with a context manager it is tracing's, or a span the
 * handler started, which must be the upstream's parent); otherwise the one `@koa-mesh/tracing`
 * left on `ctx` (no context manager: the active context is empty), or the active one.
 */
function contextOf(api: OtelApi, ctx: object | undefined): OtelApiNamespace.Context {
  const active = api.context.active();
  if (ctx === undefined) return active;
  const own = (ctx as { [TRACING_CONTEXT]?: OtelApiNamespace.Context })[TRACING_CONTEXT];
  return own === undefined || api.trace.getSpan(active) !== undefined ? active : own;
}
