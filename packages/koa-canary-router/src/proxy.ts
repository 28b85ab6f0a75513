import type { Context } from 'koa';
import { Agent } from 'undici';
import {
  BadRequestTargetError,
  BodyConsumedError,
  ConnectTimeoutError,
  UpstreamTimeoutError,
  UpstreamUnreachableError,
  type CanaryRouterError,
} from './errors.js';
import { copyResponseHeaders, upstreamHeaders, type RequestHeaderPlan } from './headers.js';
import {
  DEFAULTS,
  OPTION_NAMES,
  checkOptionNames,
  isPlainObject,
  optionError,
  nonNegativeInt,
  positiveInt,
  type ProxyOptions,
  type ReleaseOutcome,
} from './options.js';
import type { Upstream } from './targets.js';
import { TraceContext } from './trace-context.js';

/** Statuses whose responses carry no body (RFC 9110 §6.4.1). */
const EMPTY_STATUS = new Set([204, 205, 304]);

/** Maps an undici error raised before response headers to the answer the client gets. */
export function upstreamError(err: unknown): CanaryRouterError {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return new ConnectTimeoutError({ cause: err });
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new UpstreamTimeoutError({ cause: err });
  }
  // Refused, DNS, reset, closed socket, TLS: the upstream is unreachable from here.
  return new UpstreamUnreachableError({ cause: err });
}

export interface NormalizedProxyOptions {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  connections: number;
  keepAliveTimeoutMs: number;
  preserveHost: boolean;
  stripPrefix: string | undefined;
  bufferLimitBytes: number;
}

export function normalizeProxyOptions(raw: unknown): NormalizedProxyOptions {
  if (raw !== undefined && !isPlainObject(raw)) throw optionError('proxy', 'an object', raw);
  if (raw !== undefined) checkOptionNames('proxy', raw, OPTION_NAMES.proxy);
  const o = (raw ?? {}) as ProxyOptions;
  const host = o.host ?? DEFAULTS.host;
  if (host !== 'rewrite' && host !== 'preserve') {
    throw optionError('proxy.host', "'rewrite' or 'preserve'", host);
  }
  const strip = o.stripPrefix;
  if (strip !== undefined && (typeof strip !== 'string' || !/^\/.*[^/]$/.test(strip))) {
    throw optionError('proxy.stripPrefix', 'a path starting with / and not ending with /', strip);
  }
  return {
    connectTimeoutMs: positiveInt(
      'proxy.connectTimeoutMs',
      o.connectTimeoutMs,
      DEFAULTS.connectTimeoutMs,
    ),
    headersTimeoutMs: positiveInt(
      'proxy.headersTimeoutMs',
      o.headersTimeoutMs,
      DEFAULTS.headersTimeoutMs,
    ),
    bodyTimeoutMs: positiveInt('proxy.bodyTimeoutMs', o.bodyTimeoutMs, DEFAULTS.bodyTimeoutMs),
    connections: positiveInt('proxy.connections', o.connections, DEFAULTS.connections),
    keepAliveTimeoutMs: positiveInt(
      'proxy.keepAliveTimeoutMs',
      o.keepAliveTimeoutMs,
      DEFAULTS.keepAliveTimeoutMs,
    ),
    bufferLimitBytes: nonNegativeInt(
      'proxy.bufferLimitBytes',
      o.bufferLimitBytes,
      DEFAULTS.bufferLimitBytes,
    ),
    preserveHost: host === 'preserve',
    stripPrefix: strip,
  };
}

type Release = (outcome: ReleaseOutcome) => void;

/** The part of an AbortSignal the proxy uses (structural: any copy, any realm). */
export interface SignalLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

function unlisten(a: SignalLike | undefined, b: SignalLike | undefined, fn: () => void): void {
  a?.removeEventListener('abort', fn);
  b?.removeEventListener('abort', fn);
}

/**
 * `ctx.state.signal`, the signal `@koa-mesh/breaker` hands to downstream work and aborts on its
 * timeout (so the breaker's 504 does not leave the upstream exchange running), when it is one.
 */
