/** Codes of the errors this package answers with. */
export type MetricsErrorCode =
  'ERR_KOA_MESH_METRICS_FORBIDDEN' | 'ERR_KOA_MESH_METRICS_METHOD_NOT_ALLOWED';

const TYPES: Record<MetricsErrorCode, { type: string; title: string; status: number }> = {
  ERR_KOA_MESH_METRICS_FORBIDDEN: {
    type: 'urn:koa-mesh:metrics:forbidden',
    title: 'Forbidden',
    status: 403,
  },
  ERR_KOA_MESH_METRICS_METHOD_NOT_ALLOWED: {
    type: 'urn:koa-mesh:metrics:method-not-allowed',
    title: 'Method Not Allowed',
    status: 405,
  },
};

/**
 * An error of the exposition endpoint, with Koa's error fields. The middleware answers these itself
 * as `application/problem+json`; identify them by `code`, never `instanceof`.
 */
export class MetricsError extends Error {
  readonly code: MetricsErrorCode;
  readonly status: number;
  readonly expose = true;
  readonly headers: Record<string, string>;
  /** The RFC 9457 problem type URN. */
  readonly type: string;
  readonly title: string;

  constructor(code: MetricsErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'MetricsError';
    this.code = code;
    const t = TYPES[code];
    this.status = t.status;
    this.type = t.type;
    this.title = t.title;
    this.headers = headers;
  }

  /** The RFC 9457 body. */
  toProblem(requestId?: unknown): Record<string, unknown> {
    const body: Record<string, unknown> = {
      type: this.type,
      title: this.title,
      status: this.status,
      detail: this.message,
      code: this.code,
    };
    if (typeof requestId === 'string') body.requestId = requestId;
    return body;
  }
}

/** Whether `err` is one of this package's errors (by `code`, so it holds across ESM/CJS copies). */
export function isMetricsError(err: unknown): err is MetricsError {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code in TYPES;
}
