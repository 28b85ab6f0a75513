import { startApp, type RunningServer } from '@koa-mesh/testkit';
import Koa from 'koa';
import { discovery, type Breaker, type DiscoveryMiddleware } from '../src/index.js';

/**
 * A structural breaker reading an upstream's push-back the way `@koa-mesh/breaker` does (its
 * retry-after reader): a rejection whose `status` (else `statusCode`) is 429 or 503 with a
 * `Retry-After` in `headers` opens it for that long; a rejection with a 4xx status is no failure.
 */
class PushBackBreaker implements Breaker {
  successes = 0;
  failures = 0;
  refused = 0;
  openForMs: number | undefined;
  readonly rejections: unknown[] = [];

  async execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.openForMs !== undefined) {
      this.refused++;
      throw Object.assign(new Error('breaker open'), { code: 'ERR_KOA_MESH_BREAKER_OPEN' });
    }
    try {
      const value = await fn(signal ?? new AbortController().signal);
      this.successes++;
      return value;
    } catch (err) {
      this.rejections.push(err);
      const e = err as { status?: unknown; statusCode?: unknown; headers?: unknown };
      const status = e.status ?? e.statusCode;
      if (!(typeof status === 'number' && status >= 400 && status < 500)) this.failures++;
      const retryAfter = (e.headers as Record<string, unknown> | undefined)?.['retry-after'];
      if ((status === 429 || status === 503) && typeof retryAfter === 'string') {
        this.openForMs = Number(retryAfter) * 1000;
      }
      throw err;
    }
  }
}

const started: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.close();
});

/** An upstream answering `status` with `{ hits }`, plus `Retry-After: 30` on `/push-back`. */
async function upstream(status: number): Promise<RunningServer & { hits: () => number }> {
  let hits = 0;
  const app = new Koa();
  app.use((ctx) => {
    hits++;
    ctx.status = status;
    if (ctx.path === '/push-back') ctx.set('Retry-After', '30');
    ctx.body = { hits };
  });
  const server = await startApp(app);
  started.push(server);
  return Object.assign(server, { hits: () => hits });
}

function caller(url: string): { mw: DiscoveryMiddleware; breaker: () => PushBackBreaker } {
  let breaker: PushBackBreaker | undefined;
  const mw = discovery({
    services: { orders: [url] },
    env: false,
    fetch: { retries: 0 },
    breaker: () => (breaker = new PushBackBreaker()),
  });
  started.push({ close: () => mw.stop() });
  return { mw, breaker: () => breaker! };
}

describe("an instance's Retry-After through the breaker option", () => {
  it('opens the breaker for the Retry-After of a 503 (the breaker sees status and headers)', async () => {
    const up = await upstream(503);
    const { mw, breaker } = caller(up.url);

    const res = await mw.client.fetch('orders', '/push-back');
    // The caller still gets the response.
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('30');
    expect(await res.body.json()).toEqual({ hits: 1 });

    expect(breaker().rejections).toEqual([
      expect.objectContaining({
        status: 503,
        statusCode: 503,
        headers: expect.objectContaining({ 'retry-after': '30' }),
      }),
    ]);
    expect(breaker().failures).toBe(1);
    expect(breaker().openForMs).toBe(30_000);

    // Open: the instance is left alone until its Retry-After has passed.
    await expect(mw.client.fetch('orders', '/')).rejects.toMatchObject({ status: 503 });
    expect(breaker().refused).toBe(1);
    expect(up.hits()).toBe(1);
  });

  it('lets a 429 with Retry-After reach the breaker as push-back, while a plain 429 is no failure', async () => {
    const up = await upstream(429);
    const { mw, breaker } = caller(up.url);

    for (let i = 1; i <= 2; i++) {
      const plain = await mw.client.fetch('orders', '/');
      expect(plain.statusCode).toBe(429);
      expect(await plain.body.json()).toEqual({ hits: i });
    }
    expect(breaker().successes).toBe(2);
    expect(breaker().rejections).toEqual([]);
    expect(breaker().openForMs).toBeUndefined();

    const pushed = await mw.client.fetch('orders', '/push-back');
    // The caller gets the 429 as before.
    expect(pushed.statusCode).toBe(429);
    expect(pushed.headers['retry-after']).toBe('30');
    expect(await pushed.body.json()).toEqual({ hits: 3 });

    expect(breaker().rejections).toEqual([
      expect.objectContaining({
        status: 429,
        headers: expect.objectContaining({ 'retry-after': '30' }),
      }),
    ]);
    // A 4xx: push-back, not a failure of the instance.
    expect(breaker().failures).toBe(0);
    expect(breaker().openForMs).toBe(30_000);
    expect(mw.snapshot().services[0]!.instances[0]!.consecutiveFailures).toBe(0);

    await expect(mw.client.fetch('orders', '/')).rejects.toMatchObject({ status: 503 });
    expect(up.hits()).toBe(3);
  });
});
