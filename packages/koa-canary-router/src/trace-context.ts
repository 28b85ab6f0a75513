/** The part of `@opentelemetry/api` the proxy uses. */
interface OtelApi {
  context: { active(): unknown };
  propagation: {
    inject(context: unknown, carrier: Record<string, string>): void;
  };
}

/**
 * Injects the active trace context into proxied requests through `@opentelemetry/api`, an
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
        this.api = api.propagation && api.context ? (api as OtelApi) : null;
      },
      () => {
        this.api = null;
      },
    );
    return this.loading;
  }

  /** The propagation headers for the active context, or undefined when there are none. */
  async headers(): Promise<Record<string, string> | undefined> {
    if (this.api === undefined) await this.load();
    const api = this.api;
    if (!api) return undefined;
    const carrier: Record<string, string> = {};
    try {
      api.propagation.inject(api.context.active(), carrier);
    } catch {
      return undefined;
    }
    for (const _ in carrier) return carrier;
    return undefined;
  }
}
