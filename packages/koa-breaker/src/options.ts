/**
 * The policy options shared by the middleware and {@link CircuitBreaker}, their defaults, and their
 * validation (once, at construction).
 */
import { rejectUnknownKeys } from './known-keys.js';
import {
  FAILURE_RATE_OPTIONS,
  HALF_OPEN_OPTIONS,
  POLICY_OPTIONS,
  SLOW_CALL_OPTIONS,
} from './option-names.js';

/** A monotonic clock in milliseconds. */
export type Clock = () => number;

/** Trip on the failure rate over a time-based sliding window. */
export interface FailureRateOptions {
  /** Fraction of failed calls (0 < threshold <= 1) at or above which the breaker opens. */
  threshold: number;
  /** Length of the sliding window in ms (10 time buckets). @default 10000 */
  windowMs?: number;
  /** Calls the window must hold before the rate is judged. @default 20 */
  minimumCalls?: number;
}

/** Trip on the rate of slow calls over the same sliding window as `failureRate`. */
export interface SlowCallOptions {
  /** A call that takes at least this long (ms) is slow. */
  durationMs: number;
  /** Fraction of slow calls (0 < rate <= 1) at or above which the breaker opens. */
  rateThreshold: number;
}

/** How the breaker probes when its open time is over. */
export interface HalfOpenOptions {
  /** Trial calls let through per half-open period. @default 1 */
  probes?: number;
  /** Successful probes that close the breaker (at most `probes`). @default probes */
  successThreshold?: number;
  /** Probes in flight at once; further callers are rejected at once. @default 1 */
  maxConcurrent?: number;
}

/** Options of the state machine, timeout and bulkhead (shared by `breaker()` and `CircuitBreaker`). */
export interface PolicyOptions {
  /** Names the breaker in errors, problem bodies, events and health output. @default 'breaker' */
  name?: string;
  /** Consecutive failures that open the breaker; `false` turns this trigger off. @default 5 */
  failureThreshold?: number | false;
  /** Failure-rate trigger over a sliding window. @default undefined (off) */
  failureRate?: FailureRateOptions;
  /** Slow-call-rate trigger over the sliding window of `failureRate` (or a 10 s one). @default undefined (off) */
  slowCall?: SlowCallOptions;
  /** Time the breaker stays open before it lets probes through, in ms. @default 30000 */
  openMs?: number;
  /** Longest open time when it grows on repeated trips (`openBackoff`). @default openMs */
  maxOpenMs?: number;
  /** Factor the open time grows by on each trip without a close in between. @default 2 */
  openBackoff?: number;
  /** Fraction (0..1) of the open time removed at random, to spread instances' probes. @default 0.1 */
  openJitter?: number;
  /** Half-open probing. */
  halfOpen?: HalfOpenOptions;
  /** Abort the guarded work after this many ms, at most 2147483647 (`false`: never). @default false */
  timeoutMs?: number | false;
  /** Calls running at once (bulkhead); `Infinity` turns the bulkhead off. @default Infinity */
  maxConcurrent?: number;
  /** Calls waiting for a bulkhead slot; more are rejected at once. @default 0 */
  maxQueue?: number;
  /** Longest wait in the bulkhead queue in ms, at most 2147483647 (`false`: no limit). @default false */
  queueTimeoutMs?: number | false;
  /** Open for the upstream's `Retry-After` when a 429 or 503 carries one. @default true */
  respectRetryAfter?: boolean;
  /** Upper clamp of an upstream `Retry-After`, in ms. @default 60000 */
  maxRetryAfterMs?: number;
  /** `healthCheck()` status while open or half-open. @default 'warn' */
  openHealth?: 'warn' | 'fail';
  /** Monotonic clock in ms (tests inject one). @default performance.now */
  clock?: Clock;
  /** Random source in [0, 1) for jitter (tests inject one). @default Math.random */
  random?: () => number;
}

