import { EventEmitter } from 'node:events';
import Consul from 'consul';
import type { RandomSource } from './balancers/balancer.js';
import { parseHealthService } from './consul-parse.js';
import type { Instance } from './instance.js';
import {
  consulServiceDefinition,
  normalizeRegistration,
  type NormalizedRegistration,
} from './registration.js';
import type { RegisteredInfo, Registration, Registry, RegistryWatch } from './registry.js';
import { isPlainObject, functionOption, intOption, optionError, stringOption } from './validate.js';
import { WatchEngine, type FetchPage, type WatchTuning } from './watch.js';

/** Options of {@link ConsulRegistry}. */
export interface ConsulRegistryOptions {
  /** Agent HTTP address. @default process.env.CONSUL_HTTP_ADDR, else `http://127.0.0.1:8500` */
  url?: string;
  /** ACL token. @default process.env.CONSUL_HTTP_TOKEN */
  token?: string;
  /** Datacenter for watches that do not name one. @default the agent's */
  dc?: string;
  /** Watch engine tuning (blocking `wait`, backoff, empty-list grace). */
  watch?: Partial<WatchTuning>;
  /** Timeout of agent API calls (register, heartbeat, deregister). @default 5000 */
  requestTimeoutMs?: number;
  /**
   * How often a registration without a TTL check is confirmed with the agent (and re-registered
   * when the agent lost it). With a TTL check, every heartbeat confirms it. @default 10000
   */
  syncIntervalMs?: number;
  /** Injectable randomness (backoff jitter). @default Math.random */
  random?: RandomSource;
  /** Injectable clock. @default Date.now */
  now?: () => number;
}

const WATCH_DEFAULTS: WatchTuning = Object.freeze({
  waitMs: 60_000,
  minIntervalMs: 100,
  backoffBaseMs: 250,
  backoffMaxMs: 30_000,
  emptyGraceMs: 30_000,
});

interface SharedWatch {
  engine: WatchEngine;
  listeners: Set<(instances: readonly Instance[]) => void>;
}

type ConsulClient = InstanceType<typeof Consul>;
type Call = (options: Record<string, unknown>) => Promise<unknown>;
/**
 * The consul client's methods take an options object whose typings omit what we pass (`timeout`,
 * `ctx`, initial check `status`); this is the shape we rely on.
 */
interface ConsulApi {
  health: { service: Call };
  agent: {
    service: { register: Call; deregister: Call; maintenance: Call; list: Call };
    check: { pass: Call; fail: Call };
  };
}
type CancelCtx = EventEmitter & { includeResponse?: boolean };

/**
 * The consul client's promise layer (papi) rejects only when `value instanceof Error`; an error
 * from another realm (Node's own `ECONNREFUSED` seen from a vm context, as under jest) resolves
 * as the value instead. A resolved Error is never a real answer, so treat it as the rejection.
 */
function strict(fn: Call, self: object): Call {
  return async (options) => {
    const value = await fn.call(self, options);
    if (Object.prototype.toString.call(value) === '[object Error]') throw value;
    return value;
  };
}

function strictApi(raw: ConsulApi): ConsulApi {
  const { health, agent } = raw;
  return {
    health: { service: strict(health.service, health) },
    agent: {
      service: {
        register: strict(agent.service.register, agent.service),
        deregister: strict(agent.service.deregister, agent.service),
        maintenance: strict(agent.service.maintenance, agent.service),
        list: strict(agent.service.list, agent.service),
      },
      check: {
        pass: strict(agent.check.pass, agent.check),
        fail: strict(agent.check.fail, agent.check),
      },
    },
  };
}

/**
 * The real registry: registers this process through the Consul agent API (never the catalog API,
 * whose registrations anti-entropy removes), keeps the registration alive, and feeds instance
 * lists from blocking queries on `/v1/health/service/:name?passing`.
 */
export class ConsulRegistry extends EventEmitter implements Registry {
  readonly kind = 'consul';
  readonly #client: ConsulClient;
  readonly #consul: ConsulApi;
  readonly #dc: string | undefined;
  readonly #tuning: WatchTuning;
  readonly #requestTimeoutMs: number;
  readonly #syncIntervalMs: number;
  readonly #random: RandomSource;
  readonly #now: () => number;
  readonly #watches = new Map<string, SharedWatch>();
  #registration: NormalizedRegistration | undefined;
  #healthy = false;
  #lastError: string | undefined;
  #reregistrations = 0;
  #timer: NodeJS.Timeout | undefined;
  #deregistering: Promise<void> | undefined;
  #closed = false;

