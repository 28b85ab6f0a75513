import type { Context } from 'koa';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1), removed in both directions along with every `Proxy-*`
 * header and every header the `Connection` header names. `expect` is answered by Node's server
 * itself and undici refuses to send it; `http2-settings` belongs to the h2c upgrade.
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

/** Headers the proxy sets itself, so the client's copies are dropped (see upstreamHeaders). */
const FORWARDED = new Set([
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'forwarded',
]);

/**
 * The request headers of every trace-context format a propagator may write: W3C Trace Context and
 * Baggage, B3 (single and multi), Jaeger (plus its `uberctx-*` baggage). When the proxy injects
 * this hop's context, the client's copies are all dropped: a propagator rewrites only its own
 * formats, and the others would carry a forged or foreign trace (or baggage a filter removed).
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

function isTraceHeader(lower: string): boolean {
  return TRACE_HEADERS.has(lower) || lower.startsWith('uberctx-');
}

/** A value as an RFC 7239 token or, when it has other characters, a quoted-string. */
function forwardedValue(value: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value)
    ? value
    : `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** This hop's RFC 7239 `Forwarded` element: `for`, `proto` and `host`. */
function forwardedElement(remote: string, proto: string, host: string | undefined): string {
  // An IPv6 address is written in brackets, and so must be quoted.
  const node = remote.includes(':') ? `"[${remote}]"` : forwardedValue(remote || 'unknown');
  const element = `for=${node};proto=${proto}`;
  return host === undefined ? element : `${element};host=${forwardedValue(host)}`;
}

/** Lowercased header names listed in a `Connection` header value. */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  // The common values name no header beyond the hop-by-hop set: skip building a Set.
  if (value === 'keep-alive' || value === 'close' || value === 'Keep-Alive' || value === 'Close')
    return undefined;
  const out = new Set<string>();
  for (const part of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const token = part.trim().toLowerCase();
    if (token !== '') out.add(token);
  }
  return out;
}

function isHopByHop(lower: string, listed: Set<string> | undefined): boolean {
  return (
    HOP_BY_HOP.has(lower) ||
    lower.startsWith('proxy-') ||
    (listed !== undefined && listed.has(lower))
  );
}

/**
 * Whether an arm may not set this request header: hop-by-hop ones belong to the connection (undici
 * refuses several outright), and the body's framing is the proxy's to set.
 */
export function isReservedArmHeader(lower: string): boolean {
  return isHopByHop(lower, undefined) || lower === 'content-length';
}

/** A header value Node and undici accept (field-vchar, SP, HTAB, obs-text), not empty. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]+$/;

/**
 * The request id to send upstream: `ctx.state.requestId` (set by `@koa-mesh/tracing`, generated
 * when the client sent none) when it is a sendable string and the arm does not set its own.
 */
function requestIdOf(ctx: Context, plan: RequestHeaderPlan): string | undefined {
  const id = (ctx.state as { requestId?: unknown }).requestId;
  if (typeof id !== 'string' || !HEADER_VALUE.test(id)) return undefined;
  return plan.armHeaderNames.has('x-request-id') ? undefined : id;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export interface RequestHeaderPlan {
  /** Forward the client's Host (`preserve`) or let undici send the upstream's (`rewrite`). */
  preserveHost: boolean;
  /** Lowercased names of the arm's own headers, which replace the client's. */
  armHeaderNames: ReadonlySet<string>;
  /** The arm's own headers as a flat [name, value, ...] list. */
  armHeaders: readonly string[];
}

/**
 * The headers sent upstream as a flat `[name, value, ...]` list (undici's cheapest form, and it
 * keeps repeated headers apart): the client's raw headers minus hop-by-hop ones, X-Forwarded-*
 * appended when Koa trusts the proxy in front of it (`app.proxy`) or overwritten otherwise, the
 * arm's headers, the injected trace context, and a `content-length` for a replayed body. When a
 * trace context is injected, the client's headers of every trace format are dropped (see
 * TRACE_HEADERS); when none is, they pass through. `X-Request-Id` is the gateway's
 * `ctx.state.requestId` when there is one, so the upstream logs the id the client gets back.
 *
 * The client's RFC 7239 `Forwarded` and `X-Real-IP` are as easy to forge as X-Forwarded-For: they
 * are passed on only when Koa trusts the proxy in front, and then a `Forwarded` gets this hop's
 * element appended. An untrusted client's copies are dropped (no `Forwarded` is written then: the
 * X-Forwarded-* headers carry the same facts).
 */
export function upstreamHeaders(
  ctx: Context,
  plan: RequestHeaderPlan,
  injected: Record<string, string> | undefined,
  replayLength: number | undefined,
): string[] {
  const req = ctx.req;
  const incoming = req.headers;
  const raw = req.rawHeaders;
  const listed = connectionTokens(incoming.connection);
  const trusted = ctx.app.proxy;
  const requestId = requestIdOf(ctx, plan);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (isHopByHop(lower, listed) || FORWARDED.has(lower)) continue;
    if (requestId !== undefined && lower === 'x-request-id') continue;
    if (!trusted && lower === 'x-real-ip') continue;
    if (lower === 'host' && !plan.preserveHost) continue;
    if (plan.armHeaderNames.has(lower)) continue;
    if (injected !== undefined && (injected[lower] !== undefined || isTraceHeader(lower))) continue;
    // A replayed body is the parser's decoded text: its length and encoding are new.
    if (replayLength !== undefined && (lower === 'content-length' || lower === 'content-encoding'))
      continue;
    out.push(name, raw[i + 1]!);
  }
  const remote = req.socket.remoteAddress ?? '';
  const priorFor = trusted ? first(incoming['x-forwarded-for']) : undefined;
  out.push('x-forwarded-for', priorFor ? `${priorFor}, ${remote}` : remote);
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  const priorProto = trusted ? first(incoming['x-forwarded-proto']) : undefined;
  out.push('x-forwarded-proto', priorProto ?? (encrypted ? 'https' : 'http'));
  const priorHost = trusted ? first(incoming['x-forwarded-host']) : undefined;
  const host = priorHost ?? incoming.host;
  if (host !== undefined) out.push('x-forwarded-host', host);
  const priorForwarded = trusted ? incoming.forwarded : undefined;
  if (priorForwarded !== undefined && priorForwarded !== '') {
    const own = forwardedElement(remote, encrypted ? 'https' : 'http', incoming.host);
    out.push('forwarded', `${priorForwarded}, ${own}`);
  }
  for (let i = 0; i < plan.armHeaders.length; i++) out.push(plan.armHeaders[i]!);
  if (requestId !== undefined) out.push('x-request-id', requestId);
  if (injected !== undefined) {
    for (const name in injected) out.push(name, injected[name]!);
  }
  if (replayLength !== undefined) out.push('content-length', String(replayLength));
  return out;
}

/**
 * Copies the upstream's response headers to the Koa response, minus hop-by-hop ones. `Set-Cookie`
 * and `Vary` are merged with what the response already carries (the assignment cookie, and the
 * `Vary` the decision needs) rather than replacing it, and an `X-Request-Id` the response already
 * has is kept; every other header is the upstream's.
 */
export function copyResponseHeaders(ctx: Context, headers: IncomingHttpHeaders): void {
  const listed = connectionTokens(headers.connection);
  const res = ctx.res;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || isHopByHop(name, listed)) continue;
    // The id the gateway already echoed (e.g. @koa-mesh/tracing's) is the one its logs carry.
    if (name === 'x-request-id' && res.hasHeader(name)) continue;
    if (name === 'set-cookie' || name === 'vary') {
      const prior = res.getHeader(name);
      if (prior !== undefined) {
        if (name === 'vary') ctx.vary(Array.isArray(value) ? value.join(', ') : value);
        else res.setHeader(name, ([] as string[]).concat(prior as string | string[], value));
        continue;
      }
    }
    res.setHeader(name, value);
  }
}
