/** The three questions an orchestrator asks a service. */
export type ProbeKind = 'liveness' | 'readiness' | 'startup';

/** IETF health check status: `pass` and `warn` answer 200, `fail` answers 503. */
export type HealthStatus = 'pass' | 'warn' | 'fail';

/**
 * What one check observed, in the shape every koa-mesh package's `healthCheck()` produces
 * (CONTRIBUTING.md), after the IETF health check response format
 * (draft-inadarei-api-health-check).
 */
export interface HealthCheckResult {
  status: HealthStatus;
  /** e.g. 'component', 'datastore', 'system' (IETF health check format). */
  componentType?: string;
  /** The measurement name, used as the key suffix `name:measurement`. */
  measurement?: string;
  observedValue?: unknown;
  observedUnit?: string;
  /** Why, when not pass. */
  output?: string;
  /** Extra fields shown only to callers allowed to see details. */
  details?: Record<string, unknown>;
}

/**
 * Anything exposing `healthCheck()`: a koa-breaker breaker, a koa-discovery instance, a
 * koa-metrics registry. Typed structurally so that no package of the suite is imported.
 */
export interface HealthCheckSource {
  healthCheck(): Promise<HealthCheckResult>;
}

/**
 * A check as a function. It receives an AbortSignal that is aborted when the check's timeout
 * passes (or the middleware closes). Returning nothing means `pass`; throwing means `fail` with the
 * error's message as output.
 */
export type HealthCheckFunction = (
  signal: AbortSignal,
) => Promise<HealthCheckResult | void> | HealthCheckResult | void;

/** A check with its scheduling and its weight. */
export interface HealthCheckSpec {
  /** The work: a function, or an object with `healthCheck()`. */
  check: HealthCheckFunction | HealthCheckSource;
  /**
   * Which probe the check feeds. Liveness checks must only look at the process itself (event
   * loop), never at dependencies: a failing liveness probe makes the orchestrator restart the
   * process, which never fixes a database outage.
   * @default 'readiness'
   */
  kind?: ProbeKind;
  /**
   * A failing critical check fails its probe (503); a failing non-critical check only turns it to
   * `warn` (200).
   * @default true
   */
  critical?: boolean;
  /** A run taking longer than this is aborted and counts as `fail`. @default 2000 */
  timeoutMs?: number;
  /** Time between the end of one run and the start of the next. @default 10000 */
  intervalMs?: number;
  /**
   * Consecutive failing runs needed to report `fail` after having reported `pass`/`warn`.
   * The first run is reported as it is.
   * @default 2
   */
  failureThreshold?: number;
  /** Consecutive passing runs needed to report `pass`/`warn` after having reported `fail`. @default 1 */
  successThreshold?: number;
  /** Called by the middleware's `close()`: frees what the check holds (a histogram, a timer). */
  close?: () => void;
}

/** What `addCheck()` and the `checks` option accept. */
export type HealthCheckInput = HealthCheckFunction | HealthCheckSource | HealthCheckSpec;

/** The cached state of one check, as the probes see it. */
export interface CheckSnapshot {
  readonly name: string;
  readonly kind: ProbeKind;
  readonly critical: boolean;
  /** The reported result (after hysteresis), or undefined before the first run finished. */
  readonly result: HealthCheckResult | undefined;
  /** ISO time of the run that produced `result`. */
  readonly time: string | undefined;
  /** How long that run took. */
  readonly durationMs: number | undefined;
}
