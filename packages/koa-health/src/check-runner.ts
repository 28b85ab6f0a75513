import { performance } from 'node:perf_hooks';
import { errorResult, toResult, type NormalizedCheck } from './check.js';
import { HealthCheckTimeoutError } from './errors.js';
import type { CheckSnapshot, HealthCheckResult, HealthStatus } from './types.js';

/** Called after every run whose reported result changed; `previous` is the prior reported status. */
export type RunnerListener = (runner: CheckRunner, previous: HealthStatus | undefined) => void;

/**
 * Runs one check in the background: once at start, then `intervalMs` after each run ends (never
 * two runs at once), each run bounded by `timeoutMs` with an AbortSignal. Keeps the reported
 * result, applying the failure/success thresholds so that one odd run does not flip a probe.
 *
 * Probes never wait for a run: they read `snapshot`.
 */
export class CheckRunner {
  readonly check: NormalizedCheck;
  private readonly listener: RunnerListener;
  private readonly now: () => number;
  private result: HealthCheckResult | undefined;
  private time: string | undefined;
  private durationMs: number | undefined;
  private failures = 0;
  private successes = 0;
  private inflight: Promise<void> | undefined;
  /**
   * The call of a run that timed out and has not settled yet (a check that ignores its signal).
   * The next runs wait on it again instead of calling the check once more: never two calls at once.
   */
  private hung: Promise<HealthCheckResult> | undefined;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private ran = false;

  constructor(check: NormalizedCheck, listener: RunnerListener, now: () => number = Date.now) {
    this.check = check;
    this.listener = listener;
    this.now = now;
  }

  get snapshot(): CheckSnapshot {
    return {
      name: this.check.name,
      kind: this.check.kind,
      critical: this.check.critical,
      result: this.result,
      time: this.time,
      durationMs: this.durationMs,
    };
  }

  /** The reported status, or undefined before the first run finished. */
  get status(): HealthStatus | undefined {
    return this.result?.status;
  }

  /** Starts the background loop with an immediate first run. */
  start(): void {
    if (this.stopped || this.ran) return;
    void this.run();
  }

  /**
   * Runs the check now, unless a run is in flight: concurrent callers share that one run. Resolves
   * when it has finished (or timed out); never rejects.
   */
  run(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.inflight ??= this.runOnce().finally(() => {
      this.inflight = undefined;
      this.schedule();
    });
    return this.inflight;
  }

  /** Stops the loop and aborts a run in flight; the last result stays readable. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.controller?.abort(new Error(`check "${this.check.name}" stopped`));
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, this.check.intervalMs);
    this.timer.unref();
  }

  private async runOnce(): Promise<void> {
    this.ran = true;
    const { check } = this;
    const controller = new AbortController();
    this.controller = controller;
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const timeout = new Promise<HealthCheckResult>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        const err = new HealthCheckTimeoutError(check.name, check.timeoutMs);
        controller.abort(err);
        resolve(errorResult(err));
      }, check.timeoutMs);
      timer.unref();
    });
    let raw: HealthCheckResult;
    // Through a promise so that a check that throws synchronously is a failing check too, and
    // so is a result that throws while it is read (a getter, a BigInt status): never a rejection.
    const work =
      this.hung ??
      Promise.resolve()
        .then(() => check.invoke(controller.signal))
        .then(toResult)
        .then(undefined, errorResult);
    try {
      raw = await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
      if (this.controller === controller) this.controller = undefined;
    }
    if (timedOut && this.hung === undefined) {
      this.hung = work;
      const settled = (): void => {
        if (this.hung === work) this.hung = undefined;
      };
      work.then(settled, settled);
    }
    if (this.stopped) return;
    this.apply(raw, performance.now() - started);
  }

  /** Hysteresis: the first result is taken as it is; later ones must repeat to flip pass/fail. */
  private apply(raw: HealthCheckResult, durationMs: number): void {
    const previous = this.result?.status;
    let adopt: boolean;
    if (raw.status === 'fail') {
      this.failures++;
      this.successes = 0;
      adopt =
        previous === undefined ||
        previous === 'fail' ||
        this.failures >= this.check.failureThreshold;
    } else {
      this.successes++;
      this.failures = 0;
      adopt =
        previous === undefined ||
        previous !== 'fail' ||
        this.successes >= this.check.successThreshold;
    }
    if (!adopt) return;
    this.result = raw;
    this.time = new Date(this.now()).toISOString();
    this.durationMs = durationMs;
    this.listener(this, previous);
  }
}
