import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Endpoint, InstanceDispatcher } from './endpoint.js';
import { DeadlineError, ServiceUnavailableError, UpstreamStatusError } from './errors.js';
import type { Instance, InstanceFilter } from './instance.js';
import type { NormalizedOptions } from './options.js';
import { isCallerError } from './outcome.js';
import type { RetryBudget } from './retry-budget.js';
import type { ServicePool } from './service-pool.js';

/** Per-call options of `client.fetch`: undici request options plus routing. */
export interface DiscoveryFetchInit {
  /** @default 'GET' */
  method?: Dispatcher.HttpMethod;
  headers?: Record<string, string | string[] | undefined>;
  body?: string | Buffer | Uint8Array | Readable | null;
  /** Key for the consistent-hash strategy (e.g. a user id). */
  hashKey?: string;
  /** Only instances with these tags / meta / in this datacenter. */
  filter?: InstanceFilter;
  /** Deadline of this call, up to the response headers. @default options.fetch.timeoutMs */
  timeoutMs?: number;
  /** Further attempts on other instances. @default options.fetch.retries */
  retries?: number;
  /**
   * Whether the request may be repeated safely. @default true for GET, HEAD, OPTIONS, PUT,
   * DELETE without a stream body
   */
  idempotent?: boolean;
  /** Aborts the call (and the response body); the in-flight count is released either way. */
  signal?: AbortSignal;
}

/** undici's response plus the instance that answered and the attempts made. */
export interface DiscoveryResponse extends Dispatcher.ResponseData {
  instance: Instance;
  attempts: number;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Errors raised before a single byte of the request can have reached the instance. */
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A breaker (or bulkhead) refused the call: it never left this process. */
function refusedLocally(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && /BREAKER_OPEN|BULKHEAD/.test(code);
}

export interface FetchDeps {
  options: NormalizedOptions;
  /** The keep-alive pool of an instance (cached on the endpoint). */
  dispatcher: (ep: Endpoint) => InstanceDispatcher;
  budget: RetryBudget;
  pool: (service: string, filter: InstanceFilter | undefined) => ServicePool;
  propagation: {
    ready(): Promise<void> | undefined;
    inject(h: Record<string, string | string[]>, ctx: object | undefined): void;
    carrier(ctx: object | undefined): Record<string, string> | undefined;
  };
  stopped: () => boolean;
}

/**
 * Characters a path may not carry as they are: undici refuses controls, spaces and anything past
 * Latin-1, and sends U+0080-U+00FF as raw bytes that Node's server answers with 400.
 */
const UNSENDABLE = /[^\x21-\x7e]/;
const UNSENDABLE_RUNS = /[^\x21-\x7e]+/g;

function percentEncodeRun(run: string): string {
  // UTF-8, as WHATWG URL encodes a path (a lone surrogate becomes U+FFFD).
  let out = '';
  for (const byte of Buffer.from(run, 'utf8')) {
    out += `%${byte < 16 ? '0' : ''}${byte.toString(16).toUpperCase()}`;
  }
  return out;
}

/**
 * Headers of one hop (RFC 9110 §7.6.1) that a handler forwarding its own request headers
 * (`headers: ctx.headers`) must not pass on; with every `Proxy-*` header and every header the
 * `Connection` header names. undici refuses `keep-alive`, `transfer-encoding`, `upgrade` and
 * `expect` (Node's server has already answered an `Expect` itself).
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'http2-settings',
]);

/**
 * Headers of every trace format a propagator may write: W3C Trace Context and Baggage, B3 (single
 * and multi), Jaeger (with its `uberctx-*` baggage). A handler forwarding its request headers
 * passes on the client's copies: a stale `tracestate`, `baggage` the tracing allowlist filtered,
 * another trace's `b3` or `uber-trace-id`. When this hop's context is injected, none of them goes.
 */
const TRACE_HEADERS = new Set([
  'traceparent',
  'tracestate',
  'baggage',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'uber-trace-id',
]);

/** Lowercased header names a `Connection` value lists beyond the hop-by-hop set, if any. */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  let listed: Set<string> | undefined;
  for (const part of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const token = part.trim().toLowerCase();
    if (token !== '' && token !== 'close' && !HOP_BY_HOP.has(token))
      (listed ??= new Set()).add(token);
  }
  return listed;
}

