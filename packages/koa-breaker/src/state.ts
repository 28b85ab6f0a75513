/**
 * The circuit breaker's state machine: pure logic, no Koa, no timers. Time comes in as `now`
 * (a monotonic clock in ms) on every call and randomness from the injected `random`, so tests
 * drive it deterministically.
 *
 * Open -> half-open happens lazily, on the first `acquire()` (or `current()`) after the open time
 * is over: no timer per breaker.
 *
 * Every permit carries the breaker's epoch, which changes on every transition. An outcome whose
 * permit is from an older epoch (a call started before the breaker opened, or in an earlier
 * half-open period) is counted in the totals and the latency histogram but never moves the state
 * and never enters the decision window.
 */
import { LatencyHistogram } from './histogram.js';
import type { NormalizedPolicy } from './options.js';
import { RollingWindow } from './window.js';

export type CircuitStateName = 'closed' | 'open' | 'halfOpen';

/** Why the breaker opened. */
export type OpenReason =
  'consecutiveFailures' | 'failureRate' | 'slowCallRate' | 'retryAfter' | 'halfOpenFailure';

/** What a finished call counts as. `ignored`: neither success nor failure (client abort, local rejection). */
export type Outcome = 'success' | 'failure' | 'ignored';

/** The right to make one call; hand it back to `record()` exactly once. */
export interface Permit {
  readonly epoch: number;
  readonly probe: boolean;
  /** When the work started (reset after a bulkhead wait). */
  start: number;
}

/** A state change, reported to the `onTransition` hook. */
export interface Transition {
  from: CircuitStateName;
  to: CircuitStateName;
  /** The new epoch. */
  epoch: number;
  /** Set when `to` is `open`. */
  reason?: OpenReason;
  /** How long the breaker stays open, when `to` is `open`. */
  openMs?: number;
  /** The figures that tripped it, when `to` is `open`. */
  figures?: TripFigures;
}

/** The counts and thresholds at the moment the breaker opened. */
export interface TripFigures {
  consecutiveFailures: number;
  failureThreshold: number;
  windowCalls: number;
  windowFailures: number;
  windowSlowCalls: number;
  failureRateThreshold: number;
  slowCallRateThreshold: number;
  minimumCalls: number;
  /** The upstream's push-back in ms, for reason `retryAfter`. */
  retryAfterMs?: number;
}

/** Cumulative counters since creation. */
export interface Totals {
  calls: number;
  successes: number;
  failures: number;
  ignored: number;
  /** Outcomes of calls whose epoch had passed when they settled. */
  stale: number;
  rejections: number;
  opens: number;
}

export class CircuitState {
  state: CircuitStateName = 'closed';
  epoch = 0;
  consecutiveFailures = 0;
  /** Trips since the last close: the open time grows with it. */
  trips = 0;
  openUntil = 0;
  lastReason: OpenReason | undefined;
  probesStarted = 0;
  probesInFlight = 0;
  probeSuccesses = 0;
  readonly window: RollingWindow;
  readonly latency = new LatencyHistogram();
  readonly totals: Totals = {
    calls: 0,
    successes: 0,
    failures: 0,
    ignored: 0,
    stale: 0,
    rejections: 0,
    opens: 0,
  };

  constructor(
    private readonly p: NormalizedPolicy,
    private readonly onTransition?: (t: Transition) => void,
  ) {
    this.window = new RollingWindow(p.windowMs);
  }

  /** The state at `now`, moving open -> half-open when the open time is over. */
  current(now: number): CircuitStateName {
    if (this.state === 'open' && now >= this.openUntil) this.toHalfOpen();
    return this.state;
  }

  /** A permit for one call, or `undefined` when the breaker refuses it (see `current()`). */
  acquire(now: number): Permit | undefined {
    const state = this.state === 'closed' ? 'closed' : this.current(now);
    if (state === 'closed') return { epoch: this.epoch, probe: false, start: now };
    if (
      state === 'halfOpen' &&
      this.probesStarted < this.p.probes &&
      this.probesInFlight < this.p.probeConcurrency
    ) {
      this.probesStarted++;
      this.probesInFlight++;
      return { epoch: this.epoch, probe: true, start: now };
    }
    this.totals.rejections++;
    return undefined;
  }

  /** Milliseconds a refused caller should wait (at least 1). */
  retryAfterMs(now: number): number {
    if (this.state === 'open') return Math.max(1, this.openUntil - now);
    // Half-open with its probes taken: they settle soon, one way or the other.
    return 1000;
  }

