import type {
  HealthCheckFunction,
  HealthCheckResult,
  HealthCheckSource,
  HealthCheckSpec,
  HealthStatus,
  ProbeKind,
} from './types.js';
import { optionNames, rejectUnknownKeys } from './known-keys.js';
import { boolean, fail, positiveInteger, timerMs } from './validate.js';

/** Defaults of {@link HealthCheckSpec}. */
export const CHECK_DEFAULTS = Object.freeze({
  kind: 'readiness' as ProbeKind,
  critical: true,
  timeoutMs: 2000,
  intervalMs: 10_000,
  failureThreshold: 2,
  successThreshold: 1,
});

const SPEC_OPTIONS = optionNames<HealthCheckSpec>({
  check: true,
  kind: true,
  critical: true,
  timeoutMs: true,
  intervalMs: true,
  failureThreshold: true,
  successThreshold: true,
  close: true,
});

const KINDS: readonly ProbeKind[] = ['liveness', 'readiness', 'startup'];
const STATUSES: readonly HealthStatus[] = ['pass', 'warn', 'fail'];

/** A validated check: everything the runner needs, defaults applied. */
export interface NormalizedCheck {
  readonly name: string;
  readonly kind: ProbeKind;
  readonly critical: boolean;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly failureThreshold: number;
  readonly successThreshold: number;
  readonly invoke: (signal: AbortSignal) => unknown;
  readonly close: (() => void) | undefined;
}

// A source may itself be a function: the koa-breaker, koa-discovery and koa-metrics middlewares
// are Koa middleware functions carrying `healthCheck()`. Calling such a function as a check would
// run the middleware with an AbortSignal as its `ctx`, so `healthCheck` is looked for first.
function isSource(value: unknown): value is HealthCheckSource {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { healthCheck?: unknown }).healthCheck === 'function'
  );
}

function toInvoke(option: string, check: unknown): (signal: AbortSignal) => unknown {
  // Bound once here, not per run: the source keeps its `this`.
  if (isSource(check)) return () => check.healthCheck();
  if (typeof check === 'function') return check as HealthCheckFunction;
  return fail(option, 'a function or an object with healthCheck()', check);
}

/** Validates what `addCheck(name, input)` received; throws a TypeError naming the field. */
export function normalizeCheck(name: unknown, input: unknown): NormalizedCheck {
  if (typeof name !== 'string' || name === '' || name.includes(':'))
    fail('check name', 'a non-empty string without ":"', name);
  const at = `checks.${name}`;
  if (typeof input === 'function' || isSource(input)) {
    return { name, ...CHECK_DEFAULTS, invoke: toInvoke(at, input), close: undefined };
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    fail(at, 'a function, an object with healthCheck() or a check spec', input);
  rejectUnknownKeys(at, input, SPEC_OPTIONS);
  const spec = input as HealthCheckSpec;
  const kind = spec.kind ?? CHECK_DEFAULTS.kind;
  if (!KINDS.includes(kind)) fail(`${at}.kind`, `one of ${KINDS.join(', ')}`, kind);
  if (spec.close !== undefined && typeof spec.close !== 'function')
    fail(`${at}.close`, 'a function', spec.close);
  return {
    name,
    kind,
    critical: boolean(`${at}.critical`, spec.critical, CHECK_DEFAULTS.critical),
    timeoutMs: timerMs(`${at}.timeoutMs`, spec.timeoutMs, CHECK_DEFAULTS.timeoutMs),
    intervalMs: timerMs(`${at}.intervalMs`, spec.intervalMs, CHECK_DEFAULTS.intervalMs),
    failureThreshold: positiveInteger(
      `${at}.failureThreshold`,
      spec.failureThreshold,
      CHECK_DEFAULTS.failureThreshold,
    ),
    successThreshold: positiveInteger(
      `${at}.successThreshold`,
      spec.successThreshold,
      CHECK_DEFAULTS.successThreshold,
    ),
    invoke: toInvoke(`${at}.check`, spec.check),
    close: spec.close,
  };
}

function optionalStringField(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * Turns whatever a check returned into a result: nothing is `pass`, a well-formed object is copied
 * field by field (a check must not be able to inject arbitrary top-level fields), anything else is
 * `fail`.
 */
export function toResult(value: unknown): HealthCheckResult {
  if (value === undefined || value === null) return { status: 'pass' };
  if (typeof value !== 'object')
    return { status: 'fail', output: `check returned ${typeof value}, not a result object` };
  const v = value as Record<string, unknown>;
  if (!STATUSES.includes(v.status as HealthStatus))
    return {
      status: 'fail',
      output: `check returned an invalid status ${JSON.stringify(v.status) ?? 'undefined'}`,
    };
  const result: HealthCheckResult = { status: v.status as HealthStatus };
  const componentType = optionalStringField(v.componentType);
  if (componentType !== undefined) result.componentType = componentType;
  const measurement = optionalStringField(v.measurement);
  if (measurement !== undefined) result.measurement = measurement;
  if (v.observedValue !== undefined) result.observedValue = v.observedValue;
  const observedUnit = optionalStringField(v.observedUnit);
  if (observedUnit !== undefined) result.observedUnit = observedUnit;
  const output = optionalStringField(v.output);
  if (output !== undefined) result.output = output;
  if (typeof v.details === 'object' && v.details !== null && !Array.isArray(v.details))
    result.details = v.details as Record<string, unknown>;
  return result;
}

/**
 * A thrown value as a failing result with its message as output. Duck-typed rather than
 * `instanceof Error`: errors from another realm (vm contexts, jest) are errors too. A `cause`
 * (fetch's "fetch failed" hides the socket error there) is appended.
 */
export function errorResult(err: unknown): HealthCheckResult {
  return { status: 'fail', output: describeError(err) };
}

function messageOf(err: unknown): string | undefined {
  if (typeof err === 'string') return err;
  if (typeof err === 'object' && err !== null) {
    const message = (err as { message?: unknown }).message;
    if (typeof message === 'string' && message !== '') return message;
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function describeError(err: unknown): string {
  const message = messageOf(err) ?? 'check failed';
  const cause =
    typeof err === 'object' && err !== null
      ? messageOf((err as { cause?: unknown }).cause)
      : undefined;
  return cause === undefined || message.includes(cause) ? message : `${message}: ${cause}`;
}
