/** The part of `@opentelemetry/api` the proxy uses. */
interface OtelApi {
  context: { active(): unknown };
  trace: { getSpan(context: unknown): unknown };
  propagation: {
    inject(context: unknown, carrier: Record<string, string>): void;
  };
}

/**
 * Where `@koa-mesh/tracing` leaves the request's OpenTelemetry context on the Koa `ctx`, read by
 * its registry key (no runtime import of tracing). Without a context manager (no SDK),
 * `context.active()` is empty downstream of the tracing middleware: this is the only place the
 * request's trace context can be found then.
 */
const TRACING_CONTEXT = Symbol.for('@koa-mesh/tracing.context');

/**
 * Injects the request's trace context into proxied requests through `@opentelemetry/api`, an
 * optional peer: imported once per router on first use, and skipped silently when absent.
 */
export class TraceContext {
  private api: OtelApi | null | undefined;
  private loading: Promise<void> | undefined;

  private load(): Promise<void> {
    this.loading ??= import('@opentelemetry/api').then(
      (mod) => {
        // ESM namespace or a CJS module object, depending on how this package was loaded.
        const api = ((mod as { default?: unknown }).default ?? mod) as Partial<OtelApi>;
        this.api = api.propagation && api.context && api.trace ? (api as OtelApi) : null;
      },
      () => {
        this.api = null;
      },
    );
    return this.loading;
  }

  /**
   * The propagation headers for the request's context, or undefined when there are none. The
   * active context when it carries a span (with a context manager it is tracing's, or a span the
   * app started around the router, which must be the upstream's parent); otherwise the one
   * `@koa-mesh/tracing` left on `ctx` (no context manager: the active context is empty).
   */
  async headers(ctx: object): Promise<Record<string, string> | undefined> {
    if (this.api === undefined) await this.load();
    const api = this.api;
    if (!api) return undefined;
    const carrier: Record<string, string> = {};
    try {
      const active = api.context.active();
      const own = (ctx as { [TRACING_CONTEXT]?: unknown })[TRACING_CONTEXT];
      const chosen = own === undefined || api.trace.getSpan(active) !== undefined ? active : own;
      api.propagation.inject(chosen, carrier);
    } catch {
      return undefined;
    }
    for (const _ in carrier) return carrier;
    return undefined;
  }
}
