/**
 * The demo's HTTP errors. They carry Koa's error fields (`status`, `expose`, `headers`) and a
 * `code`, and are recognised by `code`, never `instanceof` (see CONTRIBUTING.md).
 */
export class HttpError extends Error {
  readonly status: number;
  readonly expose: boolean;
  readonly headers: Record<string, string> | undefined;
  /** The problem type URN. */
  readonly type: string;
  readonly title: string;

  constructor(
    readonly code: string,
    status: number,
    title: string,
    message: string,
    options: { headers?: Record<string, string>; cause?: unknown; expose?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HttpError';
    this.status = status;
    this.expose = options.expose ?? status < 500;
    this.headers = options.headers;
    this.title = title;
    this.type = `urn:koa-mesh:demo:${code
      .replace(/^ERR_DEMO_/, '')
      .toLowerCase()
      .replace(/_/g, '-')}`;
  }
}

/** One invalid field of a request body, query or path. */
export interface FieldError {
  /** Where: `body.email`, `query.limit`, `params.id`. */
  field: string;
  message: string;
}

/** 400: the request is malformed; lists every bad field. */
export class ValidationError extends HttpError {
  constructor(readonly errors: readonly FieldError[]) {
    super(
      'ERR_DEMO_VALIDATION',
      400,
      'Invalid request',
      `invalid ${errors.map((e) => e.field).join(', ')}`,
    );
    this.name = 'ValidationError';
  }
}

/** 401 with the `WWW-Authenticate` challenge RFC 6750 asks for. */
export class UnauthorizedError extends HttpError {
  constructor(
    message: string,
    error: 'invalid_token' | 'invalid_request' | null = 'invalid_token',
  ) {
    const challenge =
      error === null
        ? 'Bearer realm="koa-mesh-demo"'
        : `Bearer realm="koa-mesh-demo", error="${error}"`;
    super('ERR_DEMO_UNAUTHORIZED', 401, 'Unauthorized', message, {
      headers: { 'WWW-Authenticate': challenge },
    });
    this.name = 'UnauthorizedError';
  }
}

export class ForbiddenError extends HttpError {
  constructor(message: string) {
    super('ERR_DEMO_FORBIDDEN', 403, 'Forbidden', message);
    this.name = 'ForbiddenError';
  }
}

export class NotFoundError extends HttpError {
  constructor(message: string) {
    super('ERR_DEMO_NOT_FOUND', 404, 'Not found', message);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends HttpError {
  constructor(message: string) {
    super('ERR_DEMO_CONFLICT', 409, 'Conflict', message);
    this.name = 'ConflictError';
  }
}

export class UnsupportedMediaTypeError extends HttpError {
  constructor() {
    super(
      'ERR_DEMO_UNSUPPORTED_MEDIA_TYPE',
      415,
      'Unsupported media type',
      'send the body as application/json',
    );
    this.name = 'UnsupportedMediaTypeError';
  }
}

/** 429 from the rate limiter; `Retry-After` is whole seconds, never 0. */
export class RateLimitedError extends HttpError {
  constructor(retryAfterSeconds: number, headers: Record<string, string>) {
    super(
      'ERR_DEMO_RATE_LIMITED',
      429,
      'Too many requests',
      `rate limit exceeded, retry in ${retryAfterSeconds} s`,
      {
        headers: { ...headers, 'Retry-After': String(retryAfterSeconds) },
      },
    );
    this.name = 'RateLimitedError';
  }
}

/** 503 when the rate-limit store is down and the policy is fail-closed. */
export class RateLimitStoreUnavailableError extends HttpError {
  constructor(cause: unknown) {
    super(
      'ERR_DEMO_RATE_LIMIT_STORE',
      503,
      'Service unavailable',
      'rate limiting is unavailable, retry shortly',
      {
        headers: { 'Retry-After': '1' },
        cause,
        expose: true,
      },
    );
    this.name = 'RateLimitStoreUnavailableError';
  }
}
