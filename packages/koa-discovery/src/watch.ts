import type { RandomSource } from './balancers/balancer.js';
import { fullJitter, sleep } from './backoff.js';
import { contentHash } from './content-hash.js';
import type { Instance } from './instance.js';
import type { WatchInfo } from './registry.js';

/** One answer of a blocking query: the index header and the decoded body. */
export interface WatchPage {
  /** `X-Consul-Index` as sent (may be missing or garbage on a broken proxy). */
  readonly index: string | number | undefined;
  readonly body: unknown;
}

/** Performs one blocking query; must honour `timeoutMs` and `signal`. */
export type FetchPage = (
  index: number,
  waitMs: number,
  timeoutMs: number,
  signal: AbortSignal,
) => Promise<WatchPage>;

/** Tuning of the watch engine. */
export interface WatchTuning {
  /** Blocking query `wait`. @default 60000 */
  waitMs: number;
  /** Minimum time between the starts of two requests, so a misbehaving server cannot make us spin. @default 100 */
  minIntervalMs: number;
  /** First backoff ceiling after an error. @default 250 */
  backoffBaseMs: number;
  /** Backoff ceiling. @default 30000 */
  backoffMaxMs: number;
  /** How long an empty list that replaced a non-empty one is distrusted. @default 30000 */
  emptyGraceMs: number;
}

export interface WatchEngineOptions extends WatchTuning {
  service: string;
  dc: string | undefined;
  fetchPage: FetchPage;
  /** Decodes a body into instances; throws on a malformed body. */
  parse: (body: unknown) => Instance[];
  onChange: (instances: readonly Instance[]) => void;
  emit: (event: string, payload: Record<string, unknown>) => void;
  random: RandomSource;
  now: () => number;
}

/**
 * The client timeout for a blocking query. Consul adds up to wait/16 of jitter to `wait`, so the
 * timeout must be longer than `wait + wait/16`, plus a margin for the network.
 */
export function blockingTimeout(waitMs: number): number {
  return waitMs + Math.ceil(waitMs / 16) + 1000;
}

/**
 * Keeps one Consul blocking query running for one (service, datacenter), following Consul's rules
 * for blocking queries (https://developer.hashicorp.com/consul/api-docs/features/blocking):
 * reset the index when it goes backwards, never block on index 0, rate-limit requests, back off
 * with full jitter on errors. It publishes a list only when its content changed, keeps the last
 * good list while Consul is unreachable (stale, with its age), distrusts a sudden empty list for a
 * grace period, and restarts its loop if it ever dies.
 */
export class WatchEngine {
  readonly #o: WatchEngineOptions;
  readonly #abort = new AbortController();
  #index = 0;
  #instances: Instance[] | undefined;
  #hash: string | undefined;
  #failures = 0;
  #lastContactAt: number | undefined;
  #lastError: string | undefined;
  #restarts = 0;
  #graceTimer: NodeJS.Timeout | undefined;
  #graceStartedAt: number | undefined;
  #lastStart = -Infinity;
  /**
   * The last query failed: the next one asks without an index (it answers at once). The agent may
   * have restarted (or the servers restored a snapshot) with a lower index, and a query blocking
   * on the old one would hide every change until its wait ends (a minute by default).
   */
  #resync = false;

  constructor(options: WatchEngineOptions) {
    this.#o = options;
  }

  get instances(): readonly Instance[] | undefined {
    return this.#instances;
  }

  start(): void {
    this.#supervise();
  }

  stop(): void {
    this.#abort.abort();
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
  }

  info(): WatchInfo {
    return {
      service: this.#o.service,
      dc: this.#o.dc,
      ready: this.#instances !== undefined,
      stale: this.#lastError !== undefined,
      ageMs: this.#lastContactAt === undefined ? undefined : this.#o.now() - this.#lastContactAt,
      lastError: this.#lastError,
      restarts: this.#restarts,
      inGrace: this.#graceStartedAt !== undefined,
      index: this.#index,
    };
  }

