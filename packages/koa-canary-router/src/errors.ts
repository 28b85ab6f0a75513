/** Codes of the errors this package answers with. */
export const ERROR_CODES = Object.freeze({
  NO_TARGET: 'ERR_KOA_MESH_CANARY_NO_TARGET',
  UPSTREAM_UNREACHABLE: 'ERR_KOA_MESH_CANARY_UPSTREAM_UNREACHABLE',
  CONNECT_TIMEOUT: 'ERR_KOA_MESH_CANARY_CONNECT_TIMEOUT',
  UPSTREAM_TIMEOUT: 'ERR_KOA_MESH_CANARY_UPSTREAM_TIMEOUT',
  BODY_CONSUMED: 'ERR_KOA_MESH_CANARY_BODY_CONSUMED',
  BAD_REQUEST_TARGET: 'ERR_KOA_MESH_CANARY_BAD_REQUEST_TARGET',
  ARM_BREAKER: 'ERR_KOA_MESH_CANARY_ARM_BREAKER',
});

/**
 * The base of this package's errors, with Koa's error fields. Identify them by `code` (an ESM and
 * a CJS copy of this package are different classes).
 */
export class CanaryRouterError extends Error {
  readonly code: string;
  readonly status: number;
  readonly expose: boolean;
  /** Headers that survive Koa's error handler. */
  headers: Record<string, string>;
  /** RFC 9457 problem type. */
  readonly type: string;
  readonly title: string;

  constructor(
    code: string,
    status: number,
    type: string,
    title: string,
    message: string,
    options?: { cause?: unknown; expose?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.type = type;
    this.title = title;
    this.expose = options?.expose ?? true;
    this.headers = {};
  }
}

/** 503: neither the chosen arm nor the stable arm has a usable target. */
export class NoTargetError extends CanaryRouterError {
  constructor(arm: string, options?: { cause?: unknown }) {
    super(
      ERROR_CODES.NO_TARGET,
      503,
      'urn:koa-mesh:canary-router:no-target',
      'No upstream available',
      `no instance available for arm "${arm}" nor for the stable arm`,
      options,
    );
  }
}

/** 502: connection refused, DNS failure, or the upstream reset before sending headers. */
export class UpstreamUnreachableError extends CanaryRouterError {
  constructor(options?: { cause?: unknown }) {
    super(
      ERROR_CODES.UPSTREAM_UNREACHABLE,
      502,
      'urn:koa-mesh:canary-router:upstream-unreachable',
      'Bad gateway',
      'the upstream could not be reached or closed the connection before answering',
      options,
    );
  }
}

/** 503: the TCP connection to the upstream was not established in `connectTimeoutMs`. */
export class ConnectTimeoutError extends CanaryRouterError {
  constructor(options?: { cause?: unknown }) {
    super(
      ERROR_CODES.CONNECT_TIMEOUT,
      503,
      'urn:koa-mesh:canary-router:connect-timeout',
      'Upstream unavailable',
      'connecting to the upstream timed out',
      options,
    );
  }
}

/** 504: the upstream sent no response headers within `headersTimeoutMs`. */
export class UpstreamTimeoutError extends CanaryRouterError {
  constructor(options?: { cause?: unknown }) {
    super(
      ERROR_CODES.UPSTREAM_TIMEOUT,
      504,
      'urn:koa-mesh:canary-router:upstream-timeout',
      'Gateway timeout',
      'the upstream did not answer in time',
      options,
    );
  }
}

/**
 * 500: a body parser read the request body before the router, and left no `rawBody` to replay.
 * A configuration error, so its message says how to fix it.
 */
export class BodyConsumedError extends CanaryRouterError {
  constructor() {
    super(
      ERROR_CODES.BODY_CONSUMED,
      500,
      'urn:koa-mesh:canary-router:body-consumed',
      'Request body already consumed',
      'the request body was read by another middleware and no ctx.request.rawBody is available to replay: mount canaryRouter before the body parser',
    );
  }
}

/** 400: the request target has no path to forward (e.g. `OPTIONS *`). */
export class BadRequestTargetError extends CanaryRouterError {
  constructor() {
    super(
      ERROR_CODES.BAD_REQUEST_TARGET,
      400,
      'urn:koa-mesh:canary-router:bad-request-target',
      'Bad request target',
      'the request target has no path that can be forwarded',
    );
  }
}

/**
 * An arm's `breaker` did not let the call through (an open circuit, a full bulkhead) or ended it
 * (its timeout). Carries the breaker error's status (503, 504) and headers (`Retry-After`), and the
 * breaker's error as `cause`.
 */
export class ArmBreakerError extends CanaryRouterError {
  /** The arm whose breaker answered. */
  readonly arm: string;

  constructor(arm: string, status: number, headers: Record<string, string>, cause: unknown) {
    const message = (cause as { message?: unknown } | null)?.message;
    super(
      ERROR_CODES.ARM_BREAKER,
      status,
      'urn:koa-mesh:canary-router:arm-breaker',
      status === 504 ? 'Gateway timeout' : 'Upstream unavailable',
      `the breaker of arm "${arm}" did not let the call through${
        typeof message === 'string' && message !== '' ? `: ${message}` : ''
      }`,
      { cause },
    );
    this.arm = arm;
    this.headers = headers;
  }
}

/** Whether `err` is one of this package's errors (by code, across module copies). */
export function isCanaryRouterError(err: unknown): err is CanaryRouterError {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (Object.values(ERROR_CODES) as string[]).includes(code);
}
