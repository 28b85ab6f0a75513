import type { Context, Middleware, Next } from 'koa';
import {
  ERROR_CODES,
  NoTargetError,
  isCanaryRouterError,
  type CanaryRouterError,
} from './errors.js';
import {
  Listeners,
  type CanaryDecision,
  type CanaryRouterEvents,
  type EventName,
} from './events.js';
import { Decider, report } from './decide.js';
import { bucketOf } from './hash.js';
import { EPSILON, normalizeOptions, type Arm } from './normalize.js';
import {
  checkWeight,
  isPlainObject,
  optionError,
  type CanaryRouterOptions,
  type ReleaseOutcome,
  type Resolver,
} from './options.js';
import { guardedForward } from './guard.js';
import { UpstreamProxy } from './proxy.js';
import { upstreamOf, type Upstream } from './targets.js';
import type { Weights } from './weights.js';

/** The middleware `canaryRouter()` returns, with its control surface. */
export interface CanaryRouter extends Middleware {
  /** The rollout id (hash salt). */
  readonly rollout: string;
  /**
   * Changes some arms' weights (percent) at run time. Only keys whose bucket lies between the old
   * and the new boundary move. Throws a TypeError, changing nothing, on an unknown arm, a weight
   * outside 0..100 or a sum above 100. A throwing `weights` listener does not undo the change: its
   * error is rethrown once every listener ran.
   */
  setWeights(weights: Readonly<Record<string, number>>): Weights;
  /** The current split in percent, stable included. */
  weights(): Weights;
  /** The arm each key gets at the current weights (weighted path only, rules aside). */
  simulate(keys: Iterable<string>): string[];
  /** Requests served per arm, and how many fell back to stable. */
  stats(): { served: Record<string, number>; fallbacks: number };
  on<K extends EventName>(event: K, listener: CanaryRouterEvents[K]): this;
  off<K extends EventName>(event: K, listener: CanaryRouterEvents[K]): this;
  /** Closes the upstream connection pools. */
  close(): Promise<void>;
}

function isUrl(value: unknown): value is URL {
  return (
    value instanceof URL ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as URL).origin === 'string' &&
      typeof (value as URL).pathname === 'string')
  );
}

/** Writes one of this package's errors as RFC 9457 problem+json. */
function renderProblem(ctx: Context, err: CanaryRouterError, version: string | undefined): void {
  ctx.status = err.status;
  if (version !== undefined) ctx.set('X-Service-Version', version);
  // E.g. the Retry-After of an arm breaker's refusal; empty for the other errors.
  for (const name in err.headers) ctx.set(name, err.headers[name]!);
  const requestId = (ctx.state as { requestId?: unknown }).requestId;
  // Serialised here: Koa 2 would relabel an object body application/json.
  ctx.type = 'application/problem+json';
  ctx.body = JSON.stringify({
    type: err.type,
    title: err.title,
    status: err.status,
    detail: err.message,
    code: err.code,
    ...(typeof requestId === 'string' ? { requestId } : {}),
  });
}

/**
 * Sticky, monotone canary routing: picks an arm per request (rules first, then the bucket of a
 * stickiness key against the weights), records it in `ctx.state.version` / `ctx.state.canary`,
 * and proxies to the arm's upstream (undici) or runs its middleware in-process.
 *
 * @example
 * app.use(canaryRouter({
 *   rollout: 'checkout-v2',
 *   arms: {
 *     stable: { target: 'http://checkout-v1:8080' },
 *     canary: { target: 'http://checkout-v2:8080', weight: 10 },
 *   },
 * }));
 */
