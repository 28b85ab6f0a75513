/**
 * One breaker's runtime: the state machine, the bulkhead, the timeout and the events, around a
 * piece of work. Shared by `CircuitBreaker.execute()` and the middleware (one per key).
 */
import { Bulkhead } from './bulkhead.js';
import { BrokenCircuitError, TimeoutError, type RejectReason } from './errors.js';
import type { Emitter } from './events.js';
import type { HealthCheckResult } from './health.js';
import type { LatencySnapshot } from './histogram.js';
import type { NormalizedPolicy } from './options.js';
import {
  CircuitState,
  type CircuitStateName,
  type OpenReason,
  type Outcome,
  type Permit,
  type Totals,
  type Transition,
} from './state.js';

/** Decides what a finished piece of work counts as. `err` is undefined on success. */
export type Judge<A> = (arg: A, err: unknown, failed: boolean) => Outcome;
/** An upstream push-back in ms (429/503 with `Retry-After`), or undefined. */
export type PushBack<A> = (arg: A, err: unknown) => number | undefined;

/**
 * The guarded work. `signal` is undefined on the direct path (no timeout, no caller signal): an
 * AbortSignal costs microseconds to create, and one shared signal would collect the listeners
 * of every call.
 */
export type Work<T, A, B> = (signal: AbortSignal | undefined, a: A, b: B) => Promise<T> | T;

/** What `stats()` returns for one breaker; computing it costs O(1) whatever the traffic. */
export interface BreakerStats {
  name: string;
  key?: string;
  state: CircuitStateName;
  /** Changes on every transition. */
  epoch: number;
  /** Why it last opened, while open or half-open. */
  reason?: OpenReason;
  /** Ms until probes are let through, while open. */
  retryAfterMs?: number;
  consecutiveFailures: number;
  /** Counts in the sliding window (calls since the last close only). */
  window: {
    windowMs: number;
    calls: number;
    failures: number;
    slowCalls: number;
    failureRate: number;
    slowCallRate: number;
  };
  /** Calls holding a bulkhead slot (or running, without a bulkhead). */
  inFlight: number;
  /** Calls waiting in the bulkhead queue. */
  queued: number;
  totals: Totals;
  latency: LatencySnapshot;
}

export class Policy {
  readonly state: CircuitState;
  readonly bulkhead: Bulkhead | undefined;
  /** Work running (for idle eviction): held until the work really settles. */
  running = 0;
  lastUsed: number;

  constructor(
    readonly p: NormalizedPolicy,
    private readonly events: Emitter,
    readonly key: string | undefined,
  ) {
    this.state = new CircuitState(p, (t) => this.transition(t));
    this.bulkhead =
      p.maxConcurrent === Infinity
        ? undefined
        : new Bulkhead(p.name, p.maxConcurrent, p.maxQueue, p.queueTimeoutMs);
    this.lastUsed = p.clock();
  }

