/**
 * The store behind the request metrics: one record per label set holding the counter, the duration
 * histogram (and the optional size histograms) together, so recording a request costs one map
 * look-up. Bounded: past `maxSeries` label sets, new ones go to a single overflow series.
 * Pure logic, no Koa import.
 */

/** The label value every label of the overflow series carries. */
export const OVERFLOW = '__overflow__';

/** The latest sampled observation in one bucket, shown as an OpenMetrics exemplar. */
export interface ExemplarRecord {
  traceId: string;
  spanId: string;
  /** The observed value (seconds). */
  value: number;
  /** Wall-clock time of the observation in seconds since the epoch (OpenMetrics unit). */
  timestamp: number;
}

/** Counts of one histogram for one label set; `buckets` are per-bucket, not cumulative. */
export interface HistogramCell {
  count: number;
  sum: number;
  readonly buckets: Float64Array;
}

/** Everything recorded for one label set. */
export interface RequestSeries extends HistogramCell {
  readonly labels: Readonly<Record<string, string>>;
  exemplars: Array<ExemplarRecord | undefined> | undefined;
  readonly requestSize: HistogramCell | undefined;
  readonly responseSize: HistogramCell | undefined;
}

export interface RequestTableOptions {
  /** Label names in the order values are given to {@link RequestTable.series}. */
  labelNames: readonly string[];
  /** Duration bucket upper bounds, increasing. */
  bounds: readonly number[];
  /** Size bucket upper bounds, or undefined when size histograms are off. */
  sizeBounds: readonly number[] | undefined;
  maxSeries: number;
}

function cell(bounds: readonly number[]): HistogramCell {
  return { count: 0, sum: 0, buckets: new Float64Array(bounds.length + 1) };
}

/** Index of the bucket `value` falls in (`bounds.length` for +Inf). */
export function bucketIndex(bounds: Float64Array, value: number): number {
  const n = bounds.length;
  for (let i = 0; i < n; i++) if (value <= bounds[i]!) return i;
  return n;
}

function observeCell(c: HistogramCell, bounds: Float64Array, value: number): void {
  c.count++;
  c.sum += value;
  c.buckets[bucketIndex(bounds, value)]!++;
}

export class RequestTable {
  readonly labelNames: readonly string[];
  readonly bounds: Float64Array;
  readonly sizeBounds: Float64Array | undefined;
  readonly maxSeries: number;
  /** Observations that went to the overflow series because the table was full. */
  overflows = 0;
  private readonly map = new Map<string, RequestSeries>();
  private overflowSeries: RequestSeries | undefined;
  private readonly boundList: readonly number[];
  private readonly sizeBoundList: readonly number[] | undefined;

  constructor(options: RequestTableOptions) {
    this.labelNames = options.labelNames;
    this.boundList = options.bounds;
    this.sizeBoundList = options.sizeBounds;
    this.bounds = Float64Array.from(options.bounds);
    this.sizeBounds = options.sizeBounds && Float64Array.from(options.sizeBounds);
    this.maxSeries = options.maxSeries;
  }

  /** Label sets held, the overflow series not included. */
  get size(): number {
    return this.map.size;
  }

  private create(values: readonly string[]): RequestSeries {
    const labels: Record<string, string> = {};
    for (let i = 0; i < this.labelNames.length; i++) labels[this.labelNames[i]!] = values[i]!;
    const hist = cell(this.boundList);
    return {
      labels,
      count: 0,
      sum: 0,
      buckets: hist.buckets,
      exemplars: undefined,
      requestSize: this.sizeBoundList && cell(this.sizeBoundList),
      responseSize: this.sizeBoundList && cell(this.sizeBoundList),
    };
  }

  /** The series already held for `key` (a string the caller builds from the label values). */
  find(key: string): RequestSeries | undefined {
    return this.map.get(key);
  }

  /**
   * Creates the series for `key` from `values` (in `labelNames` order), or returns the overflow
   * series when the table is full. Call after {@link find} missed.
   */
  add(key: string, values: readonly string[]): RequestSeries {
    const found = this.map.get(key);
    if (found !== undefined) return found;
    if (this.map.size >= this.maxSeries) {
      this.overflows++;
      return (this.overflowSeries ??= this.create(this.labelNames.map(() => OVERFLOW)));
    }
    const created = this.create(values);
    this.map.set(key, created);
    return created;
  }

  /** Records one request's duration (seconds) and, for a sampled request, its exemplar. */
  observe(
    s: RequestSeries,
    seconds: number,
    traceId: string | undefined,
    spanId: string | undefined,
    nowSeconds: () => number,
  ): void {
    s.count++;
    s.sum += seconds;
    const i = bucketIndex(this.bounds, seconds);
    s.buckets[i]!++;
    if (traceId === undefined || spanId === undefined) return;
    const exemplars = (s.exemplars ??= new Array(this.bounds.length + 1).fill(undefined));
    const e = exemplars[i];
    if (e === undefined) {
      exemplars[i] = { traceId, spanId, value: seconds, timestamp: nowSeconds() };
    } else {
      e.traceId = traceId;
      e.spanId = spanId;
      e.value = seconds;
      e.timestamp = nowSeconds();
    }
  }

  /** Records request and response sizes (bytes) when known. */
  observeSizes(
    s: RequestSeries,
    requestBytes: number | undefined,
    responseBytes: number | undefined,
  ): void {
    if (this.sizeBounds === undefined) return;
    if (requestBytes !== undefined && s.requestSize)
      observeCell(s.requestSize, this.sizeBounds, requestBytes);
    if (responseBytes !== undefined && s.responseSize)
      observeCell(s.responseSize, this.sizeBounds, responseBytes);
  }

  /** Every series, the overflow series last. */
  *all(): IterableIterator<RequestSeries> {
    yield* this.map.values();
    if (this.overflowSeries) yield this.overflowSeries;
  }

  reset(): void {
    this.map.clear();
    this.overflowSeries = undefined;
    this.overflows = 0;
  }
}
