import type Koa from 'koa';
import { startApp } from '@koa-mesh/testkit';
import {
  canaryRouter,
  type ArmOptions,
  type Breaker,
  type ReleaseOutcome,
  type Resolver,
} from '../src/index.js';
import { appWith, send, upstream } from './helpers.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

/**
 * A small structural breaker, shaped like @koa-mesh/breaker's CircuitBreaker: opens after
 * `threshold` consecutive rejections of `fn` and then refuses with a BrokenCircuitError-like error
 * (code, status 503, expose, headers with Retry-After). `abort()` plays its timeout: aborts the
 * signal `fn` got and rejects with a TimeoutError-like error (status 504).
 */
function testBreaker(threshold = 2) {
  const stats = { calls: 0, successes: 0, failures: 0, errors: [] as unknown[] };
  let open = false;
  let timeout: (() => void) | undefined;
  const breaker: Breaker & { stats: typeof stats; abort(): void } = {
    stats,
    abort: () => timeout?.(),
    async execute<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
      if (open) {
        throw Object.assign(new Error('circuit breaker "test" is open'), {
          code: 'ERR_KOA_MESH_BREAKER_OPEN',
          status: 503,
          expose: true,
          headers: { 'Retry-After': '30' },
        });
      }
      stats.calls++;
      const controller = new AbortController();
      const timedOut = new Promise<never>((_, reject) => {
        timeout = () => {
          const err = Object.assign(new Error('"test" timed out after 100 ms'), {
            code: 'ERR_KOA_MESH_BREAKER_TIMEOUT',
            status: 504,
            expose: true,
            headers: {},
          });
          controller.abort(err);
          reject(err);
        };
      });
      try {
        const value = await Promise.race([fn(controller.signal), timedOut]);
        stats.successes++;
        return value;
      } catch (err) {
        stats.failures++;
        stats.errors.push(err);
        if (stats.failures >= threshold) open = true;
        throw err;
      }
    },
  };
  return breaker;
}

async function gateway(arms: Record<string, ArmOptions>, before: Koa.Middleware[] = []) {
  const router = canaryRouter({ arms, stickiness: { cookie: false } });
  const app = appWith(...before, router);
  const server = await startApp(app);
  open.push(server, router);
  return { router, app, url: server.url };
}

const json = (body: Buffer) => JSON.parse(body.toString('utf8')) as Record<string, unknown>;

describe('arms.*.breaker', () => {
  it("counts the upstream's 5xx as failures while passing them on, then answers 503 + Retry-After problem+json once open", async () => {
    const up = await upstream('up', (_req, res) => {
      res.statusCode = 503;
      res.end('down');
    });
    open.push(up);
    const breaker = testBreaker(2);
    const gw = await gateway({ stable: { target: up.url, version: 'v1', breaker } }, [
      (ctx, next) => {
        ctx.state.requestId = 'req-1';
        return next();
      },
    ]);
    for (let i = 0; i < 2; i++) {
      const res = await send(`${gw.url}/x`);
      expect([res.status, res.body.toString()]).toEqual([503, 'down']);
    }
    expect(breaker.stats).toMatchObject({ calls: 2, failures: 2 });

    const refused = await send(`${gw.url}/x`);
    expect(refused.status).toBe(503);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.headers['retry-after']).toBe('30');
    expect(refused.headers['x-service-version']).toBe('v1');
    expect(json(refused.body)).toEqual({
      type: 'urn:koa-mesh:canary-router:arm-breaker',
      title: 'Upstream unavailable',
      status: 503,
      detail:
        'the breaker of arm "stable" did not let the call through: circuit breaker "test" is open',
      code: 'ERR_KOA_MESH_CANARY_ARM_BREAKER',
      requestId: 'req-1',
    });
    expect(up.seen).toHaveLength(2);
    // A refusal is the breaker doing its job: not reported as an application error.
    expect(gw.app.errors).toEqual([]);
  });

  it('counts a refused connection as a failure and answers 502 as without a breaker; 2xx and 4xx as successes', async () => {
    const ok = await upstream('ok', (req, res) => {
      res.statusCode = req.url === '/missing' ? 404 : 200;
      res.end();
    });
    open.push(ok);
    const closed = await startApp((_q, s) => s.end());
    const deadUrl = closed.url;
    await closed.close();
    const stableBreaker = testBreaker(5);
    const canaryBreaker = testBreaker(5);
    const gw = await gateway({
      stable: { target: ok.url, breaker: stableBreaker },
      canary: { target: deadUrl, breaker: canaryBreaker },
    });
    // Weights send everyone to stable; the canary is reached through setWeights.
    expect((await send(`${gw.url}/`)).status).toBe(200);
    expect((await send(`${gw.url}/missing`)).status).toBe(404);
    expect(stableBreaker.stats).toMatchObject({ calls: 2, successes: 2, failures: 0 });
    gw.router.setWeights({ canary: 100 });
    const res = await send(`${gw.url}/`);
    expect(res.status).toBe(502);
    expect(json(res.body).code).toBe('ERR_KOA_MESH_CANARY_UPSTREAM_UNREACHABLE');
    // Each arm's upstream is guarded apart.
    expect(canaryBreaker.stats).toMatchObject({ calls: 1, failures: 1 });
    expect(stableBreaker.stats.failures).toBe(0);
  });

  it("aborts the upstream exchange on the breaker's timeout and answers its 504 as problem+json", async () => {
    const breaker = testBreaker(5);
    let closedUpstream = false;
    const up = await startApp((req) => {
      req.socket.once('close', () => (closedUpstream = true));
      breaker.abort(); // the breaker's timeout fires while the upstream works on
    });
    open.push(up);
    const gw = await gateway({ stable: { target: up.url, version: 'v1', breaker } });
    const res = await send(`${gw.url}/`);
    expect(res.status).toBe(504);
    expect(json(res.body)).toMatchObject({
      title: 'Gateway timeout',
      status: 504,
      code: 'ERR_KOA_MESH_CANARY_ARM_BREAKER',
    });
    const { waitFor } = await import('@koa-mesh/testkit');
    await waitFor(() => closedUpstream, { timeoutMs: 3000 });
  });

  it('does not hold a body the app already read against the upstream, and releases a refused exchange once', async () => {
    const up = await upstream('up', (_req, res) => {
      res.statusCode = 500;
      res.end();
    });
    open.push(up);
    const breaker = testBreaker(1);
    const releases: ReleaseOutcome[] = [];
    const resolver: Resolver = Object.assign(() => Promise.resolve(new URL(up.url)), {
      release: (_url: URL, outcome: ReleaseOutcome) => releases.push(outcome),
    });
    const gw = await gateway({ stable: { target: { resolver }, breaker } }, [
      async (ctx, next) => {
        if (ctx.path === '/read') for await (const _ of ctx.req) void _; // a parser with no rawBody
        return next();
      },
    ]);
    const consumed = await send(`${gw.url}/read`, { method: 'POST', body: 'x' });
    expect(consumed.status).toBe(500);
    expect(json(consumed.body).code).toBe('ERR_KOA_MESH_CANARY_BODY_CONSUMED');
    expect(breaker.stats).toMatchObject({ calls: 1, failures: 0 });

    expect((await send(`${gw.url}/`)).status).toBe(500); // the upstream's 500 opens it
    expect((await send(`${gw.url}/`)).status).toBe(503); // refused
    expect(up.seen).toHaveLength(1);
    expect(releases).toHaveLength(3);
    expect(releases[2]).toMatchObject({ ok: false, status: undefined });
  });
});
