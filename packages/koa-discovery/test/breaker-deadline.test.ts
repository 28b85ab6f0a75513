import { startApp, waitFor, type RunningServer } from '@koa-mesh/testkit';
import Koa from 'koa';
import { discovery, type Breaker, type DiscoveryMiddleware } from '../src/index.js';

/**
 * A structural breaker with a bulkhead, as a user would write one (or as @koa-mesh/breaker's
 * CircuitBreaker with `maxConcurrent`, `maxQueue` and `queueTimeoutMs` behaves): one call runs at
 * a time, the others wait in a FIFO queue for at most `queueTimeoutMs`, or until the signal given
 * to `execute` aborts.
 */
class QueueingBreaker implements Breaker {
  running = 0;
  readonly queue: (() => void)[] = [];

  constructor(readonly queueTimeoutMs: number) {}

  async execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw signal.reason;
    if (this.running >= 1) await this.#enter(signal);
    this.running++;
    try {
      return await fn(signal ?? new AbortController().signal);
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }

  #enter(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const leave = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.queue.indexOf(admit);
        if (i !== -1) this.queue.splice(i, 1);
      };
      const admit = (): void => {
        leave();
        resolve();
      };
      const onAbort = (): void => {
        leave();
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        leave();
        reject(
          Object.assign(new Error('waited too long in the bulkhead queue'), {
            code: 'ERR_TEST_BULKHEAD_QUEUE_TIMEOUT',
          }),
        );
      }, this.queueTimeoutMs);
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(admit);
    });
  }
}

const mids: DiscoveryMiddleware[] = [];
const started: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(mids.splice(0).map((m) => m.stop()));
  await Promise.all(started.splice(0).map((s) => s.close()));
});

/**
 * An upstream whose `/hold` waits for `release()`, whose `/slow-body` sends its headers at once and
 * the end of its body on `release()`, and whose other paths answer at once.
 */
async function heldUpstream(): Promise<{ url: string; hits: () => number; held: (() => void)[] }> {
  const held: (() => void)[] = [];
  let hits = 0;
  const app = new Koa();
  app.use(async (ctx) => {
    hits++;
    if (ctx.path === '/hold') {
      await new Promise<void>((resolve) => held.push(resolve));
      ctx.body = 'late';
    } else if (ctx.path === '/slow-body') {
      ctx.respond = false;
      ctx.res.writeHead(200, { 'content-type': 'text/plain' });
      ctx.res.write('first ');
      held.push(() => ctx.res.end('last'));
    } else {
      ctx.body = 'ok';
    }
  });
  const server = await startApp(app);
  started.push(server);
  return { url: server.url, hits: () => hits, held };
}

describe('fetch through an instance breaker with a bulkhead queue', () => {
  it('keeps the fetch deadline while the call waits in the breaker queue with a socket free', async () => {
    const up = await heldUpstream();
    const breakers: QueueingBreaker[] = [];
    const mw = discovery({
      services: { orders: [up.url] },
      fetch: { connections: 4, retries: 0 },
      breaker: () => {
        const b = new QueueingBreaker(2_000);
        breakers.push(b);
        return b;
      },
      env: false,
    });
    mids.push(mw);
    // Two connected sockets: the second call goes while the first one's body is still read (the
    // breaker's slot is free once the headers came, the socket is not).
    const warm = [
      await mw.client.fetch('orders', '/slow-body'),
      await mw.client.fetch('orders', '/slow-body'),
    ];
    for (const release of up.held.splice(0)) release();
    for (const res of warm) await res.body.dump();

    const first = mw.client.fetch('orders', '/hold', { timeoutMs: 60_000 });
    first.catch(() => undefined); // awaited below; a failing run must not crash the worker
    try {
      await waitFor(() => up.held.length === 1);
      // A socket is free, the breaker's only slot is not: this call waits in the breaker's queue,
      // which would hold it for ten times its deadline.
      await expect(mw.client.fetch('orders', '/', { timeoutMs: 200 })).rejects.toMatchObject({
        code: 'ERR_KOA_MESH_SERVICE_UNAVAILABLE',
        message: expect.stringMatching(/deadline/),
      });
      // The breaker was told (its queue let the call go), and the call never went out.
      expect(breakers).toHaveLength(1);
      expect(breakers[0]!.queue).toHaveLength(0);
      expect(up.hits()).toBe(3);
    } finally {
      for (const release of up.held.splice(0)) release();
    }
    await (await first).body.dump();
    expect(up.hits()).toBe(3);
  });
});
