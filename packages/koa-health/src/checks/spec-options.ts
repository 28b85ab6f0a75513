import { optionNames, rejectUnknownKeys } from '../known-keys.js';
import type { HealthCheckSpec } from '../types.js';
import { plainObject } from '../validate.js';

/** Scheduling fields a built-in check passes through to its spec. */
export type CheckScheduling = Pick<
  HealthCheckSpec,
  'kind' | 'critical' | 'timeoutMs' | 'intervalMs' | 'failureThreshold' | 'successThreshold'
>;

/** The scheduling options every built-in check accepts, beside its own. */
export const SCHEDULING_OPTIONS = optionNames<CheckScheduling>({
  kind: true,
  critical: true,
  timeoutMs: true,
  intervalMs: true,
  failureThreshold: true,
  successThreshold: true,
});

/**
 * Picks the scheduling fields out of the options of the built-in check `fn` (validated by
 * `addCheck`), after refusing any key not in `accepted` (named `fn.key`).
 */
export function scheduling(
  fn: string,
  options: unknown,
  accepted: readonly string[],
): CheckScheduling {
  const o = plainObject(`${fn} options`, options) as CheckScheduling;
  rejectUnknownKeys(fn, o, accepted);
  const out: CheckScheduling = {};
  if (o.kind !== undefined) out.kind = o.kind;
  if (o.critical !== undefined) out.critical = o.critical;
  if (o.timeoutMs !== undefined) out.timeoutMs = o.timeoutMs;
  if (o.intervalMs !== undefined) out.intervalMs = o.intervalMs;
  if (o.failureThreshold !== undefined) out.failureThreshold = o.failureThreshold;
  if (o.successThreshold !== undefined) out.successThreshold = o.successThreshold;
  return out;
}

/** Milliseconds since `start` (a performance.now() reading), rounded to 0.01 ms. */
export function elapsedMs(start: number, now: number): number {
  return Math.round((now - start) * 100) / 100;
}
