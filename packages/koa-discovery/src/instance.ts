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
 * A stable key for a filter (sorted), so equal filters share one pool. A filter that asks for
 * nothing (`{}`, or fields all undefined or empty) has the key of no filter: `service` itself.
 */
export function filterKey(service: string, filter: InstanceFilter | undefined): string {
  if (!filter) return service;
  const metaKeys = filter.meta ? Object.keys(filter.meta) : undefined;
  if (!filter.tags?.length && !metaKeys?.length && !filter.dc) return service;
  const tags = filter.tags ? [...filter.tags].sort().join(',') : '';
  const meta = metaKeys
    ? metaKeys
        .sort()
        .map((k) => `${k}=${filter.meta![k]}`)
        .join(',')
    : '';
  return `${service}|dc=${filter.dc ?? ''}|tags=${tags}|meta=${meta}`;
}
