import type { Context } from 'koa';
import { bucketOf } from './hash.js';
import type { Normalized } from './normalize.js';
import type { CompiledRule } from './rules.js';
import type { StickyCookie } from './sticky-cookie.js';
import type { WeightTable } from './weights.js';

/** Reports a user callback's or an upstream's failure without failing the request. */
export function report(ctx: Context, err: unknown): void {
  ctx.app.emit('error', err, ctx);
}

export type KeyKind = 'user' | 'cookie' | 'ip';

/**
 * The per-request decision: rules first, then the stickiness key's bucket against the weights.
 * Results land in `ruleArm` / `weightedArm` rather than a fresh object per request.
 */
export class Decider {
  /** The current split; `setWeights` swaps it whole, so a request sees one table or the other. */
  table: WeightTable;
  /** The arm the last matching rule chose. */
  ruleArm = '';
  /** The arm the last weighted decision chose. */
  weightedArm = '';
  private readonly rollout: string;
  private readonly rules: readonly CompiledRule[];
  private readonly arms: ReadonlyMap<string, unknown>;
  private readonly trust: (ctx: Context) => boolean;
  private readonly userKey: ((ctx: Context) => string | number | undefined) | undefined;
  private readonly cookie: StickyCookie | undefined;

  constructor(config: Normalized) {
    this.table = config.table;
    this.rollout = config.rollout;
    this.rules = config.rules;
    this.arms = config.arms;
    this.trust = config.trust;
    this.userKey = config.userKey;
    this.cookie = config.cookie;
  }

  private isTrusted(ctx: Context): boolean {
    try {
      return this.trust(ctx) === true;
    } catch (err) {
      report(ctx, err);
      return false;
    }
  }

  /** The index of the first matching rule (its arm in `ruleArm`), or -1. */
  byRules(ctx: Context): number {
    const rules = this.rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      let arm: string | undefined;
      try {
        arm = rule.match(ctx);
      } catch (err) {
        report(ctx, err);
        continue;
      }
      if (arm === undefined) continue;
      if (rule.dynamic && !this.arms.has(arm)) {
        report(
          ctx,
          new TypeError(
            `@koa-mesh/canary-router: a rule predicate returned unknown arm ${JSON.stringify(arm)}`,
          ),
        );
        continue;
      }
      if (rule.trusted && !this.isTrusted(ctx)) continue;
      this.ruleArm = arm;
      return i;
    }
    return -1;
  }

  /**
   * The weighted decision (its arm in `weightedArm`): the bucket of the first present key (user,
   * cookie, IP); the cookie is (re)written when missing or different. Returns the key's kind.
   */
  byWeight(ctx: Context): KeyKind {
    const { rollout, cookie, userKey } = this;
    let bucket: number | undefined;
    let key: KeyKind = 'ip';
    if (userKey !== undefined) {
      try {
        const id: unknown = userKey(ctx);
        if (typeof id === 'string' && id !== '') {
          bucket = bucketOf(rollout, id);
          key = 'user';
        } else if (typeof id === 'number' && Number.isFinite(id)) {
          // A numeric id (a database key) is the same user as its decimal string.
          bucket = bucketOf(rollout, String(id));
          key = 'user';
        }
      } catch (err) {
        report(ctx, err);
      }
    }
    let fromCookie: number | undefined;
    if (cookie !== undefined) {
      try {
        fromCookie = cookie.read(ctx, rollout);
      } catch (err) {
        report(ctx, err);
      }
      if (bucket === undefined && fromCookie !== undefined) {
        bucket = fromCookie;
        key = 'cookie';
      }
    }
    bucket ??= bucketOf(rollout, ctx.ip);
    if (cookie !== undefined && fromCookie !== bucket) {
      try {
        cookie.write(ctx, rollout, bucket);
      } catch (err) {
        report(ctx, err);
      }
    }
    this.weightedArm = this.table.armOf(bucket);
    return key;
  }
}
