import { Registry, type RegistryContentType } from 'prom-client';
import { optionNames, rejectUnknownKeys } from './known-keys.js';

/** The Koa context as far as this package reads it (common to Koa 2 and Koa 3). */
export interface MetricsContext {
  method: string;
  path: string;
  state: Record<string, unknown>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [key: string]: any;
}

/** Computes the value of an extra label from the finished request's context. */
export type LabelFunction = (ctx: MetricsContext) => unknown;

/** Where the exposition is served when it should stay off the public port. */
export interface ListenOptions {
  /** Port of the separate listener; `0` picks a free one (see `metrics.ready`). */
  port: number;
  /** Interface to bind. @default undefined (every interface, like `server.listen(port)`) */
  host?: string;
}

/** Options of prom-client's process and runtime metrics. */
export interface DefaultMetricsOptions {
  /** Prefix for the runtime metric names. @default '' */
  prefix?: string;
  /** Buckets of `nodejs_gc_duration_seconds`. @default prom-client's [0.001, 0.01, 0.1, 1, 2, 5] */
  gcDurationBuckets?: number[];
  /** Resolution of the event-loop delay monitor, in ms. @default 10 */
  eventLoopMonitoringPrecision?: number;
}

/** Options of {@link metrics}. Every field is optional. */
export interface MetricsOptions {
  /**
   * Registry the metrics are registered in and the exposition is rendered from. Add your own
   * metrics to it (or to `middleware.registry`) to serve them at the same endpoint.
   * @default a new Registry (never prom-client's global one)
   */
  registry?: Registry<RegistryContentType>;
  /** Prefix for the names of the metrics this package defines (`myapp_http_requests_total`). @default '' */
  prefix?: string;
  /** Path of the exposition (GET and HEAD). @default '/metrics' */
  path?: string;
  /**
   * Upper bounds (seconds) of `http_request_duration_seconds`; strictly increasing, positive,
   * finite. `sloSeconds` is added when missing.
   * @default [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
   */
  buckets?: number[];
  /**
   * The latency objective in seconds. Always a bucket boundary, so that the ratio of requests
   * under it is exact (the shipped rules use 0.5).
   * @default 0.5
   */
  sloSeconds?: number;
  /**
   * Request and response size histograms (`http_request_size_bytes`, `http_response_size_bytes`),
   * observed from `Content-Length` when it is known.
   * @default false
   */
  sizes?: boolean;
  /** Upper bounds (bytes) of the size histograms. @default [100, 1000, 10000, 100000, 1000000, 10000000] */
  sizeBuckets?: number[];
  /** prom-client's process and runtime metrics, minus those that fail `promtool check metrics`. @default true */
  defaultMetrics?: boolean | DefaultMetricsOptions;
  /**
   * Extra labels on the request metrics, computed when the response ends:
   * `{ version: (ctx) => ctx.state.version }`. A function that throws records `__error__`.
   * @default {}
   */
  labels?: Record<string, LabelFunction>;
  /**
   * Requests not recorded: exact paths, regular expressions tested on `ctx.path`, or a predicate.
   * The exposition path is never recorded.
   * @default ['/health', '/ready', '/startup', '/healthz', '/livez', '/readyz', '/health/live', '/health/ready', '/health/startup'] (@koa-mesh/health's and Kubernetes' usual probe paths)
   */
  ignore?: Array<string | RegExp> | ((ctx: MetricsContext) => boolean);
  /** Maximum label sets held by each request metric; later new sets go to one overflow series. @default 2000 */
  maxSeries?: number;
  /** Label values longer than this are cut. @default 128 */
  maxLabelValueLength?: number;
  /**
   * Exemplars (`trace_id`, `span_id` from `ctx.state`) on the duration histogram for sampled
   * requests; they appear in the OpenMetrics exposition only.
   * @default true
   */
  exemplars?: boolean;
  /**
   * Decides whether a scrape on the application's port may read the metrics. Denied scrapes get a
   * 403 problem+json. A throwing function denies.
   * @default undefined (everyone may scrape)
   */
  authorize?: (ctx: MetricsContext) => boolean | Promise<boolean>;
  /**
   * Serve the exposition on a separate listener (port or `{ port, host }`) instead of the
   * application's port; `close()` stops it.
   * @default undefined
   */
  listen?: number | ListenOptions;
  /**
   * Cluster worker mode: this worker's registry answers the primary's aggregation requests
   * (prom-client's AggregatorRegistry) and the application port serves no exposition; the primary
   * serves it with {@link clusterMetricsServer}.
   * @default false
   */
  cluster?: boolean;
}

export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

export const DEFAULT_SIZE_BUCKETS: readonly number[] = Object.freeze([
  100, 1000, 10_000, 100_000, 1_000_000, 10_000_000,
]);

export const DEFAULT_IGNORE: readonly string[] = Object.freeze([
  '/health',
  '/ready',
  '/startup',
  '/healthz',
  '/livez',
  '/readyz',
  '/health/live',
  '/health/ready',
  '/health/startup',
]);

