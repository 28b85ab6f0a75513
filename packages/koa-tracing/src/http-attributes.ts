import type { Attributes } from '@opentelemetry/api';
import type { Context as KoaContext } from 'koa';

/** Stable HTTP semantic-convention attribute keys used on the server span. */
export const ATTR = Object.freeze({
  method: 'http.request.method',
  methodOriginal: 'http.request.method_original',
  route: 'http.route',
  status: 'http.response.status_code',
  path: 'url.path',
  scheme: 'url.scheme',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  clientAddress: 'client.address',
  userAgent: 'user_agent.original',
  protocolVersion: 'network.protocol.version',
  errorType: 'error.type',
  /** `ctx.state.version`, as set by @koa-mesh/canary-router. */
  version: 'koa_mesh.version',
});

/**
 * The method as semantic conventions want it: a known method as is, anything else `_OTHER`
 * (the original goes to `http.request.method_original`), so that the attribute and the span name
 * keep a bounded cardinality.
 */
export function normalizeMethod(method: string): string {
  // A switch rather than a Set: Node's parser hands out interned method strings, which compare
  // by identity, and this runs on every request.
  switch (method) {
    case 'GET':
    case 'POST':
    case 'PUT':
    case 'DELETE':
    case 'PATCH':
    case 'HEAD':
    case 'OPTIONS':
    case 'CONNECT':
    case 'TRACE':
    case 'QUERY':
      return method;
    default:
      return '_OTHER';
  }
}

/** `METHOD route`, or the method alone when no route matched; `HTTP` stands for `_OTHER`. */
export function spanName(method: string, route: string | undefined): string {
  const m = method === '_OTHER' ? 'HTTP' : method;
  return route === undefined ? m : `${m} ${route}`;
}

/**
 * Splits a Host header into name and port without Koa's getters (which build a URL for IPv6).
 * `[::1]:8080` gives `::1` and 8080; a missing port gives the scheme's default.
 */
export function splitHost(
  host: string,
  scheme: string,
): { address: string; port: number | undefined } {
  let address = host;
  let portText: string | undefined;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    address = close > 0 ? host.slice(1, close) : host;
    if (close > 0 && host.charCodeAt(close + 1) === 58 /* : */) portText = host.slice(close + 2);
  } else {
    const colon = host.indexOf(':');
    if (colon >= 0) {
      address = host.slice(0, colon);
      portText = host.slice(colon + 1);
    }
  }
  if (portText === undefined) return { address, port: scheme === 'https' ? 443 : 80 };
  const port = Number(portText);
  return { address, port: Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined };
}

/**
 * The attributes a recorded span gets once the request is known to be recorded, beyond
 * `http.request.method` and `url.path` (which the span starts with, for the sampler).
 */
export function requestAttributes(ctx: KoaContext, method: string): Attributes {
  const req = ctx.req;
  const proxy = ctx.app.proxy;
  // Koa's getters for these read X-Forwarded-* headers even when app.proxy is off (ctx.ip looks
  // up the proxy IP header on every call); without a proxy the socket alone answers.
  const scheme = proxy
    ? ctx.protocol
    : (req.socket as { encrypted?: boolean } | null)?.encrypted
      ? 'https'
      : 'http';
  const attributes: Attributes = {
    [ATTR.scheme]: scheme,
    [ATTR.protocolVersion]: req.httpVersion,
  };
  if (method === '_OTHER') attributes[ATTR.methodOriginal] = ctx.method;
  // ctx.host honours X-Forwarded-Host only when app.proxy is set, as semconv wants.
  const host = proxy ? ctx.host : req.headers.host;
  if (host) {
    const { address, port } = splitHostCached(host, scheme);
    if (address) attributes[ATTR.serverAddress] = address;
    if (port !== undefined) attributes[ATTR.serverPort] = port;
  } else {
    const port = req.socket?.localPort;
    if (port !== undefined) attributes[ATTR.serverPort] = port;
  }
  const client = proxy ? ctx.ip : req.socket?.remoteAddress;
  if (client) attributes[ATTR.clientAddress] = client;
  const ua = req.headers['user-agent'];
  if (ua !== undefined) attributes[ATTR.userAgent] = ua;
  return attributes;
}

// A service mostly sees one Host value: remember the last one split.
let lastHost = '';
let lastScheme = '';
let lastSplit: { address: string; port: number | undefined } = { address: '', port: undefined };

function splitHostCached(
  host: string,
  scheme: string,
): { address: string; port: number | undefined } {
  if (host !== lastHost || scheme !== lastScheme) {
    lastSplit = splitHost(host, scheme);
    lastHost = host;
    lastScheme = scheme;
  }
  return lastSplit;
}
