import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AggregatorRegistry,
  type Metric,
  type Registry,
  type RegistryContentType,
} from 'prom-client';
import { runtimeMetrics } from './default-metrics.js';
import { MetricsError } from './errors.js';
import {
  OPENMETRICS_CONTENT_TYPE,
  TEXT_CONTENT_TYPE,
  type ExpositionFormat,
} from './exposition.js';
import {
  DurationHistogram,
  ReadValue,
  RequestCounter,
  SizeHistogram,
  type RegistrableMetric,
} from './families.js';
import { serveExposition, type ExpositionServer } from './listener.js';
import { negotiateFormat } from './negotiate.js';
import { normalizeOptions, type MetricsContext, type MetricsOptions } from './options.js';
import { RequestTable, type RequestSeries } from './request-table.js';
import { scrape } from './scrape.js';

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

/** The health check result shape shared by koa-mesh packages. */
export interface HealthCheckResult {
  status: 'pass' | 'warn' | 'fail';
  componentType?: string;
  measurement?: string;
  observedValue?: unknown;
  observedUnit?: string;
  output?: string;
  details?: Record<string, unknown>;
}

/** The Koa middleware `metrics()` returns, with its registry and lifecycle. */
export interface MetricsMiddleware {
  (ctx: MetricsContext, next: () => Promise<unknown>): Promise<unknown> | unknown;
  /** The registry behind the exposition; register your own metrics here. */
  readonly registry: Registry<RegistryContentType>;
  /**
   * Resolves with the separate listener's address once it is bound (`listen` option), or with
   * `undefined` when there is none; rejects when binding failed.
   */
  readonly ready: Promise<AddressInfo | undefined>;
  /**
   * `pass`, `warn` once the cardinality cap sent requests to the overflow series, `fail` when the
   * separate listener is not listening. The koa-mesh HealthCheck shape.
   */
  healthCheck(): Promise<HealthCheckResult>;
  /** Closes the separate listener, when there is one. The registry keeps its metrics. */
  close(): Promise<void>;
}

interface Tagged {
  [key: symbol]: unknown;
}

function cut(value: string, max: number): string {
  return value.length > max ? value.slice(0, max) : value;
}

