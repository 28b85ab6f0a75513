import type * as OtelApiNamespace from '@opentelemetry/api';

type OtelApi = typeof OtelApiNamespace;

/**
 * Injects the active trace context into outgoing headers through `@opentelemetry/api`, an optional
 * peer: imported lazily once per factory (cached here, in the closure), and skipped silently when
 * it is not installed.
 */
export function createPropagation(): {
  ready(): Promise<void> | undefined;
  inject(headers: Record<string, string | string[]>): void;
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
          api = ns.propagation ? ns : null;
        },
        () => {
          api = null;
        },
      );
      return loading;
    },
    inject(headers) {
      if (api) api.propagation.inject(api.context.active(), headers);
    },
  };
}
