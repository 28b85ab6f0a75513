import type { RandomSource } from './balancers/balancer.js';

/** Passive outlier detection and panic mode (Envoy's model). */
export interface OutlierOptions {
  /** Consecutive 5xx or connect failures that eject an instance. @default 5 */
  consecutiveFailures?: number;
  /** An instance's n-th ejection lasts `baseEjectionMs × n` (capped, ±10 % jitter). @default 30000 */
  baseEjectionMs?: number;
  /** Cap of one ejection. @default 300000 */
  maxEjectionMs?: number;
  /** At most this share of a service's instances is ejected at once; at least one always may be. @default 50 */
  maxEjectionPercent?: number;
  /**
   * When fewer than this share of instances is usable, balance over all of them (ejected
   * included) rather than overload the few left. 0 disables panic mode. @default 0.5
   */
  panicThreshold?: number;
}

export type NormalizedOutlier = Required<OutlierOptions>;

export const OUTLIER_DEFAULTS: NormalizedOutlier = Object.freeze({
  consecutiveFailures: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 50,
  panicThreshold: 0.5,
});

/** How many of `n` instances may be ejected at once: the percentage, but at least one. */
export function maxEjectable(n: number, percent: number): number {
  return Math.max(1, Math.floor((n * percent) / 100));
}

/** Length of an instance's `count`-th ejection: base × count, capped, with ±10 % jitter. */
export function ejectionMs(count: number, o: NormalizedOutlier, random: RandomSource): number {
  const base = Math.min(o.baseEjectionMs * count, o.maxEjectionMs);
  return Math.max(1, Math.round(base * (0.9 + 0.2 * random())));
}