export const DEFAULTS = Object.freeze({
  prefix: '',
  path: '/metrics',
  sloSeconds: 0.5,
  sizes: false,
  maxSeries: 2000,
  maxLabelValueLength: 128,
  exemplars: true,
  cluster: false,
});

/** Options after validation, with defaults applied. */
export interface NormalizedOptions {
  registry: Registry<RegistryContentType>;
  prefix: string;
  path: string;
  buckets: number[];
  sloSeconds: number;
  sizes: boolean;
  sizeBuckets: number[];
  defaultMetrics: DefaultMetricsOptions | false;
  labelNames: string[];
  labelFunctions: LabelFunction[];
  ignorePaths: Set<string>;
  ignorePatterns: RegExp[];
  ignoreFunction: ((ctx: MetricsContext) => boolean) | undefined;
  maxSeries: number;
  maxLabelValueLength: number;
  exemplars: boolean;
  authorize: ((ctx: MetricsContext) => boolean | Promise<boolean>) | undefined;
  listen: ListenOptions | undefined;
  cluster: boolean;
}

// Accepted names of each options bag, as records so the compiler keeps them equal to the types.
const OPTION_KEYS = optionNames<MetricsOptions>({
  registry: true,
  prefix: true,
  path: true,
  buckets: true,
  sloSeconds: true,
  sizes: true,
  sizeBuckets: true,
  defaultMetrics: true,
  labels: true,
  ignore: true,
  maxSeries: true,
  maxLabelValueLength: true,
  exemplars: true,
  authorize: true,
  listen: true,
  cluster: true,
});
const LISTEN_KEYS = optionNames<ListenOptions>({ port: true, host: true });
const DEFAULT_METRICS_KEYS = optionNames<DefaultMetricsOptions>({
  prefix: true,
  gcDurationBuckets: true,
  eventLoopMonitoringPrecision: true,
});

const PKG = '@koa-mesh/metrics';
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Labels this package sets itself, or that Prometheus reserves for histograms and summaries. */
const RESERVED_LABELS = new Set(['method', 'route', 'status_code', 'le', 'quantile']);

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  if (value instanceof RegExp) return String(value);
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

