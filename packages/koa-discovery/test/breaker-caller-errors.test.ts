import { describeWith, startApp, startConsul, type ConsulServer } from '@koa-mesh/testkit';
import Koa from 'koa';
import { errors } from 'undici';
import {
  ConsulRegistry,
  discovery,
  type Breaker,
  type DiscoveryMiddleware,
  type DiscoveryOptions,
} from '../src/index.js';

const FAST_WATCH = { waitMs: 5000, minIntervalMs: 20, backoffBaseMs: 50, backoffMaxMs: 500 };

/**
 * A structural breaker as a user would write one: `fn` rejecting is a failure, resolving a
 * success, and one failure opens it (every later call is refused without running `fn`).
 */
class OneStrikeBreaker implements Breaker {
  successes = 0;
  failures = 0;
  refused = 0;

  async execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.failures > 0) {
      this.refused++;
      throw Object.assign(new Error('breaker open'), { code: 'ERR_KOA_MESH_BREAKER_OPEN' });
    }
    try {
      const value = await fn(signal ?? new AbortController().signal);
      this.successes++;
      return value;
    } catch (err) {
      this.failures++;
      throw err;
    }
  }
}

describeWith(
  ['consul'],
  'breaker per instance and requests undici refuses (real Consul agent)',
  () => {
    let consul: ConsulServer;
    const cleanup: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      consul = await startConsul();
    });

    afterAll(async () => {
      if (!consul.external) await consul.stop();
    });

    afterEach(async () => {
      for (const fn of cleanup.splice(0).reverse()) await fn();
    });

    /** An upstream answering `{ hits }` on `/` and 500 on `/fail`, registered in Consul. */
    async function registeredUpstream(name: string, id: string): Promise<{ hits: () => number }> {
      let hits = 0;
      const app = new Koa();
      app.use((ctx) => {
        hits++;
        if (ctx.path === '/fail') ctx.status = 500;
        ctx.body = { hits };
      });
      const server = await startApp(app);
      cleanup.push(() => server.close());
      const res = await fetch(`${consul.url}/v1/agent/service/register`, {
        method: 'PUT',
        body: JSON.stringify({ ID: id, Name: name, Address: '127.0.0.1', Port: server.port }),
      });
      if (!res.ok) throw new Error(`register ${id}: ${res.status} ${await res.text()}`);
      cleanup.unshift(async () => {
        await fetch(`${consul.url}/v1/agent/service/deregister/${id}`, { method: 'PUT' });
      });
      return { hits: () => hits };
    }

    function caller(options: DiscoveryOptions): DiscoveryMiddleware {
      const registry = new ConsulRegistry({ url: consul.url, watch: FAST_WATCH });
      const mw = discovery({ registry, ...options });
      cleanup.push(async () => {
        await mw.stop();
        await registry.close();
      });
      return mw;
    }

    it("never counts a request undici refuses as built against the instance's breaker", async () => {
      const upstream = await registeredUpstream('bc-refused', 'bc-refused-1');
      const breakers = new Map<string, OneStrikeBreaker>();
      const mw = caller({
        breaker: (id) => {
          const b = new OneStrikeBreaker();
          breakers.set(id, b);
          return b;
        },
        fetch: { retries: 0 },
      });
      await (await mw.client.fetch('bc-refused', '/')).body.dump();
      const breaker = breakers.get('bc-refused-1')!;
      expect(breaker.successes).toBe(1);

      // A client's own input (a header value outside Latin-1) makes undici refuse the request.
      for (let i = 0; i < 3; i++) {
        const err: unknown = await mw.client
          .fetch('bc-refused', '/', { headers: { 'x-user-name': '山田' } })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        // Handed to the caller as undici raised it: not wrapped, not turned into a 503.
        expect(err).toBeInstanceOf(errors.InvalidArgumentError);
        expect(err).toMatchObject({ code: 'UND_ERR_INVALID_ARG' });
      }
      expect(breaker.failures).toBe(0);
      expect(breaker.refused).toBe(0);
      expect(mw.snapshot().services[0]!.instances[0]!.consecutiveFailures).toBe(0);

      // The breaker is still closed: the healthy instance keeps answering.
      const ok = await mw.client.fetch('bc-refused', '/');
      expect(ok.statusCode).toBe(200);
      expect(await ok.body.json()).toEqual({ hits: 2 });
      expect(upstream.hits()).toBe(2);

      // A real failure of the instance still counts (the breaker is wired in and judges answers).
      await (await mw.client.fetch('bc-refused', '/fail')).body.dump();
      expect(breaker.failures).toBe(1);
      await expect(mw.client.fetch('bc-refused', '/')).rejects.toMatchObject({ status: 503 });
      expect(breaker.refused).toBe(1);
    });
  },
);
