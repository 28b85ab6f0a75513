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

const KNOWN_METHODS = new Set([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'QUERY',
  'TRACE',
]);

/**
 * The method as semantic conventions want it: a known method as is, anything else `_OTHER`
 * (the original goes to `http.request.method_original`), so that the attribute and the span name
 * keep a bounded cardinality.
 */
export function normalizeMethod(method: string): string {
  return KNOWN_METHODS.has(method) ? method : '_OTHER';
}

/** `METHOD route`, or the method alone when no route matched; `HTTP` stands for `_OTHER`. */
export function spanName(method: string, route: string | undefined): string {
  const m = method === '_OTHER' ? 'HTTP' : method;
  return route === undefined ? m : `${m} ${route}`;
}

function portOf(ctx: KoaContext): number | undefined {
  const host = ctx.host;
  const colon = host.lastIndexOf(':');
  if (colon > host.lastIndexOf(']') && colon >= 0) {
    const port = Number(host.slice(colon + 1));
    if (Number.isInteger(port) && port > 0 && port < 65536) return port;
    return undefined;
  }
  if (host !== '') return ctx.protocol === 'https' ? 443 : 80;
  return ctx.req.socket?.localPort;
}

/** The attributes known when the request arrives (given to the sampler). */
export function requestAttributes(ctx: KoaContext, method: string): Attributes {
  const attributes: Attributes = {
    [ATTR.method]: method,
    [ATTR.path]: ctx.path,
    [ATTR.scheme]: ctx.protocol,
    [ATTR.protocolVersion]: ctx.req.httpVersion,
  };
  if (method === '_OTHER') attributes[ATTR.methodOriginal] = ctx.method;
  const hostname = ctx.hostname;
  if (hostname) attributes[ATTR.serverAddress] = hostname;
  const port = portOf(ctx);
  if (port !== undefined) attributes[ATTR.serverPort] = port;
  const client = ctx.ip;
  if (client) attributes[ATTR.clientAddress] = client;
  const ua = ctx.req.headers['user-agent'];
  if (ua !== undefined) attributes[ATTR.userAgent] = ua;
  return attributes;
}
