import type { ServerResponse } from 'node:http';
import type { NormalizedOptions, MetricsContext } from './options.js';
import type { RequestSeries, RequestTable } from './request-table.js';

/** Route label of requests no router matched. */
export const UNMATCHED = '__unmatched__';
/** Label value recorded when a label function throws. */
export const LABEL_ERROR = '__error__';
/** `status_code` of a request whose client went away before the response was complete. */
export const ABORTED = 'aborted';
/** `method` label of a method outside the standard set (OpenTelemetry's convention). */
export const OTHER_METHOD = '_OTHER';

const METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'CONNECT',
  'TRACE',
]);
const STATUS_LABELS: readonly string[] = Object.freeze(
  Array.from({ length: 600 }, (_, i) => String(i)),
);
const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const SEP = '\u0001';

/** Counters the middleware keeps beside the table, read by the self-metrics and healthCheck(). */
export interface Stats {
  inFlight: number;
  labelErrors: number;
  scrapeErrors: number;
}

interface LayerLike {
  path?: unknown;
  methods?: unknown;
}

/**
 * @koa/router writes each layer's path on the context as it enters it, `router.use()` layers
 * included, whose path is a pattern such as `/api(?:\/|$)`: when such a middleware answers
 * without calling `next()` (an auth check returning 401), that pattern is left behind. Then this
 * returns what the router itself picked, the last matched route layer's template (`undefined`
 * when no route matched); otherwise `route` unchanged. (@koa-mesh/tracing does the same.)
 */
function routeLayerPath(matched: unknown, route: string, method: string): string | undefined {
  if (!Array.isArray(matched)) return route;
  const layers = matched as LayerLike[];
  const writer = layers.find((layer) => layer?.path === route);
  if (writer === undefined || !Array.isArray(writer.methods) || writer.methods.length > 0) {
    return route;
  }
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i];
    if (
      // The route the router picked serves this method; `matched` also holds route layers that
      // matched the path only (a GET route on the path of a POST).
      Array.isArray(layer?.methods) &&
      layer.methods.includes(method) &&
      typeof layer.path === 'string'
    ) {
      return layer.path;
    }
  }
  return undefined;
}

function cut(value: string, max: number): string {
  return value.length > max ? value.slice(0, max) : value;
}

function contentLength(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const n = typeof raw === 'number' ? raw : Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

const nowSeconds = (): number => Date.now() / 1000;

/**
 * Builds `record(ctx, start, res)`, called once per request when its response closes: works out
 * the label values (route template, normalised method, final status or `aborted`, extra labels),
 * finds or adds the series and observes the duration, with the exemplar of a sampled request.
 */
export function createRecorder(
  o: NormalizedOptions,
  table: RequestTable,
  stats: Stats,
): (ctx: MetricsContext, start: number, res: ServerResponse) => void {
  const maxLen = o.maxLabelValueLength;
  const extraCount = o.labelFunctions.length;

  function labelValue(i: number, ctx: MetricsContext): string {
    try {
      const v = o.labelFunctions[i]!(ctx);
      return v === undefined || v === null ? '' : cut(String(v), maxLen);
    } catch (err) {
      stats.labelErrors++;
      ctx.app?.emit?.('error', err, ctx);
      return LABEL_ERROR;
    }
  }

  return function record(ctx, start, res) {
    const seconds = (performance.now() - start) / 1000;
    const status = res.writableFinished
      ? (STATUS_LABELS[res.statusCode] ?? String(res.statusCode))
      : ABORTED;
    const method = METHODS.has(ctx.method) ? ctx.method : OTHER_METHOD;
    // @koa/router writes the matched template on the context while dispatching.
    const written: unknown = ctx._matchedRoute ?? ctx.routerPath;
    const matched =
      written === undefined || written === null || written === ''
        ? undefined
        : routeLayerPath(
            ctx.matched,
            typeof written === 'string' ? written : String(written),
            ctx.method,
          );
    const route = matched === undefined ? UNMATCHED : cut(matched, maxLen);
    let key = route + SEP + method + SEP + status;
    let extras: string[] | undefined;
    if (extraCount > 0) {
      extras = new Array<string>(extraCount);
      for (let i = 0; i < extraCount; i++) {
        const v = labelValue(i, ctx);
        extras[i] = v;
        key += SEP + v;
      }
    }
    const s: RequestSeries =
      table.find(key) ??
      table.add(key, extras ? [method, route, status, ...extras] : [method, route, status]);
    let traceId: string | undefined;
    let spanId: string | undefined;
    if (o.exemplars) {
      const state = ctx.state;
      if (
        state !== undefined &&
        state.sampled === true &&
        typeof state.traceId === 'string' &&
        typeof state.spanId === 'string' &&
        TRACE_ID.test(state.traceId) &&
        SPAN_ID.test(state.spanId)
      ) {
        traceId = state.traceId;
        spanId = state.spanId;
      }
    }
    table.observe(s, seconds, traceId, spanId, nowSeconds);
    if (o.sizes)
      table.observeSizes(
        s,
        contentLength(ctx.request?.length),
        // A HEAD response carries the GET body's Content-Length but sends no body.
        ctx.method === 'HEAD' ? 0 : contentLength(res.getHeader('content-length')),
      );
  };
}
