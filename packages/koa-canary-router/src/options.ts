import type { Context, Middleware } from 'koa';
import { optionNames, rejectUnknownKeys } from './known-keys.js';

/**
 * Gives the base URL of one upstream instance, e.g. a `@koa-mesh/discovery` resolver filtered on
 * `meta.version`. It may carry `release`, which the router calls exactly once when the proxied
 * exchange ends (success, error, timeout or client abort).
 */
export interface Resolver {
  (ctx: Context): Promise<URL>;
  release?(url: URL, outcome: ReleaseOutcome): void;
}

/** What `Resolver.release` is told about one exchange. */
export interface ReleaseOutcome {
  /** True when the upstream answered below 500 and its body went through whole. */
  ok: boolean;
  /** The upstream status, when headers arrived. */
  status?: number;
  error?: unknown;
  durationMs: number;
}

/**
 * Where an arm's requests go:
 * - a URL (string or `URL`), or a list of them: proxied, round robin over the list;
 * - a {@link Resolver}, or `{ resolver }`: proxied to the instance it resolves per request;
 * - a Koa middleware, a list of middlewares (composed with koa-compose), or `{ middleware }`:
 *   dispatched in-process, no network hop.
 *
 * A bare function is a middleware when it declares two parameters (`(ctx, next)`, which is what
 * `router.routes()` and `compose()` return) or a resolver when it declares fewer or carries
 * `release`. Use `{ middleware }` or `{ resolver }` to say it explicitly.
 */
export type Target =
  | string
  | URL
  | ReadonlyArray<string | URL>
  | Resolver
  | InProcessMiddleware
  | ReadonlyArray<InProcessMiddleware>
  | { readonly resolver: Resolver }
  | { readonly middleware: InProcessMiddleware | ReadonlyArray<InProcessMiddleware> };

/**
 * Any Koa middleware (Koa 2 or 3 typings, `@koa/router`'s `routes()`, `compose()` output). Typed
 * loosely so that each framework's own context type is accepted as it is.
 */
export type InProcessMiddleware = Middleware | ((ctx: never, next: never) => unknown);

/**
 * A guarded call, structurally the koa-mesh `Breaker`: `@koa-mesh/breaker`'s `CircuitBreaker`, or
 * your own. `execute` runs `fn`, whose rejection counts against the breaker, and may refuse to
 * run it by rejecting with an error carrying an HTTP `status` (and `headers`, e.g. `Retry-After`).
 */
