import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

/**
 * An ioredis client that fails fast: koa-ratelimit on ioredis defaults waits ~10 s per request and
 * then answers 500 when Redis is down. Here a command fails after `commandTimeoutMs`, nothing is
 * queued while disconnected, and reconnection runs in the background with capped backoff.
 */
export function createRedis(url: string, commandTimeoutMs: number, logger: Logger): Redis {
  const client = new Redis(url, {
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs * 4, 1000),
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: true,
    lazyConnect: true,
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000),
  });
  let down = false;
  client.on('error', (err) => {
    // ioredis emits an error per failed reconnect; say it once per outage.
    if (!down) logger.warn('redis unavailable', { err: err as Error });
    down = true;
  });
  client.on('ready', () => {
    if (down) logger.info('redis reconnected');
    down = false;
  });
  return client;
}
