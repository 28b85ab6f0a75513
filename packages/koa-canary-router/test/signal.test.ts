import { getEventListeners } from 'node:events';
import type Koa from 'koa';
import { startApp, waitFor } from '@koa-mesh/testkit';
import { canaryRouter } from '../src/index.js';
import { appWith, send, upstream } from './helpers.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

/**
 * What @koa-mesh/breaker does with `timeoutMs`: hands downstream work `ctx.state.signal`, and on
 * its timeout aborts it and answers 504 at once. Here the "timeout" is `abort()`, called by the
 * test, so nothing depends on timing.
 */
function timeoutLike(): { middleware: Koa.Middleware; abort(): void; signal(): AbortSignal } {
  let controller = new AbortController();
  return {
    abort: () => controller.abort(),
    signal: () => controller.signal,
    middleware: async (ctx, next) => {
      controller = new AbortController();
      ctx.state.signal = controller.signal;
      const aborted = new Promise<void>((resolve) =>
        controller.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      const work = next();
      work.catch(() => undefined);
      await Promise.race([work, aborted]);
      if (controller.signal.aborted) {
        ctx.status = 504;
        ctx.body = 'timed out';
      }
    },
  };
}

async function gateway(target: string, before: Koa.Middleware[]) {
  const router = canaryRouter({
    arms: { stable: { target, version: 'v1' } },
    stickiness: { cookie: false },
  });
  const app = appWith(...before, router);
  const server = await startApp(app);
  open.push(server, router);
  return { router, app, url: server.url };
}

describe('ctx.state.signal (a breaker timeout around the router)', () => {
  it('aborts the upstream exchange when ctx.state.signal aborts, rather than letting it run on', async () => {
    const timeout = timeoutLike();
    let received = 0;
    let closed = 0;
    const up = await startApp((req) => {
      received++;
      // Never answers: the gateway's side is the only one that can end this exchange.
      req.socket.once('close', () => closed++);
      timeout.abort();
    });
    open.push(up);
    const gw = await gateway(up.url, [timeout.middleware]);
    const res = await send(`${gw.url}/slow`);
    expect(res.status).toBe(504);
    expect(received).toBe(1);
    await waitFor(() => closed === 1, { timeoutMs: 3000 });
    expect(gw.app.errors).toEqual([]);
  });

  it('sends nothing upstream when ctx.state.signal is already aborted', async () => {
    const up = await upstream('up');
    open.push(up);
    const gw = await gateway(up.url, [
      async (ctx, next) => {
        ctx.state.signal = AbortSignal.abort();
        await next();
        if (ctx.body === undefined) {
          ctx.status = 504;
          ctx.body = 'timed out';
        }
      },
    ]);
    const res = await send(`${gw.url}/`);
    expect(res.status).toBe(504);
    expect(up.seen).toHaveLength(0);
  });

  it('removes its abort listener once the exchange is answered, and ignores a non-signal value', async () => {
    const timeout = timeoutLike();
    const up = await upstream('up');
    open.push(up);
    const gw = await gateway(up.url, [timeout.middleware]);
    const res = await send(`${gw.url}/`);
    expect(res.status).toBe(200);
    // Only the test's own listener is left on the signal.
    expect(getEventListeners(timeout.signal(), 'abort')).toHaveLength(1);

    const gw2 = await gateway(up.url, [
      (ctx, next) => {
        ctx.state.signal = { aborted: true };
        return next();
      },
    ]);
    expect((await send(`${gw2.url}/`)).status).toBe(200);
  });
});
