import type { Registry, RegistryContentType } from 'prom-client';
import { render, type ExpositionFormat } from './exposition.js';
import type { FamilyValue } from './families.js';

/** What a scrape produced, and the metric families that failed to collect (left out). */
export interface ScrapeResult {
  text: string;
  failures: Array<{ name: string; error: unknown }>;
}

function defaultLabelsOf(
  registry: Registry<RegistryContentType>,
): Record<string, string> | undefined {
  // prom-client keeps `setDefaultLabels()` in this field (stable since v11) and offers no getter;
  // getMetricsAsJSON() applies them but fails as a whole when one collector throws.
  const labels = (registry as unknown as { _defaultLabels?: unknown })._defaultLabels;
  return typeof labels === 'object' && labels !== null
    ? (labels as Record<string, string>)
    : undefined;
}

/**
 * Collects every metric of `registry` and renders it in `format`. A metric whose `get()` (or
 * user `collect()`) throws is left out and reported in `failures`, so one broken collector never
 * fails the scrape.
 */
export async function scrape(
  registry: Registry<RegistryContentType>,
  format: ExpositionFormat,
): Promise<ScrapeResult> {
  const metrics = registry.getMetricsAsArray() as unknown as Array<{
    name: string;
    get(): Promise<FamilyValue> | FamilyValue;
  }>;
  const settled = await Promise.allSettled(metrics.map(async (m) => m.get()));
  const families: FamilyValue[] = [];
  const failures: ScrapeResult['failures'] = [];
  for (let i = 0; i < settled.length; i++) {
    const r = settled[i]!;
    if (r.status === 'fulfilled' && r.value && Array.isArray(r.value.values))
      families.push(r.value);
    else
      failures.push({
        name: metrics[i]!.name,
        error: r.status === 'rejected' ? r.reason : new Error('get() returned no values'),
      });
  }
  return { text: render(families, format, defaultLabelsOf(registry)), failures };
}
