import request from 'supertest';
import type { Context } from 'koa';
import { canaryRouter } from '../src/index.js';
import { cookieValue } from '../src/sticky-cookie.js';
import { appWith } from './helpers.js';

describe('cookieValue', () => {
  it.each<[string | undefined, string | undefined]>([
    [undefined, undefined],
    ['', undefined],
    ['c=1', '1'],
    ['a=b; c=2; d=3', '2'],
    ['a=b;c=3', '3'],
    ['xc=1; c=4', '4'],
    ['c.sig=zz; c=5', '5'],
    ['c=6; c=7', '6'],
    ['a=c; b=c=1', undefined],
    ['c= 8 ', '8'],
    ['c', undefined],
  ])('reads %p', (header, expected) => {
    expect(cookieValue(header, 'c')).toBe(expected);
  });
});

describe('the unsigned assignment cookie', () => {
  it('carries the attributes the cookies module would write', async () => {
    const app = appWith(
      canaryRouter({
        rollout: 'r9',
        arms: { stable: { target: { middleware: (ctx: Context) => void (ctx.body = 'ok') } } },
        stickiness: { cookie: { domain: 'example.com', path: '/shop', maxAgeMs: 60_000 } },
      }),
    );
    const res = await request(app.callback()).get('/');
    const [cookie] = res.headers['set-cookie'] as unknown as string[];
    expect(cookie).toMatch(
      /^koa_mesh_canary=[0-9a-z]{1,7}\.r9; path=\/shop; expires=[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} [\d:]{8} GMT; domain=example\.com; samesite=lax; httponly$/,
    );
    const expires = Date.parse(/expires=([^;]+)/.exec(cookie!)![1]!);
    expect(expires).toBeGreaterThan(Date.now());
    expect(expires).toBeLessThanOrEqual(Date.now() + 61_000);
  });

  it('adds secure when configured, and keeps other Set-Cookie headers', async () => {
    const app = appWith(
      async (ctx, next) => {
        ctx.append('Set-Cookie', 'session=abc');
        await next();
      },
      canaryRouter({
        arms: { stable: { target: { middleware: (ctx: Context) => void (ctx.body = 'ok') } } },
        stickiness: { cookie: { secure: true, sameSite: 'none' } },
      }),
    );
    const res = await request(app.callback()).get('/');
    const cookies = res.headers['set-cookie'] as unknown as string[];
    expect(cookies[0]).toBe('session=abc');
    expect(cookies[1]).toMatch(/; samesite=none; secure; httponly$/);
  });
});
