import { STRATEGIES, type RandomSource, type Strategy } from './balancers/balancer.js';
import { ConsulRegistry, type ConsulRegistryOptions } from './consul-registry.js';
import { optionNames, rejectUnknownKeys } from './known-keys.js';
import type { Breaker } from './endpoint.js';
import { OUTLIER_DEFAULTS, type NormalizedOutlier, type OutlierOptions } from './outlier.js';
import { normalizeRegistration } from './registration.js';
import type { Registration, Registry } from './registry.js';
import { serviceNameProblem, shownServiceName } from './service-name.js';
import { StaticRegistry, type StaticInstance } from './static-registry.js';
import {
  functionOption,
  intOption,
  isPlainObject,
  numberOption,
  optionError,
  stringArrayOption,
} from './validate.js';

/** Retry budget of `fetch`. */
export interface RetryBudgetOptions {
  /** Retries allowed per request, as a share. @default 0.2 */
  ratio?: number;
  /** Retries always allowed per second, whatever the ratio. @default 10 */
  minRetriesPerSecond?: number;
}

/** Options of the client's `fetch`. */
export interface FetchOptions {
  /** Deadline of a whole call (every attempt, until response headers). @default 10000 */
  timeoutMs?: number;
  /** Further attempts on other instances. @default 2 */
  retries?: number;
  /** Response statuses retried (idempotent requests only). @default [502, 503, 504] */
  retryOn?: readonly number[];
  retryBudget?: RetryBudgetOptions;
  /** Max connections per instance in the keep-alive pool. @default 128 */
  connections?: number;
  /** Idle keep-alive socket lifetime. @default 4000 */
  keepAliveTimeoutMs?: number;
}

/** Options of {@link discovery}. Everything is optional: `discovery()` uses a static registry. */
export interface DiscoveryOptions {
  /** The registry to use. Takes precedence over `consul` and `services`. */
  registry?: Registry;
  /** Use a {@link ConsulRegistry} with these options (`true`: defaults, CONSUL_HTTP_ADDR). */
  consul?: ConsulRegistryOptions | true;
  /** Static instances (a {@link StaticRegistry}), used when neither `registry` nor `consul` is given. */
  services?: Readonly<Record<string, readonly StaticInstance[]>>;
  /**
   * Where the static registry reads `KOA_MESH_SERVICES` from (`true`: process.env, `false`: nowhere).
   * @default true
   */
  env?: boolean | Readonly<Record<string, string | undefined>>;
  /**
   * Register this process on `start()`. `port` (and `address`) may instead be given to `start()`,
   * once the server listens.
   */
  register?: Omit<Registration, 'port'> & { port?: number };
  /** Services whose watches `start()` opens right away (others open on first use). */
  watch?: readonly string[];
  /** Default load-balancing strategy. @default 'p2c' */
  balancer?: Strategy;
  /** Per-service strategies, e.g. `{ carts: 'consistent-hash' }`. */
  balancers?: Readonly<Record<string, Strategy>>;
  outlier?: OutlierOptions;
  fetch?: FetchOptions;
  /** Wraps every instance in a breaker (`@koa-mesh/breaker` or any `{ execute }`). */
  breaker?: (instanceId: string) => Breaker;
  /** How long `fetch`/resolvers wait for a first instance list of a service. @default 5000 */
  readyTimeoutMs?: number;
  /**
   * Most pools with a filter (`tags`, `meta`, `dc`) the client keeps. Filters built from request
   * input would otherwise grow memory without bound: one more drops the least recently used idle
   * one (never one with a call in flight), and its outlier-ejection state with it. Unfiltered
   * pools are not counted. @default 100
   */
  maxFilteredPools?: number;
  /**
   * Most services without a filter the client keeps a pool for, besides those in `watch` (which
   * are never dropped). Each pool holds a Consul blocking query, and service names built from
   * request input would otherwise open one for every name a client sends: one more drops the
   * least recently used idle one (never one with a call in flight), ends its blocking query when
   * no other pool of the service has one, and loses its outlier-ejection state. @default 100
   */
  maxServices?: number;
  /** Injectable randomness (balancers, jitter). @default Math.random */
  random?: RandomSource;
  /** Injectable clock (ejections, retry budget, staleness). @default Date.now */
  now?: () => number;
}

