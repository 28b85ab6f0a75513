import type { DiscoveryMiddleware } from '@koa-mesh/discovery';
import type { HealthMiddleware, ShutdownHook } from '@koa-mesh/health';
import type Koa from 'koa';
import type { CommonConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { serve, type Served } from './server.js';

export interface LifecycleOptions {
  app: Koa;
  config: CommonConfig;
  health: HealthMiddleware;
  discovery: DiscoveryMiddleware;
  logger: Logger;
  /** Run once the server has closed: close clients, flush exporters. */
  onClose: ShutdownHook[];
}

export interface Lifecycle {
  /** Listens, marks ready, registers in discovery; resolves with the URL served. */
  start(options?: { ownProcess?: boolean }): Promise<string>;
  /** The graceful shutdown (deregister, drain, close, onClose); idempotent. */
  stop(): Promise<void>;
}

/**
 * The start/stop life of a demo service, the same for users and orders: serve under koa-health's
 * graceful shutdown with deregistration as its `beforeDrain` step (the discovery client itself
 * stops once the server has closed), then register only once ready.
 */
export function serviceLifecycle(options: LifecycleOptions): Lifecycle {
  const { app, config, health, discovery, logger, onClose } = options;
  let served: Served | undefined;
  let stopping: Promise<void> | undefined;
  return {
    async start({ ownProcess = false } = {}) {
      served = await serve({
        app,
        config,
        health,
        logger,
        // Leave Consul at the signal, but keep the discovery client until the server has closed:
        // requests served during the drain still call their dependencies through it.
        beforeDrain: [
          async function deregister() {
            await discovery.deregister();
          },
        ],
        onClose: [
          async function stopDiscovery() {
            await discovery.stop();
          },
          ...onClose,
        ],
        ownProcess,
      });
      health.markReady();
      try {
        await discovery.start({ port: served.port, address: config.advertiseHost });
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
        await discovery.stop();
        for (const hook of onClose) await hook();
        health.close();
      })();
      return stopping;
    },
  };
}
