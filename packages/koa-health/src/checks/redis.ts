import { performance } from 'node:perf_hooks';
import type { HealthCheckResult, HealthCheckSpec } from '../types.js';
import { fail } from '../validate.js';
import { elapsedMs, scheduling, SCHEDULING_OPTIONS, type CheckScheduling } from './spec-options.js';

/** What the Redis check needs of a client: ioredis and node-redis both fit. */
export interface RedisLike {
  ping(): Promise<string>;
}

/**
 * Redis answers PING. Takes the client the application already holds (ioredis, node-redis), so
 * this package never loads a Redis library. A client that queues commands while disconnected
 * never answers: the check's `timeoutMs` turns that into a failure.
 */
export function redisCheck(client: RedisLike, options: CheckScheduling = {}): HealthCheckSpec {
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof (client as { ping?: unknown }).ping !== 'function'
  )
    fail('redisCheck client', 'a Redis client with ping()', client);
  const spec = scheduling('redisCheck', options, SCHEDULING_OPTIONS);
  return {
    ...spec,
    async check(): Promise<HealthCheckResult> {
      const start = performance.now();
      const reply = await client.ping();
      const ms = elapsedMs(start, performance.now());
      const result: HealthCheckResult = {
        status: reply === 'PONG' ? 'pass' : 'fail',
        componentType: 'datastore',
        measurement: 'responseTime',
        observedValue: ms,
        observedUnit: 'ms',
      };
      if (reply !== 'PONG') result.output = `PING answered ${JSON.stringify(reply)}, not "PONG"`;
      return result;
    },
  };
}
