import type { HealthCheckSpec } from '../types.js';
import { plainObject } from '../validate.js';

/** Scheduling fields a built-in check passes through to its spec. */
export type CheckScheduling = Pick<
  HealthCheckSpec,
  'kind' | 'critical' | 'timeoutMs' | 'intervalMs' | 'failureThreshold' | 'successThreshold'
>;

/** Picks the scheduling fields out of a built-in check's options (validated by `addCheck`). */
export function scheduling(option: string, options: unknown): CheckScheduling {
  const o = plainObject(option, options) as CheckScheduling;
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
