import { hash32 } from './hash.js';
import type { Instance } from './instance.js';

/**
 * A fingerprint of everything about an instance list that matters for balancing: id, address,
 * port, tags, meta, status and weight. Order-independent. Two lists with the same fingerprint are
 * treated as the same list, so a Consul index change that carries no content change (a check's
 * output text, another service's churn) leaves counters and hash rings alone.
 */
export function contentHash(instances: readonly Instance[]): string {
  const parts = instances.map((i) => {
    const meta = Object.keys(i.meta)
      .sort()
      .map((k) => `${k}=${i.meta[k]}`)
      .join('&');
    return `${i.id}|${i.address}|${i.port}|${i.tags.join(',')}|${meta}|${i.status}|${i.weight}`;
  });
  parts.sort();
  const joined = parts.join('\n');
  // Two independent 32-bit hashes and the length: collisions are not a practical concern here.
  return `${joined.length.toString(36)}-${hash32(joined).toString(36)}-${hash32(`~${joined}`).toString(36)}`;
}
