import Consul from 'consul';
import { Redis } from 'ioredis';
import Koa from 'koa';
import {
  describeWith,
  startApp,
  startConsul,
  startRedis,
  waitFor,
  type ConsulServer,
  type RedisServer,
  type RunningServer,
} from '../src/index.js';

describeWith(['consul'], 'testkit: a real Consul agent', () => {
  let consul: ConsulServer;
  let app: RunningServer;

  beforeAll(async () => {
    consul = await startConsul();
    const koa = new Koa();
    koa.use((ctx) => {
      if (ctx.path === '/ready') ctx.body = 'ok';
    });
    app = await startApp(koa);
  });

  afterAll(async () => {
    await app?.close();
    await consul?.stop().catch(() => undefined);
  });

  it('registers a service through the agent API and reads it back passing through the consul client', async () => {
    const client = new Consul({ host: consul.host, port: consul.port });
    await client.agent.service.register({
      id: 'smoke-1',
      name: 'smoke',
      address: '127.0.0.1',
      port: app.port,
      tags: ['v1'],
      meta: { version: '1.0.0' },
      check: { name: 'ready', http: `${app.url}/ready`, interval: '1s', timeout: '1s' } as never,
    });
    const healthy = await waitFor(
      async () => {
        const entries = (await client.health.service({
          service: 'smoke',
          passing: true,
        })) as Array<{
          Service: { ID: string; Port: number; Tags: string[]; Meta: Record<string, string> };
        }>;
        return entries.length === 1 ? entries[0] : undefined;
      },
      { timeoutMs: 15_000, message: 'smoke service passing in Consul' },
    );
    expect(healthy.Service.ID).toBe('smoke-1');
    expect(healthy.Service.Port).toBe(app.port);
    expect(healthy.Service.Tags).toEqual(['v1']);
    expect(healthy.Service.Meta).toEqual({ version: '1.0.0' });
  });
});

describeWith(['redis'], 'testkit: a real redis-server', () => {
  let redis: RedisServer;
  let client: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
  });

  afterAll(async () => {
    client?.disconnect();
    await redis?.stop().catch(() => undefined);
  });

  it('SET then GET through ioredis', async () => {
    const key = `smoke:${Date.now()}`;
    expect(await client.set(key, 'value-1')).toBe('OK');
    expect(await client.get(key)).toBe('value-1');
  });
});
