import { describeWith, startRedis, waitFor, type RedisServer } from '@koa-mesh/testkit';
import { Redis } from 'ioredis';
import request from 'supertest';
import { BoundedExpiringMap } from '../src/rate-limit/bounded-map.js';
import { clientKey } from '../src/rate-limit/client-key.js';
import { ALICE, TESS, login, makeService, stopServices } from './helpers.js';

afterAll(stopServices);

const SECRET = { JWT_SECRET: 'rate-limit-test-secret-long-enough-1234' };

function expect429(res: request.Response, limit: number): void {
  expect(res.status).toBe(429);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status: 429, code: 'ERR_DEMO_RATE_LIMITED' });
  expect(res.body.requestId).toEqual(expect.any(String));
  expect(res.headers['retry-after']).toMatch(/^[1-9]\d*$/);
  expect(res.headers['x-ratelimit-limit']).toBe(String(limit));
  expect(res.headers['x-ratelimit-remaining']).toBe('0');
  expect(res.headers['x-ratelimit-reset']).toMatch(/^\d+$/);
}

describe('rate limiting with the memory driver', () => {
  it('counts per user and answers 429 problem+json with Retry-After and the rate-limit headers', async () => {
    const service = await makeService({ ...SECRET, RATE_LIMIT_MAX: '4' });
    const cb = service.app.callback();
    // Logging in costs one request of each caller's IP budget, not of the user's.
    const alice = await login(cb, ALICE);
    const tess = await login(cb, TESS);
    const remaining: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      const res = await request(cb).get('/api/users').set(alice.auth).expect(200);
      expect(res.headers['x-ratelimit-limit']).toBe('4');
      expect(res.headers['x-ratelimit-reset']).toMatch(/^\d+$/);
      remaining.push(res.headers['x-ratelimit-remaining'] as string);
    }
    expect(remaining).toEqual(['3', '2', '1', '0']);
    expect429(await request(cb).get('/api/users').set(alice.auth), 4);
    // Another user has a budget of their own.
    await request(cb).get('/api/users').set(tess.auth).expect(200);
    expect(service.limiter.stats().limited).toBe(1);
  });

  it('limits anonymous callers by IP, bad tokens included', async () => {
    const service = await makeService({ ...SECRET, RATE_LIMIT_MAX: '2' });
    const cb = service.app.callback();
    await request(cb).get('/api/users').expect(401);
    await request(cb).get('/api/users').set('Authorization', 'Bearer a.b.c').expect(401);
    expect429(await request(cb).get('/api/users').set('Authorization', 'Bearer x.y.z'), 2);
  });

  it.each([
    ['without proxy trust', '0'],
    ['behind one trusted proxy', '1'],
  ])('cannot be dodged with a forged X-Forwarded-For (%s)', async (_, hops) => {
    const service = await makeService({ ...SECRET, RATE_LIMIT_MAX: '3', TRUST_PROXY_HOPS: hops });
    const cb = service.app.callback();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      // The client forges the left part; a proxy in front appends the address it saw.
      const res = await request(cb)
        .get('/api/users')
        .set('X-Forwarded-For', `10.0.${i}.1, 203.0.113.9`);
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
  });

  it('limits an anonymous IPv6 caller by its /64, which a single host can pick addresses from', async () => {
    const service = await makeService({ ...SECRET, RATE_LIMIT_MAX: '3', TRUST_PROXY_HOPS: '1' });
    const cb = service.app.callback();
    const statuses: number[] = [];
    for (let i = 1; i <= 5; i += 1) {
      const res = await request(cb).get('/api/users').set('X-Forwarded-For', `2001:db8:7:1::${i}`);
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    // Another /64 has a budget of its own.
    await request(cb).get('/api/users').set('X-Forwarded-For', '2001:db8:7:2::1').expect(401);
  });

  it.each([
    ['192.0.2.1', 'ip:192.0.2.1'],
    ['::ffff:192.0.2.1', 'ip:192.0.2.1'],
    ['2001:db8:7:1::5', 'ip6:2001:db8:7:1::/64'],
    ['2001:0db8:0007:0001:aaaa:bbbb:cccc:dddd', 'ip6:2001:db8:7:1::/64'],
    ['2001:db8::1', 'ip6:2001:db8:0:0::/64'],
    ['::1', 'ip6:0:0:0:0::/64'],
    ['fe80::1%eth0', 'ip6:fe80:0:0:0::/64'],
    ['2001:DB8:7:1::1', 'ip6:2001:db8:7:1::/64'],
  ])('keys the address %s as %s', (ip, key) => {
    expect(clientKey(ip)).toBe(key);
  });

  it('keeps the memory store bounded and forgets ended windows', () => {
    let now = 1_000_000;
    const map = new BoundedExpiringMap<{ reset: number }>(3, () => now);
    map.set('a', { reset: now / 1000 + 10 });
    map.set('b', { reset: now / 1000 + 1 });
    map.set('c', { reset: now / 1000 + 10 });
    map.set('d', { reset: now / 1000 + 10 });
    expect([...map.keys()]).toEqual(['b', 'c', 'd']); // full of live windows: the oldest went
    now += 5000; // b's window ended
    map.set('e', { reset: now / 1000 + 10 });
    expect([...map.keys()]).toEqual(['c', 'd', 'e']);
  });
});

