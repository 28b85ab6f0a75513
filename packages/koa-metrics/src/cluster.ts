import type { AddressInfo } from 'node:net';
import { AggregatorRegistry } from 'prom-client';
import { optionNames, rejectUnknownKeys } from './known-keys.js';
import { serveExposition } from './listener.js';

/** Options of {@link clusterMetricsServer}. */
export interface ClusterMetricsServerOptions {
  /** Port to serve the aggregated exposition on; `0` picks a free one. */
  port: number;
  /** Interface to bind. @default undefined (every interface) */
  host?: string;
  /** Path of the exposition. @default '/metrics' */
  path?: string;
}

const OPTION_KEYS = optionNames<ClusterMetricsServerOptions>({
  port: true,
  host: true,
  path: true,
});

/** The primary's aggregated exposition server. */
export interface ClusterMetricsServer {
  /** Resolves with the bound address; rejects when listening failed. */
  readonly ready: Promise<AddressInfo>;
  close(): Promise<void>;
}

/**
 * Serves, from the cluster primary, the sum of every worker's metrics (workers run
 * `metrics({ cluster: true })`), through prom-client's AggregatorRegistry over the cluster IPC
 * channel. The aggregate is always in the Prometheus text format: exemplars belong to one worker's
 * request and are not aggregated. A worker that does not answer within prom-client's 5 s makes the
 * scrape a 503.
 */
export function clusterMetricsServer(options: ClusterMetricsServerOptions): ClusterMetricsServer {
  if (typeof options === 'object' && options !== null) rejectUnknownKeys('', options, OPTION_KEYS);
  const port = options?.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new TypeError(
      `@koa-mesh/metrics: expected \`port\` to be a port number (0-65535), got ${String(port)}`,
    );
  const path = options.path ?? '/metrics';
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw new TypeError(
      `@koa-mesh/metrics: expected \`path\` to be a string starting with "/", got ${String(path)}`,
    );
  const aggregator = new AggregatorRegistry();
  const server = serveExposition(port, options.host, path, () => aggregator.clusterMetrics(), true);
  return { ready: server.ready, close: () => server.close() };
}
