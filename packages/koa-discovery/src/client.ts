import { Pool } from 'undici';
import type { Breaker, Endpoint, InstanceDispatcher } from './endpoint.js';
import { ServiceUnavailableError } from './errors.js';
import {
  discoveryFetch,
  type DiscoveryFetchInit,
  type DiscoveryResponse,
  type FetchDeps,
} from './fetch.js';
import { filterKey, type Instance, type InstanceFilter } from './instance.js';
import type { NormalizedOptions } from './options.js';
import type { Outcome } from './outcome.js';
import { createPropagation } from './propagation.js';
import { RetryBudget } from './retry-budget.js';
import { serviceNameProblem, shownServiceName } from './service-name.js';
import { ServicePool, type PoolSnapshot } from './service-pool.js';

/**
 * The koa-mesh `Resolver`: the base URL of one upstream instance for this request, with the
 * optional `release` the canary router calls once when the exchange ends (with the URL object the
 * resolver returned: it settles the exchange on the instance it was counted on, even after that
 * instance left the list or came back at the same address).
 */
export interface Resolver<Ctx = unknown> {
  (ctx: Ctx): Promise<URL>;
  release?(
    url: URL,
    outcome: { ok: boolean; status?: number; error?: unknown; durationMs: number },
  ): void;
}

/** Filter of a resolver: instance filter plus how to derive a consistent-hash key from ctx. */
export interface ResolverFilter<Ctx = unknown> extends InstanceFilter {
  hashKey?: (ctx: Ctx) => string | undefined;
}

/** Options of `pick`. */
export interface PickOptions {
  hashKey?: string;
  filter?: InstanceFilter;
}

/**
 * Carried by a URL a resolver handed out: the pool and endpoint its exchange is counted on, null
 * once released. Looking the endpoint up by address at release time would miss one that left the
 * list meanwhile (its pool's in-flight count then never returns to 0, so the pool is never
 * evicted) or hit the new endpoint of an instance back at the same address (its count and failures
 * taken by exchanges it never had).
 */
const LEASE = Symbol('@koa-mesh/discovery.lease');

interface LeasedUrl extends URL {
  [LEASE]?: { readonly pool: ServicePool; readonly ep: Endpoint } | null;
}

/** The client a handler finds on `ctx.state.discovery`. */
export interface DiscoveryClient {
  /**
   * Picks an instance now (synchronous: the list is in memory). Undefined when the service has no
   * usable instance yet, or `service` is a name Consul cannot be asked for (no pool is made). Does
   * not count as in flight; use `fetch` or a resolver for that.
   */
  pick(service: string, options?: PickOptions): Instance | undefined;
  /** Calls `path` on an instance of `service`, with a deadline and retries on other instances. */
  fetch(service: string, path: string, init?: DiscoveryFetchInit): Promise<DiscoveryResponse>;
  /** A Resolver for @koa-mesh/canary-router targets. */
  resolver<Ctx = unknown>(service: string, filter?: ResolverFilter<Ctx>): Resolver<Ctx>;
  /**
   * The current instances of `service` (after the filter), ejected ones included; none for a name
   * Consul cannot be asked for.
   */
  instances(service: string, filter?: InstanceFilter): readonly Instance[];
}

/**
 * Owns the pools (one per service and filter), the keep-alive pools and the retry budget.
 *
 * Pools are bounded, because service names and filters are often built from request input (a
 * service from the query, a version header): at most `maxServices` unfiltered pools besides the
 * services listed in `watch` (pinned: never dropped), and at most `maxFilteredPools` pools with a
 * filter. Creating one more of a kind first drops the least recently used idle one of that kind
 * (no exchange in flight, nobody waiting for its first list); dropping a pool ends its watch
 * subscription, so the registry's query for the service ends once no pool subscribes to it.
 */
export class ClientCore implements DiscoveryClient {
  readonly #o: NormalizedOptions;
  readonly #pools = new Map<string, ServicePool>();
  /** Pools in `#pools` that have a filter. */
  #filtered = 0;
  /** Pools in `#pools` without a filter, of services the `watch` option does not pin. */
  #unpinned = 0;
  /** Services listed in the `watch` option: their unfiltered pools are never dropped. */
  readonly #pinned: ReadonlySet<string>;
  /** Hands out `lastUsed` stamps: a counter, so the hot path reads no clock. */
  #uses = 0;
  /** One keep-alive pool per instance origin, shared by every service pool that has it. */
  readonly #dispatchers = new Map<string, Pool & InstanceDispatcher>();
  readonly #fetchDeps: FetchDeps;
  readonly #budget: RetryBudget;
  readonly #propagation = createPropagation();
  readonly #emit: (event: string, payload: Record<string, unknown>) => void;
  #stopped = false;