/** Options after validation, with every default applied. */
export interface NormalizedPolicy {
  name: string;
  failureThreshold: number;
  failureRate: number;
  slowRate: number;
  slowMs: number;
  windowMs: number;
  minimumCalls: number;
  openMs: number;
  maxOpenMs: number;
  openBackoff: number;
  openJitter: number;
  probes: number;
  successThreshold: number;
  probeConcurrency: number;
  timeoutMs: number;
  maxConcurrent: number;
  maxQueue: number;
  queueTimeoutMs: number;
  respectRetryAfter: boolean;
  maxRetryAfterMs: number;
  openHealth: 'warn' | 'fail';
  clock: Clock;
  random: () => number;
}

/** The defaults, frozen. */
export const DEFAULTS = Object.freeze({
  name: 'breaker',
  failureThreshold: 5,
  windowMs: 10_000,
  minimumCalls: 20,
  openMs: 30_000,
  openBackoff: 2,
  openJitter: 0.1,
  probes: 1,
  probeConcurrency: 1,
  maxQueue: 0,
  respectRetryAfter: true,
  maxRetryAfterMs: 60_000,
  openHealth: 'warn' as const,
});

const PKG = '@koa-mesh/breaker';

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object' && value !== null)
    return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/** Throws the package's validation TypeError for `option`. */
export function invalid(option: string, expected: string, got: unknown): never {
  throw new TypeError(`${PKG}: expected \`${option}\` to be ${expected}, got ${show(got)}`);
}

function positiveInt(option: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
    invalid(option, 'a positive integer', v);
  return v;
}

function nonNegativeInt(option: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    invalid(option, 'a non-negative integer', v);
  return v;
}

function positiveMs(option: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    invalid(option, 'a positive finite number of milliseconds', v);
  return v;
}

/** The longest delay `setTimeout` keeps; a longer one fires after 1 ms (TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A positive number of ms that a timer waits: at most the longest delay Node.js keeps. */
function timerMs(option: string, v: unknown, fallback: number): number {
  const ms = positiveMs(option, v, fallback);
  if (ms > MAX_TIMER_MS)
    invalid(option, `at most ${MAX_TIMER_MS} ms (the longest Node.js timer)`, ms);
  return ms;
}

function msOrFalse(option: string, v: unknown): number {
  if (v === undefined || v === false) return Infinity;
  return timerMs(option, v, Infinity);
}

function fraction(option: string, v: unknown, min0: boolean): number {
  if (typeof v !== 'number' || !(min0 ? v >= 0 : v > 0) || v > 1)
    invalid(option, min0 ? 'a number from 0 to 1' : 'a number above 0 and at most 1', v);
  return v;
}

function object(option: string, v: unknown): Record<string, unknown> | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) invalid(option, 'an object', v);
  return v as Record<string, unknown>;
}

function fn<T>(option: string, v: unknown, fallback: T): T {
  if (v === undefined) return fallback;
  if (typeof v !== 'function') invalid(option, 'a function', v);
  return v as T;
}

const defaultClock: Clock = () => performance.now();

/**
 * Validates the policy options and applies the defaults; throws a TypeError naming the option.
 * `accepted` is every top-level option of the caller (the policy's plus its own): any other key
 * is refused, as are unknown keys of the nested bags.
 */
