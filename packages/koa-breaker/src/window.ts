/**
 * A time-based sliding window of call counts: a fixed ring of time buckets. Recording and reading
 * cost O(1) whatever the traffic (at most one pass over the ring when time jumps), and counts
 * expire by elapsed time, so after an idle gap longer than the window it is empty.
 *
 * The window covers the current bucket plus the `buckets - 1` before it, i.e. between
 * `windowMs - windowMs / buckets` and `windowMs` of history.
 */
export class RollingWindow {
  /** Calls in the window. */
  total = 0;
  /** Failures in the window. */
  failures = 0;
  /** Slow calls in the window (successes and failures alike). */
  slow = 0;

  readonly windowMs: number;
  private readonly bucketMs: number;
  private readonly size: number;
  private readonly totals: Float64Array;
  private readonly fails: Float64Array;
  private readonly slows: Float64Array;
  /** Absolute index (time / bucketMs) of the newest bucket. */
  private head = -Infinity;

  constructor(windowMs: number, buckets = 10) {
    this.windowMs = windowMs;
    this.size = buckets;
    this.bucketMs = windowMs / buckets;
    this.totals = new Float64Array(buckets);
    this.fails = new Float64Array(buckets);
    this.slows = new Float64Array(buckets);
  }

  /** Drops the buckets that have fallen out of the window at `now`. */
  advance(now: number): void {
    const idx = Math.floor(now / this.bucketMs);
    let gap = idx - this.head;
    if (!(gap > 0)) return;
    if (gap >= this.size) {
      this.reset();
      this.head = idx;
      return;
    }
    while (gap-- > 0) {
      const slot = ++this.head % this.size;
      this.total -= this.totals[slot]!;
      this.failures -= this.fails[slot]!;
      this.slow -= this.slows[slot]!;
      this.totals[slot] = 0;
      this.fails[slot] = 0;
      this.slows[slot] = 0;
    }
  }

  record(now: number, failure: boolean, slow: boolean): void {
    this.advance(now);
    const slot = this.head % this.size;
    this.totals[slot]!++;
    this.total++;
    if (failure) {
      this.fails[slot]!++;
      this.failures++;
    }
    if (slow) {
      this.slows[slot]!++;
      this.slow++;
    }
  }

  reset(): void {
    this.totals.fill(0);
    this.fails.fill(0);
    this.slows.fill(0);
    this.total = 0;
    this.failures = 0;
    this.slow = 0;
  }
}