export function canaryRouter(options: CanaryRouterOptions): CanaryRouter {
  const config = normalizeOptions(options);
  const { rollout, arms, rules, ruleVary, weightVary } = config;
  const ruleVaryJoined = ruleVary.map((list) => list.join(', '));
  const weightVaryJoined = weightVary.join(', ');
  const stable = config.stable;
  const decider = new Decider(config);
  let fallbacks = 0;
  const listeners = new Listeners();
  const proxy = config.proxies ? new UpstreamProxy(config.proxy) : undefined;

  async function resolve(ctx: Context, arm: Arm): Promise<URL> {
    if (arm.target.kind !== 'resolver') throw new Error('not a resolver');
    const url: unknown = await arm.target.resolver(ctx);
    if (!isUrl(url)) {
      throw new TypeError(`@koa-mesh/canary-router: the resolver of arm "${arm.name}" gave no URL`);
    }
    return url;
  }

  /** Proxies to a URL-list or resolver arm, rendering this package's errors as problem+json. */
  async function proxyTo(
    ctx: Context,
    arm: Arm,
    upstream: Upstream,
    release: ((outcome: ReleaseOutcome) => void) | undefined,
  ): Promise<void> {
    try {
      if (arm.breaker === undefined) {
        await proxy!.forward(ctx, upstream, arm.headers, arm.version, release);
      } else {
        await guardedForward(proxy!, ctx, arm, arm.breaker, upstream, release);
      }
    } catch (err) {
      if (!isCanaryRouterError(err)) throw err;
      // An arm's breaker refusing (open, bulkhead full) is the breaker doing its job, with events
      // of its own: one report per refused request would flood the error log while it is open.
      if (!(err.code === ERROR_CODES.ARM_BREAKER && err.status === 503)) report(ctx, err);
      renderProblem(ctx, err, arm.version);
    }
  }

  /** The release callback of a resolved exchange, guarding against a throwing resolver hook. */
  function releaseFor(ctx: Context, resolver: Resolver, url: URL) {
    if (typeof resolver.release !== 'function') return undefined;
    return (outcome: ReleaseOutcome): void => {
      try {
        resolver.release!(url, outcome);
      } catch (err) {
        report(ctx, err);
      }
    };
  }

  /** Resolves the arm's instance (falling back to stable when it has none), then proxies. */
  async function resolveAndProxy(
    ctx: Context,
    next: Next,
    chosen: Arm,
    matched: number,
    key: CanaryDecision['key'],
  ): Promise<void> {
    let arm = chosen;
    let url: URL | undefined;
    let fallback: CanaryDecision['fallback'];
    try {
      url = await resolve(ctx, arm);
    } catch (err) {
      if (arm === stable) return finishNoTarget(ctx, arm, matched, key, err);
      fallback = { from: arm.name, error: err };
      fallbacks++;
      arm = stable;
      if (arm.target.kind === 'resolver') {
        try {
          url = await resolve(ctx, arm);
        } catch (err2) {
          return finishNoTarget(ctx, arm, matched, key, err2, fallback);
        }
      }
    }
    arm.served++;
    record(ctx, decisionOf(arm, matched, key, fallback));
    const target = arm.target;
    if (target.kind === 'middleware') return runInProcess(ctx, next, arm, target.middleware);
    if (target.kind === 'urls')
      return proxyTo(ctx, arm, nextUpstream(arm, target.upstreams), undefined);
    return proxyTo(ctx, arm, upstreamOf(url!), releaseFor(ctx, target.resolver, url!));
  }

  /** Round robin over a URL list. */
  function nextUpstream(arm: Arm, list: readonly Upstream[]): Upstream {
    const upstream = list[arm.cursor]!;
    arm.cursor = arm.cursor + 1 === list.length ? 0 : arm.cursor + 1;
    return upstream;
  }

  /** Runs an in-process arm without an extra async frame (this is the hot path Koa apps pay). */
  function runInProcess(ctx: Context, next: Next, arm: Arm, run: Middleware): Promise<void> {
    ctx.res.setHeader('X-Service-Version', arm.version);
    let result: unknown;
    try {
      result = run(ctx, next);
    } catch (err) {
      return arm.rethrow(err);
    }
    return Promise.resolve(result).then(undefined, arm.rethrow) as Promise<void>;
  }

  function decisionOf(
    arm: Arm,
    matched: number,
    key: CanaryDecision['key'],
    fallback: CanaryDecision['fallback'],
  ): CanaryDecision {
    const reason = matched !== -1 ? 'rule' : 'weight';
    return fallback === undefined
      ? { rollout, arm: arm.name, version: arm.version, reason, key }
      : { rollout, arm: arm.name, version: arm.version, reason, key, fallback };
  }

  /** Adds Vary: set outright when absent (the common case), merged through Koa otherwise. */
  function addVary(ctx: Context, list: readonly string[], joined: string): void {
    if (list.length === 0) return;
    if (ctx.res.hasHeader('Vary')) ctx.vary(list as string[]);
    else ctx.res.setHeader('Vary', joined);
  }

  const middleware = function canaryRouterMiddleware(ctx: Context, next: Next): Promise<void> {
    const matched = rules.length === 0 ? -1 : decider.byRules(ctx);
    let armName: string;
    let key: 'user' | 'cookie' | 'ip' | undefined;
    if (matched !== -1) {
      armName = decider.ruleArm;
      addVary(ctx, ruleVary[matched]!, ruleVaryJoined[matched]!);
    } else {
      key = decider.byWeight(ctx);
      armName = decider.weightedArm;
      addVary(ctx, weightVary, weightVaryJoined);
    }
    const arm = arms.get(armName)!;
    const target = arm.target;
    if (target.kind === 'resolver') return resolveAndProxy(ctx, next, arm, matched, key);
    arm.served++;
    record(ctx, decisionOf(arm, matched, key, undefined));
    if (target.kind === 'middleware') return runInProcess(ctx, next, arm, target.middleware);
    return proxyTo(ctx, arm, nextUpstream(arm, target.upstreams), undefined);
  } as CanaryRouter;

  /**
   * Records the decision in `ctx.state.canary` and, when that version serves the request,
   * `ctx.state.version` (what metrics and tracing label it with): a request no target could serve
   * (the 503) carries no version.
   */
  function record(ctx: Context, decision: CanaryDecision, serves = true): void {
    const state = ctx.state as { version?: string; canary?: CanaryDecision };
    if (serves) state.version = decision.version;
    state.canary = decision;
    if (listeners.has('decision')) {
      for (const err of listeners.emit('decision', { ...decision, ctx })) report(ctx, err);
    }
  }

  function finishNoTarget(
    ctx: Context,
    arm: Arm,
    matched: number,
    key: CanaryDecision['key'],
    cause: unknown,
    fallback?: CanaryDecision['fallback'],
  ): void {
    record(ctx, decisionOf(arm, matched, key, fallback), false);
    const err = new NoTargetError(fallback?.from ?? arm.name, { cause });
    report(ctx, err);
    renderProblem(ctx, err, undefined);
  }

  Object.defineProperty(middleware, 'rollout', { value: rollout, enumerable: true });

  middleware.weights = () => decider.table.toWeights();

  middleware.setWeights = (changes) => {
    if (!isPlainObject(changes)) throw optionError('setWeights()', 'an object of weights', changes);
    const updates: Record<string, number> = {};
    let stableGiven: number | undefined;
    for (const [name, value] of Object.entries(changes)) {
      if (!arms.has(name)) {
        throw optionError(
          `setWeights().${name}`,
          `one of the arms (${[...arms.keys()].join(', ')})`,
          name,
        );
      }
      const weight = checkWeight(`setWeights().${name}`, value);
      if (name === stable.name) stableGiven = weight;
      else updates[name] = weight;
    }
    const next = decider.table.with(updates);
    const current = next.toWeights();
    const othersSum = 100 - current[stable.name]!;
    if (othersSum > 100 + EPSILON) {
      throw optionError('setWeights()', 'weights summing to at most 100', othersSum);
    }
    if (stableGiven !== undefined && Math.abs(stableGiven - current[stable.name]!) > EPSILON) {
      throw optionError(
        `setWeights().${stable.name}`,
        `omitted or the remainder of the other arms (${current[stable.name]})`,
        stableGiven,
      );
    }
    const previous = decider.table.toWeights();
    decider.table = next;
    const errors = listeners.emit('weights', { previous, current });
    if (errors.length !== 0) throw errors[0];
    return current;
  };

  middleware.simulate = (keys) => {
    const out: string[] = [];
    for (const key of keys) out.push(decider.table.armOf(bucketOf(rollout, String(key))));
    return out;
  };

  middleware.stats = () => {
    const served: Record<string, number> = {};
    for (const arm of arms.values()) served[arm.name] = arm.served;
    return { served, fallbacks };
  };

  middleware.on = function on(event, listener) {
    listeners.on(event, listener);
    return this;
  };
  middleware.off = function off(event, listener) {
    listeners.off(event, listener);
    return this;
  };

  middleware.close = async () => {
    await proxy?.close();
  };

  return middleware;
}
