import type { DiscoveryMiddleware } from '@koa-mesh/discovery';
import {
  consulCheck,
  eventLoopDelayCheck,
  health,
  type HealthCheckInput,
  type HealthMiddleware,
} from '@koa-mesh/health';
import { metrics, type MetricsMiddleware } from '@koa-mesh/metrics';
import { tracing } from '@koa-mesh/tracing';
import Koa from 'koa';
import type { OrdersConfig } from '../config.js';
import { problemHandler } from '../http/problem.js';
import type { Logger } from '../logger.js';
import { createDiscovery } from '../mesh/discovery.js';
import { serve, type Served } from '../mesh/server.js';
import { startTracingSdk } from '../mesh/tracing-sdk.js';
import { ordersRouter } from './routes.js';

export interface OrdersService {
  readonly app: Koa;
  readonly health: HealthMiddleware;
  readonly metrics: MetricsMiddleware;
  readonly discovery: DiscoveryMiddleware;
  start(options?: { ownProcess?: boolean }): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The orders companion service with the same mesh as the users service: tracing (it continues the
 * caller's trace), metrics, health, and registration in Consul with `meta.version`, which the
 * users service's canary arms filter on.
 */
export async function createOrdersService(
  config: OrdersConfig,
  logger: Logger,
): Promise<OrdersService> {
  const sdk = await startTracingSdk(config, config.version, logger);
  const metricsMw = metrics({
    labels: { version: () => config.version },
    ...(config.metricsPort !== undefined
      ? { listen: { port: config.metricsPort, host: config.host } }
      : {}),
  });
  const discoveryMw = createDiscovery(config, { version: config.version });
  const checks: Record<string, HealthCheckInput> = { 'event-loop': eventLoopDelayCheck() };
  if (config.consulAddr) {
    checks.consul = consulCheck({
      url: config.consulAddr,
      critical: false,
      intervalMs: config.healthCheckIntervalMs,
    });
  }
  const healthMw = health({
    checks,
    version: config.version,
    description: `koa-mesh demo orders service ${config.version}`,
    details: () => config.env !== 'production',
  });

  const app = new Koa();
  app.on('error', (err: unknown) => logger.error('unhandled error', { err }));
  app.use(tracing({ ignore: ['/health', '/ready', '/startup', '/metrics'] }));
  app.use(metricsMw);
  app.use(problemHandler(logger));
  app.use(healthMw);
  const router = ordersRouter({ config, logger });
  app.use(router.routes());
  app.use(router.allowedMethods());

  const onClose = [
    async function closeMetrics() {
      await metricsMw.close();
    },
    async function flushTraces() {
      await sdk?.shutdown();
    },
  ];
  let served: Served | undefined;
  let stopping: Promise<void> | undefined;
  return {
    app,
    health: healthMw,
    metrics: metricsMw,
    discovery: discoveryMw,
    async start({ ownProcess = false } = {}) {
      served = await serve({
        app,
        config,
        health: healthMw,
        logger,
        beforeDrain: [
          async function deregister() {
            await discoveryMw.stop();
          },
        ],
        onClose,
        ownProcess,
      });
      healthMw.markReady();
      try {
        await discoveryMw.start({ port: served.port, address: config.advertiseHost });
      } catch (err) {
        // Fail fast: an instance nobody can discover should crash-loop (with the orchestrator's
        // backoff) rather than run unseen. Once registered, Consul outages are survived.
        served.shutdown.dispose();
        served.server.close();
        served.server.closeAllConnections();
        throw new Error(
          `cannot register in Consul at ${config.consulAddr}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      return served.url;
    },
    stop() {
      stopping ??= (async () => {
        if (served) {
          await served.shutdown.shutdown('stop');
          served.shutdown.dispose();
          return;
        }
        await discoveryMw.stop();
        for (const hook of onClose) await hook();
        healthMw.close();
      })();
      return stopping;
    },
  };
}
