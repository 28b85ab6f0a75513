import {
  createContextKey,
  ROOT_CONTEXT,
  trace,
  type Attributes,
  type AttributeValue,
  type Context,
  type Exception,
  type Link,
  type Span,
  type SpanContext,
  type SpanStatus,
  type TimeInput,
  type TraceState,
} from '@opentelemetry/api';

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

/**
 * This hop's span when nothing records one (no SDK, or a sampler that drops it): one object is
 * the non-recording span, its span context and the active context (the parent with this span set),
 * where the API would allocate three (a span context, a `NonRecordingSpan` and a context holding a
 * copy of the parent's values). Only used when {@link localSpansWork} says this copy of
 * `@opentelemetry/api` finds spans where this file expects them.
 */
export class LocalSpan implements Span, SpanContext, Context {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
  readonly traceState: TraceState | undefined;
  readonly #parent: Context;

  constructor(
    parent: Context,
    traceId: string,
    spanId: string,
    traceFlags: number,
    traceState: TraceState | undefined,
  ) {
    this.traceId = traceId;
    this.spanId = spanId;
    this.traceFlags = traceFlags;
    this.traceState = traceState;
    this.#parent = parent;
  }

  // As a span: non-recording, every operation a no-op, as the API's NonRecordingSpan.
  spanContext(): SpanContext {
    return this;
  }
  setAttribute(_key: string, _value: AttributeValue): this {
    return this;
  }
  setAttributes(_attributes: Attributes): this {
    return this;
  }
  addEvent(_name: string, _attributes?: Attributes | TimeInput, _startTime?: TimeInput): this {
    return this;
  }
  addLink(_link: Link): this {
    return this;
  }
  addLinks(_links: Link[]): this {
    return this;
  }
  setStatus(_status: SpanStatus): this {
    return this;
  }
  updateName(_name: string): this {
    return this;
  }
  end(_endTime?: TimeInput): void {}
  isRecording(): boolean {
    return false;
  }
  recordException(_exception: Exception, _time?: TimeInput): void {}

  // As a context: the parent with this span set.
  getValue(key: symbol): unknown {
    return key === SPAN_KEY ? this : this.#parent.getValue(key);
  }
  setValue(key: symbol, value: unknown): Context {
    return trace.setSpan(this.#parent, this).setValue(key, value);
  }
  deleteValue(key: symbol): Context {
    return trace.setSpan(this.#parent, this).deleteValue(key);
  }
}

/**
 * True when this copy of `@opentelemetry/api` reads the active span under the key this file uses,
 * so {@link LocalSpan} and the light context below can stand in for the API's objects.
 */
function spanKeyMatches(): boolean {
  const probe = trace.wrapSpanContext({
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: 0,
  });
  const light = withSpan(ROOT_CONTEXT, probe);
  const local = new LocalSpan(
    ROOT_CONTEXT,
    probe.spanContext().traceId,
    'b7ad6b7169203331',
    0,
    undefined,
  );
  return (
    trace.getSpan(light) === probe &&
    trace.getSpan(trace.deleteSpan(light)) === undefined &&
    trace.getSpan(local) === local &&
    trace.getSpanContext(local) === local &&
    trace.getSpan(trace.deleteSpan(local)) === undefined
  );
}

/** Whether {@link LocalSpan} can be used (checked once per middleware). */
export function localSpansWork(): boolean {
  return spanKeyMatches();
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
  return spanKeyMatches() ? withSpan : (parent, span) => trace.setSpan(parent, span);
}