export function stateSignal(ctx: Context): SignalLike | undefined {
  const s = (ctx.state as { signal?: unknown }).signal as Partial<SignalLike> | null | undefined;
  return typeof s === 'object' &&
    s !== null &&
    typeof s.aborted === 'boolean' &&
    typeof s.addEventListener === 'function' &&
    typeof s.removeEventListener === 'function'
    ? (s as SignalLike)
    : undefined;
}

/** The request body to send: none, the client's stream, or a replay of what a parser read. */
function requestBody(ctx: Context): { body: Buffer | Context['req'] | null; replay?: number } {
  const req = ctx.req;
  const length = req.headers['content-length'];
  const hasBody =
    req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  if (!hasBody) return { body: null };
  const raw = (ctx.request as { rawBody?: unknown }).rawBody;
  if (typeof raw === 'string' || Buffer.isBuffer(raw)) {
    // A parser already read the stream; its rawBody holds the bytes. Never re-serialise `body`.
    const buf = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
    return { body: buf, replay: buf.length };
  }
  if (req.readableDidRead || req.readableEnded) throw new BodyConsumedError();
  return { body: req };
}

/**
 * Forwards requests with undici: one keep-alive pool per upstream origin (bounded by
 * `connections`), bodies streamed both ways, errors mapped to 502/503/504.
 */
export class UpstreamProxy {
  private readonly agent: Agent;
  private readonly options: NormalizedProxyOptions;
  private readonly trace = new TraceContext();

  constructor(options: NormalizedProxyOptions) {
    this.options = options;
    this.agent = new Agent({
      connections: options.connections,
      connect: { timeout: options.connectTimeoutMs },
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
      keepAliveTimeout: options.keepAliveTimeoutMs,
    });
  }

  private pathFor(ctx: Context, upstream: Upstream): string {
    let path = ctx.url;
    if (path[0] !== '/') {
      // Absolute-form (`GET http://host/x`) is rebuilt from Koa's parse; `*` has no path to send.
      path = ctx.path + ctx.search;
      if (path[0] !== '/') throw new BadRequestTargetError();
    }
    const strip = this.options.stripPrefix;
    if (strip !== undefined && path.startsWith(strip)) {
      const rest = path.slice(strip.length);
      if (rest === '') path = '/';
      else if (rest[0] === '/') path = rest;
      else if (rest[0] === '?') path = `/${rest}`;
    }
    return upstream.basePath + path;
  }