describeWith(['redis'], 'rate limiting on Redis', () => {
  let redis: RedisServer;
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedis({ own: true });
    client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
  });
  afterAll(async () => {
    client.disconnect();
    await redis.stop();
  });

  it('counts per user in Redis, fails open without a hang or a 500 when Redis stops, and says warn on /ready', async () => {
    const service = await makeService({
      ...SECRET,
      RATE_LIMIT_MAX: '50',
      REDIS_URL: redis.url,
      REDIS_COMMAND_TIMEOUT_MS: '200',
    });
    const cb = service.app.callback();
    try {
      const alice = await login(cb, ALICE);
      for (let i = 0; i < 3; i += 1)
        await request(cb).get('/api/users').set(alice.auth).expect(200);
      expect(await client.zcard(`koa-mesh-demo:ratelimit:user:${alice.id}`)).toBe(3);
      await waitFor(async () => (await request(cb).get('/ready')).body.status === 'pass', {
        message: '/ready to pass with Redis up',
      });

      client.disconnect();
      await redis.stop();
      for (let i = 0; i < 5; i += 1) {
        const res = await request(cb).get('/api/users').set(alice.auth);
        expect(res.status).toBe(200);
        expect(res.headers['x-ratelimit-limit']).toBeUndefined();
      }
      expect(service.limiter.stats()).toMatchObject({ failedOpen: 5, storeErrors: 5 });
      // Checks run in the background: /ready turns to warn (200, still serving), never to fail.
      const degraded = await waitFor(
        async () => {
          const res = await request(cb).get('/ready');
          return res.body.status === 'warn' ? res : undefined;
        },
        { message: '/ready to warn with Redis down' },
      );
      expect(degraded.status).toBe(200);
      expect(degraded.body.checks['ratelimit']?.[0]).toMatchObject({ status: 'warn' });

      await redis.start();
      await client.connect();
      // Once ioredis reconnects, requests are counted in Redis again.
      await waitFor(
        async () =>
          (await request(cb).get('/api/users').set(alice.auth)).headers['x-ratelimit-limit'] ===
          '50',
        {
          timeoutMs: 10_000,
          message: 'the limiter to use Redis again',
        },
      );
      expect(await client.zcard(`koa-mesh-demo:ratelimit:user:${alice.id}`)).toBeGreaterThanOrEqual(
        1,
      );
    } finally {
      await service.stop();
    }
  });

  it('drops a connection to a Redis that stalls (accepts commands, answers nothing), so commands do not pile up on it', async () => {
    // A stalled server (paused, or partitioned without a reset) keeps the TCP connection open:
    // ioredis stays `ready` and every request's command waits in its queue for an answer that
    // never comes. The limiter must give the connection up, not queue a command per request.
    const pid = Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1]);
    expect(pid).toBeGreaterThan(0);
    const service = await makeService({
      ...SECRET,
      REDIS_URL: redis.url,
      REDIS_COMMAND_TIMEOUT_MS: '100',
    });
    const cb = service.app.callback();
    try {
      const alice = await login(cb, ALICE);
      await request(cb).get('/api/users').set(alice.auth).expect(200);
      expect((await service.limiter.healthCheck()).status).toBe('pass');

      process.kill(pid, 'SIGSTOP');
      const given = await waitFor(
        async () => {
          const res = await request(cb).get('/api/users').set(alice.auth);
          expect(res.status).toBe(200); // fail open: served, without rate-limit headers
          expect(res.headers['x-ratelimit-limit']).toBeUndefined();
          const check = await service.limiter.healthCheck();
          return /^redis is (?!ready)/.test(check.output ?? '') ? check : undefined;
        },
        { timeoutMs: 15_000, message: 'the stalled Redis connection to be given up' },
      );
      expect(given.status).toBe('warn');

      process.kill(pid, 'SIGCONT');
      await waitFor(
        async () =>
          (await request(cb).get('/api/users').set(alice.auth)).headers['x-ratelimit-limit'] ===
          '100',
        { timeoutMs: 15_000, message: 'the limiter to use Redis again after the stall' },
      );
    } finally {
      process.kill(pid, 'SIGCONT');
      await service.stop();
    }
  });

  it('fails closed with a 503 and Retry-After when told to', async () => {
    const service = await makeService({
      ...SECRET,
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_COMMAND_TIMEOUT_MS: '100',
      RATE_LIMIT_FAIL_POLICY: 'closed',
    });
    try {
      const res = await request(service.app.callback()).get('/api/users');
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.body).toMatchObject({ code: 'ERR_DEMO_RATE_LIMIT_STORE', status: 503 });
      expect(service.limiter.stats().failedClosed).toBe(1);
    } finally {
      await service.stop();
    }
  });
});