  constructor(options: ConsulRegistryOptions = {}) {
    super();
    if (!isPlainObject(options)) throw optionError('consul', 'an object', options);
    const raw =
      stringOption('consul.url', options.url) ??
      process.env.CONSUL_HTTP_ADDR ??
      'http://127.0.0.1:8500';
    let url: URL;
    try {
      url = new URL(/^https?:\/\//.test(raw) ? raw : `http://${raw}`);
    } catch {
      throw optionError('consul.url', 'an http(s) URL such as http://127.0.0.1:8500', raw);
    }
    const token = stringOption('consul.token', options.token) ?? process.env.CONSUL_HTTP_TOKEN;
    this.#dc = stringOption('consul.dc', options.dc);
    const w = options.watch ?? {};
    if (!isPlainObject(w)) throw optionError('consul.watch', 'an object', w);
    this.#tuning = {
      waitMs: intOption('consul.watch.waitMs', w.waitMs, WATCH_DEFAULTS.waitMs, 1),
      minIntervalMs: intOption(
        'consul.watch.minIntervalMs',
        w.minIntervalMs,
        WATCH_DEFAULTS.minIntervalMs,
        0,
      ),
      backoffBaseMs: intOption(
        'consul.watch.backoffBaseMs',
        w.backoffBaseMs,
        WATCH_DEFAULTS.backoffBaseMs,
        1,
      ),
      backoffMaxMs: intOption(
        'consul.watch.backoffMaxMs',
        w.backoffMaxMs,
        WATCH_DEFAULTS.backoffMaxMs,
        1,
      ),
      emptyGraceMs: intOption(
        'consul.watch.emptyGraceMs',
        w.emptyGraceMs,
        WATCH_DEFAULTS.emptyGraceMs,
        0,
      ),
    };
    if (this.#tuning.waitMs > 600_000) {
      throw optionError(
        'consul.watch.waitMs',
        'at most 600000 (Consul caps wait at 10 minutes)',
        w.waitMs,
      );
    }
    this.#requestTimeoutMs = intOption(
      'consul.requestTimeoutMs',
      options.requestTimeoutMs,
      5000,
      1,
    );
    this.#syncIntervalMs = intOption('consul.syncIntervalMs', options.syncIntervalMs, 10_000, 100);
    this.#random = functionOption<RandomSource>('consul.random', options.random) ?? Math.random;
    this.#now = functionOption<() => number>('consul.now', options.now) ?? Date.now;
    this.#client = new Consul({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      secure: url.protocol === 'https:',
      ...(token ? { defaults: { token } } : {}),
    });
    this.#consul = strictApi(this.#client as unknown as ConsulApi);
  }

  watch(
    service: string,
    dc: string | undefined,
    onChange: (instances: readonly Instance[]) => void,
  ): RegistryWatch {
    if (this.#closed) throw new Error('@koa-mesh/discovery: the Consul registry is closed');
    const datacenter = dc ?? this.#dc;
    const key = `${service}\u0000${datacenter ?? ''}`;
    let shared = this.#watches.get(key);
    if (!shared) {
      const listeners = new Set<(instances: readonly Instance[]) => void>();
      const engine = new WatchEngine({
        ...this.#tuning,
        service,
        dc: datacenter,
        fetchPage: this.#fetchPage(service, datacenter),
        parse: (body) => parseHealthService(body, service),
        onChange: (list) => {
          for (const l of listeners) {
            try {
              l(list);
            } catch (error) {
              this.emit('watch:error', { service, dc: datacenter, error, listener: true });
            }
          }
        },
        emit: (event, payload) => this.emit(event, payload),
        random: this.#random,
        now: this.#now,
      });
      shared = { engine, listeners };
      this.#watches.set(key, shared);
      engine.start();
    }
    const current = shared;
    current.listeners.add(onChange);
    let open = true;
    return {
      get instances() {
        return current.engine.instances;
      },
      info: () => current.engine.info(),
      close: () => {
        if (!open) return;
        open = false;
        current.listeners.delete(onChange);
        if (current.listeners.size === 0 && this.#watches.get(key) === current) {
          current.engine.stop();
          this.#watches.delete(key);
        }
      },
    };
  }

  #fetchPage(service: string, dc: string | undefined): FetchPage {
    return async (index, waitMs, timeoutMs, signal) => {
      const ctx: CancelCtx = new EventEmitter();
      ctx.includeResponse = true;
      const cancel = (): void => {
        ctx.emit('cancel');
      };
      signal.addEventListener('abort', cancel, { once: true });
      try {
        const result = (await this.#consul.health.service({
          service,
          passing: true,
          ...(dc ? { dc } : {}),
          index: String(index),
          wait: `${waitMs}ms`,
          timeout: timeoutMs,
          ctx,
        })) as [{ headers: Record<string, string | string[] | undefined> }, unknown];
        const [res, body] = result;
        const header = res.headers['x-consul-index'];
        return { index: Array.isArray(header) ? header[0] : header, body };
      } finally {
        signal.removeEventListener('abort', cancel);
      }
    };
  }

  async register(registration: Registration): Promise<void> {
    if (this.#closed) throw new Error('@koa-mesh/discovery: the Consul registry is closed');
    const reg = normalizeRegistration(registration);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#registration = reg;
    this.#deregistering = undefined;
    try {
      await this.#registerOnce(reg);
      this.emit('registered', { id: reg.id, name: reg.name, address: reg.address, port: reg.port });
    } finally {
      // Even when the agent is unreachable now, keep trying: the sync loop registers us as soon
      // as it answers (a `reregistered` event).
      this.#schedule();
    }
  }

  async #registerOnce(reg: NormalizedRegistration): Promise<void> {
    try {
      await this.#consul.agent.service.register({
        ...consulServiceDefinition(reg),
        timeout: this.#requestTimeoutMs,
      });
      if (reg.ttlMs !== undefined) await this.#pass(reg);
      this.#healthy = true;
      this.#lastError = undefined;
    } catch (err) {
      this.#healthy = false;
      this.#lastError = err instanceof Error ? err.message : String(err);
      throw err;
    }
  }

  #pass(reg: NormalizedRegistration): Promise<unknown> {
    return this.#consul.agent.check.pass({
      id: `${reg.id}:ttl`,
      timeout: this.#requestTimeoutMs,
    });
  }

  #schedule(): void {
    const reg = this.#registration;
    if (!reg || this.#closed || this.#deregistering) return;
    const every =
      reg.ttlMs !== undefined ? Math.max(100, Math.floor(reg.ttlMs / 3)) : this.#syncIntervalMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#sync(reg).finally(() => {
        if (this.#registration === reg) this.#schedule();
      });
    }, every);
    this.#timer.unref();
  }

  /** Heartbeat (TTL) or presence check; re-registers when the agent has lost us. */
  async #sync(reg: NormalizedRegistration): Promise<void> {
    let present = true;
    try {
      if (reg.ttlMs !== undefined) {
        await this.#pass(reg);
      } else {
        const services = (await this.#consul.agent.service.list({
          timeout: this.#requestTimeoutMs,
        })) as Record<string, unknown>;
        present = isPlainObject(services) && Object.hasOwn(services, reg.id);
      }
    } catch {
      // An unknown TTL check (agent restarted) or an unreachable agent: try to register again.
      present = false;
    }
    if (this.#registration !== reg || this.#deregistering) return;
    if (present) {
      this.#healthy = true;
      this.#lastError = undefined;
      return;
    }
    try {
      await this.#registerOnce(reg);
      this.#reregistrations++;
      this.emit('reregistered', { id: reg.id, name: reg.name, count: this.#reregistrations });
    } catch (error) {
      this.emit('registration:error', { id: reg.id, name: reg.name, error });
    }
  }

  registration(): RegisteredInfo | undefined {
    const reg = this.#registration;
    if (!reg) return undefined;
    return {
      id: reg.id,
      name: reg.name,
      address: reg.address,
      port: reg.port,
      healthy: this.#healthy,
      lastError: this.#lastError,
      reregistrations: this.#reregistrations,
    };
  }

  deregister(): Promise<void> {
    this.#deregistering ??= this.#deregister();
    return this.#deregistering;
  }

  async #deregister(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const reg = this.#registration;
    if (!reg) return;
    this.#registration = undefined;
    this.#healthy = false;
    const timeout = this.#requestTimeoutMs;
    try {
      // Unavailable first, so watchers drop us before the registration disappears.
      if (reg.ttlMs !== undefined) {
        await this.#consul.agent.check.fail({
          id: `${reg.id}:ttl`,
          note: 'shutting down',
          timeout,
        });
      } else {
        await this.#consul.agent.service.maintenance({
          id: reg.id,
          enable: true,
          reason: 'shutting down',
          timeout,
        });
      }
    } catch {
      // Deregistering below achieves the same; an unreachable agent is reported there.
    }
    try {
      await this.#consul.agent.service.deregister({
        id: reg.id,
        timeout,
      });
      this.emit('deregistered', { id: reg.id, name: reg.name });
    } catch (error) {
      this.emit('registration:error', { id: reg.id, name: reg.name, error });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const shared of this.#watches.values()) shared.engine.stop();
    this.#watches.clear();
    this.#client.destroy();
  }
}