  /**
   * Runs `work(signal, a, b)` under the breaker. Rejects with BrokenCircuitError (open),
   * BulkheadRejectedError (full), TimeoutError (`timeoutMs`), the caller signal's reason (aborted),
   * or the work's own error.
   */
  run<T, A, B>(
    work: Work<T, A, B>,
    a: A,
    b: B,
    signal: AbortSignal | undefined,
    judge: Judge<A>,
    pushBack: PushBack<A>,
  ): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const now = this.p.clock();
    this.lastUsed = now;
    const permit = this.state.acquire(now);
    if (permit === undefined) return Promise.reject(this.refuse(now));
    const bh = this.bulkhead;
    if (bh !== undefined && !bh.tryEnter()) {
      return bh.enter(signal).then(
        () => {
          // Durations (slow calls, histogram) count from the end of the wait.
          permit.start = this.p.clock();
          return this.start(work, a, b, signal, judge, pushBack, permit);
        },
        (err: unknown) => {
          this.state.record(permit, 'ignored', this.p.clock());
          if (this.events.has('reject') && !signal?.aborted)
            this.events.emit(
              'reject',
              this.base({ reason: (err as { reason: RejectReason }).reason }),
            );
          throw err;
        },
      );
    }
    return this.start(work, a, b, signal, judge, pushBack, permit);
  }

  private start<T, A, B>(
    work: Work<T, A, B>,
    a: A,
    b: B,
    signal: AbortSignal | undefined,
    judge: Judge<A>,
    pushBack: PushBack<A>,
    permit: Permit,
  ): Promise<T> {
    if (signal?.aborted) {
      // Aborted while it waited for a bulkhead slot that has just been handed over.
      this.bulkhead?.leave();
      this.state.record(permit, 'ignored', this.p.clock());
      return Promise.reject(signal.reason);
    }
    this.running++;
    if (this.p.timeoutMs === Infinity && signal === undefined)
      return this.direct(work, a, b, judge, pushBack, permit);
    return this.guarded(work, a, b, signal, judge, pushBack, permit);
  }

  /**
   * No timeout, no caller signal: no controller, no timer. A rethrow from the `then` callback
   * measured cheaper than returning `Promise.reject(err)` (a second promise rejected without a
   * handler, which Node tracks for unhandled rejections).
   */
  private direct<T, A, B>(
    work: Work<T, A, B>,
    a: A,
    b: B,
    judge: Judge<A>,
    pushBack: PushBack<A>,
    permit: Permit,
  ): Promise<T> {
    let pending: Promise<T> | T;
    try {
      pending = work(undefined, a, b);
    } catch (err) {
      this.done();
      this.settle(permit, judge(a, err, true), err, pushBack(a, err));
      return Promise.reject(err);
    }
    return Promise.resolve(pending).then(
      (value) => {
        this.done();
        this.settle(permit, judge(a, undefined, false), undefined, pushBack(a, undefined));
        return value;
      },
      (err: unknown) => {
        this.done();
        this.settle(permit, judge(a, err, true), err, pushBack(a, err));
        throw err;
      },
    );
  }

  private guarded<T, A, B>(
    work: Work<T, A, B>,
    a: A,
    b: B,
    signal: AbortSignal | undefined,
    judge: Judge<A>,
    pushBack: PushBack<A>,
    permit: Permit,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const controller = new AbortController();
      let decided = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onCallerAbort = (): void => {
        if (decided) return;
        decided = true;
        if (timer !== undefined) clearTimeout(timer);
        controller.abort(signal!.reason);
        this.settle(permit, 'ignored', undefined, undefined);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onCallerAbort, { once: true });
      const timeoutMs = this.p.timeoutMs;
      if (timeoutMs !== Infinity) {
        timer = setTimeout(() => {
          if (decided) return;
          decided = true;
          signal?.removeEventListener('abort', onCallerAbort);
          const err = new TimeoutError(this.p.name, timeoutMs);
          controller.abort(err);
          if (this.events.has('timeout')) this.events.emit('timeout', this.base({ timeoutMs }));
          // A failure by default, but `isFailure` overrides it as for any other error.
          this.settle(permit, judge(a, err, true), err, undefined);
          reject(err);
        }, timeoutMs);
        timer.unref();
      }
      let pending: Promise<T>;
      try {
        pending = Promise.resolve(work(controller.signal, a, b));
      } catch (err) {
        pending = Promise.reject(err);
      }
      pending.then(
        (value) => {
          // The slot is freed only now, even when the timeout already answered.
          this.done();
          if (decided) return;
          decided = true;
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener('abort', onCallerAbort);
          this.settle(permit, judge(a, undefined, false), undefined, pushBack(a, undefined));
          resolve(value);
        },
        (err: unknown) => {
          this.done();
          if (decided) return;
          decided = true;
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener('abort', onCallerAbort);
          this.settle(permit, judge(a, err, true), err, pushBack(a, err));
          reject(err);
        },
      );
    });
  }

  /** The work has really settled: free its bulkhead slot. */
  private done(): void {
    this.running--;
    this.bulkhead?.leave();
  }

  private settle(
    permit: Permit,
    outcome: Outcome,
    err: unknown,
    retryAfterMs: number | undefined,
  ): void {
    const now = this.p.clock();
    // The outcome's event goes first, then any transition it causes.
    if (outcome === 'success') {
      if (this.events.has('success'))
        this.events.emit('success', this.base({ durationMs: now - permit.start }));
    } else if (outcome === 'failure' && this.events.has('failure')) {
      const payload = this.base({ durationMs: now - permit.start });
      if (err !== undefined) (payload as { error?: unknown }).error = err;
      this.events.emit('failure', payload);
    }
    this.state.record(permit, outcome, now, retryAfterMs);
  }

  /** The error for a refused call, with the reject event. */
  refuse(now: number): BrokenCircuitError {
    const reason = this.state.state === 'open' ? 'open' : 'halfOpen';
    if (this.events.has('reject')) this.events.emit('reject', this.base({ reason }));
    return new BrokenCircuitError(this.p.name, reason, this.state.retryAfterMs(now));
  }

  private base<T extends object>(extra: T): T & { name: string; key?: string } {
    const out = extra as T & { name: string; key?: string };
    out.name = this.p.name;
    if (this.key !== undefined) out.key = this.key;
    return out;
  }

  private transition(t: Transition): void {
    if (t.to === 'open') {
      if (this.events.has('open'))
        this.events.emit(
          'open',
          this.base({ reason: t.reason!, openMs: t.openMs!, figures: t.figures! }),
        );
    } else {
      const event = t.to === 'closed' ? 'close' : 'halfOpen';
      if (this.events.has(event)) this.events.emit(event, this.base({}));
    }
  }

  /** True when eviction loses nothing: nothing running and not inside an open period. */
  idle(now: number): boolean {
    const s = this.state;
    return this.running === 0 && !(s.state === 'open' && now < s.openUntil);
  }

  stats(): BreakerStats {
    const now = this.p.clock();
    const s = this.state;
    const state = s.current(now);
    s.window.advance(now);
    const w = s.window;
    const out: BreakerStats = {
      name: this.p.name,
      state,
      epoch: s.epoch,
      consecutiveFailures: s.consecutiveFailures,
      window: {
        windowMs: w.windowMs,
        calls: w.total,
        failures: w.failures,
        slowCalls: w.slow,
        failureRate: w.total ? w.failures / w.total : 0,
        slowCallRate: w.total ? w.slow / w.total : 0,
      },
      inFlight: this.bulkhead ? this.bulkhead.active : this.running,
      queued: this.bulkhead ? this.bulkhead.queued : 0,
      totals: { ...s.totals },
      latency: s.latency.snapshot(),
    };
    if (this.key !== undefined) out.key = this.key;
    if (state !== 'closed' && s.lastReason) out.reason = s.lastReason;
    if (state === 'open') out.retryAfterMs = s.retryAfterMs(now);
    return out;
  }

  healthCheck(): HealthCheckResult {
    const now = this.p.clock();
    const state = this.state.current(now);
    if (state === 'closed')
      return {
        status: 'pass',
        componentType: 'component',
        measurement: 'state',
        observedValue: state,
      };
    const result: HealthCheckResult = {
      status: this.p.openHealth,
      componentType: 'component',
      measurement: 'state',
      observedValue: state,
      output: `circuit breaker "${this.p.name}" is ${state === 'open' ? 'open' : 'half-open'}${this.state.lastReason ? ` (${this.state.lastReason})` : ''}`,
    };
    if (state === 'open') result.details = { retryAfterMs: this.state.retryAfterMs(now) };
    return result;
  }

  close(): void {
    this.bulkhead?.close();
  }
}
