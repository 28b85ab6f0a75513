import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

/**
 * An ioredis client that fails fast: koa-ratelimit on ioredis defaults waits ~10 s per request and
 * then answers 500 when Redis is down. Here a command fails after `commandTimeoutMs`, nothing is
 * queued while disconnected, and reconnection runs in the background with capped backoff.
 *
 * A Redis that stalls with the connection still open (paused, or partitioned without a reset)
 * is the other outage: ioredis stays `ready`, and `commandTimeout` rejects a command's promise but
 * leaves the command in the connection's queue until an answer comes, so every request added one
 * (about 1.7 KB each, for as long as TCP takes to give up: minutes). `socketTimeout` drops a
 * connection that answers nothing for that long; the client then reconnects and, with the offline
 * queue off, fails commands at once until Redis answers again.
 */
export function createRedis(url: string, commandTimeoutMs: number, logger: Logger): Redis {
  const stallMs = Math.max(commandTimeoutMs * 4, 1000);
  const client = new Redis(url, {
    commandTimeout: commandTimeoutMs,
    connectTimeout: stallMs,
    socketTimeout: stallMs,
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
