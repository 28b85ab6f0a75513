import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GracefulShutdown, HealthMiddleware, ShutdownHook } from '@koa-mesh/health';
import type Koa from 'koa';
import type { CommonConfig } from '../config.js';
import type { Logger } from '../logger.js';

export interface ServeOptions {
  app: Koa;
  config: CommonConfig;
  health: HealthMiddleware;
  logger: Logger;
  /** Run at the signal, after readiness fails and before the drain delay: deregister. */
  beforeDrain: ShutdownHook[];
  /** Run once the server has closed: close clients, flush exporters. */
  onClose: ShutdownHook[];
  /** Install SIGTERM/SIGINT handlers and exit the process at the end (the executables). */
  ownProcess: boolean;
}

export interface Served {
  server: Server;
  url: string;
  port: number;
  shutdown: GracefulShutdown;
}

/**
 * Listens, then hands the server to @koa-mesh/health's graceful shutdown, whose order matters:
 * readiness fails at once, `beforeDrain` deregisters from discovery, the drain delay lets caches
 * and load balancers notice, then the server closes (keep-alive connections get
 * `Connection: close`) and `onClose` frees the clients. No preStop hook is needed.
 */
export async function serve(options: ServeOptions): Promise<Served> {
  const { app, config, health, logger } = options;
  const server = createServer(app.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const shutdown = health.gracefulShutdown(server, {
    signals: options.ownProcess ? ['SIGTERM', 'SIGINT'] : [],
    exit: options.ownProcess,
    beforeDrain: options.beforeDrain,
    onClose: options.onClose,
    drainDelayMs: config.shutdown.drainDelayMs,
    timeoutMs: config.shutdown.timeoutMs,
    logger: {
      info: (m) => logger.info(m),
      warn: (m) => logger.warn(m),
      error: (m) => logger.error(m),
    },
  });
  return { server, url: `http://${host}:${port}`, port, shutdown };
}
