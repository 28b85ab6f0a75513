/**
 * The breaker for outbound calls: `execute(fn, signal?)` runs `fn(signal)` under the state machine,
 * the timeout and the bulkhead. It satisfies the structural `Breaker` interface other koa-mesh
 * packages accept.
 */
import { isRejection } from './errors.js';
import { Emitter, type BreakerEventName, type BreakerListener } from './events.js';
import type { HealthCheckResult } from './health.js';
import { optionNames } from './known-keys.js';
import { POLICY_OPTIONS } from './option-names.js';
import { functionOption, normalizePolicy, type PolicyOptions } from './options.js';
import { Policy, type BreakerStats } from './policy.js';
import { retryAfterOf, statusOf } from './retry-after.js';
import type { CircuitStateName, Outcome } from './state.js';

/** The structural breaker koa-mesh packages accept (CONTRIBUTING.md). */
export interface Breaker {
  execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions extends PolicyOptions {
  /**
   * Whether a rejection of `fn` (or the TimeoutError past `timeoutMs`) counts as a failure. A
   * rejection this returns false for counts as a success.
   * @default an error without a 4xx `status`/`statusCode` is a failure
   */
  isFailure?: (err: unknown) => boolean;
}

const CIRCUIT_BREAKER_OPTIONS: readonly string[] = Object.freeze([
  ...POLICY_OPTIONS,
  ...optionNames<Omit<CircuitBreakerOptions, keyof PolicyOptions>>({ isFailure: true }),
]);

/** The default: a 4xx carried by the error is the caller's fault, not the dependency's. */
export function defaultIsFailure(err: unknown): boolean {
  const status = statusOf(err);
  return !(status !== undefined && status >= 400 && status < 500);
}

/**
 * A circuit breaker with timeout and bulkhead for outbound calls.
 *
 * @example
 * const users = new CircuitBreaker({ name: 'users', timeoutMs: 2000 });
 * const res = await users.execute((signal) => fetch(url, { signal }));
 */
export class CircuitBreaker implements Breaker {
  private readonly policy: Policy;
  private readonly emitter: Emitter;
  private readonly judge: (arg: unknown, err: unknown, failed: boolean) => Outcome;
  private readonly pushBack: (arg: unknown, err: unknown) => number | undefined;

  constructor(options: CircuitBreakerOptions = {}) {
    const p = normalizePolicy(options, CIRCUIT_BREAKER_OPTIONS);
    const isFailure = functionOption<(err: unknown) => boolean>(
      'isFailure',
      options.isFailure,
      defaultIsFailure,
    );
    // A throwing listener must not fail the call; surface it without crashing the process.
    this.emitter = new Emitter(warn);
    this.policy = new Policy(p, this.emitter, undefined);
    // A caller abort never reaches the judge: the policy settles it as `ignored` when it happens.
    this.judge = (_fn, err, failed) => {
      if (!failed) return 'success';
      if (isRejection(err)) return 'ignored';
      let failure: boolean;
      try {
        failure = isFailure(err) !== false;
      } catch (hookErr) {
        this.emitter.onListenerError(hookErr);
        failure = defaultIsFailure(err);
      }
      return failure ? 'failure' : 'success';
    };
    this.pushBack = (_arg, err) =>
      err === undefined || isRejection(err) ? undefined : retryAfterOf(err);
  }

  /** The breaker's `name`. */
  get name(): string {
    return this.policy.p.name;
  }

  /** The state now (reading it may move open -> half-open when the open time is over). */
  get state(): CircuitStateName {
    return this.policy.state.current(this.policy.p.clock());
  }

  /**
   * Runs `fn(signal)` under the breaker. `signal` aborts on timeout, or when the caller's `signal`
   * aborts. Rejects with BrokenCircuitError when open, BulkheadRejectedError when the bulkhead is
   * full, TimeoutError after `timeoutMs`, the caller's abort reason, or `fn`'s own error.
   */
  execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.policy.run(this.call, fn, undefined, signal, this.judge, this.pushBack);
  }

  private idleSignal: AbortSignal | undefined;

  /**
   * Without a timeout or a caller signal `fn` gets this breaker's signal that never aborts, made
   * once (creating an AbortSignal costs more than the whole closed-breaker call).
   */
  private readonly call = <T>(
    signal: AbortSignal | undefined,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> => fn(signal ?? (this.idleSignal ??= new AbortController().signal));

  /** Subscribes to an event (see the README for payloads). */
  on<E extends BreakerEventName>(event: E, listener: BreakerListener<E>): this {
    this.emitter.on(event, listener);
    return this;
  }

  off<E extends BreakerEventName>(event: E, listener: BreakerListener<E>): this {
    this.emitter.off(event, listener);
    return this;
  }

  /** Counts, window rates, latency histogram; O(1). */
  stats(): BreakerStats {
    return this.policy.stats();
  }

  /** `pass` when closed, `warn` (or `openHealth`) when open or half-open. */
  healthCheck(): Promise<HealthCheckResult> {
    return Promise.resolve(this.policy.healthCheck());
  }

  /** Rejects the calls waiting in the bulkhead queue and drops every listener. */
  close(): void {
    this.policy.close();
    this.emitter.clear();
  }
}

/** Reports a throwing listener or hook as a process warning (never crashes, never fails the call). */
export function warn(err: unknown): void {
  const e = err as { message?: unknown; stack?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  process.emitWarning(message, {
    type: 'KoaMeshBreakerWarning',
    detail: typeof e?.stack === 'string' ? e.stack : undefined,
  });
}
