import { EventEmitter } from 'node:events';
import type { Middleware } from 'koa';
import { ClientCore, type DiscoveryClient } from './client.js';
import { isServiceUnavailableError, type ServiceUnavailableError } from './errors.js';
import { optionNames, rejectUnknownKeys } from './known-keys.js';
import { normalizeOptions, type DiscoveryOptions } from './options.js';
import { REGISTRY_EVENTS, type RegisteredInfo } from './registry.js';
import { RequestClient } from './request-client.js';
import type { PoolSnapshot } from './service-pool.js';

/** The HealthCheckResult shape koa-health reads. */
export interface HealthCheckResult {
  status: 'pass' | 'warn' | 'fail';
  componentType?: string;
  measurement?: string;
  observedValue?: unknown;
  observedUnit?: string;
  output?: string;
  details?: Record<string, unknown>;
}

/** Everything `snapshot()` reports. */
export interface DiscoverySnapshot {
  registry: string;
  registration: RegisteredInfo | undefined;
  started: boolean;
  /** `deregister()` (or `stop()`) was called: this instance has left the registry. */
  deregistered: boolean;
  stopped: boolean;
  services: PoolSnapshot[];
}

/** Where and how to register, given to `start()` once the server listens. */
export interface StartOptions {
  port?: number;
  address?: string;
}

const START_KEYS = optionNames<StartOptions>({ port: true, address: true });

/** The middleware `discovery()` returns, with the lifecycle and the client. */
export interface DiscoveryMiddleware extends Middleware {
  /**
   * Registers this process (when `register` is set) and opens the `watch` list's watches.
   * Idempotent. Rejects when the first registration fails; the Consul registry keeps trying in
   * the background, and `start()` may be called again.
   */
  start(options?: StartOptions): Promise<void>;
  /**
   * Leaves the registry: marks this instance unavailable, then deregisters it, while the client
   * keeps working, so requests still being served during a drain can call other services. Give
   * it to `@koa-mesh/health` as `beforeDrain` and `stop()` as `onClose`. Idempotent; final for
   * the registration (`start()` afterwards rejects).
   */
  deregister(): Promise<void>;
  /** `deregister()`, then ends watches and frees sockets. Idempotent; final. */
  stop(): Promise<void>;
  /**
   * The client, for calls made outside a request. `ctx.state.discovery` is the same client seen
   * from the request: its `fetch` carries the request's trace context.
   */
  readonly client: DiscoveryClient;
  /** For @koa-mesh/health: warn while stale, in empty-list grace or unregistered. */
  healthCheck(): Promise<HealthCheckResult>;
  snapshot(): DiscoverySnapshot;
  /** Events: see the README (registered, watch:update, watch:error, eject, panic, ...). */
  readonly events: EventEmitter;
  on(event: string, listener: (payload: Record<string, unknown>) => void): DiscoveryMiddleware;
  off(event: string, listener: (payload: Record<string, unknown>) => void): DiscoveryMiddleware;
}

function problem(err: ServiceUnavailableError, requestId: unknown): Record<string, unknown> {
  return {
    type: 'urn:koa-mesh:discovery:service-unavailable',
    title: 'Service Unavailable',
    status: 503,
    detail: err.message,
    code: err.code,
    ...(typeof requestId === 'string' ? { requestId } : {}),
  };
}

/**
 * Service discovery for Koa: registers this process in Consul (or runs on a static list), keeps
 * watched instance lists in memory and balances calls over them with outlier ejection. The
 * middleware puts the client on `ctx.state.discovery` and renders a ServiceUnavailableError a
 * handler lets through as a 503 problem+json.
 */