export interface NormalizedOptions {
  registry: Registry;
  ownsRegistry: boolean;
  register: DiscoveryOptions['register'];
  watch: string[];
  balancer: Strategy;
  balancers: Record<string, Strategy>;
  outlier: NormalizedOutlier;
  fetch: {
    timeoutMs: number;
    retries: number;
    retryOn: Set<number>;
    ratio: number;
    minRetriesPerSecond: number;
    connections: number;
    keepAliveTimeoutMs: number;
  };
  breaker: ((instanceId: string) => Breaker) | undefined;
  readyTimeoutMs: number;
  maxFilteredPools: number;
  maxServices: number;
  random: RandomSource;
  now: () => number;
}

// Accepted names of each options bag, as records so the compiler keeps them equal to the types.
const OPTION_KEYS = optionNames<DiscoveryOptions>({
  registry: true,
  consul: true,
  services: true,
  env: true,
  register: true,
  watch: true,
  balancer: true,
  balancers: true,
  outlier: true,
  fetch: true,
  breaker: true,
  readyTimeoutMs: true,
  maxFilteredPools: true,
  maxServices: true,
  random: true,
  now: true,
});
const OUTLIER_KEYS = optionNames<OutlierOptions>({
  consecutiveFailures: true,
  baseEjectionMs: true,
  maxEjectionMs: true,
  maxEjectionPercent: true,
  panicThreshold: true,
});
const FETCH_KEYS = optionNames<FetchOptions>({
  timeoutMs: true,
  retries: true,
  retryOn: true,
  retryBudget: true,
  connections: true,
  keepAliveTimeoutMs: true,
});
const RETRY_BUDGET_KEYS = optionNames<RetryBudgetOptions>({
  ratio: true,
  minRetriesPerSecond: true,
});

function strategyOption(name: string, value: unknown, fallback: Strategy): Strategy {
  if (value === undefined) return fallback;
  if (!STRATEGIES.includes(value as Strategy)) {
    throw optionError(name, `one of ${STRATEGIES.map((s) => `'${s}'`).join(', ')}`, value);
  }
  return value as Strategy;
}