  /**
   * Proxies the request and sets status, headers and `ctx.body` (the upstream's stream). Throws a
   * CanaryRouterError when no response came; returns quietly (0) when the client went away first,
   * or `ctx.state.signal` or `guard` (an arm breaker's signal) aborted. Resolves with the
   * upstream's status once the response is handed to Koa. `release` is called exactly once, when
   * the exchange has ended.
   */
  async forward(
    ctx: Context,
    upstream: Upstream,
    plan: RequestHeaderPlan,
    version: string,
    release: Release | undefined,
    guard?: SignalLike,
  ): Promise<number> {
    // Outcome tracking only when a resolver wants it: no clock reads or listeners otherwise.
    const started = release === undefined ? 0 : performance.now();
    let released = release === undefined;
    const done = (ok: boolean, status: number | undefined, error: unknown): void => {
      if (released) return;
      released = true;
      release!({ ok, status, error, durationMs: performance.now() - started });
    };

    let body: ReturnType<typeof requestBody>;
    try {
      body = requestBody(ctx);
    } catch (err) {
      done(false, undefined, err);
      throw err;
    }
    let path: string;
    try {
      path = this.pathFor(ctx, upstream);
    } catch (err) {
      done(false, undefined, err);
      throw err;
    }
    const injected = await this.trace.headers(ctx);
    const headers = upstreamHeaders(ctx, plan, injected, body.replay);

    const res = ctx.res;
    const controller = new AbortController();
    let responded = false;
    // Before headers, a client that goes away aborts the upstream request; after them, Koa
    // destroys the upstream body when the response closes, which aborts it too.
    const onClientClose = (): void => {
      if (!responded && !res.writableFinished) controller.abort();
    };
    res.once('close', onClientClose);
    // A caller's signal (a breaker's timeout) that aborts ends the exchange the same way: whoever
    // aborted it answers. Only requests that carry one pay for the listener.
    const signal = stateSignal(ctx);
    let onAbort: (() => void) | undefined;
    if (signal !== undefined || guard !== undefined) {
      if (signal?.aborted || guard?.aborted) controller.abort();
      else {
        onAbort = () => controller.abort();
        signal?.addEventListener('abort', onAbort, { once: true });
        guard?.addEventListener('abort', onAbort, { once: true });
      }
    }
    // A client that left during an await before this (the resolver, the trace context) has
    // already closed: send nothing rather than an exchange nobody reads.
    if (res.destroyed) controller.abort();

    let data: Awaited<ReturnType<Agent['request']>>;
    try {
      data = await this.agent.request({
        origin: upstream.origin,
        path,
        method: ctx.method as 'GET',
        headers,
        body: body.body,
        signal: controller.signal,
      });
    } catch (err) {
      res.off('close', onClientClose);
      if (onAbort !== undefined) unlisten(signal, guard, onAbort);
      done(false, undefined, err);
      if (controller.signal.aborted) return 0; // nobody left to answer (or the aborter answers)
      throw upstreamError(err);
    }
    const { statusCode, body: stream } = data;
    const ok = statusCode < 500;

    // Without an 'error' listener, the abort error undici's body emits when Koa destroys it on a
    // client disconnect can crash the process (DESIGN.md, traps). Past the headers there is no
    // status left to send, so a failure cuts the client's connection: it sees a truncated
    // response rather than a clean end.
    let buffering = false;
    stream.on('error', (err) => {
      done(false, statusCode, err);
      if (!buffering && !res.writableFinished) res.destroy();
    });
    if (!released) {
      stream.once('end', () => done(ok, statusCode, undefined));
      stream.once('close', () => {
        // After 'end' this is a no-op; the Error (and its stack) is only built when it counts.
        if (!released) done(false, statusCode, new Error('upstream body closed early'));
      });
    }

    const bodyless = EMPTY_STATUS.has(statusCode) || ctx.method === 'HEAD';
    let small: Buffer | undefined;
    const length = data.headers['content-length'];
    if (!bodyless && length !== undefined && Number(length) <= this.options.bufferLimitBytes) {
      // A small body with a known length is read whole before answering: Koa then writes it in
      // one go (cheaper than a stream pipeline per request), and a failure while reading it can
      // still be answered with a status.
      buffering = true;
      try {
        small = Buffer.from(await stream.arrayBuffer());
      } catch (err) {
        res.off('close', onClientClose);
        if (onAbort !== undefined) unlisten(signal, guard, onAbort);
        if (controller.signal.aborted || res.destroyed) return 0;
        throw upstreamError(err);
      }
    }
    responded = true;
    res.off('close', onClientClose);
    if (onAbort !== undefined) unlisten(signal, guard, onAbort);
    if (res.destroyed || controller.signal.aborted) {
      stream.destroy();
      return 0;
    }
    ctx.status = statusCode;
    copyResponseHeaders(ctx, data.headers);
    ctx.set('X-Service-Version', version);
    if (bodyless) {
      // Koa sends no body for these; drain the (empty) upstream body so the socket is reused.
      stream.resume();
      return statusCode;
    }
    ctx.body = small ?? stream;
    // Koa labels a stream or buffer body application/octet-stream; a proxy must not invent a type.
    if (data.headers['content-type'] === undefined) ctx.remove('Content-Type');
    return statusCode;
  }

  /** Closes every pooled connection; in-flight exchanges are cut. */
  async close(): Promise<void> {
    await this.agent.destroy();
  }
}
