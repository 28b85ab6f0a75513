// koa-ratelimit ships no types and @types/koa-ratelimit pins ioredis 4's types; the demo uses
// only this much of it.
declare module 'koa-ratelimit' {
  import type { Context, Middleware } from 'koa';
  interface RateLimitOptions {
    driver: 'redis' | 'memory';
    db: unknown;
    duration: number;
    max: number;
    id: (ctx: Context) => string | false;
    namespace?: string;
    headers?: { remaining?: string; reset?: string; total?: string };
    errorMessage?: string;
    throw?: boolean;
    disableHeader?: boolean;
  }
  function ratelimit(options: RateLimitOptions): Middleware;
  export default ratelimit;
}
