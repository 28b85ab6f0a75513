/** Upper bounds (ms, inclusive) of the latency histogram's buckets; the last bucket is +Inf. */
export const LATENCY_BUCKETS_MS: readonly number[] = Object.freeze([
  1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
]);

/** One bucket of {@link LatencySnapshot}: calls that took at most `le` ms (not cumulative). */
export interface LatencyBucket {
  /** Upper bound in ms; `Infinity` for the last bucket. */
  le: number;
  count: number;
}

/** The latency histogram as `stats()` shows it. */
export interface LatencySnapshot {
  count: number;
  /** Sum of durations in ms. */
  sumMs: number;
  buckets: LatencyBucket[];
}

/** A fixed-bucket latency histogram since creation: O(1) per record, no per-call storage. */
export class LatencyHistogram {
  private readonly counts = new Float64Array(LATENCY_BUCKETS_MS.length + 1);
  private count = 0;
  private sum = 0;

  record(ms: number): void {
    let i = 0;
    const n = LATENCY_BUCKETS_MS.length;
    while (i < n && ms > LATENCY_BUCKETS_MS[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sum += ms;
  }

  snapshot(): LatencySnapshot {
    const buckets: LatencyBucket[] = [];
    for (let i = 0; i < this.counts.length; i++)
      buckets.push({ le: LATENCY_BUCKETS_MS[i] ?? Infinity, count: this.counts[i]! });
    return { count: this.count, sumMs: this.sum, buckets };
  }
}
