import type { TracerProvider } from '@opentelemetry/api';
import type { Context as KoaContext } from 'koa';
import { PROPAGATION_FORMATS, type PropagationFormat } from './extract.js';
import { optionNames, rejectUnknownKeys } from './known-keys.js';

/** Options of {@link tracing}. Every field is optional. */
export interface TracingOptions {
  /**
   * Where spans come from. Without it the global provider of `@opentelemetry/api` is used, which
   * records nothing until an SDK registers one (the middleware still propagates and sets ids).
   * @default trace.getTracerProvider()
   */
  tracerProvider?: TracerProvider;
  /** Instrumentation scope name of the tracer. @default '@koa-mesh/tracing' */
  tracerName?: string;
  /**
   * Formats read from inbound requests, in precedence order: the first that carries a valid
   * parent wins. Also the formats {@link MeshPropagator} writes.
   * @default ['tracecontext']
   */
  propagators?: readonly PropagationFormat[];
  /**
   * W3C `baggage`: `true` reads every member, `false` ignores the header, a list of keys or a
   * predicate keeps only the keys it allows (baggage is caller-controlled input).
   * @default true
   */
  baggage?: boolean | readonly string[] | ((key: string) => boolean);
  /**
   * The request-id header, read when valid (1-128 characters of `A-Z a-z 0-9 . _ : + / = @ -`),
   * generated otherwise, set on `ctx.state.requestId` and echoed on the response. `false` skips
   * reading and echoing (an id is still generated).
   * @default 'x-request-id'
   */
  requestIdHeader?: string | false;
  /**
   * Makes a request id when the request has none (or an invalid one).
   * @default a random (version 4) UUID, like `crypto.randomUUID()`, drawn from a pooled block
   */
  generateRequestId?: () => string;
  /**
   * Adds `Server-Timing: traceparent;desc="00-…"` to responses, so a browser can join the trace.
   * @default false
   */
  serverTiming?: boolean;
  /**
   * Trust boundary: when true (or when the predicate says so for a request), an inbound trace
   * context is not continued; a new trace starts with a span link to the inbound one, and its
   * `tracestate` is dropped.
   * @default false
   */
  restartAtEdge?: boolean | ((ctx: KoaContext) => boolean);
  /**
   * Requests to leave untraced (no span, no trace ids; the request id is still set): exact paths,
   * regular expressions tested against `ctx.path`, or a predicate.
   * @default []
   */
  ignore?: ReadonlyArray<string | RegExp> | ((ctx: KoaContext) => boolean);
  /**
   * The route template of a request, read after the downstream middleware ran.
   * @default ctx._matchedRoute ?? ctx.routerPath (set by @koa/router)
   */
  route?: (ctx: KoaContext) => string | undefined;
}

/** The options after validation and defaults. */
export interface NormalizedOptions {
  tracerProvider: TracerProvider | undefined;
  tracerName: string;
  propagators: readonly PropagationFormat[];
  baggage: false | ((key: string) => boolean) | undefined;
  requestIdHeader: string | false;
  /** `undefined`: the middleware's own pooled UUIDs. */
  generateRequestId: (() => string) | undefined;
  serverTiming: boolean;
  restartAtEdge: (ctx: KoaContext) => boolean;
  ignore: ((ctx: KoaContext) => boolean) | undefined;
  route: (ctx: KoaContext) => string | undefined;
}

const PKG = '@koa-mesh/tracing';
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : String(value);
}

function fail(option: string, expected: string, got: unknown): never {
  throw new TypeError(`${PKG}: expected \`${option}\` to be ${expected}, got ${show(got)}`);
}

function never(): boolean {
  return false;
}

function always(): boolean {
  return true;
}

/** Reads the route template @koa/router leaves on the context. */
export function defaultRoute(ctx: KoaContext): string | undefined {
  const state = ctx as unknown as {
    _matchedRoute?: unknown;
    routerPath?: unknown;
    matched?: unknown;
  };
  const route = state._matchedRoute ?? state.routerPath;
  if (route === undefined || route === null || route === '') return undefined;
  return routeLayerPath(state.matched, String(route), ctx.method);
}

interface LayerLike {
  path?: unknown;
  methods?: unknown;
}

/**
 * @koa/router writes each layer's path on the context as it enters it, `router.use()` layers
 * included, whose path is a pattern such as `/api(?:\/|$)`: when such a middleware answers
 * without calling `next()` (an auth check returning 401), that pattern is left behind. In that
 * case this returns what the router itself picked, the template of the last matched route layer
 * that serves the request's method (or `undefined` when no route matched); otherwise `route`
 * unchanged. `matched` also holds route layers that matched the path only (a GET route on the
 * path of a POST), which the router did not pick.
 */
