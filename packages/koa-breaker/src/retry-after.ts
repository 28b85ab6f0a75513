/**
 * Reading an upstream's `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
 */

/** Milliseconds to wait from a `Retry-After` value, or undefined when it is absent or malformed. */
export function parseRetryAfter(value: unknown, nowMs: number = Date.now()): number | undefined {
  if (Array.isArray(value)) value = value[0];
  if (typeof value === 'number')
    return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  if (typeof value !== 'string') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

function header(headers: unknown, name: string): unknown {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const h = headers as { get?: unknown } & Record<string, unknown>;
  if (typeof h.get === 'function') return (h.get as (n: string) => unknown).call(h, name);
  return h[name] ?? h[name.toLowerCase()] ?? h['Retry-After'];
}

/**
 * The push-back an error (or a response-like value) carries: a numeric `retryAfterMs`, or a
 * `Retry-After` header in `headers` (a plain object or a fetch `Headers`), when its status is 429
 * or 503. Undefined otherwise.
 */
export function retryAfterOf(x: unknown): number | undefined {
  try {
    return readRetryAfter(x);
  } catch {
    // A hostile or broken `headers` object must not stop the outcome from being recorded.
    return undefined;
  }
}

function readRetryAfter(x: unknown): number | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const o = x as {
    status?: unknown;
    statusCode?: unknown;
    retryAfterMs?: unknown;
    headers?: unknown;
    code?: unknown;
  };
  const status = o.status ?? o.statusCode;
  if (status !== 429 && status !== 503) return undefined;
  if (typeof o.retryAfterMs === 'number' && o.retryAfterMs >= 0) return o.retryAfterMs;
  return parseRetryAfter(header(o.headers, 'retry-after'));
}

/** The HTTP status an error carries (`status` or `statusCode`), if any. */
export function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const o = err as { status?: unknown; statusCode?: unknown };
  const s = o.status ?? o.statusCode;
  return typeof s === 'number' ? s : undefined;
}
