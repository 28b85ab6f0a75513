import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AggregatorRegistry,
  type Metric,
  type Registry,
  type RegistryContentType,
} from 'prom-client';
import { runtimeMetrics } from './default-metrics.js';
import { createEndpoint } from './endpoint.js';
import type { ExpositionFormat } from './exposition.js';
import { requestFamilies } from './families.js';
import { serveExposition, type ExpositionServer } from './listener.js';
import { normalizeOptions, type MetricsContext, type MetricsOptions } from './options.js';
import { createRecorder, type Stats } from './recorder.js';
import { RequestTable } from './request-table.js';
import { scrape } from './scrape.js';

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
  const { registry } = o;
  const table = new RequestTable({
    labelNames: ['method', 'route', 'status_code', ...o.labelNames],
    bounds: o.buckets,
    sizeBounds: o.sizes ? o.sizeBuckets : undefined,
    maxSeries: o.maxSeries,
  });
  const stats: Stats = { inFlight: 0, labelErrors: 0, scrapeErrors: 0 };
  const families = requestFamilies(o.prefix, table, stats, o.sizes);
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
      stats.scrapeErrors++;
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
  const record = createRecorder(o, table, stats);
  const serveMetrics = createEndpoint(o, expose);

  function onResponseClose(this: ServerResponse): void {
    const tagged = this as unknown as Tagged;
    const ctx = tagged[kCtx] as MetricsContext | undefined;
    if (ctx === undefined) return;
    tagged[kCtx] = undefined;
    stats.inFlight--;
    try {
      record(ctx, tagged[kStart] as number, this);
    } catch (err) {
      // Recording must never take the process down from an event handler.
      ctx.app?.emit?.('error', err, ctx);
    }
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
    // Already recording this response (the middleware mounted twice, e.g. in a sub-app).
    if (res[kCtx] !== undefined) return next();
    res[kCtx] = ctx;
    res[kStart] = performance.now();
    stats.inFlight++;
    res.on('close', onResponseClose);
    // The client may have left while a middleware mounted before this one was awaiting: `close`
    // has fired already and would never reach the listener, leaving the request in flight for good.
    if (res.destroyed) onResponseClose.call(res);
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
        labelErrors: stats.labelErrors,
        scrapeErrors: stats.scrapeErrors,
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
