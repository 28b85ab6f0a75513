/** Health of an instance as Consul reports it (the worst of its checks). */
export type InstanceStatus = 'passing' | 'warning' | 'critical';

/** One instance of a service, as a registry knows it. Immutable: a new list replaces the old. */
export interface Instance {
  /** Unique id (Consul's `Service.ID`; `<service>-<host>-<port>` for static instances). */
  readonly id: string;
  /** Service name. */
  readonly service: string;
  /** Host name or IP the instance answers on. */
  readonly address: string;
  readonly port: number;
  /** Base URL, e.g. `http://10.0.0.5:4001` (origin only, no trailing slash). */
  readonly url: string;
  readonly tags: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
  /** Load-balancing weight (> 0): `meta.weight`, else Consul's `Weights.Passing`, else 1. */
  readonly weight: number;
  readonly status: InstanceStatus;
  /** Consul node name, when known. */
  readonly node?: string;
  /** Datacenter, when known. */
  readonly datacenter?: string;
}

/** Which instances of a service a caller wants. Instances must match every field given. */
export interface InstanceFilter {
  /** Every one of these tags must be present. */
  tags?: readonly string[];
  /** Every key must be present with exactly this value, e.g. `{ version: 'v2' }`. */
  meta?: Readonly<Record<string, string>>;
  /** Consul datacenter to query; the agent's own when absent. */
  dc?: string;
}

/** True when `instance` satisfies `filter`'s tags and meta (the datacenter is part of the query). */
export function matchesFilter(instance: Instance, filter: InstanceFilter | undefined): boolean {
  if (!filter) return true;
  if (filter.tags) {
    for (const tag of filter.tags) if (!instance.tags.includes(tag)) return false;
  }
  if (filter.meta) {
    for (const key of Object.keys(filter.meta)) {
      if (instance.meta[key] !== filter.meta[key]) return false;
    }
  }
  return true;
}

/**
 * One part of a filter key: a string length-prefixed (`3:a,b`), so no value can pass for a
 * separator or for two parts. A meta value `undefined` (matches instances without the key) and any
 * other non-string (matches no instance) get markers of their own.
 */
function keyPart(v: unknown): string {
  return typeof v === 'string' ? `${v.length}:${v}` : v === undefined ? 'u' : 'x';
}

/**
 * Separates the service from the filter in a key: a character no valid service name holds (see
 * serviceNameProblem), so no service name's key equals another service's filtered key.
 */
const SEP = '\u0000';

/**
 * A stable key for a filter (sorted), so equal filters share one pool, and different filters never
 * do: every tag, meta key and value and the `dc` is length-prefixed, so `tags: ['a,b']` and
 * `tags: ['a', 'b']`, or meta values holding `,` or `=`, get keys of their own. A filter that asks
 * for nothing (`{}`, or fields all undefined or empty) has the key of no filter: `service` itself,
 * with no work done.
 */
export function filterKey(service: string, filter: InstanceFilter | undefined): string {
  if (!filter) return service;
  const metaKeys = filter.meta ? Object.keys(filter.meta) : undefined;
  if (!filter.tags?.length && !metaKeys?.length && !filter.dc) return service;
  let key = `${service}${SEP}${keyPart(filter.dc ?? '')}${SEP}`;
  if (filter.tags) for (const tag of [...filter.tags].sort()) key += keyPart(tag);
  key += SEP;
  if (metaKeys) {
    for (const k of metaKeys.sort()) key += `${keyPart(k)}${keyPart(filter.meta![k])}`;
  }
  return key;
}
