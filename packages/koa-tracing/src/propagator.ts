import {
  baggageEntryMetadataFromString,
  isSpanContextValid,
  propagation,
  trace,
  type BaggageEntry,
  type Context,
  type SpanContext,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
} from '@opentelemetry/api';
import { formatB3Single } from './b3.js';
import { formatBaggage, parseBaggage, type BaggageMember } from './baggage.js';
import {
  extractTraceContext,
  PROPAGATION_FORMATS,
  type ExtractedContext,
  type PropagationFormat,
} from './extract.js';
import { formatUberTraceId, parseUberBaggage, writeUberBaggage } from './jaeger.js';
import { FLAG_SAMPLED, formatTraceparent, KNOWN_FLAGS } from './traceparent.js';
import { optionNames, rejectUnknownKeys } from './known-keys.js';

/** Options of {@link MeshPropagator}. */
export interface MeshPropagatorOptions {
  /** Formats read (in precedence order) and written. @default ['tracecontext'] */
  propagators?: readonly PropagationFormat[];
  /** Read and write W3C `baggage`. @default true */
  baggage?: boolean;
}

const MESH_PROPAGATOR_OPTIONS = optionNames<MeshPropagatorOptions>({
  propagators: true,
  baggage: true,
});

/** Turns an extracted parent into the remote `SpanContext` OpenTelemetry expects. */
export function toRemoteSpanContext(parent: ExtractedContext): SpanContext {
  const sc: SpanContext = {
    traceId: parent.traceId,
    spanId: parent.spanId,
    traceFlags: parent.traceFlags & KNOWN_FLAGS,
    isRemote: true,
  };
  if (parent.traceState) sc.traceState = parent.traceState;
  return sc;
}

/** Puts baggage members on a context through `@opentelemetry/api`. */
export function withBaggage(ctx: Context, members: BaggageMember[]): Context {
  if (members.length === 0) return ctx;
  const entries: Record<string, BaggageEntry> = {};
  for (const m of members) {
    entries[m.key] = m.metadata
      ? { value: m.value, metadata: baggageEntryMetadataFromString(m.metadata) }
      : { value: m.value };
  }
  return propagation.setBaggage(ctx, propagation.createBaggage(entries));
}

/**
 * Writes the headers of `formats` for `sc` through `set`. `remove`, when given, deletes a
 * `tracestate` already in the carrier when `sc` has none: it belongs to another `traceparent`
 * (such as a client's, forwarded by a proxy after `restartAtEdge` dropped it).
 */
export function writeTraceHeaders(
  sc: SpanContext,
  formats: readonly PropagationFormat[],
  set: (name: string, value: string) => void,
  remove?: (name: string) => void,
): void {
  for (const format of formats) {
    if (format === 'tracecontext') {
      set('traceparent', formatTraceparent(sc.traceId, sc.spanId, sc.traceFlags));
      const state = sc.traceState?.serialize();
      if (state) set('tracestate', state);
      else remove?.('tracestate');
    } else if (format === 'b3') {
      set('b3', formatB3Single(sc.traceId, sc.spanId, sc.traceFlags));
    } else if (format === 'b3multi') {
      set('x-b3-traceid', sc.traceId);
      set('x-b3-spanid', sc.spanId);
      set('x-b3-sampled', sc.traceFlags & FLAG_SAMPLED ? '1' : '0');
    } else {
      set('uber-trace-id', formatUberTraceId(sc.traceId, sc.spanId, sc.traceFlags));
    }
  }
}

/**
 * Writes the baggage of `ctx`: W3C `baggage`, and Jaeger `uberctx-{key}` headers too when
 * `formats` includes `jaeger`.
 */
export function writeBaggageHeaders(
  ctx: Context,
  formats: readonly PropagationFormat[],
  set: (name: string, value: string) => void,
): void {
  const bag = serializeBaggage(ctx);
  if (bag) set('baggage', bag);
  if (formats.includes('jaeger')) {
    const entries = propagation.getBaggage(ctx)?.getAllEntries();
    if (entries)
      writeUberBaggage(
        entries.map(([key, { value }]) => ({ key, value })),
        set,
      );
  }
}

