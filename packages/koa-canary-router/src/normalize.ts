import type { Context } from 'koa';
import { isReservedArmHeader, type RequestHeaderPlan } from './headers.js';
import {
  DEFAULTS,
  OPTION_NAMES,
  checkFunction,
  checkOptionNames,
  checkRollout,
  checkToken,
  checkWeight,
  isPlainObject,
  optionError,
  type Breaker,
  type CanaryRouterOptions,
} from './options.js';
import { normalizeProxyOptions, type NormalizedProxyOptions } from './proxy.js';
import { compileRules, type CompiledRule } from './rules.js';
import { stickyCookie, type StickyCookie } from './sticky-cookie.js';
import { compileTarget, type CompiledTarget } from './targets.js';
import { WeightTable } from './weights.js';

/** An arm ready to serve. */
export interface Arm {
  readonly name: string;
  readonly version: string;
  readonly target: CompiledTarget;
  readonly headers: RequestHeaderPlan;
  /** Guards the arm's upstream exchanges (proxied arms only). */
  readonly breaker: Breaker | undefined;
  /** Round-robin position over a URL list. */
  cursor: number;
  /** Requests this arm served. */
  served: number;
  /**
   * Rethrows an in-process arm's error with `X-Service-Version` on `err.headers`, since Koa's
   * error handler drops headers set before the throw. Built once per arm.
   */
  readonly rethrow: (err: unknown) => never;
}

function rethrowWithVersion(version: string): (err: unknown) => never {
  return (err) => {
    if (typeof err === 'object' && err !== null) {
      const e = err as { headers?: unknown };
      if (e.headers === undefined) e.headers = { 'X-Service-Version': version };
      else if (isPlainObject(e.headers)) e.headers['X-Service-Version'] ??= version;
    }
    throw err;
  };
}

export interface Normalized {
  rollout: string;
  stable: Arm;
  arms: Map<string, Arm>;
  table: WeightTable;
  rules: CompiledRule[];
  trust: (ctx: Context) => boolean;
  userKey: ((ctx: Context) => string | number | undefined) | undefined;
  cookie: StickyCookie | undefined;
  /** `Vary` for a decision made by rule i: the headers rules 0..i read. */
  ruleVary: string[][];
  /** `Vary` for a weighted decision: every rule's header, the cookie, `stickiness.vary`. */
  weightVary: string[];
  proxy: NormalizedProxyOptions;
  /** Whether any arm proxies (so the undici agent is needed). */
  proxies: boolean;
}

/**
 * What Node's `setHeader` and undici accept in a header value (RFC 9110 field-vchar, SP, HTAB and
 * obs-text): the version and arm headers are sent on every request, so a value they refuse would
 * fail every request (500 or 502) instead of the factory.
 */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const HEADER_VALUE_TEXT = 'header value (Latin-1, no control characters)';

/** Sum tolerance for weights such as 33.3 + 33.3 + 33.4. */
export const EPSILON = 1e-9;

