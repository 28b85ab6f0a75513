/**
 * A retry budget (as in Finagle and Linkerd): over a sliding window, retries may not exceed
 * `ratio` of the calls plus a floor of `minRetriesPerSecond`, so that retries add at most a
 * bounded fraction of load during an outage instead of multiplying it.
 */
import { optionNames, rejectUnknownKeys } from './known-keys.js';
import { functionOption, invalid, objectOption, positiveMs, type Clock } from './options.js';
import { RollingWindow } from './window.js';

/** Options of {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /** Retries allowed per call in the window (0..1 or more). @default 0.2 */
  ratio?: number;
  /** Retries always allowed per second, whatever the traffic (so low traffic can retry). @default 10 */
  minRetriesPerSecond?: number;
  /** The sliding window in ms. @default 10000 */
  windowMs?: number;
  /** Monotonic clock in ms. @default performance.now */
  clock?: Clock;
}

const RETRY_BUDGET_OPTIONS = optionNames<RetryBudgetOptions>({
  ratio: true,
  minRetriesPerSecond: true,
  windowMs: true,
  clock: true,
});

/** Share one budget between all the `retry()` calls to one dependency. */
export class RetryBudget {
  private readonly calls: RollingWindow;
  private readonly retries: RollingWindow;
  private readonly ratio: number;
  private readonly floor: number;
  private readonly clock: Clock;

  constructor(options: RetryBudgetOptions = {}) {
    const o = objectOption('options', options) ?? {};
    rejectUnknownKeys('', o, RETRY_BUDGET_OPTIONS);
    const ratio = o.ratio ?? 0.2;
    if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio < 0)
      invalid('ratio', 'a finite number >= 0', ratio);
    const min = o.minRetriesPerSecond ?? 10;
    if (typeof min !== 'number' || !Number.isFinite(min) || min < 0)
      invalid('minRetriesPerSecond', 'a finite number >= 0', min);
    const windowMs = positiveMs('windowMs', o.windowMs, 10_000);
    this.ratio = ratio;
    this.floor = (min * windowMs) / 1000;
    this.clock = functionOption<Clock>('clock', o.clock, () => performance.now());
    this.calls = new RollingWindow(windowMs);
    this.retries = new RollingWindow(windowMs);
  }

  /** Counts one original call (not a retry). */
  recordCall(): void {
    this.calls.record(this.clock(), false, false);
  }

  /** Takes one retry from the budget; false when it is spent. */
  tryRetry(): boolean {
    const now = this.clock();
    this.calls.advance(now);
    this.retries.advance(now);
    if (this.retries.total + 1 > this.ratio * this.calls.total + this.floor) return false;
    this.retries.record(now, false, false);
    return true;
  }

  /** Retries still allowed in the window now. */
  remaining(): number {
    const now = this.clock();
    this.calls.advance(now);
    this.retries.advance(now);
    return Math.max(0, Math.floor(this.ratio * this.calls.total + this.floor - this.retries.total));
  }
}
