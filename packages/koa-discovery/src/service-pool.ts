import type { Balancer, RandomSource, Strategy } from './balancers/balancer.js';
import { createBalancer } from './balancers/create.js';
import { contentHash } from './content-hash.js';
import { Endpoint } from './endpoint.js';
import { matchesFilter, type Instance, type InstanceFilter } from './instance.js';
import { ejectionMs, maxEjectable, type NormalizedOutlier } from './outlier.js';
import { isFailure, type Outcome } from './outcome.js';
import type { RegistryWatch, WatchInfo } from './registry.js';

/** What `snapshot()` says about one instance. */
export interface InstanceSnapshot {
  id: string;
  url: string;
  status: Instance['status'];
  tags: readonly string[];
  meta: Readonly<Record<string, string>>;
  inflight: number;
  /** The weight balancing uses (0 while ejected). */
  effectiveWeight: number;
  ejected: boolean;
  /** Epoch ms the ejection ends, when ejected. */
  ejectedUntil: number | undefined;
  ejections: number;
  consecutiveFailures: number;
}

/** What `snapshot()` says about one pool (a service with one filter). */
export interface PoolSnapshot {
  service: string;
  filter: InstanceFilter | undefined;
  strategy: Strategy;
  panic: boolean;
  watch: WatchInfo;
  instances: InstanceSnapshot[];
}

export interface ServicePoolOptions {
  service: string;
  filter: InstanceFilter | undefined;
  strategy: Strategy;
  outlier: NormalizedOutlier;
  random: RandomSource;
  now: () => number;
  emit: (event: string, payload: Record<string, unknown>) => void;
  /** Called for each endpoint that left the pool. */
  onRemoved?: (ep: Endpoint) => void;
}

/**
 * The balanced, outlier-aware view of one service (with one filter). Fed by a registry watch;
 * rebuilds its balancer only when the filtered content changed.
 */
export class ServicePool {
  readonly #o: ServicePoolOptions;
  readonly #balancer: Balancer<Endpoint>;
  #endpoints: Endpoint[] = [];
  #byId = new Map<string, Endpoint>();
  #byUrl = new Map<string, Endpoint>();
  #hash: string | undefined;
  #ejected = 0;
  #nextReturnAt = Infinity;
  #panic = false;
  #ready = false;
  #waiters: (() => void)[] = [];
  /** Exchanges acquired on this pool and not yet settled (the sum of its endpoints' in flight). */
  #inflight = 0;
  #closed = false;
  watch: RegistryWatch | undefined;
  /** When the client last handed this pool out (a counter of the client's, not a clock). */
  lastUsed = 0;

  constructor(options: ServicePoolOptions) {
    this.#o = options;
    this.#balancer = createBalancer<Endpoint>(options.strategy, options.random);
  }

  get service(): string {
    return this.#o.service;
  }

  get ready(): boolean {
    return this.#ready;
  }

  get size(): number {
    return this.#endpoints.length;
  }

  get filtered(): boolean {
    return this.#o.filter !== undefined;
  }

  /** Nothing uses the pool now: no exchange in flight and no caller waiting for a first list. */
  get idle(): boolean {
    return this.#inflight === 0 && this.#waiters.length === 0;
  }

