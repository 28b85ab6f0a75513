/**
 * Metric families that read the request table at scrape time, in the object shape prom-client's
 * Registry expects (`name`, `help`, `type`, `aggregator`, `get()`, `reset()`). Registered in a
 * normal prom-client Registry they render through `registry.metrics()`, take part in
 * `getMetricsAsJSON()` and in the cluster AggregatorRegistry, and keep exemplars out of the text
 * format (the registry prints `exemplar` only in OpenMetrics). Recording never goes through
 * prom-client's label hashing, which is what makes hand-written middlewares slow.
 */
import type { Stats } from './recorder.js';
import type { HistogramCell, RequestSeries, RequestTable } from './request-table.js';

/** One sample as prom-client's `get()` returns it. */
export interface SampleValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
  exemplar?: { labelSet: Record<string, string>; value: number; timestamp: number };
}

/** One family as prom-client's `get()` returns it. */
export interface FamilyValue {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: SampleValue[];
}

/** The structural metric interface prom-client's Registry works with. */
export interface RegistrableMetric {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator: string;
  get(): Promise<FamilyValue>;
  reset(): void;
}

abstract class Family implements RegistrableMetric {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {}
  protected abstract values(): SampleValue[];
  get(): Promise<FamilyValue> {
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.values(),
    });
  }
  abstract reset(): void;
}

/** `http_requests_total`: the count of every label set's duration histogram. */
export class RequestCounter extends Family {
  constructor(
    name: string,
    help: string,
    private readonly table: RequestTable,
  ) {
    super(name, help, 'counter');
  }
  protected values(): SampleValue[] {
    const out: SampleValue[] = [];
    for (const s of this.table.all()) out.push({ value: s.count, labels: { ...s.labels } });
    return out;
  }
  reset(): void {
    this.table.reset();
  }
}

function histogramValues(
  name: string,
  labels: Readonly<Record<string, string>>,
  bounds: Float64Array,
  c: HistogramCell,
  exemplars: RequestSeries['exemplars'],
  out: SampleValue[],
): void {
  let cumulative = 0;
  for (let i = 0; i <= bounds.length; i++) {
    cumulative += c.buckets[i]!;
    const v: SampleValue = {
      value: cumulative,
      labels: { ...labels, le: i < bounds.length ? bounds[i]! : '+Inf' },
      metricName: `${name}_bucket`,
    };
    const e = exemplars?.[i];
    if (e !== undefined)
      v.exemplar = {
        labelSet: { trace_id: e.traceId, span_id: e.spanId },
        value: e.value,
        timestamp: e.timestamp,
      };
    out.push(v);
  }
  out.push({ value: c.sum, labels: { ...labels }, metricName: `${name}_sum` });
  out.push({ value: c.count, labels: { ...labels }, metricName: `${name}_count` });
}

/** `http_request_duration_seconds`, with the exemplars of sampled requests on its buckets. */
export class DurationHistogram extends Family {
  constructor(
    name: string,
    help: string,
    private readonly table: RequestTable,
  ) {
    super(name, help, 'histogram');
  }
  protected values(): SampleValue[] {
    const out: SampleValue[] = [];
    for (const s of this.table.all())
      histogramValues(this.name, s.labels, this.table.bounds, s, s.exemplars, out);
    return out;
  }
  reset(): void {
    this.table.reset();
  }
}

/** `http_request_size_bytes` / `http_response_size_bytes`. */
export class SizeHistogram extends Family {
  constructor(
    name: string,
    help: string,
    private readonly table: RequestTable,
    private readonly pick: (s: RequestSeries) => HistogramCell | undefined,
  ) {
    super(name, help, 'histogram');
  }
  protected values(): SampleValue[] {
    const out: SampleValue[] = [];
    const bounds = this.table.sizeBounds;
    if (!bounds) return out;
    for (const s of this.table.all()) {
      const c = this.pick(s);
      if (c !== undefined && c.count > 0)
        histogramValues(this.name, s.labels, bounds, c, undefined, out);
    }
    return out;
  }
  reset(): void {
    this.table.reset();
  }
}

/** A gauge or counter without labels whose value is read at scrape time. */
export class ReadValue extends Family {
  constructor(
    name: string,
    help: string,
    type: 'counter' | 'gauge',
    private readonly read: () => number,
    private readonly onReset: () => void = () => undefined,
  ) {
    super(name, help, type);
  }
  protected values(): SampleValue[] {
    return [{ value: this.read(), labels: {} }];
  }
  reset(): void {
    this.onReset();
  }
}

/** Every family the middleware registers, names prefixed with `prefix`. */
export function requestFamilies(
  prefix: string,
  table: RequestTable,
  stats: Stats,
  sizes: boolean,
): RegistrableMetric[] {
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
      () => stats.inFlight,
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
      () => stats.labelErrors,
      () => (stats.labelErrors = 0),
    ),
    new ReadValue(
      `${prefix}koa_mesh_metrics_scrape_errors_total`,
      'Metrics left out of a scrape because collecting them failed.',
      'counter',
      () => stats.scrapeErrors,
      () => (stats.scrapeErrors = 0),
    ),
  ];
  if (sizes)
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
  return families;
}