export function normalizePolicy(
  input: unknown,
  accepted: readonly string[] = POLICY_OPTIONS,
): NormalizedPolicy {
  const o = object('options', input) ?? {};
  rejectUnknownKeys('', o, accepted);
  const name = o.name ?? DEFAULTS.name;
  if (typeof name !== 'string' || name === '') invalid('name', 'a non-empty string', name);

  const failureThreshold =
    o.failureThreshold === false
      ? Infinity
      : positiveInt('failureThreshold', o.failureThreshold, DEFAULTS.failureThreshold);

  const rate = object('failureRate', o.failureRate);
  if (rate) rejectUnknownKeys('failureRate', rate, FAILURE_RATE_OPTIONS);
  const failureRate = rate ? fraction('failureRate.threshold', rate.threshold, false) : Infinity;
  const windowMs = positiveMs('failureRate.windowMs', rate?.windowMs, DEFAULTS.windowMs);
  const minimumCalls = positiveInt(
    'failureRate.minimumCalls',
    rate?.minimumCalls,
    DEFAULTS.minimumCalls,
  );

  const slow = object('slowCall', o.slowCall);
  if (slow) rejectUnknownKeys('slowCall', slow, SLOW_CALL_OPTIONS);
  let slowMs = Infinity;
  if (slow) {
    if (slow.durationMs === undefined)
      invalid('slowCall.durationMs', 'a positive finite number of milliseconds', undefined);
    slowMs = positiveMs('slowCall.durationMs', slow.durationMs, Infinity);
  }
  const slowRate = slow ? fraction('slowCall.rateThreshold', slow.rateThreshold, false) : Infinity;

  const openMs = positiveMs('openMs', o.openMs, DEFAULTS.openMs);
  const maxOpenMs = positiveMs('maxOpenMs', o.maxOpenMs, openMs);
  if (maxOpenMs < openMs)
    invalid('maxOpenMs', `a number of milliseconds >= openMs (${openMs})`, maxOpenMs);
  const openBackoff = o.openBackoff ?? DEFAULTS.openBackoff;
  if (typeof openBackoff !== 'number' || !Number.isFinite(openBackoff) || openBackoff < 1)
    invalid('openBackoff', 'a finite number >= 1', openBackoff);
  const openJitter =
    o.openJitter === undefined ? DEFAULTS.openJitter : fraction('openJitter', o.openJitter, true);
  if (openJitter === 1) invalid('openJitter', 'a number from 0 to less than 1', openJitter);

  const half = object('halfOpen', o.halfOpen);
  if (half) rejectUnknownKeys('halfOpen', half, HALF_OPEN_OPTIONS);
  const probes = positiveInt('halfOpen.probes', half?.probes, DEFAULTS.probes);
  const successThreshold = positiveInt('halfOpen.successThreshold', half?.successThreshold, probes);
  if (successThreshold > probes)
    invalid(
      'halfOpen.successThreshold',
      `a positive integer <= halfOpen.probes (${probes})`,
      successThreshold,
    );
  const probeConcurrency = positiveInt(
    'halfOpen.maxConcurrent',
    half?.maxConcurrent,
    DEFAULTS.probeConcurrency,
  );

  const timeoutMs = msOrFalse('timeoutMs', o.timeoutMs);
  let maxConcurrent = Infinity;
  if (o.maxConcurrent !== undefined && o.maxConcurrent !== Infinity)
    maxConcurrent = positiveInt('maxConcurrent', o.maxConcurrent, Infinity);
  const maxQueue = nonNegativeInt('maxQueue', o.maxQueue, DEFAULTS.maxQueue);
  if (maxQueue > 0 && maxConcurrent === Infinity)
    invalid('maxQueue', '0 when `maxConcurrent` is not set', maxQueue);
  const queueTimeoutMs = msOrFalse('queueTimeoutMs', o.queueTimeoutMs);
  // Like maxQueue without maxConcurrent: a setting that could never take effect is a mistake.
  if (queueTimeoutMs !== Infinity && maxQueue === 0)
    invalid(
      'queueTimeoutMs',
      'false when `maxQueue` is 0 (no request ever waits)',
      o.queueTimeoutMs,
    );

  const respectRetryAfter = o.respectRetryAfter ?? DEFAULTS.respectRetryAfter;
  if (typeof respectRetryAfter !== 'boolean')
    invalid('respectRetryAfter', 'a boolean', respectRetryAfter);
  const maxRetryAfterMs = positiveMs(
    'maxRetryAfterMs',
    o.maxRetryAfterMs,
    DEFAULTS.maxRetryAfterMs,
  );
  const openHealth = o.openHealth ?? DEFAULTS.openHealth;
  if (openHealth !== 'warn' && openHealth !== 'fail')
    invalid('openHealth', '"warn" or "fail"', openHealth);

  return {
    name,
    failureThreshold,
    failureRate,
    slowRate,
    slowMs,
    windowMs,
    minimumCalls,
    openMs,
    maxOpenMs,
    openBackoff,
    openJitter,
    probes,
    successThreshold,
    probeConcurrency,
    timeoutMs,
    maxConcurrent,
    maxQueue,
    queueTimeoutMs,
    respectRetryAfter,
    maxRetryAfterMs,
    openHealth,
    clock: fn('clock', o.clock, defaultClock),
    random: fn('random', o.random, Math.random),
  };
}

export { positiveInt, positiveMs, timerMs, fn as functionOption, object as objectOption };
