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
import { serviceLifecycle } from '../mesh/lifecycle.js';
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
  const lifecycle = serviceLifecycle({
    app,
    config,
    health: healthMw,
    discovery: discoveryMw,
    logger,
    onClose,
  });
  return {
    app,
    health: healthMw,
    metrics: metricsMw,
    discovery: discoveryMw,
    start: lifecycle.start,
    stop: lifecycle.stop,
  };
}
