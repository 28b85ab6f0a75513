import { STATUS_CODES } from 'node:http';
import type { Context, Middleware, Next } from 'koa';
import type { Logger } from '../logger.js';

/** An RFC 9457 problem document, in the shape every koa-mesh package writes. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId?: string;
  /** Field-level errors of a 400. */
  errors?: readonly { field: string; message: string }[];
}

type ErrorLike = {
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  headers?: unknown;
  code?: unknown;
  type?: unknown;
  title?: unknown;
  message?: unknown;
  errors?: unknown;
};

function statusOf(err: ErrorLike): number {
  const status = err.status ?? err.statusCode;
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599
    ? status
    : 500;
}

/**
 * Turns any thrown value into a problem document. Koa's error fields are honoured (`status`,
 * `expose`, `headers`); a `code` and a URN `type` are kept when the error has them. The message of
 * an error that is not meant to be exposed (5xx by default) never reaches the client.
 */
/** Errors of the body parser (raw-body / co-body), known by their `type`. */
const BODY_ERRORS: Record<string, { code: string; message: string }> = {
  'entity.parse.failed': { code: 'ERR_DEMO_MALFORMED_JSON', message: 'must be valid JSON' },
  'entity.too.large': { code: 'ERR_DEMO_BODY_TOO_LARGE', message: 'is too large' },
  'encoding.unsupported': {
    code: 'ERR_DEMO_UNSUPPORTED_ENCODING',
    message: 'has an unsupported encoding',
  },
  'request.aborted': { code: 'ERR_DEMO_REQUEST_ABORTED', message: 'was not received completely' },
};

export function toProblem(thrown: unknown, requestId: string | undefined): Problem {
  let err: ErrorLike = typeof thrown === 'object' && thrown !== null ? (thrown as ErrorLike) : {};
  // co-body throws a SyntaxError with status 400 for JSON it cannot (or will not) parse.
  const kind =
    thrown instanceof SyntaxError && err.status === 400 ? 'entity.parse.failed' : err.type;
  const bodyError =
    typeof kind === 'string' && Object.hasOwn(BODY_ERRORS, kind) ? BODY_ERRORS[kind] : undefined;
  if (bodyError && typeof err.code !== 'string') {
    err = {
      status: err.status,
      expose: err.expose,
      code: bodyError.code,
      message: err.message,
      errors: [{ field: 'body', message: bodyError.message }],
    };
  }
  const status = statusOf(err);
  const expose = typeof err.expose === 'boolean' ? err.expose : status < 500;
  const ownCode =
    typeof err.code === 'string' && /^ERR_[A-Z0-9_]+$/.test(err.code) ? err.code : undefined;
  const code =
    expose || ownCode?.startsWith('ERR_KOA_MESH_')
      ? (ownCode ?? `ERR_HTTP_${status}`)
      : 'ERR_DEMO_INTERNAL';
  const type =
    typeof err.type === 'string' && /^(urn:|https?:\/\/)/.test(err.type) && expose
      ? err.type
      : `urn:koa-mesh:demo:http-${status}`;
  const title =
    typeof err.title === 'string' && expose ? err.title : (STATUS_CODES[status] ?? 'Error');
  const detail =
    expose && typeof err.message === 'string' && err.message !== '' ? err.message : title;
  const problem: Problem = { type, title, status, detail, code };
  if (requestId !== undefined) problem.requestId = requestId;
  if (expose && Array.isArray(err.errors)) problem.errors = err.errors as Problem['errors'];
  return problem;
}

/** Writes `problem` as the response, with the error's own headers. */
export function renderProblem(ctx: Context, problem: Problem, headers?: unknown): void {
  // Content negotiation, validators and encodings of a half-built answer do not apply to the error.
  for (const name of ['Content-Encoding', 'Content-Disposition', 'ETag', 'Last-Modified'])
    ctx.remove(name);
  if (typeof headers === 'object' && headers !== null) {
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value === 'string' || typeof value === 'number' || Array.isArray(value)) {
        ctx.set(name, Array.isArray(value) ? value.map(String) : String(value));
      }
    }
  }
  ctx.status = problem.status;
  ctx.type = 'application/problem+json';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = problem;
}

/**
 * The outermost error boundary: every error below it, from any middleware, becomes a problem+json
 * answer carrying the request id. Unmatched routes become a 404 problem too. 5xx are logged.
 */
export function problemHandler(logger: Logger): Middleware {
  return async function problemErrorHandler(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      // An error status with no body (no route, a router's 405) still gets a problem document.
      if (ctx.status >= 400 && ctx.body == null) {
        const status = ctx.status;
        const notFound = status === 404;
        renderProblem(ctx, {
          type: notFound ? 'urn:koa-mesh:demo:not-found' : `urn:koa-mesh:demo:http-${status}`,
          title: STATUS_CODES[status] ?? 'Error',
          status,
          detail: notFound
            ? `no route for ${ctx.method} ${ctx.path}`
            : (STATUS_CODES[status] ?? 'Error'),
          code: notFound ? 'ERR_DEMO_NOT_FOUND' : `ERR_HTTP_${status}`,
          ...(typeof ctx.state.requestId === 'string' ? { requestId: ctx.state.requestId } : {}),
        });
      }
    } catch (err) {
      const requestId = typeof ctx.state.requestId === 'string' ? ctx.state.requestId : undefined;
      if (ctx.headerSent || !ctx.writable) {
        // Nothing can be said to the client any more; Koa destroys the socket and logs.
        throw err;
      }
      const problem = toProblem(err, requestId);
      if (problem.status >= 500) {
        // A 5xx the code raised on purpose and exposes (a full store, a breaker's 503) is a
        // condition to watch, not a failure: a warning. Anything else is an error.
        const fields = {
          err,
          requestId,
          method: ctx.method,
          path: ctx.path,
          status: problem.status,
        };
        if (problem.code !== 'ERR_DEMO_INTERNAL') logger.warn('request refused', fields);
        else logger.error('request failed', fields);
      }
      renderProblem(ctx, problem, (err as ErrorLike | null)?.headers);
    }
  };
}