/** Validates every option once, at construction, and applies defaults. */
export function normalizeOptions(options: DiscoveryOptions = {}): NormalizedOptions {
  if (!isPlainObject(options)) throw optionError('options', 'an object', options);
  // `services`, `balancers` and `env` are maps keyed by the user's names, `registry`, `breaker`,
  // `random` and `now` the user's own objects: only their values are checked, elsewhere.
  rejectUnknownKeys('', options, OPTION_KEYS);
  const random = functionOption<RandomSource>('random', options.random) ?? Math.random;
  const now = functionOption<() => number>('now', options.now) ?? Date.now;

  const o = options.outlier ?? {};
  if (!isPlainObject(o)) throw optionError('outlier', 'an object', o);
  rejectUnknownKeys('outlier', o, OUTLIER_KEYS);
  const outlier: NormalizedOutlier = {
    consecutiveFailures: intOption(
      'outlier.consecutiveFailures',
      o.consecutiveFailures,
      OUTLIER_DEFAULTS.consecutiveFailures,
      1,
    ),
    baseEjectionMs: intOption(
      'outlier.baseEjectionMs',
      o.baseEjectionMs,
      OUTLIER_DEFAULTS.baseEjectionMs,
      1,
    ),
    maxEjectionMs: intOption(
      'outlier.maxEjectionMs',
      o.maxEjectionMs,
      OUTLIER_DEFAULTS.maxEjectionMs,
      1,
    ),
    maxEjectionPercent: numberOption(
      'outlier.maxEjectionPercent',
      o.maxEjectionPercent,
      OUTLIER_DEFAULTS.maxEjectionPercent,
      0,
      100,
    ),
    panicThreshold: numberOption(
      'outlier.panicThreshold',
      o.panicThreshold,
      OUTLIER_DEFAULTS.panicThreshold,
      0,
      1,
    ),
  };
  if (outlier.maxEjectionMs < outlier.baseEjectionMs) {
    throw optionError(
      'outlier.maxEjectionMs',
      `an integer >= outlier.baseEjectionMs (${outlier.baseEjectionMs})`,
      o.maxEjectionMs,
    );
  }

  const f = options.fetch ?? {};
  if (!isPlainObject(f)) throw optionError('fetch', 'an object', f);
  rejectUnknownKeys('fetch', f, FETCH_KEYS);
  const budget = f.retryBudget ?? {};
  if (!isPlainObject(budget)) throw optionError('fetch.retryBudget', 'an object', budget);
  rejectUnknownKeys('fetch.retryBudget', budget, RETRY_BUDGET_KEYS);
  const retryOn = f.retryOn ?? [502, 503, 504];
  if (!Array.isArray(retryOn) || retryOn.some((s) => !Number.isInteger(s) || s < 100 || s > 599)) {
    throw optionError('fetch.retryOn', 'an array of HTTP status codes', f.retryOn);
  }
  const fetch = {
    timeoutMs: intOption('fetch.timeoutMs', f.timeoutMs, 10_000, 1),
    retries: intOption('fetch.retries', f.retries, 2, 0),
    retryOn: new Set(retryOn),
    ratio: numberOption('fetch.retryBudget.ratio', budget.ratio, 0.2, 0, 1000),
    minRetriesPerSecond: intOption(
      'fetch.retryBudget.minRetriesPerSecond',
      budget.minRetriesPerSecond,
      10,
      0,
    ),
    connections: intOption('fetch.connections', f.connections, 128, 1),
    keepAliveTimeoutMs: intOption('fetch.keepAliveTimeoutMs', f.keepAliveTimeoutMs, 4000, 1),
  };

  const balancer = strategyOption('balancer', options.balancer, 'p2c');
  const rawBalancers = options.balancers ?? {};
  if (!isPlainObject(rawBalancers))
    throw optionError('balancers', 'an object of strategies', rawBalancers);
  const balancers: Record<string, Strategy> = {};
  for (const [name, s] of Object.entries(rawBalancers)) {
    balancers[name] = strategyOption(`balancers.${name}`, s, balancer);
  }

  let register = options.register;
  if (register !== undefined) {
    if (!isPlainObject(register)) throw optionError('register', 'an object', register);
    // Validate now; the port may come later from start().
    normalizeRegistration({ ...register, port: register.port ?? 1 });
    register = { ...(register as NonNullable<DiscoveryOptions['register']>) };
  }

  const watch = stringArrayOption('watch', options.watch) ?? [];
  for (const service of watch) {
    const problem = serviceNameProblem(service);
    if (problem !== undefined) {
      throw optionError(
        'watch',
        `an array of valid service names ("${shownServiceName(service)}" is not: ${problem})`,
        watch,
      );
    }
  }
  const breaker = functionOption<(id: string) => Breaker>('breaker', options.breaker);
  const readyTimeoutMs = intOption('readyTimeoutMs', options.readyTimeoutMs, 5000, 0);
  const maxFilteredPools = intOption('maxFilteredPools', options.maxFilteredPools, 100, 1);
  const maxServices = intOption('maxServices', options.maxServices, 100, 1);

  let registry: Registry;
  let ownsRegistry = true;
  if (options.registry !== undefined) {
    const r = options.registry as Partial<Registry> | null | undefined;
    if (
      !r ||
      typeof r.watch !== 'function' ||
      typeof r.close !== 'function' ||
      typeof r.on !== 'function'
    ) {
      throw optionError(
        'registry',
        'a Registry (ConsulRegistry, StaticRegistry or { watch, close, on, off })',
        options.registry,
      );
    }
    registry = r as Registry;
    ownsRegistry = false;
  } else if (options.consul !== undefined) {
    if (options.consul !== true && !isPlainObject(options.consul)) {
      throw optionError('consul', 'an object of ConsulRegistry options or true', options.consul);
    }
    registry = new ConsulRegistry(
      options.consul === true ? { random, now } : { random, now, ...options.consul },
    );
  } else {
    const env = options.env ?? true;
    if (typeof env !== 'boolean' && !isPlainObject(env))
      throw optionError('env', 'a boolean or an environment object', env);
    registry = new StaticRegistry({
      ...(options.services ? { services: options.services } : {}),
      env,
    });
  }
  return {
    registry,
    ownsRegistry,
    register,
    watch,
    balancer,
    balancers,
    outlier,
    fetch,
    breaker,
    readyTimeoutMs,
    maxFilteredPools,
    maxServices,
    random,
    now,
  };
}
