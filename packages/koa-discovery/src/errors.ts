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

/** The upstream answered with a retryable status; carries the response out of a breaker. */
export class UpstreamStatusError extends Error {
  readonly code = 'ERR_KOA_MESH_DISCOVERY_UPSTREAM_STATUS';
  constructor(
    readonly statusCode: number,
    readonly response: unknown,
  ) {
    super(`upstream answered ${statusCode}`);
    this.name = 'UpstreamStatusError';
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