  #supervise(): void {
    this.#run().then(
      () => this.#ended(new Error('watch loop returned')),
      (err: unknown) => this.#ended(err),
    );
  }

  #ended(err: unknown): void {
    if (this.#abort.signal.aborted) return;
    // Never freeze silently: say so and start again after a backoff.
    this.#restarts++;
    const delay = fullJitter(
      this.#failures++,
      this.#o.backoffBaseMs,
      this.#o.backoffMaxMs,
      this.#o.random,
    );
    this.#o.emit('watch:restart', {
      service: this.#o.service,
      dc: this.#o.dc,
      restarts: this.#restarts,
      error: err,
      reason: err instanceof Error ? err.message : String(err),
    });
    void sleep(delay, this.#abort.signal).then(() => {
      if (!this.#abort.signal.aborted) this.#supervise();
    });
  }

  async #run(): Promise<void> {
    const o = this.#o;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      // Re-checked after sleeping: a timer can end a millisecond short on the wall clock.
      for (
        let since = o.now() - this.#lastStart;
        since < o.minIntervalMs;
        since = o.now() - this.#lastStart
      ) {
        await sleep(o.minIntervalMs - since, signal);
        if (signal.aborted) return;
      }
      this.#lastStart = o.now();

      let list: Instance[];
      let index: number;
      const asked = this.#resync ? 0 : this.#index;
      try {
        const page = await o.fetchPage(asked, o.waitMs, blockingTimeout(o.waitMs), signal);
        if (signal.aborted) return;
        index = Number(page.index);
        list = o.parse(page.body);
      } catch (err) {
        if (signal.aborted) return;
        this.#resync = true;
        this.#fail(err);
        await sleep(
          fullJitter(this.#failures - 1, o.backoffBaseMs, o.backoffMaxMs, o.random),
          signal,
        );
        continue;
      }

      if (this.#lastError !== undefined) {
        o.emit('watch:recovered', { service: o.service, dc: o.dc, failures: this.#failures });
      }
      this.#failures = 0;
      this.#lastError = undefined;
      this.#resync = false;
      this.#lastContactAt = o.now();

      if (!Number.isFinite(index) || index <= 0) {
        // A zero (or missing) index would make the next query return at once, forever.
        this.#index = 1;
      } else if (index < this.#index) {
        // The index went backwards (agent restart, snapshot restore): start over.
        o.emit('watch:reset', { service: o.service, dc: o.dc, from: this.#index, to: index });
        // An answer to a query without an index is current: block on it. Otherwise start over.
        this.#index = asked === 0 ? index : 0;
      } else {
        this.#index = index;
      }
      this.#apply(list);
    }
  }

  #fail(err: unknown): void {
    this.#failures++;
    this.#lastError = err instanceof Error ? err.message : String(err);
    this.#o.emit('watch:error', {
      service: this.#o.service,
      dc: this.#o.dc,
      error: err,
      failures: this.#failures,
      stale: this.#instances !== undefined,
      ageMs: this.#lastContactAt === undefined ? undefined : this.#o.now() - this.#lastContactAt,
    });
  }

  #apply(list: Instance[]): void {
    const o = this.#o;
    if (list.length === 0 && this.#instances !== undefined && this.#instances.length > 0) {
      // An empty answer replacing a non-empty one looks exactly like an ACL token losing read
      // rights: keep the last good list for the grace period, then believe it.
      if (this.#graceStartedAt === undefined) {
        this.#graceStartedAt = o.now();
        o.emit('watch:empty', { service: o.service, dc: o.dc, graceMs: o.emptyGraceMs });
        this.#graceTimer = setTimeout(() => {
          this.#graceTimer = undefined;
          this.#graceStartedAt = undefined;
          this.#publish([]);
        }, o.emptyGraceMs);
        this.#graceTimer.unref();
      }
      return;
    }
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    this.#graceStartedAt = undefined;
    this.#publish(list);
  }

  #publish(list: Instance[]): void {
    const hash = contentHash(list);
    if (hash === this.#hash && this.#instances !== undefined) return;
    this.#hash = hash;
    this.#instances = list;
    this.#o.emit('watch:update', {
      service: this.#o.service,
      dc: this.#o.dc,
      count: list.length,
      index: this.#index,
    });
    this.#o.onChange(list);
  }
}
