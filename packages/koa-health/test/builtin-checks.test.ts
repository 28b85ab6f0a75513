// Built-in checks against real peers: redis-server and consul from the testkit, real HTTP apps.
import { createServer } from 'node:http';
import Koa from 'koa';
import { Redis } from 'ioredis';
import {
  describeWith,
  startApp,
  startConsul,
  startRedis,
  waitFor,
  type ConsulServer,
  type RedisServer,
  type RunningServer,
} from '@koa-mesh/testkit';
import {
  consulCheck,
  eventLoopDelayCheck,
  health,
  heapCheck,
  httpCheck,
  redisCheck,
  type CheckSnapshot,
  type HealthCheckSpec,
  type HealthMiddleware,
} from '../src/index.js';

const opened: HealthMiddleware[] = [];
afterEach(() => {
  for (const h of opened.splice(0)) h.close();
});

/** Runs `spec` under a health middleware with no background loop; returns a run-and-read helper. */
function runner(spec: HealthCheckSpec): () => Promise<CheckSnapshot> {
  const probes = health();
  opened.push(probes);
  probes.addCheck('dep', { ...spec, intervalMs: 60_000, failureThreshold: 1 });
  return async () => {
    await probes.refresh();
    return probes.checks()[0]!;
  };
}

describeWith(['redis'], 'redisCheck against redis-server', () => {
  let server: RedisServer;
  let client: Redis;
  beforeAll(async () => {
    server = await startRedis({ own: true });
    client = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  });
  afterAll(async () => {
    client.disconnect();
    await server.stop();
  });

  it('passes with the PING round trip as observed value, fails while Redis is down, recovers', async () => {
    const run = runner(redisCheck(client, { timeoutMs: 1000 }));
    const up = await run();
    expect(up.result).toMatchObject({
      status: 'pass',
      componentType: 'datastore',
      measurement: 'responseTime',
      observedUnit: 'ms',
    });
    expect(typeof up.result?.observedValue).toBe('number');

    await server.stop();
    const down = await run();
    expect(down.result?.status).toBe('fail');
    expect(down.result?.output).toEqual(expect.any(String));

    await server.start();
    await waitFor(async () => (await run()).result?.status === 'pass', {
      message: 'redisCheck to pass after the restart',
    });
  });

  it('fails when PING answers something other than PONG', async () => {
    const run = runner(redisCheck({ ping: async () => 'LOADING' }));
    expect((await run()).result).toMatchObject({
      status: 'fail',
      output: 'PING answered "LOADING", not "PONG"',
    });
  });
});

