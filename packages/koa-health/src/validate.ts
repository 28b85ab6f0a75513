// Validation helpers shared by the factory, the check normaliser and the shutdown orchestrator.
// Every message names the package, the option, what was expected and what came.

const PKG = '@koa-mesh/health';

/** Renders a received value for an error message. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

export function fail(option: string, expected: string, value: unknown): never {
  throw new TypeError(`${PKG}: expected \`${option}\` to be ${expected}, got ${show(value)}`);
}

export function positiveInteger(option: string, value: unknown, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
    fail(option, 'a positive integer', v);
  return v;
}

export function nonNegativeInteger(option: string, value: unknown, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    fail(option, 'a non-negative integer', v);
  return v;
}

/** The longest delay `setTimeout` keeps; a longer one fires after 1 ms (TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function timerLimit(option: string, v: number): number {
  if (v > MAX_TIMER_MS) fail(option, `at most ${MAX_TIMER_MS} ms (the longest Node.js timer)`, v);
  return v;
}

/** A positive integer number of ms that a timer waits, at most {@link MAX_TIMER_MS}. */
export function timerMs(option: string, value: unknown, fallback: number): number {
  return timerLimit(option, positiveInteger(option, value, fallback));
}

/** Like {@link timerMs}, 0 allowed. */
export function timerMsOrZero(option: string, value: unknown, fallback: number): number {
  return timerLimit(option, nonNegativeInteger(option, value, fallback));
}

export function positiveNumber(option: string, value: unknown, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(option, 'a positive number', v);
  return v;
}

export function boolean(option: string, value: unknown, fallback: boolean): boolean {
  const v = value ?? fallback;
  if (typeof v !== 'boolean') fail(option, 'a boolean', v);
  return v;
}

export function optionalString(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') fail(option, 'a string', value);
  return value;
}

export function optionalFunction<F>(option: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') fail(option, 'a function', value);
  return value as F;
}

export function plainObject(option: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(option, 'an object', value);
  return value as Record<string, unknown>;
}

export function probePath(option: string, value: unknown, fallback: string): string {
  const v = value ?? fallback;
  if (typeof v !== 'string' || !/^\/[^?#\s]*$/.test(v))
    fail(option, 'a path starting with "/" without query or fragment', v);
  return v;
}
