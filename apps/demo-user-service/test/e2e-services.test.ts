import {
  describeWith,
  startConsul,
  startRedis,
  waitFor,
  type ConsulServer,
  type RedisServer,
} from '@koa-mesh/testkit';
import { Redis } from 'ioredis';
import {
  call,
  itWith,
  loginAs,
  startOrders,
  startUsers,
  stopAll,
  type Child,
} from './e2e-helpers.js';
import {
  breakerFlow,
  crudFlow,
  expect429,
  overrideFlow,
  promtoolFlow,
  sessions,
  expectedVersion,
  stickyVersion,
  traceFlow,
} from './flows.js';

jest.setTimeout(90_000);

interface ConsulEntry {
  Service: { ID: string; Service: string; Port: number; Meta: Record<string, string> };
  Checks: Array<{ Status: string; Type: string }>;
}

async function passing(consul: ConsulServer, service: string): Promise<ConsulEntry[]> {
  const res = await fetch(`${consul.url}/v1/health/service/${service}?passing=1`);
  return (await res.json()) as ConsulEntry[];
}

/**
 * The same services against the real things: a Consul agent (registration, health checks,
 * discovery of the orders versions) and Redis (rate limiting shared by two users processes).
 */
describeWith(['consul', 'redis'], 'end to end with Consul and Redis', () => {
  let consul: ConsulServer;
  let redis: RedisServer;
  let v1: Child | undefined;
  let v2: Child | undefined;
  let users1: Child | undefined;
  let users2: Child | undefined;
  const RATE_LIMIT = 80;

  beforeAll(async () => {
    [consul, redis] = await Promise.all([startConsul({ own: true }), startRedis({ own: true })]);
    const mesh = { CONSUL_HTTP_ADDR: consul.url, ADVERTISE_HOST: '127.0.0.1' };
    [v1, v2] = await Promise.all([
      startOrders('v1', mesh),
      startOrders('v2', { ...mesh, ORDERS_FAILURE_RATE: '1' }),
    ]);
    const usersEnv = {
      ...mesh,
      REDIS_URL: redis.url,
      REDIS_COMMAND_TIMEOUT_MS: '200',
      CANARY_WEIGHT: '50',
      RATE_LIMIT_MAX: String(RATE_LIMIT),
      ORDERS_BREAKER_FAILURES: '3',
      ORDERS_BREAKER_OPEN_MS: '60000',
    };
    [users1, users2] = await Promise.all([
      startUsers(usersEnv),
      // The second instance drains longer, so the test can see it leave Consul while it still runs.
      startUsers({ ...usersEnv, SHUTDOWN_DRAIN_DELAY_MS: '1500' }),
    ]);
    // Consul's HTTP check on /ready has to pass once before anything is routed.
    await waitFor(async () => (await passing(consul, 'orders')).length === 2, {
      timeoutMs: 20_000,
      message: 'both orders versions to pass in Consul',
    });
  });
  afterAll(async () => {
    await stopAll([users1, users2, v1, v2]);
    await Promise.all([consul?.stop(), redis?.stop()]);
  });

  it('registers every service in Consul with its version, passing its HTTP check', async () => {
    const users = await waitFor(
      async () => {
        const list = await passing(consul, 'users');
        return list.length === 2 ? list : undefined;
      },
      { timeoutMs: 20_000, message: 'both users instances to pass in Consul' },
    );
    expect(users.map((e) => e.Service.Port).sort()).toEqual([users1!.port, users2!.port].sort());
    for (const entry of users) {
      expect(entry.Service.Meta.version).toBe('1.0.0');
      expect(entry.Checks.filter((c) => c.Type === 'http').map((c) => c.Status)).toEqual([
        'passing',
      ]);
    }
    const orders = await passing(consul, 'orders');
    expect(Object.fromEntries(orders.map((e) => [e.Service.Meta.version, e.Service.Port]))).toEqual(
      {
        v1: v1!.port,
        v2: v2!.port,
      },
    );
  });

  it('runs login → token → CRUD', () => crudFlow(users1!.url));

  it('routes orders through discovery and the canary: one version per user across 50 calls', async () => {
    const { alice } = await sessions(users1!.url);
    // Sticky by the user id in the JWT: the bucket of (rollout, user id) decides, every time.
    expect(await stickyVersion(users1!.url, alice, 50)).toBe(expectedVersion(alice.id, 50));
  });

  it('honours the canary override header only from a trusted tester', () =>
    overrideFlow(users1!.url));

  it('carries the caller’s trace to the orders service found in Consul', () =>
    traceFlow(users1!.url));

  it('counts the limit per user in Redis, across two users processes', async () => {
    const { ada, alice } = await sessions(users1!.url);
    const email = `limited-${Date.now()}@example.com`;
    const created = await call(users1!.url, '/api/users', {
      method: 'POST',
      token: ada.token,
      body: { email, name: 'Limited', password: 'limited-password' },
    });
    expect(created.status).toBe(201);
    // The processes share the JWT secret, so one token is good on both.
    const limited = await loginAs(users1!.url, email, 'limited-password');
    for (let i = 0; i < RATE_LIMIT; i += 1) {
      const base = i % 2 === 0 ? users1!.url : users2!.url;
      expect((await call(base, '/api/users?limit=1', { token: limited.token })).status).toBe(200);
    }
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    try {
      expect(await client.zcard(`koa-mesh-demo:ratelimit:user:${limited.id}`)).toBe(RATE_LIMIT);
    } finally {
      client.disconnect();
    }
    expect429(await call(users1!.url, '/api/users?limit=1', { token: limited.token }), RATE_LIMIT);
    expect429(await call(users2!.url, '/api/users?limit=1', { token: limited.token }), RATE_LIMIT);
    expect((await call(users2!.url, '/api/users?limit=1', { token: alice.token })).status).toBe(
      200,
    );
  });

  it('falls back to a degraded answer when orders v2 fails and its breaker opens', () =>
    breakerFlow(users1!.url));

  itWith('promtool', 'serves /metrics that passes promtool', () => promtoolFlow(users1!.url));

  it('keeps serving without a 500 or a hang when Redis stops, and says warn on /ready', async () => {
    const { alice } = await sessions(users1!.url);
    await redis.stop();
    for (let i = 0; i < 5; i += 1) {
      const res = await call(users1!.url, '/api/users?limit=1', { token: alice.token });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit')).toBeNull();
    }
    const ready = await waitFor(
      async () => {
        const res = await call(users1!.url, '/ready');
        return res.body.status === 'warn' && res.body.checks.ratelimit[0].status === 'warn'
          ? res
          : undefined;
      },
      { message: '/ready to warn with Redis down' },
    );
    expect(ready.status).toBe(200);
    expect(ready.body.checks.ratelimit[0].output).toMatch(/rate limiting fails open/);
    const scrape = await call(users1!.url, '/metrics');
    expect(scrape.body).toMatch(/^ratelimit_store_errors_total\{policy="open"\} [1-9]\d*$/m);
    // Consul still routes to it: warn is a 200.
    expect((await passing(consul, 'users')).map((e) => e.Service.Port)).toContain(users1!.port);
  });

  it('deregisters from Consul on SIGTERM before the process exits', async () => {
    const id = (await passing(consul, 'users')).find((e) => e.Service.Port === users2!.port)!
      .Service.ID;
    users2!.proc.child.kill('SIGTERM');
    const goneWhileRunning = await waitFor(
      async () => {
        const res = await fetch(`${consul.url}/v1/agent/services`);
        const services = (await res.json()) as Record<string, unknown>;
        return id in services ? undefined : { running: users2!.proc.child.exitCode === null };
      },
      { message: 'the users instance to leave Consul' },
    );
    expect(goneWhileRunning.running).toBe(true);
    expect(await users2!.proc.exited).toBe(0);
    expect(users2!.proc.output()).toMatch(/shutdown: done/);
  });
});