export function discovery(options: DiscoveryOptions = {}): DiscoveryMiddleware {
  const o = normalizeOptions(options);
  const events = new EventEmitter();
  const emit = (event: string, payload: Record<string, unknown>): void => {
    events.emit(event, payload);
  };
  const client = new ClientCore(o, emit);
  const forwarders = REGISTRY_EVENTS.map((event) => {
    const listener = (payload: Record<string, unknown>): void => emit(event, payload);
    o.registry.on(event, listener);
    return [event, listener] as const;
  });
  let started: Promise<void> | undefined;
  let leaving: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;

  const middleware = async function discoveryMiddleware(ctx, next) {
    ctx.state.discovery = new RequestClient(client, ctx);
    try {
      await next();
    } catch (err) {
      if (!isServiceUnavailableError(err)) throw err;
      ctx.status = 503;
      for (const [k, v] of Object.entries(err.headers ?? {})) ctx.set(k, v);
      ctx.type = 'application/problem+json';
      ctx.body = problem(err, ctx.state.requestId);
    }
  } as DiscoveryMiddleware;

  const start = async (startOptions: StartOptions = {}): Promise<void> => {
    for (const service of o.watch) client.pool(service, undefined);
    if (o.register && o.registry.register) {
      await o.registry.register({
        ...o.register,
        ...(startOptions.address !== undefined ? { address: startOptions.address } : {}),
        port: (startOptions.port ?? o.register.port)!,
      });
    }
  };

  const deregister = (): Promise<void> => {
    leaving ??= (async () => {
      await started?.catch(() => undefined);
      if (o.registry.deregister) await o.registry.deregister();
    })();
    return leaving;
  };

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await deregister();
      await client.close();
      for (const [event, listener] of forwarders) o.registry.off(event, listener);
      if (o.ownsRegistry) await o.registry.close();
    })();
    return stopping;
  };

  const snapshot = (): DiscoverySnapshot => ({
    registry: o.registry.kind,
    registration: o.registry.registration?.(),
    started: started !== undefined,
    deregistered: leaving !== undefined,
    stopped: stopping !== undefined,
    services: client.snapshot(),
  });

  Object.defineProperties(middleware, {
    start: {
      value: (startOptions?: StartOptions) => {
        if (stopping) return Promise.reject(new Error('@koa-mesh/discovery: start() after stop()'));
        if (leaving) {
          return Promise.reject(new Error('@koa-mesh/discovery: start() after deregister()'));
        }
        if (startOptions !== undefined && startOptions !== null) {
          // Once per process, not per request: `start({ adress })` would register the default.
          try {
            rejectUnknownKeys('start', startOptions, START_KEYS);
          } catch (err) {
            return Promise.reject(err);
          }
        }
        if (!started) {
          const attempt = start(startOptions);
          started = attempt;
          // A failed start (agent unreachable) may be retried.
          attempt.catch(() => {
            if (started === attempt) started = undefined;
          });
        }
        return started;
      },
    },
    deregister: { value: deregister },
    stop: { value: stop },
    client: { value: client, enumerable: true },
    events: { value: events },
    snapshot: { value: snapshot },
    healthCheck: {
      value: async (): Promise<HealthCheckResult> => {
        const snap = snapshot();
        const problems: string[] = [];
        let usable = 0;
        for (const s of snap.services) {
          usable += s.instances.filter((i) => !i.ejected).length;
          if (!s.watch.ready) problems.push(`${s.service}: no list yet`);
          else if (s.watch.stale)
            problems.push(`${s.service}: stale for ${s.watch.ageMs} ms (${s.watch.lastError})`);
          if (s.watch.inGrace) problems.push(`${s.service}: empty list distrusted (grace period)`);
          if (s.panic) problems.push(`${s.service}: panic mode`);
        }
        if (snap.registration && !snap.registration.healthy) {
          problems.push(
            `registration ${snap.registration.id}: ${snap.registration.lastError ?? 'not confirmed'}`,
          );
        }
        return {
          status: problems.length === 0 ? 'pass' : 'warn',
          componentType: 'component',
          measurement: 'instances',
          observedValue: usable,
          ...(problems.length ? { output: problems.join('; ') } : {}),
          details: {
            registry: snap.registry,
            services: Object.fromEntries(
              snap.services.map((s) => [
                s.service,
                { instances: s.instances.length, stale: s.watch.stale, ageMs: s.watch.ageMs },
              ]),
            ),
          },
        };
      },
    },
    on: {
      value(event: string, listener: (payload: Record<string, unknown>) => void) {
        events.on(event, listener);
        return middleware;
      },
    },
    off: {
      value(event: string, listener: (payload: Record<string, unknown>) => void) {
        events.off(event, listener);
        return middleware;
      },
    },
  });
  return middleware;
}