/**
 * The deadline of one attempt that may not reach a socket at once. undici's `headersTimeout`
 * starts only once the request is written, so time spent waiting for a free connection, for a
 * connect or in a breaker's bulkhead queue is ours to bound.
 */
class AttemptDeadline {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  #giveUp: ((reason: unknown) => void) | undefined;
  #settled = false;
  #gaveUp = false;
  readonly signal: AbortSignal;

  constructor(ms: number, timeoutMs: number, signal: AbortSignal | undefined) {
    const controller = this.#controller;
    this.#timer = setTimeout(() => controller.abort(new DeadlineError(timeoutMs)), ms);
    this.#timer.unref();
    this.signal = signal ? AbortSignal.any([signal, controller.signal]) : controller.signal;
    // The deadline or the caller's abort: undici has been told (the signal is aborted first), and
    // the caller stops waiting now rather than when undici reaches a request still queued.
    this.signal.addEventListener('abort', this, { once: true });
  }

  /** The attempt's signal aborted (the deadline passed, or the caller aborted). */
  handleEvent(): void {
    if (this.#settled) return;
    this.#gaveUp = true;
    this.#giveUp?.(this.signal.reason);
  }

  /**
   * `attempt`, or the abort reason when the deadline passes or the caller aborts first. undici
   * aborts a request still queued in a pool only once it reaches a connection, so we stop waiting
   * for it ourselves.
   */
  race<T>(attempt: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.signal.aborted) {
        this.#gaveUp = true;
        reject(this.signal.reason);
        return;
      }
      this.#giveUp = reject;
      attempt.then(
        (value) => {
          this.#settled = true;
          resolve(value);
        },
        (err: unknown) => {
          this.#settled = true;
          reject(err);
        },
      );
    });
  }

  /** The deadline passed. */
  get passed(): boolean {
    return this.#controller.signal.aborted;
  }

  /** The attempt was given up before undici settled it: its outcome comes later. */
  get gaveUp(): boolean {
    return this.#gaveUp;
  }

  /** The response headers came (or the attempt failed): the body is not ours to time. */
  clear(): void {
    clearTimeout(this.#timer);
    this.signal.removeEventListener('abort', this);
  }
}

function destroyLateBody(res: Dispatcher.ResponseData): void {
  res.body.on('error', ignoreBodyError).destroy();
}

/** What an attempt the caller aborted settles with: a client abort, never the instance's failure. */
const CALLER_ABORTED = Object.freeze({
  name: 'AbortError',
  message: 'the caller aborted the call',
});

/** Undici's headers timeout: the per-attempt share of our deadline. */
const HEADERS_TIMEOUT = 'UND_ERR_HEADERS_TIMEOUT';

/** The `init` of a call that passed none (read only, never written). */
const NO_INIT: DiscoveryFetchInit = Object.freeze({});

/** The `'error'` listener of a handed-out body: the `'close'` listener reads `body.errored`. */
function ignoreBodyError(): void {}

/**
 * `client.fetch`: pick, call, retry on another instance, release exactly once. `ctx` is the Koa
 * context of the request the call is made for (`ctx.state.discovery`), when there is one: its
 * trace context and its `ctx.state.requestId` go upstream. The deadline
 * bounds every attempt up to the response headers through undici's own per-request
 * `headersTimeout` (no timer or AbortController of ours per call: they cost a third of the
 * throughput in the bench); reading the body is bounded by undici's `bodyTimeout`.
 *
 * The common path (first attempt answers, no breaker) is kept lean: no per-call signal, timer,
 * Set, spread or extra promise; one closure (the body's `'close'` listener) per call.
 */