export interface Breaker {
  execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/** One version of the service. */
export interface ArmOptions {
  /** Where this arm's requests go. */
  target: Target;
  /**
   * Percent of weighted traffic, 0 to 100. The stable arm takes what the others leave, so its
   * weight may be omitted (when given it must equal that remainder). @default 0
   */
  weight?: number;
  /** Recorded in `ctx.state.version` and sent as `X-Service-Version`. @default the arm's name */
  version?: string;
  /** Request headers added (or replaced) on requests proxied to this arm. @default {} */
  headers?: Readonly<Record<string, string>>;
  /**
   * Guards this arm's upstream (proxied arms only): every exchange runs in `breaker.execute`,
   * with a 5xx answer or a connection error, timeout or break before the response counted as a
   * failure. A refusal (an open circuit, a full bulkhead, the breaker's timeout) is answered as
   * problem+json with the breaker error's status and headers (503 + `Retry-After`), code
   * `ERR_KOA_MESH_CANARY_ARM_BREAKER`. One breaker per arm, so each version is guarded apart.
   */
  breaker?: Breaker;
}

/** How a rule tests a value: exact string, or a regular expression. Omitted: present at all. */
export type Matcher = string | RegExp;

interface RuleBase {
  /** The arm the rule sends matching requests to. */
  arm: string;
  /**
   * Only applies when `trust(ctx)` says the request comes from a trusted source, so public
   * clients cannot opt themselves into unreleased code. @default false
   */
  trusted?: boolean;
}

/**
 * A routing rule, tried in order before weights; the first match wins. Header and cookie rules
 * add `Vary` for what they read.
 */
export type Rule =
  | (RuleBase & { header: string; value?: Matcher })
  | (RuleBase & { cookie: string; value?: Matcher })
  | (RuleBase & { query: string; value?: Matcher })
  | (RuleBase & { pathPrefix: string })
  | (RuleBase & { method: string | readonly string[] })
  | {
      /** Returns the arm name to use, or undefined to fall through to the next rule. */
      predicate: (ctx: Context) => string | undefined;
      trusted?: boolean;
    };

/** The assignment cookie that keeps anonymous clients on one arm. */
export interface CookieOptions {
  /** @default 'koa_mesh_canary' */
  name?: string;
  /** @default 30 days */
  maxAgeMs?: number;
  /** @default '/' */
  path?: string;
  domain?: string;
  /** @default 'lax' */
  sameSite?: 'strict' | 'lax' | 'none';
  /** @default true when the request is HTTPS (per `ctx.secure`) */
  secure?: boolean;
  /**
   * Sign the cookie with Koa's `app.keys`. `'auto'` signs when the app has keys; `true` requires
   * them. A cookie whose signature does not verify is ignored and replaced. @default 'auto'
   */
  signed?: boolean | 'auto';
}

/** Where the stickiness key comes from: the first present of these. */
export interface StickinessOptions {
  /**
   * The user's identity, e.g. `(ctx) => ctx.state.user?.id`. A number counts as its decimal
   * string (`42` and `'42'` are one user). Returning undefined or `''` skips it.
   */
  key?: (ctx: Context) => string | number | undefined;
  /** The assignment cookie, or `false` for none. @default {} */
  cookie?: CookieOptions | false;
  /** Headers `key` reads, added to `Vary` on weighted decisions. @default [] */
  vary?: readonly string[];
}

/** How requests are proxied to URL and resolver targets (undici). */
export interface ProxyOptions {
  /** TCP connect timeout; past it the answer is 503. @default 5000 */
  connectTimeoutMs?: number;
  /** Time to wait for the upstream's response headers; past it the answer is 504. @default 30000 */
  headersTimeoutMs?: number;
  /** Longest pause between body chunks before the exchange is cut. @default 30000 */
  bodyTimeoutMs?: number;
  /** Most keep-alive connections per upstream origin. @default 64 */
  connections?: number;
  /** Idle keep-alive connections are closed after this. @default 4000 */
  keepAliveTimeoutMs?: number;
  /** `'rewrite'` sends the upstream's host; `'preserve'` forwards the client's Host. @default 'rewrite' */
  host?: 'rewrite' | 'preserve';
  /**
   * Responses whose Content-Length is at most this are read whole before Koa answers (one write,
   * and a status can still be sent if the upstream fails mid-body); larger or unsized ones are
   * streamed. `0` streams everything. @default 65536
   */
  bufferLimitBytes?: number;
  /** A path prefix removed before proxying, e.g. `/api` turns `/api/users` into `/users`. */
  stripPrefix?: string;
}

/** Options of {@link canaryRouter}. */
export interface CanaryRouterOptions {
  /**
   * The rollout's id: the hash salt, so a new id re-buckets every user, and the value the
   * assignment cookie carries. Letters, digits, `_`, `-` and `:`, up to 64 characters.
   * @default 'default'
   */
  rollout?: string;
  /** The arms, by name. One must be the stable arm. */
  arms: Readonly<Record<string, ArmOptions>>;
  /** The name of the stable arm, which takes the remaining weight and the fallbacks. @default 'stable' */
  stable?: string;
  /** Rules tried in order before weights. @default [] */
  rules?: readonly Rule[];
  /**
   * Whether the request comes from a trusted source (internal network, signed header), which
   * `trusted` rules need. A throw counts as untrusted. @default () => false
   */
  trust?: (ctx: Context) => boolean;
  stickiness?: StickinessOptions;
  proxy?: ProxyOptions;
}

export const DEFAULTS = Object.freeze({
  rollout: 'default',
  stable: 'stable',
  cookieName: 'koa_mesh_canary',
  cookieMaxAgeMs: 30 * 24 * 60 * 60 * 1000,
  cookiePath: '/',
  cookieSameSite: 'lax' as const,
  connectTimeoutMs: 5000,
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 30_000,
  connections: 64,
  keepAliveTimeoutMs: 4000,
  host: 'rewrite' as const,
  bufferLimitBytes: 65_536,
});

const PKG = '@koa-mesh/canary-router';

export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return value instanceof RegExp ? String(value) : 'an object';
  return String(value);
}

