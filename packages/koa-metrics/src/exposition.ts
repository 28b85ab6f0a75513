/**
 * Renders metric families (prom-client's `get()` shape) in the Prometheus text format 0.0.4 or in
 * OpenMetrics 1.0.0. prom-client ties the format to the registry at construction and, in
 * OpenMetrics mode, renames counters in place; rendering here lets one registry serve both formats
 * and keeps exemplars out of the text format.
 */
import type { FamilyValue, SampleValue } from './families.js';

export type ExpositionFormat = 'text' | 'openmetrics';

export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE =
  'application/openmetrics-text; version=1.0.0; charset=utf-8';

const OM_TYPES = new Set([
  'counter',
  'gauge',
  'histogram',
  'summary',
  'gaugehistogram',
  'info',
  'stateset',
]);

function escapeHelpText(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeHelpOpenMetrics(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** A sample value as both formats spell it. */
export function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

/**
 * OpenMetrics wants `le` and `quantile` values as canonical floats: an integral bound is `1.0`,
 * not `1` (Prometheus 3 normalises the text format the same way).
 */
function canonicalBound(raw: string | number): string {
  const n = typeof raw === 'number' ? raw : Number(raw);
  if (typeof raw === 'string' && (raw === '' || Number.isNaN(n))) return raw;
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return n.toFixed(1);
  return formatNumber(n);
}

function formatLabels(labels: Record<string, string | number>, om: boolean): string {
  let out = '';
  for (const name in labels) {
    const raw = labels[name]!;
    const value =
      om && (name === 'le' || name === 'quantile')
        ? canonicalBound(raw)
        : typeof raw === 'number'
          ? formatNumber(raw)
          : String(raw);
    out += `${out === '' ? '' : ','}${name}="${escapeLabelValue(value)}"`;
  }
  return out === '' ? '' : `{${out}}`;
}

function withDefaults(
  labels: Record<string, string | number> | undefined,
  defaults: Record<string, string> | undefined,
): Record<string, string | number> {
  if (!defaults) return labels ?? {};
  // Sample labels win over the registry's default labels, as in prom-client.
  return { ...defaults, ...labels };
}

function renderFamily(
  family: FamilyValue,
  format: ExpositionFormat,
  defaults: Record<string, string> | undefined,
): string {
  const om = format === 'openmetrics';
  const isCounter = family.type === 'counter';
  // OpenMetrics names a counter family without `_total` and suffixes its samples.
  const familyName = om && isCounter ? family.name.replace(/_total$/, '') : family.name;
  const type = om && !OM_TYPES.has(family.type) ? 'unknown' : family.type;
  let out = `# HELP ${familyName} ${om ? escapeHelpOpenMetrics(family.help) : escapeHelpText(family.help)}\n`;
  out += `# TYPE ${familyName} ${type}\n`;
  for (const v of family.values as SampleValue[]) {
    let name = v.metricName ?? family.name;
    if (om && isCounter && v.metricName === undefined) name = `${familyName}_total`;
    out += `${name}${formatLabels(withDefaults(v.labels, defaults), om)} ${formatNumber(v.value)}`;
    if (om && v.exemplar) {
      out += ` # ${formatLabels(v.exemplar.labelSet, false)} ${formatNumber(v.exemplar.value)}`;
      if (typeof v.exemplar.timestamp === 'number') out += ` ${v.exemplar.timestamp.toFixed(3)}`;
    }
    out += '\n';
  }
  return out;
}

/** The exposition of `families` in `format`; OpenMetrics ends with `# EOF`. */
export function render(
  families: readonly FamilyValue[],
  format: ExpositionFormat,
  defaultLabels?: Record<string, string>,
): string {
  const defaults =
    defaultLabels && Object.keys(defaultLabels).length > 0 ? defaultLabels : undefined;
  let out = '';
  for (const family of families) {
    out += renderFamily(family, format, defaults);
    if (format === 'text') out += '\n';
  }
  if (format === 'openmetrics') out += '# EOF\n';
  return out;
}