/**
 * Baggage from Jaeger `uberctx-*` headers, read only when the request carries `uber-trace-id`
 * (Jaeger clients send both), so requests from other tracers pay nothing for it.
 */
export function readUberBaggage(
  names: () => Iterable<string>,
  get: (name: string) => string | undefined,
  allow?: (key: string) => boolean,
): BaggageMember[] {
  return get('uber-trace-id') === undefined ? [] : parseUberBaggage(names(), get, allow);
}

/** Serialises the baggage of `ctx`, or `''` when it has none. */
export function serializeBaggage(ctx: Context): string {
  const bag = propagation.getBaggage(ctx);
  if (!bag) return '';
  const members: BaggageMember[] = [];
  for (const [key, entry] of bag.getAllEntries()) {
    const metadata = entry.metadata?.toString();
    members.push(metadata ? { key, value: entry.value, metadata } : { key, value: entry.value });
  }
  return formatBaggage(members);
}

/**
 * An OpenTelemetry `TextMapPropagator` with the same parsers and precedence as the middleware:
 * register it (`propagation.setGlobalPropagator(new MeshPropagator())`, which `startTracing`
 * does) so that every `propagation.inject()` — koa-discovery's and koa-canary-router's included —
 * writes the same headers.
 */
export class MeshPropagator implements TextMapPropagator {
  readonly #formats: readonly PropagationFormat[];
  readonly #baggage: boolean;
  readonly #fields: string[];

  constructor(options: MeshPropagatorOptions = {}) {
    if (typeof options === 'object' && options !== null) {
      rejectUnknownKeys('', options, MESH_PROPAGATOR_OPTIONS);
    }
    const formats = options.propagators ?? ['tracecontext'];
    if (!Array.isArray(formats) || !formats.every((f) => PROPAGATION_FORMATS.includes(f))) {
      throw new TypeError(
        `@koa-mesh/tracing: expected \`propagators\` to be an array of ${PROPAGATION_FORMATS.join(', ')}, got ${String(formats)}`,
      );
    }
    this.#formats = Object.freeze([...formats]);
    this.#baggage = options.baggage ?? true;
    const fields = new Set<string>();
    for (const f of this.#formats) {
      if (f === 'tracecontext') fields.add('traceparent').add('tracestate');
      else if (f === 'jaeger') fields.add('uber-trace-id');
      else {
        fields.add('b3').add('x-b3-traceid').add('x-b3-spanid').add('x-b3-sampled');
        fields.add('x-b3-flags');
      }
    }
    if (this.#baggage) fields.add('baggage');
    this.#fields = [...fields];
  }

  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const sc = trace.getSpanContext(ctx);
    if (sc && isSpanContextValid(sc)) {
      writeTraceHeaders(sc, this.#formats, (name, value) => setter.set(carrier, name, value));
    }
    if (this.#baggage) {
      writeBaggageHeaders(ctx, this.#formats, (name, value) => setter.set(carrier, name, value));
    }
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const get = (c: unknown, name: string): string | undefined => {
      const v = getter.get(c, name);
      return Array.isArray(v) ? v.join(',') : v;
    };
    let out = ctx;
    const parent = extractTraceContext(carrier, get, this.#formats);
    if (parent) out = trace.setSpanContext(out, toRemoteSpanContext(parent));
    if (this.#baggage) {
      // W3C baggage wins over a Jaeger item of the same key (later entries overwrite).
      const members = parseBaggage(get(carrier, 'baggage'));
      if (this.#formats.includes('jaeger')) {
        const uber = readUberBaggage(
          () => getter.keys(carrier),
          (name) => get(carrier, name),
        );
        if (uber.length > 0) members.unshift(...uber);
      }
      out = withBaggage(out, members);
    }
    return out;
  }

  fields(): string[] {
    return [...this.#fields];
  }
}
