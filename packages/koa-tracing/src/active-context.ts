import { createContextKey, ROOT_CONTEXT, trace, type Context, type Span } from '@opentelemetry/api';

/**
 * The key `@opentelemetry/api` files the active span under. The API builds its keys with
 * `Symbol.for(description)` so that every copy of it agrees; {@link spanContextFactory} checks
 * the key against `trace.getSpan()` before relying on it.
 */
const SPAN_KEY = createContextKey('OpenTelemetry Context Key SPAN');

/**
 * `parent` with `span` set as its active span, without copying the parent's values: the API's own
 * context copies them into a new Map and allocates three closures, on every request. Reads of
 * the span answer directly, other reads go to the parent, and writes build an API context (the
 * same one `trace.setSpan(parent, span)` would have given) and write to that.
 */
class SpanOnParentContext implements Context {
  readonly #parent: Context;
  readonly #span: Span;

  constructor(parent: Context, span: Span) {
    this.#parent = parent;
    this.#span = span;
  }

  getValue(key: symbol): unknown {
    return key === SPAN_KEY ? this.#span : this.#parent.getValue(key);
  }

  setValue(key: symbol, value: unknown): Context {
    return trace.setSpan(this.#parent, this.#span).setValue(key, value);
  }

  deleteValue(key: symbol): Context {
    return trace.setSpan(this.#parent, this.#span).deleteValue(key);
  }
}

function withSpan(parent: Context, span: Span): Context {
  return new SpanOnParentContext(parent, span);
}

/**
 * Returns what `trace.setSpan(parent, span)` returns, as cheaply as possible: the light context
 * above when this copy of `@opentelemetry/api` finds the span where it expects it, the API's own
 * `trace.setSpan` otherwise.
 */
export function spanContextFactory(): (parent: Context, span: Span) => Context {
  const probe = trace.wrapSpanContext({
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: 0,
  });
  const light = withSpan(ROOT_CONTEXT, probe);
  return trace.getSpan(light) === probe && trace.getSpan(trace.deleteSpan(light)) === undefined
    ? withSpan
    : (parent, span) => trace.setSpan(parent, span);
}
