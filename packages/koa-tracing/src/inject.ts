import { isSpanContextValid, trace, type Context } from '@opentelemetry/api';
import type { PropagationFormat } from './extract.js';
import { outboundContext } from './koa-context.js';
import { writeBaggageHeaders, writeTraceHeaders } from './propagator.js';
import { optionNames, rejectUnknownKeys } from './known-keys.js';

/** Options of {@link injectTraceHeaders} and {@link traceInterceptor}. */
export interface InjectOptions {
  /** Formats to write. @default ['tracecontext'] */
  propagators?: readonly PropagationFormat[];
  /** Write W3C `baggage` from the context. @default true */
  baggage?: boolean;
  /** The context to propagate. @default context.active() when it holds a span, else the `ctx`'s */
  context?: Context;
  /**
   * A Koa context the middleware traced: its request context is propagated. Needed when no
   * OpenTelemetry context manager is registered (no SDK), where `context.active()` is empty.
   */
  ctx?: object;
}

/** What {@link traceInterceptor} takes: the context is read per request, never fixed. */
const INTERCEPTOR_OPTIONS = optionNames<Omit<InjectOptions, 'context' | 'ctx'>>({
  propagators: true,
  baggage: true,
});

/** A `Headers`-like object (WHATWG `Headers`, undici's) or a plain header record. */
export type HeaderTarget = { set(name: string, value: string): unknown } | Record<string, unknown>;

const TRACECONTEXT: readonly PropagationFormat[] = Object.freeze(['tracecontext']);

/**
 * Writes the active trace context (the request's server span inside a traced handler) into
 * outbound request headers: `traceparent`, `tracestate` and `baggage` by default. Works without an
 * OpenTelemetry SDK. Returns `headers`, so it reads well inline:
 *
 * ```ts
 * await fetch(url, { headers: injectTraceHeaders({ accept: 'application/json' }) });
 * ```
 */
export function injectTraceHeaders<H extends HeaderTarget>(
  headers: H,
  options: InjectOptions = {},
): H {
  const ctx = options.context ?? outboundContext(options.ctx);
  const isHeaders = typeof (headers as { set?: unknown }).set === 'function';
  const set = isHeaders
    ? (name: string, value: string) =>
        void (headers as { set(n: string, v: string): unknown }).set(name, value)
    : (name: string, value: string) => setInRecord(headers as Record<string, unknown>, name, value);
  const sc = trace.getSpanContext(ctx);
  const formats = options.propagators ?? TRACECONTEXT;
  if (sc && isSpanContextValid(sc)) {
    writeTraceHeaders(sc, formats, set, (name) => removeHeader(headers, name, isHeaders));
  }
  if (options.baggage ?? true) writeBaggageHeaders(ctx, formats, set);
  return headers;
}

/**
 * Sets header `name` (lowercase) in a plain record, first removing a copy of it under another
 * case (`Traceparent`): header names are case-insensitive, and undici would send both.
 */
function setInRecord(record: Record<string, unknown>, name: string, value: string): void {
  for (const key in record) if (key !== name && key.toLowerCase() === name) delete record[key];
  record[name] = value;
}

/** Deletes header `name` (lowercase) from a `Headers`-like object or, in any case, a record. */
function removeHeader(headers: HeaderTarget, name: string, isHeaders: boolean): void {
  if (isHeaders) {
    const del = (headers as { delete?: unknown }).delete;
    if (typeof del === 'function') del.call(headers, name);
    return;
  }
  const record = headers as Record<string, unknown>;
  for (const key of Object.keys(record)) if (key.toLowerCase() === name) delete record[key];
}

type UndiciHeaders =
  | Record<string, string | string[] | undefined>
  | Array<string | string[]>
  | Iterable<[string, string | string[] | undefined]>
  | null
  | undefined;

/** The part of undici's dispatch options the interceptor touches. */
export interface DispatchOptions {
  headers?: UndiciHeaders;
}

/** undici's `Dispatcher.dispatch` shape. */
export type Dispatch<O extends DispatchOptions = DispatchOptions, H = unknown> = (
  options: O,
  handler: H,
) => boolean;

function toRecord(headers: UndiciHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const add = (name: string, value: string | string[] | undefined): void => {
    if (value === undefined) return;
    const key = name.toLowerCase();
    const prev = out[key];
    if (prev === undefined) out[key] = value;
    else out[key] = ([] as string[]).concat(prev, value);
  };
  if (headers == null) return out;
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as unknown as Array<[string, string]>) add(pair[0], pair[1]);
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2) add(String(headers[i]), headers[i + 1]);
    }
  } else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [k, v] of headers as Iterable<[string, string | string[] | undefined]>) add(k, v);
  } else {
    for (const [k, v] of Object.entries(headers)) add(k, v);
  }
  return out;
}

/**
 * An undici interceptor that adds the active trace context to every request a dispatcher sends,
 * for `undici.request()` and `fetch()` alike (headers already present with the same names are
 * replaced). It reads `context.active()`, so it needs a registered context manager (any SDK
 * registers one):
 *
 * ```ts
 * import { Agent, setGlobalDispatcher } from 'undici';
 * setGlobalDispatcher(new Agent().compose(traceInterceptor()));
 * ```
 */
export function traceInterceptor(
  options: Omit<InjectOptions, 'context' | 'ctx'> = {},
): <O extends DispatchOptions, H>(dispatch: Dispatch<O, H>) => Dispatch<O, H> {
  // Checked here, once: `injectTraceHeaders` runs per request and keeps its options unchecked.
  if (typeof options === 'object' && options !== null) {
    rejectUnknownKeys('', options, INTERCEPTOR_OPTIONS);
  }
  return <O extends DispatchOptions, H>(dispatch: Dispatch<O, H>): Dispatch<O, H> =>
    function tracedDispatch(opts: O, handler: H): boolean {
      const extra = injectTraceHeaders({} as Record<string, string>, options);
      const names = Object.keys(extra);
      if (names.length === 0) return dispatch(opts, handler);
      const headers = toRecord(opts.headers);
      for (const name of names) headers[name] = extra[name]!;
      // A tracestate not written here belongs to another traceparent than the one just written.
      if (extra.traceparent !== undefined && extra.tracestate === undefined) {
        delete headers.tracestate;
      }
      return dispatch({ ...opts, headers }, handler);
    };
}