export async function discoveryFetch(
  deps: FetchDeps,
  service: string,
  pathGiven: string,
  init: DiscoveryFetchInit = NO_INIT,
  ctx?: object,
): Promise<DiscoveryResponse> {
  // A string no registry can hold (empty, too long, characters Consul refuses) is refused by the
  // pool look-up with a 503, as an unknown service is: it often comes from request input.
  if (typeof service !== 'string') {
    throw new TypeError('@koa-mesh/discovery: fetch() expects a service name');
  }
  if (typeof pathGiven !== 'string' || !pathGiven.startsWith('/')) {
    throw new TypeError(
      `@koa-mesh/discovery: fetch() expects a path starting with /, got ${String(pathGiven)}`,
    );
  }
  // A path is often built from decoded user input (`/orders/${ctx.query.id}`): encode what cannot
  // go on the wire as is, rather than fail the call on every instance.
  const path = UNSENDABLE.test(pathGiven)
    ? pathGiven.replace(UNSENDABLE_RUNS, percentEncodeRun)
    : pathGiven;
  if (deps.stopped()) throw new ServiceUnavailableError(service, 'discovery is stopped');
  const { options } = deps;
  const now = options.now;
  const method =
    init.method === undefined ? 'GET' : (init.method.toUpperCase() as Dispatcher.HttpMethod);
  const timeoutMs = init.timeoutMs ?? options.fetch.timeoutMs;
  // One clock read serves the deadline and the first attempt unless something is awaited first.
  let at = now();
  const deadlineAt = at + timeoutMs;
  const retries = init.retries ?? options.fetch.retries;
  const body = init.body ?? null;
  const streamBody = body !== null && typeof (body as Readable).pipe === 'function';
  const idempotent = init.idempotent ?? (IDEMPOTENT.has(method) && !streamBody);
  const signal = init.signal;
  if (signal?.aborted) throw signal.reason;

  let pool = deps.pool(service, init.filter);
  if (!pool.ready) {
    await pool.whenReady(Math.min(timeoutMs, options.readyTimeoutMs), signal);
    if (signal?.aborted) throw signal.reason;
    at = now();
  }
  const loading = deps.propagation.ready();
  if (loading) {
    await loading;
    at = now();
  }
  // A pool idle across an await may have been dropped: take the current one. Nothing is in
  // flight on it yet, and from the first acquire on it cannot be dropped.
  if (pool.closed) pool = deps.pool(service, init.filter);
  const headers: Record<string, string | string[]> = {};
  const given = init.headers;
  // What the propagator writes, asked for only when the caller passed a trace header: null when
  // it writes nothing (the caller's trace headers then go as given).
  let injected: Record<string, string> | null | undefined;
  if (given) {
    let listed: Set<string> | undefined;
    for (const k of Object.keys(given)) {
      const v = given[k];
      if (v === undefined) continue;
      const lower = k.toLowerCase();
      if (HOP_BY_HOP.has(lower) || lower.startsWith('proxy-')) {
        if (lower === 'connection') listed = connectionTokens(v);
        continue;
      }
      // undici sets the length of a string or buffer body itself; a forwarded one is the
      // length of some other body.
      if (lower === 'content-length' && !streamBody) continue;
      // A forwarded client id (the request's own X-Request-Id header) gives way to the id this
      // service logs, set by tracing (which may have refused the client's); an id the caller
      // chose for this call is kept.
      if (
        lower === 'x-request-id' &&
        ctx !== undefined &&
        v === (ctx as { get?: (name: string) => string }).get?.('x-request-id') &&
        typeof (ctx as { state?: { requestId?: unknown } }).state?.requestId === 'string'
      ) {
        continue;
      }
      if (TRACE_HEADERS.has(lower) || lower.startsWith('uberctx-')) {
        if (injected === undefined) injected = deps.propagation.carrier(ctx) ?? null;
        // This hop's context goes instead: only what the propagator writes.
        if (injected !== null) continue;
      }
      headers[lower] = v;
    }
    if (listed) for (const name of listed) delete headers[name];
  }
  if (ctx !== undefined && headers['x-request-id'] === undefined) {
    // One id follows the request across services: the one this service logs (set by tracing).
    const id = (ctx as { state?: { requestId?: unknown } }).state?.requestId;
    if (typeof id === 'string' && id !== '') headers['x-request-id'] = id;
  }
  if (injected === undefined) deps.propagation.inject(headers, ctx);
  else if (injected !== null) Object.assign(headers, injected);

  deps.budget.deposit();
  const breaker = options.breaker;
  let tried: Set<Endpoint> | undefined;
  let first: Endpoint | undefined;
  let lastError: unknown;
  let deadlinePassed = false;
  let ep = pool.pick(init.hashKey);
  for (let attempt = 1; ep !== undefined; attempt++) {
    const remaining = deadlineAt - (attempt === 1 ? at : now());
    if (remaining <= 0) {
      deadlinePassed = true;
      break;
    }
    // The exclusion set is only needed once a retry happens; the common path allocates none.
    if (attempt > 1) (tried ??= new Set(first ? [first] : [])).add(ep);
    else first = ep;
    pool.acquire(ep);
    const dispatcher = deps.dispatcher(ep);
    // Fewer of our requests than connected sockets and no breaker: this one is written at once
    // and undici's headers timeout keeps the deadline. Otherwise it may wait for a connect or a
    // free socket, or in the breaker's bulkhead queue (which the attempt's signal, aborted at the
    // deadline, lets it leave).
    const wait =
      breaker !== undefined || dispatcher.active >= dispatcher.connected
        ? new AttemptDeadline(remaining, timeoutMs, signal)
        : undefined;
    const attemptSignal = wait ? wait.signal : signal;
    dispatcher.active++;
    let res: Dispatcher.ResponseData;
    let sent: Promise<Dispatcher.ResponseData> | undefined;
    try {
      sent = breaker
        ? guardedAttempt(
            dispatcher,
            breaker,
            ep,
            path,
            method,
            headers,
            body,
            remaining,
            attemptSignal,
          )
        : dispatcher.request({
            path,
            method,
            headers,
            body,
            headersTimeout: remaining,
            signal: attemptSignal,
          });
      res = await (wait ? wait.race(sent) : sent);
    } catch (error) {
      wait?.clear();
      if (wait?.gaveUp && sent) {
        // Given up on: the request ends when undici reaches it (aborted, never written).
        void sent.then(destroyLateBody, ignoreBodyError).finally(() => void dispatcher.active--);
      } else {
        dispatcher.active--;
      }
      // The caller giving up says nothing about the instance, whatever the reason it aborted with
      // (`controller.abort(new Error('user left'))` is no AbortError).
      pool.settle(ep, false, undefined, signal?.aborted ? CALLER_ABORTED : error);
      lastError = error;
      if (signal?.aborted) throw signal.reason;
      // undici refused the request as built: the same request fails on every instance.
      if (isCallerError(error)) throw error;
      if (wait?.passed || (errorCode(error) === HEADERS_TIMEOUT && now() >= deadlineAt)) {
        deadlinePassed = true;
        break;
      }
      const neverSent = refusedLocally(error) || CONNECT_CODES.has(errorCode(error) ?? '');
      if (!(neverSent || idempotent) || streamBody) {
        // It may have reached the instance: repeating it is not ours to decide.
        throw new ServiceUnavailableError(
          service,
          `request to ${ep.id} failed: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
      ep =
        attempt <= retries && deps.budget.tryWithdraw()
          ? pool.pick(init.hashKey, (tried ??= new Set([ep])))
          : undefined;
      continue;
    }
    wait?.clear();
    const status = res.statusCode;
    if (options.fetch.retryOn.has(status) && idempotent && !streamBody && attempt <= retries) {
      const next = pool.pick(init.hashKey, (tried ??= new Set([ep])));
      if (next && deps.budget.tryWithdraw()) {
        await res.body.dump().catch(() => undefined);
        dispatcher.active--;
        pool.settle(ep, false, status, undefined);
        lastError = new UpstreamStatusError(status, undefined, res.headers);
        ep = next;
        continue;
      }
    }
    handOver(pool, ep, dispatcher, res, status);
    const out = res as DiscoveryResponse;
    out.instance = ep.instance;
    out.attempts = attempt;
    return out;
  }
  if (deadlinePassed) {
    const reason = new DeadlineError(timeoutMs);
    throw new ServiceUnavailableError(service, reason.message, { cause: lastError ?? reason });
  }
  if (pool.size === 0) {
    throw new ServiceUnavailableError(
      service,
      pool.ready ? 'no instances' : 'no instance list yet',
      { cause: pool.watch?.info().lastError },
    );
  }
  const why = lastError instanceof Error ? lastError.message : 'no usable instance';
  throw new ServiceUnavailableError(
    service,
    `${tried?.size ?? (first ? 1 : 0)} instance(s) tried: ${why}`,
    {
      cause: lastError,
    },
  );
}

/**
 * Hands the response over: in-flight ends exactly once, when its body closes (read, dumped,
 * destroyed or errored). `'close'` always follows `'error'` on undici's body, so one listener
 * reading `body.errored` releases; the `'error'` listener keeps a body handed to Koa from
 * crashing the process when the client goes away mid-response (Koa 3 + undici 7).
 */
function handOver(
  pool: ServicePool,
  ep: Endpoint,
  dispatcher: InstanceDispatcher,
  res: Dispatcher.ResponseData,
  status: number,
): void {
  const stream = res.body;
  stream.on('error', ignoreBodyError);
  stream.on('close', function releaseOnClose() {
    dispatcher.active--;
    const error: unknown = stream.errored ?? undefined;
    pool.settle(ep, status < 500 && error === undefined, status, error);
  });
}

/**
 * A request undici refused as built, carried out of the breaker as a value: `fn` resolving is the
 * one outcome every structural breaker takes for a non-failure (a rejection is judged by each
 * breaker's own rules), and the caller's mistake must not open a healthy instance's breaker.
 */
class CallerRefusal {
  constructor(readonly error: unknown) {}
}

/**
 * One attempt through the instance's breaker: 5xx answers, and 429 answers carrying `Retry-After`,
 * reach the breaker as rejections (an UpstreamStatusError with `status` and `headers`), yet come
 * back to the caller as responses.
 */
async function guardedAttempt(
  dispatcher: Dispatcher,
  factory: NonNullable<NormalizedOptions['breaker']>,
  ep: Endpoint,
  path: string,
  method: Dispatcher.HttpMethod,
  headers: Record<string, string | string[]>,
  body: DiscoveryFetchInit['body'],
  headersTimeout: number,
  signal: AbortSignal | undefined,
): Promise<Dispatcher.ResponseData> {
  ep.breaker ??= factory(ep.id);
  let out: Dispatcher.ResponseData | CallerRefusal;
  try {
    out = await ep.breaker.execute(async (breakerSignal) => {
      const sig =
        breakerSignal && signal
          ? AbortSignal.any([signal, breakerSignal])
          : (breakerSignal ?? signal);
      let res: Dispatcher.ResponseData;
      try {
        res = await dispatcher.request({
          path,
          method,
          headers,
          body,
          headersTimeout,
          signal: sig,
        });
      } catch (err) {
        if (isCallerError(err)) return new CallerRefusal(err);
        throw err;
      }
      // The breaker must see 5xx as failures, and an instance's push-back (429 + Retry-After) to
      // open for it: carry the response out inside an error with its status and headers. A 429
      // without Retry-After is no verdict on the instance and resolves.
      const status = res.statusCode;
      if (status >= 500 || (status === 429 && res.headers['retry-after'] !== undefined)) {
        throw new UpstreamStatusError(status, res, res.headers);
      }
      return res;
    }, signal);
  } catch (err) {
    if (err instanceof UpstreamStatusError && err.response) {
      return err.response as Dispatcher.ResponseData;
    }
    throw err;
  }
  // Rethrown as undici raised it: fetch rejects with it at once (see isCallerError).
  if (out instanceof CallerRefusal) throw out.error;
  return out;
}
