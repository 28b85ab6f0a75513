/** The code of {@link ServiceUnavailableError}. */
export const SERVICE_UNAVAILABLE = 'ERR_KOA_MESH_SERVICE_UNAVAILABLE';

/**
 * No usable instance of a service: unknown service, empty list, every instance tried, retry budget
 * spent after failures, or the deadline passed. Status 503; rendered as problem+json by the
 * discovery middleware when a handler lets it through.
 */
export class ServiceUnavailableError extends Error {
  readonly code = SERVICE_UNAVAILABLE;
  readonly status = 503;
  readonly statusCode = 503;
  readonly expose = true;
  readonly headers: Record<string, string>;
  /** The service that had no usable instance. */
  readonly service: string;

  constructor(
    service: string,
    detail: string,
    options?: { cause?: unknown; retryAfterS?: number },
  ) {
    super(`service "${service}" is unavailable: ${detail}`, { cause: options?.cause });
    this.name = 'ServiceUnavailableError';
    this.service = service;
    this.headers = options?.retryAfterS ? { 'retry-after': String(options.retryAfterS) } : {};
  }
}

/** True for a ServiceUnavailableError from any copy of this package (ESM or CJS): by `code`. */
export function isServiceUnavailableError(err: unknown): err is ServiceUnavailableError {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { code?: unknown }).code === SERVICE_UNAVAILABLE
  );
}

/**
 * The upstream answered a status the instance's breaker must judge (a 5xx, or a 429 carrying
 * `Retry-After`); carries the response out of the breaker. It has `status` and `statusCode` and
 * the response `headers`, the shape breakers read: `@koa-mesh/breaker` counts a 5xx as a failure
 * and opens for the `Retry-After` of a 429 or 503.
 */
export class UpstreamStatusError extends Error {
  readonly code = 'ERR_KOA_MESH_DISCOVERY_UPSTREAM_STATUS';
  readonly status: number;
  constructor(
    readonly statusCode: number,
    readonly response: unknown,
    /** The response headers (undici's: lowercase names). */
    readonly headers: Readonly<Record<string, string | string[] | undefined>> = {},
  ) {
    super(`upstream answered ${statusCode}`);
    this.name = 'UpstreamStatusError';
    this.status = statusCode;
  }
}

/** The `fetch` deadline passed. */
export class DeadlineError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`deadline of ${ms} ms exceeded`);
    this.name = 'DeadlineError';
  }
}