function fail(option: string, expected: string, got: unknown): never {
  throw new TypeError(`${PKG}: expected \`${option}\` to be ${expected}, got ${show(got)}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function positiveInteger(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    fail(option, 'a positive integer', value);
  return value;
}

function bool(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(option, 'a boolean', value);
  return value;
}

function bucketList(option: string, value: unknown, fallback: readonly number[]): number[] {
  if (value === undefined) return [...fallback];
  const expected = 'a non-empty array of finite positive numbers in increasing order';
  if (!Array.isArray(value) || value.length === 0) fail(option, expected, value);
  for (let i = 0; i < value.length; i++) {
    const b: unknown = value[i];
    if (typeof b !== 'number' || !Number.isFinite(b) || b <= 0) fail(option, expected, value);
    if (i > 0 && b <= (value[i - 1] as number)) fail(option, expected, value);
  }
  return [...(value as number[])];
}

function normalizeListen(value: unknown): ListenOptions | undefined {
  if (value === undefined) return undefined;
  const expected = 'a port number (0-65535) or { port, host? }';
  // Before the port check: `{ prot: 9464 }` is better told as a typo than as a missing port.
  if (isPlainObject(value)) rejectUnknownKeys('listen', value, LISTEN_KEYS);
  const port = typeof value === 'number' ? value : isPlainObject(value) ? value.port : undefined;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535)
    fail('listen', expected, value);
  const host = isPlainObject(value) ? value.host : undefined;
  if (host !== undefined && (typeof host !== 'string' || host === ''))
    fail('listen.host', 'a non-empty string', host);
  return host === undefined ? { port } : { port, host };
}

function normalizeDefaultMetrics(value: unknown): DefaultMetricsOptions | false {
  if (value === undefined || value === true) return {};
  if (value === false) return false;
  if (!isPlainObject(value)) fail('defaultMetrics', 'a boolean or an options object', value);
  rejectUnknownKeys('defaultMetrics', value, DEFAULT_METRICS_KEYS);
  const out: DefaultMetricsOptions = {};
  if (value.prefix !== undefined) {
    if (
      typeof value.prefix !== 'string' ||
      (value.prefix !== '' && !METRIC_NAME.test(value.prefix))
    )
      fail('defaultMetrics.prefix', 'a valid metric name prefix', value.prefix);
    out.prefix = value.prefix;
  }
  if (value.gcDurationBuckets !== undefined)
    out.gcDurationBuckets = bucketList(
      'defaultMetrics.gcDurationBuckets',
      value.gcDurationBuckets,
      [],
    );
  if (value.eventLoopMonitoringPrecision !== undefined)
    out.eventLoopMonitoringPrecision = positiveInteger(
      'defaultMetrics.eventLoopMonitoringPrecision',
      value.eventLoopMonitoringPrecision,
      10,
    );
  return out;
}

/** Validates options once, at construction; throws a TypeError naming the option. */
export function normalizeOptions(options: MetricsOptions | undefined): NormalizedOptions {
  if (options === undefined) options = {};
  if (!isPlainObject(options)) fail('options', 'an object', options);
  const o = options as Record<string, unknown>;
  // `labels` is the user's map of label names and `registry` the user's object: neither is checked.
  rejectUnknownKeys('', o, OPTION_KEYS);

  const registry = o.registry ?? new Registry();
  if (
    !isPlainObject(registry) ||
    typeof (registry as { registerMetric?: unknown }).registerMetric !== 'function' ||
    typeof (registry as { getMetricsAsArray?: unknown }).getMetricsAsArray !== 'function'
  )
    fail('registry', 'a prom-client Registry', registry);

  const prefix = o.prefix ?? DEFAULTS.prefix;
  if (typeof prefix !== 'string' || (prefix !== '' && !METRIC_NAME.test(prefix)))
    fail('prefix', 'a valid metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)', prefix);

  const path = o.path ?? DEFAULTS.path;
  if (typeof path !== 'string' || !path.startsWith('/'))
    fail('path', 'a string starting with "/"', path);

  const sloSeconds = o.sloSeconds ?? DEFAULTS.sloSeconds;
  if (typeof sloSeconds !== 'number' || !Number.isFinite(sloSeconds) || sloSeconds <= 0)
    fail('sloSeconds', 'a finite positive number of seconds', sloSeconds);
  const buckets = bucketList('buckets', o.buckets, DEFAULT_BUCKETS);
  if (!buckets.includes(sloSeconds)) {
    buckets.push(sloSeconds);
    buckets.sort((a, b) => a - b);
  }

  const labelNames: string[] = [];
  const labelFunctions: LabelFunction[] = [];
  if (o.labels !== undefined) {
    if (!isPlainObject(o.labels)) fail('labels', 'an object of label functions', o.labels);
    for (const [name, fn] of Object.entries(o.labels)) {
      if (!LABEL_NAME.test(name) || name.startsWith('__') || RESERVED_LABELS.has(name))
        fail(
          'labels',
          'label names matching [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" and not one of method, route, status_code, le, quantile',
          name,
        );
      if (typeof fn !== 'function') fail(`labels.${name}`, 'a function (ctx) => value', fn);
      labelNames.push(name);
      labelFunctions.push(fn as LabelFunction);
    }
  }

  let ignorePaths = new Set<string>(DEFAULT_IGNORE);
  const ignorePatterns: RegExp[] = [];
  let ignoreFunction: ((ctx: MetricsContext) => boolean) | undefined;
  if (typeof o.ignore === 'function') {
    ignorePaths = new Set();
    ignoreFunction = o.ignore as (ctx: MetricsContext) => boolean;
  } else if (o.ignore !== undefined) {
    if (!Array.isArray(o.ignore))
      fail('ignore', 'an array of paths and RegExps, or a function', o.ignore);
    ignorePaths = new Set();
    for (const entry of o.ignore as unknown[]) {
      if (typeof entry === 'string' && entry.startsWith('/')) ignorePaths.add(entry);
      else if (entry instanceof RegExp) {
        // A global or sticky RegExp keeps lastIndex between tests and would skip every other match.
        ignorePatterns.push(
          entry.global || entry.sticky
            ? new RegExp(entry.source, entry.flags.replace(/[gy]/g, ''))
            : entry,
        );
      } else fail('ignore', 'paths starting with "/" or RegExps', entry);
    }
  }
  ignorePaths.add(path);

  const cluster = bool('cluster', o.cluster, DEFAULTS.cluster);
  const listen = normalizeListen(o.listen);
  // Workers share a listening port through the primary: each scrape would reach one worker's
  // registry, and its counters would jump between workers' values.
  if (cluster && listen !== undefined)
    fail(
      'listen',
      'unset with `cluster: true` (the primary serves the sum with clusterMetricsServer())',
      o.listen,
    );

  return {
    registry: registry as unknown as Registry<RegistryContentType>,
    prefix,
    path,
    buckets,
    sloSeconds,
    sizes: bool('sizes', o.sizes, DEFAULTS.sizes),
    sizeBuckets: bucketList('sizeBuckets', o.sizeBuckets, DEFAULT_SIZE_BUCKETS),
    defaultMetrics: normalizeDefaultMetrics(o.defaultMetrics),
    labelNames,
    labelFunctions,
    ignorePaths,
    ignorePatterns,
    ignoreFunction,
    maxSeries: positiveInteger('maxSeries', o.maxSeries, DEFAULTS.maxSeries),
    maxLabelValueLength: positiveInteger(
      'maxLabelValueLength',
      o.maxLabelValueLength,
      DEFAULTS.maxLabelValueLength,
    ),
    exemplars: bool('exemplars', o.exemplars, DEFAULTS.exemplars),
    authorize:
      o.authorize === undefined
        ? undefined
        : typeof o.authorize === 'function'
          ? (o.authorize as NormalizedOptions['authorize'])
          : fail('authorize', 'a function (ctx) => boolean', o.authorize),
    listen,
    cluster,
  };
}