export function normalizeOptions(input: unknown): Normalized {
  if (!isPlainObject(input)) throw optionError('options', 'an object', input);
  // Names first: a misspelt option would otherwise surface as a missing one (or not at all).
  checkOptionNames('', input, OPTION_NAMES.root);
  const o = input as unknown as CanaryRouterOptions;
  const rollout = checkRollout(o.rollout);
  const stableName = o.stable ?? DEFAULTS.stable;
  if (typeof stableName !== 'string' || stableName === '') {
    throw optionError('stable', 'a non-empty string', stableName);
  }
  if (!isPlainObject(o.arms)) throw optionError('arms', 'an object of arms', o.arms);
  const names = Object.keys(o.arms);
  if (!names.includes(stableName)) {
    throw optionError('arms', `an object with a \`${stableName}\` (stable) arm`, o.arms);
  }
  const arms = new Map<string, Arm>();
  const others: string[] = [];
  const percents: number[] = [];
  let stableWeight: number | undefined;
  for (const name of names) {
    const raw = (o.arms as Record<string, unknown>)[name];
    const at = `arms.${name}`;
    if (!isPlainObject(raw)) throw optionError(at, 'an arm object ({ target, weight? })', raw);
    checkOptionNames(at, raw, OPTION_NAMES.arm);
    const target = compileTarget(`${at}.target`, raw.target);
    const version = raw.version ?? name;
    if (typeof version !== 'string' || version === '' || !HEADER_VALUE.test(version)) {
      throw optionError(`${at}.version`, `a non-empty ${HEADER_VALUE_TEXT}`, version);
    }
    const armHeaders: string[] = [];
    const armHeaderNames = new Set<string>();
    if (raw.headers !== undefined) {
      if (!isPlainObject(raw.headers)) throw optionError(`${at}.headers`, 'an object', raw.headers);
      for (const [h, v] of Object.entries(raw.headers)) {
        checkToken(`${at}.headers`, h);
        if (isReservedArmHeader(h.toLowerCase())) {
          throw optionError(
            `${at}.headers`,
            'a header the proxy may set (not hop-by-hop, Proxy-* or Content-Length)',
            h,
          );
        }
        if (typeof v !== 'string' || !HEADER_VALUE.test(v)) {
          throw optionError(`${at}.headers.${h}`, `a ${HEADER_VALUE_TEXT}`, v);
        }
        armHeaders.push(h, v);
        armHeaderNames.add(h.toLowerCase());
      }
    }
    const breaker = raw.breaker;
    if (breaker !== undefined) {
      if (
        (typeof breaker !== 'object' && typeof breaker !== 'function') ||
        breaker === null ||
        typeof (breaker as { execute?: unknown }).execute !== 'function'
      ) {
        throw optionError(
          `${at}.breaker`,
          'a breaker with an `execute(fn, signal?)` function',
          breaker,
        );
      }
      if (target.kind === 'middleware') {
        throw optionError(
          `${at}.breaker`,
          'omitted on an in-process arm (it guards proxied upstreams; wrap the middleware in @koa-mesh/breaker instead)',
          breaker,
        );
      }
    }
    if (name === stableName) {
      if (raw.weight !== undefined) stableWeight = checkWeight(`${at}.weight`, raw.weight);
    } else {
      others.push(name);
      percents.push(raw.weight === undefined ? 0 : checkWeight(`${at}.weight`, raw.weight));
    }
    arms.set(name, {
      name,
      version,
      target,
      headers: {
        preserveHost: false, // set below, once proxy options are known
        armHeaderNames,
        armHeaders,
      },
      breaker: breaker as Breaker | undefined,
      cursor: 0,
      served: 0,
      rethrow: rethrowWithVersion(version),
    });
  }
  const sum = percents.reduce((a, b) => a + b, 0);
  if (sum > 100 + EPSILON) {
    throw optionError('arms', 'weights of the non-stable arms summing to at most 100', sum);
  }
  if (stableWeight !== undefined && Math.abs(stableWeight - (100 - sum)) > EPSILON) {
    throw optionError(
      `arms.${stableName}.weight`,
      `omitted or the remainder of the other arms (${100 - sum})`,
      stableWeight,
    );
  }
  const proxy = normalizeProxyOptions(o.proxy);
  for (const arm of arms.values()) {
    (arm.headers as { preserveHost: boolean }).preserveHost = proxy.preserveHost;
  }

  const rules = compileRules(o.rules, new Set(names));
  const trust = checkFunction<(ctx: Context) => boolean>('trust', o.trust) ?? (() => false);

  const stickiness = o.stickiness;
  if (stickiness !== undefined && !isPlainObject(stickiness)) {
    throw optionError('stickiness', 'an object', stickiness);
  }
  if (stickiness !== undefined) checkOptionNames('stickiness', stickiness, OPTION_NAMES.stickiness);
  const userKey = checkFunction<(ctx: Context) => string | number | undefined>(
    'stickiness.key',
    stickiness?.key,
  );
  const cookie = stickyCookie(stickiness?.cookie);
  const extraVary = stickiness?.vary ?? [];
  if (!Array.isArray(extraVary)) throw optionError('stickiness.vary', 'an array', extraVary);
  extraVary.forEach((h: unknown, i) => checkToken(`stickiness.vary[${i}]`, h));

  const ruleVary: string[][] = [];
  const seen: string[] = [];
  for (const rule of rules) {
    if (rule.vary !== undefined && !seen.includes(rule.vary)) seen.push(rule.vary);
    ruleVary.push([...seen]);
  }
  const weightVary = [...seen];
  for (const h of [...(cookie ? ['cookie'] : []), ...extraVary.map((h) => h.toLowerCase())]) {
    if (!weightVary.includes(h)) weightVary.push(h);
  }

  return {
    rollout,
    stable: arms.get(stableName)!,
    arms,
    table: new WeightTable(stableName, others, percents),
    rules,
    trust,
    userKey,
    cookie,
    ruleVary,
    weightVary,
    proxy,
    proxies: [...arms.values()].some((a) => a.target.kind !== 'middleware'),
  };
}