  /**
   * Hands a permit back with its outcome. `retryAfterMs` is an upstream push-back (a 429 or 503
   * with `Retry-After`): it opens the breaker for that long, clamped, as reason `retryAfter`.
   */
  record(permit: Permit, outcome: Outcome, now: number, retryAfterMs?: number): void {
    const t = this.totals;
    const duration = now - permit.start;
    const slow = outcome !== 'ignored' && duration >= this.p.slowMs;
    if (outcome === 'ignored') t.ignored++;
    else {
      t.calls++;
      if (outcome === 'success') t.successes++;
      else t.failures++;
      this.latency.record(duration);
    }
    if (permit.epoch !== this.epoch) {
      if (outcome !== 'ignored') t.stale++;
      return;
    }
    if (this.state === 'halfOpen') {
      this.probesInFlight--;
      if (outcome === 'ignored') {
        // Neither verdict: give the probe slot to another caller.
        this.probesStarted--;
        return;
      }
      if (retryAfterMs !== undefined && this.p.respectRetryAfter) {
        this.open('retryAfter', now, retryAfterMs);
      } else if (outcome === 'failure' || slow) {
        this.open('halfOpenFailure', now);
      } else if (++this.probeSuccesses >= this.p.successThreshold) {
        this.toClosed();
      }
      return;
    }
    // Closed (an open breaker has a newer epoch than any permit still out).
    if (outcome === 'ignored') return;
    this.window.record(now, outcome === 'failure', slow);
    if (retryAfterMs !== undefined && this.p.respectRetryAfter) {
      this.open('retryAfter', now, retryAfterMs);
      return;
    }
    if (outcome === 'failure') {
      if (++this.consecutiveFailures >= this.p.failureThreshold) {
        this.open('consecutiveFailures', now);
        return;
      }
    } else this.consecutiveFailures = 0;
    if (outcome === 'failure' || slow) {
      const w = this.window;
      if (w.total >= this.p.minimumCalls) {
        if (w.failures / w.total >= this.p.failureRate) this.open('failureRate', now);
        else if (w.slow / w.total >= this.p.slowRate) this.open('slowCallRate', now);
      }
    }
  }

  private figures(retryAfterMs?: number): TripFigures {
    const f: TripFigures = {
      consecutiveFailures: this.consecutiveFailures,
      failureThreshold: this.p.failureThreshold,
      windowCalls: this.window.total,
      windowFailures: this.window.failures,
      windowSlowCalls: this.window.slow,
      failureRateThreshold: this.p.failureRate,
      slowCallRateThreshold: this.p.slowRate,
      minimumCalls: this.p.minimumCalls,
    };
    if (retryAfterMs !== undefined) f.retryAfterMs = retryAfterMs;
    return f;
  }

  /** Opens now: for the upstream's `retryAfterMs` (clamped), or for the grown, jittered open time. */
  private open(reason: OpenReason, now: number, retryAfterMs?: number): void {
    let ms: number;
    if (retryAfterMs !== undefined) {
      ms = Math.min(Math.max(retryAfterMs, 1), this.p.maxRetryAfterMs);
    } else {
      this.trips++;
      const grown = this.p.openMs * Math.pow(this.p.openBackoff, this.trips - 1);
      ms = Math.min(grown, this.p.maxOpenMs) * (1 - this.p.openJitter * this.p.random());
    }
    const from = this.state;
    const figures = this.onTransition ? this.figures(retryAfterMs) : undefined;
    this.state = 'open';
    this.epoch++;
    this.openUntil = now + ms;
    this.lastReason = reason;
    this.totals.opens++;
    this.probesStarted = 0;
    this.probesInFlight = 0;
    this.probeSuccesses = 0;
    this.onTransition?.({ from, to: 'open', epoch: this.epoch, reason, openMs: ms, figures });
  }

  private toHalfOpen(): void {
    this.state = 'halfOpen';
    this.epoch++;
    this.probesStarted = 0;
    this.probesInFlight = 0;
    this.probeSuccesses = 0;
    this.onTransition?.({ from: 'open', to: 'halfOpen', epoch: this.epoch });
  }

  private toClosed(): void {
    this.state = 'closed';
    this.epoch++;
    this.trips = 0;
    this.consecutiveFailures = 0;
    this.lastReason = undefined;
    // A fresh start: failures from before the trip must not re-open it on the first new one.
    this.window.reset();
    this.onTransition?.({ from: 'halfOpen', to: 'closed', epoch: this.epoch });
  }
}
