import type { ExpositionFormat } from './exposition.js';

/** OpenMetrics versions whose exposition we can send (1.0.0 covers what 0.0.1 parsers read). */
const OM_VERSIONS = new Set(['1.0.0', '0.0.1']);

/**
 * Picks the exposition format from an `Accept` header (RFC 9110 §12.5.1): OpenMetrics when the
 * scraper ranks `application/openmetrics-text` above the text format, e.g. Prometheus's
 * `application/openmetrics-text;version=1.0.0,...,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`.
 * Anything else, including a missing or malformed header, gets the text format: a scraper that
 * accepts nothing we speak still understands it better than a 406.
 */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  if (!accept) return 'text';
  let bestOm = 0;
  let bestText = 0;
  let omFirst = false;
  for (const range of accept.split(',')) {
    const parts = range.split(';');
    const mediaType = parts[0]!.trim().toLowerCase();
    let q = 1;
    let version: string | undefined;
    for (let i = 1; i < parts.length; i++) {
      const eq = parts[i]!.indexOf('=');
      if (eq < 0) continue;
      const key = parts[i]!.slice(0, eq).trim().toLowerCase();
      const value = parts[i]!.slice(eq + 1)
        .trim()
        .replace(/^"|"$/g, '');
      if (key === 'q') {
        const n = Number(value);
        q = Number.isFinite(n) && n >= 0 && n <= 1 ? n : 0;
      } else if (key === 'version') version = value;
    }
    if (q === 0) continue;
    if (mediaType === 'application/openmetrics-text') {
      if (version !== undefined && !OM_VERSIONS.has(version)) continue;
      if (q > bestOm) {
        if (bestText === 0 && bestOm === 0) omFirst = true;
        bestOm = q;
      }
    } else if (mediaType === 'text/plain' || mediaType === 'text/*' || mediaType === '*/*') {
      if (q > bestText) bestText = q;
    }
  }
  if (bestOm === 0) return 'text';
  if (bestOm > bestText) return 'openmetrics';
  // Equal preference: the one listed first.
  return bestOm === bestText && omFirst ? 'openmetrics' : 'text';
}