function contentLength(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const n = typeof raw === 'number' ? raw : Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * Prometheus RED metrics for Koa: records every request (`http_requests_total`,
 * `http_request_duration_seconds`, `http_requests_in_flight`) labelled by method, route template
 * and status, with a cap on label sets, and serves the exposition at `path` in the Prometheus
 * text format or, when asked, in OpenMetrics with trace exemplars.
 *
 * @example
 * ```ts
 * const m = metrics({ labels: { version: (ctx) => ctx.state.version } });
 * app.use(m);
 * app.use(router.routes());
 * ```
 */
export function metrics(options?: MetricsOptions): MetricsMiddleware {
  const o = normalizeOptions(options);
  const { registry, prefix, maxLabelValueLength: maxLen } = o;
  const labelNames = ['method', 'route', 'status_code', ...o.labelNames];
  const extraCount = o.labelFunctions.length;
  const table = new RequestTable({
    labelNames,
    bounds: o.buckets,
    sizeBounds: o.sizes ? o.sizeBuckets : undefined,
    maxSeries: o.maxSeries,
  });
  let inFlight = 0;
  let labelErrors = 0;
  let scrapeErrors = 0;

  const families: RegistrableMetric[] = [
    new RequestCounter(
      `${prefix}http_requests_total`,
      'HTTP requests served, by method, route template and status code.',
      table,
    ),
    new DurationHistogram(
      `${prefix}http_request_duration_seconds`,
      'Time from receiving an HTTP request to the end of its response, in seconds.',
      table,
    ),
    new ReadValue(
      `${prefix}http_requests_in_flight`,
      'HTTP requests being served now.',
      'gauge',
      () => inFlight,
    ),
    new ReadValue(
      `${prefix}koa_mesh_metrics_series`,
      'Label sets held by the HTTP request metrics (the overflow series not included).',
      'gauge',
      () => table.size,
    ),
    new ReadValue(
      `${prefix}koa_mesh_metrics_series_limit`,
      'Label sets the HTTP request metrics may hold before new ones go to the overflow series.',
      'gauge',
      () => table.maxSeries,
    ),
    new ReadValue(
      `${prefix}koa_mesh_metrics_overflow_total`,
      'Requests recorded in the overflow series because the label set cap was reached.',
      'counter',
      () => table.overflows,
    ),
    new ReadValue(
      `${prefix}koa_mesh_metrics_label_errors_total`,
      'Label functions that threw (their label recorded as __error__).',
      'counter',
      () => labelErrors,
      () => (labelErrors = 0),
    ),
    new ReadValue(
      `${prefix}koa_mesh_metrics_scrape_errors_total`,
      'Metrics left out of a scrape because collecting them failed.',
      'counter',
      () => scrapeErrors,
      () => (scrapeErrors = 0),
    ),
  ];
  if (o.sizes) {
    families.push(
      new SizeHistogram(
        `${prefix}http_request_size_bytes`,
        'HTTP request body sizes from Content-Length, in bytes.',
        table,
        (s) => s.requestSize,
      ),
      new SizeHistogram(
        `${prefix}http_response_size_bytes`,
        'HTTP response body sizes from Content-Length, in bytes.',
        table,
        (s) => s.responseSize,
      ),
    );
  }
  const runtime = o.defaultMetrics === false ? [] : runtimeMetrics(o.defaultMetrics);
  for (const m of [...families, ...runtime]) {
    if (registry.getSingleMetric(m.name) !== undefined)
      throw new TypeError(
        `@koa-mesh/metrics: expected \`registry\` to hold no metric named ${m.name}, got one already registered (use \`prefix\`, \`defaultMetrics: false\` or another registry)`,
      );
  }
  for (const m of [...families, ...runtime]) registry.registerMetric(m as unknown as Metric);

  if (o.cluster) {
    // Installs prom-client's worker-side listener (only its constructor does) and points it at
    // this registry, so the primary's AggregatorRegistry sums this worker's metrics.
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([registry]);
  }

  async function expose(format: ExpositionFormat, emit: (err: unknown) => void): Promise<string> {
    const { text, failures } = await scrape(registry, format);
    for (const f of failures) {
      scrapeErrors++;
      const err = f.error instanceof Error ? f.error : new Error(String(f.error));
      err.message = `@koa-mesh/metrics: collecting ${f.name} failed: ${err.message}`;
      emit(err);
    }
    return text;
  }

  let server: ExpositionServer | undefined;
  if (o.listen) {
    const emitNowhere = (): void => undefined;
    server = serveExposition(o.listen.port, o.listen.host, o.path, (format) =>
      expose(format, emitNowhere),
    );
  }
  const servesInApp = server === undefined && !o.cluster;

  const kCtx = Symbol('koa-mesh.metrics.ctx');
  const kStart = Symbol('koa-mesh.metrics.start');
  const nowSeconds = (): number => Date.now() / 1000;

  function labelValue(i: number, ctx: MetricsContext): string {
    try {
      const v = o.labelFunctions[i]!(ctx);
      return v === undefined || v === null ? '' : cut(String(v), maxLen);
    } catch (err) {
      labelErrors++;
      ctx.app?.emit?.('error', err, ctx);
      return LABEL_ERROR;
    }
  }

  function record(ctx: MetricsContext, start: number, res: ServerResponse): void {
    const seconds = (performance.now() - start) / 1000;
    const status = res.writableFinished
      ? (STATUS_LABELS[res.statusCode] ?? String(res.statusCode))
      : ABORTED;
    const method = METHODS.has(ctx.method) ? (ctx.method as string) : OTHER_METHOD;
    const matched: unknown = ctx._matchedRoute ?? ctx.routerPath;
    const route =
      matched === undefined || matched === null || matched === ''
        ? UNMATCHED
        : cut(typeof matched === 'string' ? matched : String(matched), maxLen);
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
        contentLength(res.getHeader('content-length')),
      );
  }

  function onResponseClose(this: ServerResponse): void {
    const tagged = this as unknown as Tagged;
    const ctx = tagged[kCtx] as MetricsContext | undefined;
    if (ctx === undefined) return;
    tagged[kCtx] = undefined;
    inFlight--;
    try {
      record(ctx, tagged[kStart] as number, this);
    } catch (err) {
      // Recording must never take the process down from an event handler.
      ctx.app?.emit?.('error', err, ctx);
    }
  }

  function answerProblem(ctx: MetricsContext, err: MetricsError): void {
    ctx.status = err.status;
    for (const [name, value] of Object.entries(err.headers)) ctx.set(name, value);
    ctx.set('Content-Type', 'application/problem+json');
    ctx.body = JSON.stringify(err.toProblem(ctx.state?.requestId));
  }

  async function serveMetrics(ctx: MetricsContext): Promise<void> {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      return answerProblem(
        ctx,
        new MetricsError(
          'ERR_KOA_MESH_METRICS_METHOD_NOT_ALLOWED',
          `${o.path} answers GET and HEAD only`,
          {
            Allow: 'GET, HEAD',
          },
        ),
      );
    }
    if (o.authorize) {
      let allowed = false;
      try {
        allowed = (await o.authorize(ctx)) === true;
      } catch (err) {
        ctx.app?.emit?.('error', err, ctx);
      }
      if (!allowed)
        return answerProblem(
          ctx,
          new MetricsError('ERR_KOA_MESH_METRICS_FORBIDDEN', 'not allowed to read metrics'),
        );
    }
    const format = negotiateFormat(ctx.get('accept') || undefined);
    const text = await expose(format, (err) => ctx.app?.emit?.('error', err, ctx));
    ctx.status = 200;
    ctx.set(
      'Content-Type',
      format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE,
    );
    ctx.set('Cache-Control', 'no-store');
    ctx.vary('Accept');
    ctx.body = text;
  }

  const { ignorePaths, ignorePatterns, ignoreFunction } = o;

  function ignored(ctx: MetricsContext, path: string): boolean {
    if (ignorePaths.has(path)) return true;
    for (let i = 0; i < ignorePatterns.length; i++) if (ignorePatterns[i]!.test(path)) return true;
    if (ignoreFunction !== undefined) {
      try {
        return ignoreFunction(ctx) === true;
      } catch (err) {
        ctx.app?.emit?.('error', err, ctx);
      }
    }
    return false;
  }

  const middleware = function metricsMiddleware(ctx: MetricsContext, next: () => Promise<unknown>) {
    const path: string = ctx.path;
    if (servesInApp && path === o.path) return serveMetrics(ctx);
    if (ignored(ctx, path)) return next();
    const res = ctx.res as ServerResponse & Tagged;
    res[kCtx] = ctx;
    res[kStart] = performance.now();
    inFlight++;
    res.on('close', onResponseClose);
    return next();
  };

  const ready: Promise<AddressInfo | undefined> = server
    ? server.ready
    : Promise.resolve(undefined);
  ready.catch(() => undefined);

  return Object.assign(middleware, {
    registry,
    ready,
    async healthCheck(): Promise<HealthCheckResult> {
      const details = {
        series: table.size,
        maxSeries: table.maxSeries,
        overflows: table.overflows,
        labelErrors,
        scrapeErrors,
      };
      const base = {
        componentType: 'component',
        measurement: 'series',
        observedValue: table.size,
        observedUnit: 'label sets',
        details,
      };
      if (server && !server.listening()) {
        const listener = server;
        const why = await listener.ready.then(
          () => (listener.listening() ? undefined : 'closed'),
          (err: unknown) => (err instanceof Error ? err.message : String(err)),
        );
        if (why !== undefined)
          return { status: 'fail', ...base, output: `metrics listener is not listening: ${why}` };
      }
      if (table.overflows > 0)
        return {
          status: 'warn',
          ...base,
          output: `cardinality cap of ${table.maxSeries} label sets reached; ${table.overflows} requests recorded in the overflow series`,
        };
      return { status: 'pass', ...base };
    },
    close(): Promise<void> {
      return server ? server.close() : Promise.resolve();
    },
  }) as MetricsMiddleware;
}
