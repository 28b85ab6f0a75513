import { collectDefaultMetrics, Registry } from 'prom-client';
import type { DefaultMetricsOptions } from './options.js';

/**
 * prom-client's default metrics that `promtool check metrics` rejects: gauges named `_total`
 * ("non-counter metrics should not have _total suffix"). Each is the sum of the per-type gauge
 * beside it (`nodejs_active_handles`), so nothing is lost: `sum(nodejs_active_handles)`.
 */
export const DROPPED_DEFAULT_METRICS: readonly string[] = Object.freeze([
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
]);

/**
 * prom-client's process and runtime metrics, collected into a private registry (so their
 * registration never collides with the user's) minus {@link DROPPED_DEFAULT_METRICS}. The returned
 * metric objects are registered in the user's registry as they are.
 */
export function runtimeMetrics(options: DefaultMetricsOptions): Array<{ name: string }> {
  const own = new Registry();
  collectDefaultMetrics({ ...options, register: own });
  const prefix = options.prefix ?? '';
  const dropped = new Set(DROPPED_DEFAULT_METRICS.map((n) => prefix + n));
  return own.getMetricsAsArray().filter((m) => !dropped.has(m.name));
}