  /** The client dropped this pool: it gets no more lists, and callers holding it must ask again. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Ends the watch subscription. The endpoints stay readable for the client's clean-up. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.watch?.close();
  }

  /** Resolves once a first list arrived, or after `ms` (whichever first). */
  whenReady(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#ready || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        const i = this.#waiters.indexOf(done);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      signal?.addEventListener('abort', done, { once: true });
      this.#waiters.push(done);
    });
  }

  /** Feeds a new instance list (unfiltered); a no-op when the filtered content is unchanged. */
  update(all: readonly Instance[]): void {
    const list = this.#o.filter ? all.filter((i) => matchesFilter(i, this.#o.filter)) : all;
    const hash = contentHash(list);
    if (hash !== this.#hash) {
      this.#hash = hash;
      const byId = new Map<string, Endpoint>();
      const byUrl = new Map<string, Endpoint>();
      const endpoints: Endpoint[] = [];
      for (const instance of list) {
        let ep = this.#byId.get(instance.id);
        // Same id at another address (registered again elsewhere): a new endpoint, so the old
        // origin's keep-alive pool is neither used nor kept.
        if (ep && ep.instance.url === instance.url) ep.instance = instance;
        else ep = new Endpoint(instance);
        byId.set(instance.id, ep);
        byUrl.set(instance.url, ep);
        endpoints.push(ep);
      }
      const previous = this.#byId;
      this.#endpoints = endpoints;
      this.#byId = byId;
      this.#byUrl = byUrl;
      this.#recountEjected(this.#o.now());
      this.#balancer.update(endpoints);
      if (this.#o.onRemoved) {
        for (const [id, ep] of previous) if (byId.get(id) !== ep) this.#o.onRemoved(ep);
      }
    }
    if (!this.#ready) {
      this.#ready = true;
      for (const w of this.#waiters.splice(0)) w();
    }
  }

  /** The endpoint for a URL this pool handed out (for `release`). */
  byUrl(url: string): Endpoint | undefined {
    return this.#byUrl.get(url);
  }

  endpoints(): readonly Endpoint[] {
    return this.#endpoints;
  }

  /**
   * Picks an endpoint, honouring ejections and panic mode; `exclude` holds endpoints already tried
   * by this request. Undefined when nothing is usable.
   */
  pick(hashKey?: string, exclude?: ReadonlySet<Endpoint>): Endpoint | undefined {
    const all = this.#endpoints;
    if (all.length === 0) return undefined;
    if (this.#ejected > 0 && this.#o.now() >= this.#nextReturnAt) {
      this.#recountEjected(this.#o.now());
    }
    if (this.#ejected === 0 && (exclude === undefined || exclude.size === 0)) {
      return this.#balancer.pick(all, hashKey);
    }
    return this.#pickSlow(all, hashKey, exclude);
  }

  #pickSlow(
    all: readonly Endpoint[],
    hashKey: string | undefined,
    exclude: ReadonlySet<Endpoint> | undefined,
  ): Endpoint | undefined {
    const healthy = all.length - this.#ejected;
    const panic = healthy < all.length * this.#o.outlier.panicThreshold;
    if (panic !== this.#panic) {
      this.#panic = panic;
      this.#o.emit(panic ? 'panic' : 'panic:end', {
        service: this.#o.service,
        healthy,
        total: all.length,
      });
    }
    const candidates = all.filter(
      (ep) => (panic || ep.ejectedUntil === 0) && !(exclude && exclude.has(ep)),
    );
    if (candidates.length === 0) return undefined;
    return this.#balancer.pick(candidates, hashKey);
  }

  acquire(ep: Endpoint): void {
    ep.inflight++;
    this.#inflight++;
  }

  /** Ends one exchange: in-flight down, outcome into outlier detection. Call exactly once. */
  release(ep: Endpoint, outcome: Outcome): void {
    this.settle(ep, outcome.ok, outcome.status, outcome.error);
  }

  /**
   * {@link release} on the outcome's fields, for `fetch`'s own path: no outcome object, and the
   * clock is read only when an ejection is at stake. Call exactly once per exchange.
   */
  settle(ep: Endpoint, ok: boolean, status: number | undefined, error: unknown): void {
    if (ep.inflight > 0) {
      ep.inflight--;
      this.#inflight--;
    }
    const o = this.#o.outlier;
    if (!isFailure(ok, status, error)) {
      if (ok || status !== undefined) {
        ep.consecutiveFailures = 0;
        // Healthy for as long as the last ejection lasted: forgive one ejection.
        if (ep.ejections > 0 && ep.ejectedUntil === 0) {
          const now = this.#o.now();
          if (now - ep.returnedAt >= o.baseEjectionMs * ep.ejections) {
            ep.ejections--;
            ep.returnedAt = now;
          }
        }
      }
      return;
    }
    ep.consecutiveFailures++;
    if (
      ep.ejectedUntil !== 0 ||
      ep.consecutiveFailures < o.consecutiveFailures ||
      this.#byId.get(ep.id) !== ep
    ) {
      return;
    }
    if (this.#ejected >= maxEjectable(this.#endpoints.length, o.maxEjectionPercent)) return;
    const now = this.#o.now();
    ep.ejections++;
    const ms = ejectionMs(ep.ejections, o, this.#o.random);
    ep.ejectedUntil = now + ms;
    ep.consecutiveFailures = 0;
    this.#ejected++;
    if (ep.ejectedUntil < this.#nextReturnAt) this.#nextReturnAt = ep.ejectedUntil;
    this.#o.emit('eject', {
      service: this.#o.service,
      id: ep.id,
      url: ep.instance.url,
      ejectionMs: ms,
      ejections: ep.ejections,
    });
  }

  #recountEjected(now: number): void {
    let ejected = 0;
    let next = Infinity;
    for (const ep of this.#endpoints) {
      if (ep.ejectedUntil === 0) continue;
      if (ep.ejectedUntil <= now) {
        ep.returnedAt = ep.ejectedUntil;
        ep.ejectedUntil = 0;
        this.#o.emit('uneject', { service: this.#o.service, id: ep.id, url: ep.instance.url });
        continue;
      }
      ejected++;
      if (ep.ejectedUntil < next) next = ep.ejectedUntil;
    }
    this.#ejected = ejected;
    this.#nextReturnAt = next;
    if (ejected === 0 && this.#panic) {
      this.#panic = false;
      this.#o.emit('panic:end', {
        service: this.#o.service,
        healthy: this.#endpoints.length,
        total: this.#endpoints.length,
      });
    }
  }

  snapshot(): PoolSnapshot {
    const now = this.#o.now();
    if (this.#ejected > 0 && now >= this.#nextReturnAt) this.#recountEjected(now);
    return {
      service: this.#o.service,
      filter: this.#o.filter,
      strategy: this.#o.strategy,
      panic: this.#panic,
      watch: this.watch!.info(),
      instances: this.#endpoints.map((ep) => ({
        id: ep.id,
        url: ep.instance.url,
        status: ep.instance.status,
        tags: ep.instance.tags,
        meta: ep.instance.meta,
        inflight: ep.inflight,
        effectiveWeight: ep.ejectedUntil === 0 || this.#panic ? ep.weight : 0,
        ejected: ep.ejectedUntil !== 0,
        ejectedUntil: ep.ejectedUntil === 0 ? undefined : ep.ejectedUntil,
        ejections: ep.ejections,
        consecutiveFailures: ep.consecutiveFailures,
      })),
    };
  }
}