describeWith(['consul'], 'consulCheck against a consul agent', () => {
  let consul: ConsulServer;
  beforeAll(async () => {
    consul = await startConsul({ own: true });
  }, 30_000);
  afterAll(async () => {
    await consul.stop();
  });

  it('passes with the leader address, fails when the agent is unreachable', async () => {
    const run = runner(consulCheck({ url: consul.url, timeoutMs: 2000 }));
    const up = await run();
    expect(up.result).toMatchObject({
      status: 'pass',
      componentType: 'component',
      measurement: 'leader',
    });
    expect(up.result?.observedValue).toMatch(/^127\.0\.0\.1:\d+$/);

    await consul.stop();
    const down = await run();
    expect(down.result?.status).toBe('fail');
    expect(down.result?.output).toMatch(/^fetch failed: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
    await consul.start();
  }, 30_000);
});

describe('consulCheck against an agent without a leader (an HTTP peer answering like one)', () => {
  let peer: RunningServer;
  let body = '""';
  let status = 200;
  beforeAll(async () => {
    peer = await startApp((req, res) => {
      res.statusCode = req.url === '/v1/status/leader' ? status : 404;
      res.setHeader('content-type', 'application/json');
      res.end(body);
    });
  });
  afterAll(() => peer.close());

  it('fails with "no leader" on an empty leader, and on an HTTP error', async () => {
    const run = runner(consulCheck({ url: peer.url }));
    expect((await run()).result).toMatchObject({
      status: 'fail',
      output: 'consul cluster has no leader',
    });
    status = 500;
    body = 'rpc error';
    expect((await run()).result).toMatchObject({
      status: 'fail',
      output: 'consul answered HTTP 500',
    });
  });
});

describe('httpCheck against a dependency serving koa-mesh health', () => {
  let dependency: RunningServer;
  let depProbes: HealthMiddleware;
  beforeAll(async () => {
    depProbes = health({ initiallyReady: true });
    const app = new Koa();
    app.use(depProbes);
    app.use((ctx) => {
      ctx.status = ctx.path === '/broken' ? 500 : 404;
    });
    dependency = await startApp(app);
  });
  afterAll(async () => {
    depProbes.close();
    await dependency.close();
  });

  it('passes on 200, fails on 503, carries over a warn body, fails on other statuses', async () => {
    const run = runner(httpCheck(`${dependency.url}/ready`));
    expect((await run()).result).toMatchObject({
      status: 'pass',
      componentType: 'component',
      measurement: 'responseTime',
      observedUnit: 'ms',
      details: { httpStatus: 200 },
    });

    depProbes.markNotReady('draining');
    expect((await run()).result).toMatchObject({
      status: 'fail',
      output: `${dependency.url}/ready answered HTTP 503`,
    });
    depProbes.markReady();

    depProbes.addCheck('cache', {
      check: () => ({ status: 'fail' as const }),
      critical: false,
      intervalMs: 60_000,
    });
    await depProbes.refresh();
    expect((await run()).result).toMatchObject({
      status: 'warn',
      output: `${dependency.url}/ready reports warn`,
    });

    const broken = runner(httpCheck(`${dependency.url}/broken`, { method: 'HEAD' }));
    expect((await broken()).result).toMatchObject({ status: 'fail', details: { httpStatus: 500 } });
  });

  it('fails when the dependency is unreachable', async () => {
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const { port } = gone.address() as { port: number };
    await new Promise<void>((resolve) => gone.close(() => resolve()));
    const run = runner(httpCheck(`http://127.0.0.1:${port}/health`, { timeoutMs: 2000 }));
    expect((await run()).result).toMatchObject({
      status: 'fail',
      output: `fetch failed: connect ECONNREFUSED 127.0.0.1:${port}`,
    });
  });
});

describe('eventLoopDelayCheck', () => {
  it('is a liveness check that fails after the event loop was blocked, then passes again', async () => {
    const spec = eventLoopDelayCheck({ maxDelayMs: 100, warnDelayMs: 50, resolutionMs: 10 });
    expect(spec.kind).toBe('liveness');
    const run = runner(spec);
    await run(); // enables the histogram
    const until = Date.now() + 300;
    while (Date.now() < until) {
      // Block the event loop for 300 ms: the histogram must see a delay above 100 ms.
    }
    // The histogram records the late tick when its timer fires, possibly after the next run: poll.
    const blocked = await waitFor(async () => {
      const snapshot = await run();
      return snapshot.result?.status === 'fail' ? snapshot : undefined;
    });
    expect(blocked.result).toMatchObject({
      status: 'fail',
      componentType: 'system',
      measurement: 'eventLoopDelay',
      observedUnit: 'ms',
    });
    expect(blocked.result?.observedValue as number).toBeGreaterThan(100);
    expect(blocked.result?.output).toMatch(/^event-loop delay p99 [\d.]+ ms is above 100 ms$/);
    // The histogram is reset at each run: without blocking, the next window is calm.
    await waitFor(async () => (await run()).result?.status === 'pass');
  });
});

describe('heapCheck', () => {
  it('passes under the limit and fails above maxRatio with the share in percent', async () => {
    const ok = runner(heapCheck());
    expect((await ok()).result).toMatchObject({
      status: 'pass',
      measurement: 'heapUsage',
      observedUnit: 'percent',
    });
    const tight = runner(heapCheck({ maxRatio: 0.000001, warnRatio: 0.000001 }));
    const result = (await tight()).result!;
    expect(result.status).toBe('fail');
    expect(result.output).toMatch(/^heap at [\d.]+% of its limit, above 0%$/);
    expect(result.details).toMatchObject({
      usedBytes: expect.any(Number),
      limitBytes: expect.any(Number),
    });
  });
});