function routeLayerPath(matched: unknown, route: string, method: string): string | undefined {
  if (!Array.isArray(matched)) return route;
  const layers = matched as LayerLike[];
  const writer = layers.find((layer) => layer?.path === route);
  if (writer === undefined || !Array.isArray(writer.methods) || writer.methods.length > 0) {
    return route;
  }
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i];
    if (
      Array.isArray(layer?.methods) &&
      layer.methods.includes(method) &&
      typeof layer.path === 'string'
    ) {
      return layer.path;
    }
  }
  return undefined;
}

const TRACING_OPTIONS = optionNames<TracingOptions>({
  tracerProvider: true,
  tracerName: true,
  propagators: true,
  baggage: true,
  requestIdHeader: true,
  generateRequestId: true,
  serverTiming: true,
  restartAtEdge: true,
  ignore: true,
  route: true,
});

/** Validates options once, at construction, and fills defaults. */
export function normalizeOptions(options: TracingOptions = {}): NormalizedOptions {
  if (typeof options !== 'object' || options === null) fail('options', 'an object', options);
  // Names first: a misspelt option would otherwise keep its default without a word.
  rejectUnknownKeys('', options, TRACING_OPTIONS);
  const o = options;

  const provider = o.tracerProvider;
  if (provider !== undefined && typeof provider?.getTracer !== 'function') {
    fail('tracerProvider', 'a TracerProvider (an object with getTracer())', provider);
  }

  const tracerName = o.tracerName ?? PKG;
  if (typeof tracerName !== 'string' || tracerName === '') {
    fail('tracerName', 'a non-empty string', tracerName);
  }

  const propagators = o.propagators ?? ['tracecontext'];
  if (
    !Array.isArray(propagators) ||
    propagators.length === 0 ||
    !propagators.every((p) => PROPAGATION_FORMATS.includes(p)) ||
    new Set(propagators).size !== propagators.length
  ) {
    fail(
      'propagators',
      `a non-empty array of distinct formats among ${PROPAGATION_FORMATS.map((f) => `'${f}'`).join(', ')}`,
      propagators,
    );
  }

  let baggage: NormalizedOptions['baggage'];
  const b = o.baggage ?? true;
  if (b === true) baggage = undefined;
  else if (b === false) baggage = false;
  else if (typeof b === 'function') baggage = b;
  else if (Array.isArray(b) && b.every((k) => typeof k === 'string')) {
    const allowed = new Set(b);
    baggage = (key) => allowed.has(key);
  } else fail('baggage', 'a boolean, an array of keys or a function', b);

  const requestIdHeader = o.requestIdHeader ?? 'x-request-id';
  if (
    requestIdHeader !== false &&
    (typeof requestIdHeader !== 'string' || !HEADER_NAME.test(requestIdHeader))
  ) {
    fail('requestIdHeader', 'a header name or false', requestIdHeader);
  }

  const generateRequestId = o.generateRequestId ?? undefined;
  if (generateRequestId !== undefined && typeof generateRequestId !== 'function') {
    fail('generateRequestId', 'a function', generateRequestId);
  }

  const serverTiming = o.serverTiming ?? false;
  if (typeof serverTiming !== 'boolean') fail('serverTiming', 'a boolean', serverTiming);

  const r = o.restartAtEdge ?? false;
  let restartAtEdge: (ctx: KoaContext) => boolean;
  if (r === false) restartAtEdge = never;
  else if (r === true) restartAtEdge = always;
  else if (typeof r === 'function') restartAtEdge = r;
  else fail('restartAtEdge', 'a boolean or a function', r);

  let ignore: NormalizedOptions['ignore'];
  const i = o.ignore ?? [];
  if (typeof i === 'function') ignore = i;
  else if (Array.isArray(i) && i.every((p) => typeof p === 'string' || p instanceof RegExp)) {
    const exact = new Set(i.filter((p): p is string => typeof p === 'string'));
    // A global or sticky flag would make test() stateful across requests.
    const patterns = i
      .filter((p): p is RegExp => p instanceof RegExp)
      .map((re) => new RegExp(re.source, re.flags.replace(/[gy]/g, '')));
    if (exact.size > 0 || patterns.length > 0) {
      ignore = (ctx) => exact.has(ctx.path) || patterns.some((re) => re.test(ctx.path));
    }
  } else fail('ignore', 'an array of paths and regular expressions, or a function', i);

  const route = o.route ?? defaultRoute;
  if (typeof route !== 'function') fail('route', 'a function', route);

  return {
    tracerProvider: provider,
    tracerName,
    propagators: Object.freeze([...propagators]),
    baggage,
    requestIdHeader: requestIdHeader === false ? false : requestIdHeader.toLowerCase(),
    generateRequestId,
    serverTiming,
    restartAtEdge,
    ignore,
    route,
  };
}