/** The TypeError every invalid option throws. */
export function optionError(option: string, expected: string, got: unknown): TypeError {
  return new TypeError(
    `${PKG}: expected \`${option}\` to be ${expected}, got ${describeValue(got)}`,
  );
}

export const OPTION_NAMES = Object.freeze({
  root: optionNames<CanaryRouterOptions>({
    rollout: true,
    arms: true,
    stable: true,
    rules: true,
    trust: true,
    stickiness: true,
    proxy: true,
  }),
  arm: optionNames<ArmOptions>({
    target: true,
    weight: true,
    version: true,
    headers: true,
    breaker: true,
  }),
  /** `{ resolver }` or `{ middleware }`: one of them, checked by the target's compiler. */
  target: Object.freeze(['resolver', 'middleware']),
  stickiness: optionNames<StickinessOptions>({ key: true, cookie: true, vary: true }),
  cookie: optionNames<CookieOptions>({
    name: true,
    maxAgeMs: true,
    path: true,
    domain: true,
    sameSite: true,
    secure: true,
    signed: true,
  }),
  proxy: optionNames<ProxyOptions>({
    connectTimeoutMs: true,
    headersTimeoutMs: true,
    bodyTimeoutMs: true,
    connections: true,
    keepAliveTimeoutMs: true,
    host: true,
    bufferLimitBytes: true,
    stripPrefix: true,
  }),
});

/**
 * Throws the TypeError of the first key of `bag` (at `path`, `''` for the top level) that is not
 * one of `accepted`, with a "did you mean" for a near miss. Keys set to `undefined` pass.
 */
export function checkOptionNames(path: string, bag: object, accepted: readonly string[]): void {
  rejectUnknownKeys(path, bag, accepted);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

export function checkWeight(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 100) {
    throw optionError(option, 'a number from 0 to 100', value);
  }
  return value;
}

export function positiveInt(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw optionError(option, 'a positive integer', value);
  }
  return value;
}

export function nonNegativeInt(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw optionError(option, 'a non-negative integer', value);
  }
  return value;
}

const ROLLOUT = /^[A-Za-z0-9_:-]{1,64}$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function checkRollout(value: unknown): string {
  if (value === undefined) return DEFAULTS.rollout;
  if (typeof value !== 'string' || !ROLLOUT.test(value)) {
    throw optionError('rollout', 'letters, digits, `_`, `-` or `:` (1 to 64 characters)', value);
  }
  return value;
}

/** An HTTP token (header name, cookie name, method). */
export function checkToken(option: string, value: unknown): string {
  if (typeof value !== 'string' || !TOKEN.test(value)) {
    throw optionError(option, 'an HTTP token (a header, cookie or method name)', value);
  }
  return value;
}

export function checkFunction<T>(option: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw optionError(option, 'a function', value);
  return value as T;
}

export function checkMatcher(option: string, value: unknown): Matcher | undefined {
  if (value === undefined || typeof value === 'string' || value instanceof RegExp) return value;
  throw optionError(option, 'a string or a RegExp', value);
}
