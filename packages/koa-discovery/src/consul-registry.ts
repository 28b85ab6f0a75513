import { EventEmitter } from 'node:events';
import type { RandomSource } from './balancers/balancer.js';
import { cancelContext, createConsul, type ConsulApi, type ConsulClient } from './consul-api.js';
import { parseHealthService } from './consul-parse.js';
import type { Instance } from './instance.js';
import { optionNames, rejectUnknownKeys } from './known-keys.js';
import { RegistrationKeeper } from './registration-keeper.js';
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

const OPTION_KEYS = optionNames<ConsulRegistryOptions>({
  url: true,
  token: true,
  dc: true,
  watch: true,
  requestTimeoutMs: true,
  syncIntervalMs: true,
  random: true,
  now: true,
});
const WATCH_KEYS = optionNames<WatchTuning>({
  waitMs: true,
  minIntervalMs: true,
  backoffBaseMs: true,
  backoffMaxMs: true,
  emptyGraceMs: true,
});

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

/**
 * The real registry: registers this process through the Consul agent API (never the catalog API,
 * whose registrations anti-entropy removes) and keeps the registration alive (see
 * RegistrationKeeper), and feeds instance lists from blocking queries on
 * `/v1/health/service/:name?passing` (see WatchEngine), one per distinct query.
 */
export class ConsulRegistry extends EventEmitter implements Registry {
  readonly kind = 'consul';
  readonly #client: ConsulClient;
  readonly #consul: ConsulApi;
  readonly #dc: string | undefined;
  readonly #tuning: WatchTuning;
  readonly #random: RandomSource;
  readonly #now: () => number;
  readonly #watches = new Map<string, SharedWatch>();
  readonly #keeper: RegistrationKeeper;
  #closed = false;

  constructor(options: ConsulRegistryOptions = {}) {
    super();
    if (!isPlainObject(options)) throw optionError('consul', 'an object', options);
    rejectUnknownKeys('consul', options, OPTION_KEYS);
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
    rejectUnknownKeys('consul.watch', w, WATCH_KEYS);
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
    const requestTimeoutMs = intOption(
      'consul.requestTimeoutMs',
      options.requestTimeoutMs,
      5000,
      1,
    );
    const syncIntervalMs = intOption('consul.syncIntervalMs', options.syncIntervalMs, 10_000, 100);
    this.#random = functionOption<RandomSource>('consul.random', options.random) ?? Math.random;
    this.#now = functionOption<() => number>('consul.now', options.now) ?? Date.now;
    const { client, api } = createConsul(url, token);
    this.#client = client;
    this.#consul = api;
    this.#keeper = new RegistrationKeeper({
      api,
      requestTimeoutMs,
      syncIntervalMs,
      emit: (event, payload) => this.emit(event, payload),
    });
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
      const ctx = cancelContext();
      const cancel = (): void => {
        ctx.emit('cancel');
      };
      signal.addEventListener('abort', cancel, { once: true });
      // Our own unref'd timer rather than the client's `timeout` (a ref'd timer that would hold
      // the process open for the whole blocking query).
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        cancel();
      }, timeoutMs);
      timer.unref();
      try {
        const result = (await this.#consul.health.service({
          service,
          passing: true,
          ...(dc ? { dc } : {}),
          index: String(index),
          wait: `${waitMs}ms`,
          ctx,
        })) as [{ headers: Record<string, string | string[] | undefined> }, unknown];
        const [res, body] = result;
        const header = res.headers['x-consul-index'];
        return { index: Array.isArray(header) ? header[0] : header, body };
      } catch (err) {
        if (timedOut) {
          throw new Error(`blocking query for ${service} timed out after ${timeoutMs} ms`, {
            cause: err,
          });
        }
        throw err;
      } finally {
        clearTimeout(timer);
        signal.removeEventListener('abort', cancel);
      }
    };
  }

  async register(registration: Registration): Promise<void> {
    if (this.#closed) throw new Error('@koa-mesh/discovery: the Consul registry is closed');
    await this.#keeper.register(registration);
  }

  registration(): RegisteredInfo | undefined {
    return this.#keeper.info();
  }

  deregister(): Promise<void> {
    return this.#keeper.deregister();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#keeper.close();
    for (const shared of this.#watches.values()) shared.engine.stop();
    this.#watches.clear();
    this.#client.destroy();
  }
}
