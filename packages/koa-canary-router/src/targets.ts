import compose from 'koa-compose';
import type { Middleware } from 'koa';
import {
  OPTION_NAMES,
  checkOptionNames,
  isPlainObject,
  optionError,
  type Resolver,
} from './options.js';

/** One upstream base: origin plus a path prefix without its trailing slash. */
export interface Upstream {
  readonly origin: string;
  readonly basePath: string;
}

export type CompiledTarget =
  | { readonly kind: 'urls'; readonly upstreams: readonly Upstream[] }
  | { readonly kind: 'resolver'; readonly resolver: Resolver }
  | { readonly kind: 'middleware'; readonly middleware: Middleware };

/** Splits a URL into the origin the connection pool is keyed on and the base path. */
export function upstreamOf(url: URL): Upstream {
  const path = url.pathname;
  return { origin: url.origin, basePath: path.endsWith('/') ? path.slice(0, -1) : path };
}

function parseUrl(option: string, value: unknown): Upstream {
  let url: URL;
  try {
    url = value instanceof URL ? value : new URL(value as string);
  } catch {
    throw optionError(option, 'an absolute http(s) URL', value);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw optionError(option, 'an absolute http(s) URL', value);
  }
  if (url.search !== '' || url.hash !== '') {
    throw optionError(option, 'a URL without query or fragment', value);
  }
  return upstreamOf(url);
}

function isResolverFn(fn: (...args: never[]) => unknown): boolean {
  return typeof (fn as { release?: unknown }).release === 'function' || fn.length < 2;
}

/** Validates and compiles an arm's `target`. */
export function compileTarget(option: string, value: unknown): CompiledTarget {
  if (typeof value === 'string' || value instanceof URL) {
    return { kind: 'urls', upstreams: [parseUrl(option, value)] };
  }
  if (typeof value === 'function') {
    const fn = value as (...args: never[]) => unknown;
    return isResolverFn(fn)
      ? { kind: 'resolver', resolver: fn as unknown as Resolver }
      : { kind: 'middleware', middleware: fn as unknown as Middleware };
  }
  if (Array.isArray(value)) {
    if (value.length === 0) throw optionError(option, 'a non-empty list', value);
    if (value.every((v) => typeof v === 'function')) {
      return { kind: 'middleware', middleware: compose(value as Middleware[]) as Middleware };
    }
    return {
      kind: 'urls',
      upstreams: value.map((v: unknown, i) => parseUrl(`${option}[${i}]`, v)),
    };
  }
  if (isPlainObject(value)) {
    checkOptionNames(option, value, OPTION_NAMES.target);
    if (typeof value.resolver === 'function' && value.middleware === undefined) {
      return { kind: 'resolver', resolver: value.resolver as Resolver };
    }
    if (value.resolver === undefined && value.middleware !== undefined) {
      const mw = value.middleware;
      if (typeof mw === 'function') return { kind: 'middleware', middleware: mw as Middleware };
      if (Array.isArray(mw) && mw.length > 0 && mw.every((m) => typeof m === 'function')) {
        return { kind: 'middleware', middleware: compose(mw as Middleware[]) as Middleware };
      }
      throw optionError(`${option}.middleware`, 'a middleware or a non-empty list of them', mw);
    }
  }
  throw optionError(
    option,
    'a URL, a list of URLs, a resolver, a middleware, { resolver } or { middleware }',
    value,
  );
}