  constructor(
    options: NormalizedOptions,
    emit: (event: string, payload: Record<string, unknown>) => void,
  ) {
    this.#o = options;
    this.#emit = emit;
    this.#pinned = new Set(options.watch);
    this.#budget = new RetryBudget(
      options.fetch.ratio,
      options.fetch.minRetriesPerSecond,
      options.now,
    );
    this.#fetchDeps = {
      options,
      dispatcher: (ep) => (ep.dispatcher ??= this.#dispatcher(ep.instance.url)),
      budget: this.#budget,
      pool: (service, filter) => this.pool(service, filter),
      propagation: this.#propagation,
      stopped: () => this.#stopped,
    };
    // Methods are handed around detached (`const { fetch } = ctx.state.discovery`).
    this.pick = this.pick.bind(this);
    this.fetch = this.fetch.bind(this);
    this.resolver = this.resolver.bind(this);
    this.instances = this.instances.bind(this);
  }

  /**
   * The pool for `service` + `filter`, opening its watch on first use. A name no registry can be
   * asked for (see serviceNameProblem) is refused with a ServiceUnavailableError before any pool
   * or query exists: such names come from request input, and are no server error.
   */
  pool(service: string, filter: InstanceFilter | undefined): ServicePool {
    const pool = this.#lookup(service, filter);
    if (pool) return pool;
    throw new ServiceUnavailableError(
      shownServiceName(service),
      `not a valid service name: ${serviceNameProblem(service)}`,
    );
  }

  /** The pool for `service` + `filter`, or undefined when `service` is not a valid name. */
  #lookup(service: string, filter: InstanceFilter | undefined): ServicePool | undefined {
    const key = filterKey(service, filter);
    const found = this.#pools.get(key);
    // A name with the key's separator in it (never a valid one) may spell another service's key.
    if (found && found.service === service) {
      found.lastUsed = ++this.#uses;
      return found;
    }
    if (this.#stopped) throw new ServiceUnavailableError(service, 'discovery is stopped');
    if (typeof service !== 'string') {
      throw new TypeError(
        `@koa-mesh/discovery: expected a service name (a string), got ${String(service)}`,
      );
    }
    // Checked once per pool created: calls to an existing pool pay nothing for it.
    if (serviceNameProblem(service) !== undefined) return undefined;
    // A filter that asks for nothing has the unfiltered pool's key: it is that pool.
    const wanted = key === service ? undefined : filter;
    if (wanted) {
      if (this.#filtered >= this.#o.maxFilteredPools) this.#evict(true);
      this.#filtered++;
    } else if (!this.#pinned.has(service)) {
      if (this.#unpinned >= this.#o.maxServices) this.#evict(false);
      this.#unpinned++;
    }
    const created = new ServicePool({
      service,
      filter: wanted,
      strategy: this.#o.balancers[service] ?? this.#o.balancer,
      outlier: this.#o.outlier,
      random: this.#o.random,
      now: this.#o.now,
      emit: this.#emit,
      onRemoved: (ep) => this.#removed(ep),
    });
    created.lastUsed = ++this.#uses;
    this.#pools.set(key, created);
    // An empty `dc` means none: the registry's default datacenter, as for no filter.
    created.watch = this.#o.registry.watch(service, wanted?.dc || undefined, (list) =>
      created.update(list),
    );
    const current = created.watch.instances;
    if (current) created.update(current);
    return created;
  }

  /**
   * Drops least recently used idle pools of one kind (filtered, or unfiltered and not pinned)
   * until there is room for one more. Pools in use are never dropped, so the count may exceed the
   * cap by the pools busy at once; the next creation trims it again. Their outlier-ejection state
   * goes with them.
   */
  #evict(filtered: boolean): void {
    const cap = filtered ? this.#o.maxFilteredPools : this.#o.maxServices;
    while ((filtered ? this.#filtered : this.#unpinned) >= cap) {
      let oldestKey: string | undefined;
      let oldest: ServicePool | undefined;
      for (const [key, p] of this.#pools) {
        if (
          p.filtered === filtered &&
          p.idle &&
          (filtered || !this.#pinned.has(p.service)) &&
          (oldest === undefined || p.lastUsed < oldest.lastUsed)
        ) {
          oldestKey = key;
          oldest = p;
        }
      }
      if (!oldest) return;
      this.#pools.delete(oldestKey!);
      if (filtered) this.#filtered--;
      else this.#unpinned--;
      // Ends its watch subscription: the registry stops the service's query once it has none.
      oldest.close();
      // Instances no remaining pool has: their keep-alive pools close.
      for (const ep of oldest.endpoints()) this.#removed(ep);
    }
  }

  pick(service: string, options?: PickOptions): Instance | undefined {
    if (this.#stopped) return undefined;
    return this.#lookup(service, options?.filter)?.pick(options?.hashKey)?.instance;
  }

  instances(service: string, filter?: InstanceFilter): readonly Instance[] {
    if (this.#stopped) return [];
    const pool = this.#lookup(service, filter);
    return pool ? pool.endpoints().map((ep) => ep.instance) : [];
  }

  fetch(service: string, path: string, init?: DiscoveryFetchInit): Promise<DiscoveryResponse> {
    return discoveryFetch(this.#fetchDeps, service, path, init, undefined);
  }

  /** `fetch` made for the request `ctx` (see RequestClient): its trace context goes upstream. */
  fetchFor(
    ctx: object,
    service: string,
    path: string,
    init: DiscoveryFetchInit | undefined,
  ): Promise<DiscoveryResponse> {
    return discoveryFetch(this.#fetchDeps, service, path, init, ctx);
  }

  #dispatcher(url: string): InstanceDispatcher {
    let pool = this.#dispatchers.get(url);
    if (!pool) {
      const created = Object.assign(
        new Pool(url, {
          connections: this.#o.fetch.connections,
          keepAliveTimeout: this.#o.fetch.keepAliveTimeoutMs,
        }),
        { active: 0, connected: 0 },
      );
      created.on('connect', () => void created.connected++);
      created.on('disconnect', () => {
        if (created.connected > 0) created.connected--;
      });
      pool = created;
      this.#dispatchers.set(url, pool);
    }
    return pool;
  }

  /**
   * An instance left a service pool (or its pool was dropped): close its keep-alive pool once no
   * service pool has it.
   */
  #removed(endpoint: Endpoint): void {
    const url = endpoint.instance.url;
    for (const p of this.#pools.values()) if (p.byUrl(url)) return;
    const pool = this.#dispatchers.get(url);
    if (!pool) return;
    this.#dispatchers.delete(url);
    // Graceful: exchanges in flight finish first.
    pool.close().catch(() => undefined);
  }

  resolver<Ctx = unknown>(service: string, filter?: ResolverFilter<Ctx>): Resolver<Ctx> {
    if (typeof service !== 'string') {
      throw new TypeError('@koa-mesh/discovery: resolver() expects a service name');
    }
    const problem = serviceNameProblem(service);
    if (problem !== undefined) {
      throw new TypeError(
        `@koa-mesh/discovery: resolver() expects a service name Consul can hold, got "${shownServiceName(service)}" (${problem})`,
      );
    }
    const { hashKey, ...instanceFilter } = filter ?? {};
    if (hashKey !== undefined && typeof hashKey !== 'function') {
      throw new TypeError('@koa-mesh/discovery: resolver() expects `hashKey` to be a function');
    }
    const poolFilter = Object.keys(instanceFilter).length > 0 ? instanceFilter : undefined;
    const readyTimeoutMs = this.#o.readyTimeoutMs;
    const isStopped = (): boolean => this.#stopped;
    const getPool = (): ServicePool => this.pool(service, poolFilter);
    const findPool = (): ServicePool | undefined => this.#pools.get(filterKey(service, poolFilter));
    const resolve = async function resolveInstance(ctx: Ctx): Promise<URL> {
      if (isStopped()) throw new ServiceUnavailableError(service, 'discovery is stopped');
      let pool = getPool();
      if (!pool.ready) {
        await pool.whenReady(readyTimeoutMs);
        // Dropped while we waited (our wait had ended, so it was idle): take the current one.
        if (pool.closed) pool = getPool();
      }
      let key: string | undefined;
      if (hashKey) {
        try {
          key = hashKey(ctx);
        } catch (err) {
          // A user callback never fails the request: report it, balance without a key.
          (ctx as { app?: { emit?(e: string, ...a: unknown[]): unknown } } | null)?.app?.emit?.(
            'error',
            err,
            ctx,
          );
          key = undefined;
        }
      }
      const ep = pool.pick(key);
      if (!ep) {
        throw new ServiceUnavailableError(
          service,
          pool.size === 0 ? 'no instances' : 'no usable instance',
        );
      }
      pool.acquire(ep);
      const url: LeasedUrl = new URL(ep.instance.url);
      url[LEASE] = { pool, ep };
      return url;
    } as Resolver<Ctx>;
    resolve.release = function releaseInstance(url: URL, outcome: Outcome): void {
      const lease = (url as LeasedUrl)[LEASE];
      if (lease === null) return; // released already: exactly once
      if (lease !== undefined) {
        (url as LeasedUrl)[LEASE] = null;
        lease.pool.release(lease.ep, outcome);
        return;
      }
      // A URL this resolver did not hand out (a copy): the instance at that address now.
      const pool = findPool();
      const ep = pool?.byUrl(url.origin);
      if (pool && ep) pool.release(ep, outcome);
    };
    return resolve;
  }

  snapshot(): PoolSnapshot[] {
    return [...this.#pools.values()].map((p) => p.snapshot());
  }

  async close(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const pool of this.#pools.values()) pool.close();
    this.#pools.clear();
    this.#filtered = 0;
    this.#unpinned = 0;
    // Graceful: calls in flight finish; a body nobody reads cannot hold stop() past the deadline.
    const dispatchers = [...this.#dispatchers.values()];
    this.#dispatchers.clear();
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#o.fetch.timeoutMs);
      timer.unref();
    });
    await Promise.race([Promise.all(dispatchers.map((d) => d.close())), forced]);
    clearTimeout(timer);
    await Promise.all(
      dispatchers.filter((d) => !d.destroyed).map((d) => d.destroy().catch(() => undefined)),
    );
  }
}

export type { Breaker };
