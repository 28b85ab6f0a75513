/**
 * RFC 9457 `application/problem+json` answers for this package's own errors (CONTRIBUTING.md).
 */
import type { Context } from 'koa';
import { BREAKER_OPEN, BREAKER_TIMEOUT, BULKHEAD_REJECTED } from './errors.js';

/** The body the middleware writes for its own errors. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  /** The breaker's `name`. */
  breaker: string;
  requestId?: string;
}

interface OwnError {
  code: string;
  status: number;
  message: string;
  headers: Record<string, string>;
  breaker?: unknown;
}

const TYPES: Readonly<Record<string, readonly [string, string]>> = Object.freeze({
  [BREAKER_OPEN]: ['urn:koa-mesh:breaker:open', 'Service Unavailable'],
  [BULKHEAD_REJECTED]: ['urn:koa-mesh:breaker:bulkhead', 'Service Unavailable'],
  [BREAKER_TIMEOUT]: ['urn:koa-mesh:breaker:timeout', 'Gateway Timeout'],
});

/** Whether `err` is one of ours that `renderProblem` knows. */
export function isOwnError(err: unknown): err is OwnError {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'string' &&
    TYPES[(err as { code: string }).code] !== undefined
  );
}

/**
 * Headers describing a representation or its caching that the guarded work may have set before
 * it timed out: they describe a body that never came, not the problem (a `Content-Encoding: gzip`
 * would make clients fail to decode it, an `ETag` or `Cache-Control: max-age` would let a cache
 * keep the error as the resource).
 */
const REPRESENTATION_HEADERS = [
  'content-encoding',
  'content-language',
  'content-location',
  'content-disposition',
  'content-range',
  'etag',
  'last-modified',
  'expires',
] as const;

/**
 * Writes `err` as the response: status, its headers, a problem+json body, `Cache-Control:
 * no-store` (an error about this moment must not be served from a cache later). Headers set above
 * the breaker (CORS, a request id) stay; representation headers the work set are dropped.
 */
export function renderProblem(ctx: Context, err: OwnError): void {
  const [type, title] = TYPES[err.code]!;
  if (!ctx.headerSent) {
    for (const name of REPRESENTATION_HEADERS) ctx.res.removeHeader(name);
    ctx.set('Cache-Control', 'no-store');
  }
  ctx.status = err.status;
  for (const name of Object.keys(err.headers)) ctx.set(name, err.headers[name]!);
  ctx.type = 'application/problem+json';
  const body: ProblemBody = {
    type,
    title,
    status: err.status,
    detail: err.message,
    code: err.code,
    breaker: typeof err.breaker === 'string' ? err.breaker : '',
  };
  const requestId = (ctx.state as { requestId?: unknown } | undefined)?.requestId;
  if (typeof requestId === 'string') body.requestId = requestId;
  ctx.body = body;
}
