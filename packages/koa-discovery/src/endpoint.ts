import type { Dispatcher } from 'undici';
import type { Target } from './balancers/balancer.js';
import type { Instance } from './instance.js';

/**
 * An instance's keep-alive pool with two counts `fetch` keeps, to tell whether a call can go on a
 * connected socket at once (undici's headers timeout then bounds it) or may wait for a connection
 * or in the pool's queue, where only a timer of ours can keep the deadline.
 */
export type InstanceDispatcher = Dispatcher & {
  /** Requests `fetch` has on this pool that have not ended (response body closed, or error). */
  active: number;
  /** Sockets connected now. */
  connected: number;
};

/** A guarded call, structurally the koa-mesh `Breaker` (from @koa-mesh/breaker or your own). */
export interface Breaker {
  execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/**
 * The mutable per-instance state a pool keeps: counters survive list updates as long as the
 * instance id stays, so a Consul index bump never resets in-flight counts or ejections.
 */
export class Endpoint implements Target {
  instance: Instance;
  inflight = 0;
  consecutiveFailures = 0;
  /** Epoch ms until which the instance is ejected; 0 when not ejected. */
  ejectedUntil = 0;
  /** Ejections so far (multiplies the next ejection's length); decays while healthy. */
  ejections = 0;
  /** When the last ejection ended. */
  returnedAt = 0;
  breaker: Breaker | undefined;
  /** The instance's keep-alive pool, cached here to skip a map look-up per call. */
  dispatcher: InstanceDispatcher | undefined;

  constructor(instance: Instance) {
    this.instance = instance;
  }

  get id(): string {
    return this.instance.id;
  }

  get weight(): number {
    return this.instance.weight;
  }
}
