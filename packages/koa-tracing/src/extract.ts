import { parseB3Multi, parseB3Single } from './b3.js';
import { parseUberTraceId } from './jaeger.js';
import { parseTraceparent, type ParsedTraceContext } from './traceparent.js';
import { parseTracestate, type W3CTraceState } from './tracestate.js';

/**
 * A propagation format. `tracecontext` is W3C `traceparent` + `tracestate`; `b3` reads the B3
 * single header, then the multi headers, and writes the single header; `b3multi` reads the same
 * and writes the multi headers; `jaeger` is `uber-trace-id`.
 */
export type PropagationFormat = 'tracecontext' | 'b3' | 'b3multi' | 'jaeger';

/** Every format, in the order accepted by the `propagators` option's validation. */
export const PROPAGATION_FORMATS: readonly PropagationFormat[] = Object.freeze([
  'tracecontext',
  'b3',
  'b3multi',
  'jaeger',
]);

/** A remote parent read from inbound headers. */
export interface ExtractedContext extends ParsedTraceContext {
  /** The format that supplied it. */
  format: PropagationFormat;
  /** A valid, non-empty W3C `tracestate`, when the format is `tracecontext` and one was sent. */
  traceState: W3CTraceState | undefined;
}

/** Reads one header (lowercase name) from a carrier; several values come joined with `,`. */
export type HeaderGetter<C> = (carrier: C, name: string) => string | undefined;

/** Reads a header from Node's `IncomingHttpHeaders`-like record. */
export function getFromRecord(
  carrier: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const value = carrier[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * Reads the remote parent from the first format in `formats` (the precedence order) that carries a
 * valid one. Invalid headers of a format are ignored and the next format is tried; when none is
 * valid the result is `undefined` and the caller starts a new trace. A `tracestate` is only read
 * alongside a valid `traceparent`, and dropped alone when invalid.
 */
export function extractTraceContext<C>(
  carrier: C,
  get: HeaderGetter<C>,
  formats: readonly PropagationFormat[],
): ExtractedContext | undefined {
  for (const format of formats) {
    let found: ParsedTraceContext | undefined;
    if (format === 'tracecontext') {
      found = parseTraceparent(get(carrier, 'traceparent'));
      if (found) {
        const traceState = parseTracestate(get(carrier, 'tracestate'));
        return {
          traceId: found.traceId,
          spanId: found.spanId,
          traceFlags: found.traceFlags,
          format,
          traceState: traceState && traceState.size > 0 ? traceState : undefined,
        };
      }
      continue;
    }
    if (format === 'b3' || format === 'b3multi') {
      const single = get(carrier, 'b3');
      found =
        single !== undefined
          ? parseB3Single(single)
          : parseB3Multi({
              traceId: get(carrier, 'x-b3-traceid'),
              spanId: get(carrier, 'x-b3-spanid'),
              sampled: get(carrier, 'x-b3-sampled'),
              flags: get(carrier, 'x-b3-flags'),
            });
    } else if (format === 'jaeger') {
      found = parseUberTraceId(get(carrier, 'uber-trace-id'));
    }
    if (found) {
      return {
        traceId: found.traceId,
        spanId: found.spanId,
        traceFlags: found.traceFlags,
        format,
        traceState: undefined,
      };
    }
  }
  return undefined;
}
