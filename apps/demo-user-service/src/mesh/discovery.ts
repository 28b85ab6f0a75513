import { discovery, type DiscoveryMiddleware, type StaticInstance } from '@koa-mesh/discovery';
import type { CommonConfig } from '../config.js';

export interface DiscoverySetup {
  /** This service's version, registered as `meta.version` (what canary filters select on). */
  version: string;
  /** Services this one calls, watched from the start. */
  watch?: string[];
  /** The embedded default's instances, used when Consul is not configured. */
  staticServices?: Record<string, StaticInstance[]>;
}

/**
 * Consul when CONSUL_HTTP_ADDR is set: this process registers itself (agent API, an HTTP check on
 * `/ready`) once it listens and watches the services it calls. Otherwise a static registry from
 * the configuration: no Consul needed, nothing registered.
 */
export function createDiscovery(config: CommonConfig, setup: DiscoverySetup): DiscoveryMiddleware {
  const fetch = { timeoutMs: 2000, retries: 1 };
  if (config.consulAddr === undefined) {
    return discovery({ services: setup.staticServices ?? {}, env: false, fetch });
  }
  return discovery({
    consul: { url: config.consulAddr },
    register: {
      name: config.serviceName,
      address: config.advertiseHost,
      version: setup.version,
      tags: ['koa-mesh-demo'],
      check: {
        http: '/ready',
        intervalMs: config.consulCheckIntervalMs,
        timeoutMs: Math.min(5000, config.consulCheckIntervalMs),
        deregisterCriticalServiceAfterMs: 60_000,
      },
    },
    watch: setup.watch ?? [],
    fetch,
  });
}
