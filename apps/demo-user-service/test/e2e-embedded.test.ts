import { generateKeyPairSync } from 'node:crypto';
import {
  call,
  itWith,
  loginAs,
  runUsers,
  startOrders,
  startUsers,
  stopAll,
  type Child,
} from './e2e-helpers.js';
import { startApp } from '@koa-mesh/testkit';
import {
  TRACE_ID,
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

/**
 * The demo as `pnpm demo` runs it: three processes, no Consul (static registry), no Redis (memory
 * rate limiting), no OTLP endpoint. Orders v2 fails every request, to show the breaker.
 */
describe('end to end with embedded defaults', () => {
  let v1: Child | undefined;
  let v2: Child | undefined;
  let users: Child | undefined;
  const RATE_LIMIT = 150;

  beforeAll(async () => {
    [v1, v2] = await Promise.all([
      startOrders('v1'),
      startOrders('v2', { ORDERS_FAILURE_RATE: '1' }),
    ]);
    users = await startUsers({
      ORDERS_V1_URLS: v1.url,
      ORDERS_V2_URLS: v2.url,
      CANARY_WEIGHT: '50',
      RATE_LIMIT_MAX: String(RATE_LIMIT),
      ORDERS_BREAKER_FAILURES: '3',
      ORDERS_BREAKER_OPEN_MS: '60000',
    });
  });
  afterAll(() => stopAll([users, v1, v2]));

  it('runs login → token → CRUD', () => crudFlow(users!.url));

  it('keeps a user on one orders version across 50 calls', async () => {
    const { alice } = await sessions(users!.url);
    expect(await stickyVersion(users!.url, alice, 50)).toBe(expectedVersion(alice.id, 50));
  });

  it('honours the canary override header only from a trusted tester', () =>
    overrideFlow(users!.url));

  it('carries the caller’s trace to the orders service', () => traceFlow(users!.url));

  it('answers 429 with Retry-After and rate-limit headers, per user', async () => {
    const base = users!.url;
    const { ada, alice } = await sessions(base);
    const email = `limited-${Date.now()}@example.com`;
    expect(
      (
        await call(base, '/api/users', {
          method: 'POST',
          token: ada.token,
          body: { email, name: 'L', password: 'limited-password' },
        })
      ).status,
    ).toBe(201);
    const limited = await loginAs(base, email, 'limited-password');
    for (let i = 0; i < RATE_LIMIT; i += 1) {
      expect((await call(base, `/api/users/${limited.id}`, { token: limited.token })).status).toBe(
        200,
      );
    }
    expect429(await call(base, `/api/users/${limited.id}`, { token: limited.token }), RATE_LIMIT);
    expect((await call(base, `/api/users/${alice.id}`, { token: alice.token })).status).toBe(200);
  });

  it('falls back to a degraded answer when orders v2 fails and its breaker opens', () =>
    breakerFlow(users!.url));

  it('answers probes: liveness, startup, readiness with details outside production', async () => {
    expect((await call(users!.url, '/health')).status).toBe(200);
    expect((await call(users!.url, '/startup')).status).toBe(200);
    const ready = await call(users!.url, '/ready');
    expect(ready.headers.get('content-type')).toMatch(/^application\/health\+json/);
    expect(ready.body.checks.ratelimit[0]).toMatchObject({
      status: 'pass',
      output: 'memory store',
    });
  });

  itWith('promtool', 'serves /metrics that passes promtool', () => promtoolFlow(users!.url));
});

describe('start-up configuration', () => {
  it('refuses to start with one clear line per bad variable (production without a JWT secret)', async () => {
    const proc = await runUsers({
      NODE_ENV: 'production',
      PORT: 'eighty',
      RATE_LIMIT_FAIL_POLICY: 'maybe',
    });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain(
      [
        'users service: invalid configuration:',
        '  - PORT: expected an integer from 0 to 65535, got "eighty"',
        '  - JWT_SECRET: required when NODE_ENV=production (generate one with `openssl rand -base64 48`)',
        '  - RATE_LIMIT_FAIL_POLICY: expected one of open, closed, got "maybe"',
      ].join('\n'),
    );
    expect(proc.output()).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('exits 1 with one clear line, not a stack, when the RS256 keys are not one pair', async () => {
    const pair = () =>
      generateKeyPairSync('rsa', {
        modulusLength: 2048,
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
      });
    const proc = await runUsers({
      PORT: '0',
      JWT_ALGORITHM: 'RS256',
      JWT_PRIVATE_KEY: pair().privateKey,
      JWT_PUBLIC_KEY: pair().publicKey,
    });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain(
      [
        'users service: invalid configuration:',
        '  - JWT_PUBLIC_KEY: is not the public half of JWT_PRIVATE_KEY',
      ].join('\n'),
    );
    expect(proc.output()).not.toMatch(/\n\s+at /);
  });

  it('exits 1 saying why when it cannot register in the configured Consul', async () => {
    const proc = await runUsers({ PORT: '0', CONSUL_HTTP_ADDR: 'http://127.0.0.1:1' });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toMatch(
      /"cannot start: cannot register in Consul at http:\/\/127\.0\.0\.1:1: /,
    );
  });
});

describe('trace export', () => {
  it('exports spans over OTLP/HTTP when an endpoint is set, flushing them at shutdown', async () => {
    // A stand-in collector: records what the OTLP exporter posts.
    const posts: Array<{ path: string; type: string; body: Buffer }> = [];
    const collector = await startApp((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        posts.push({
          path: req.url ?? '',
          type: req.headers['content-type'] ?? '',
          body: Buffer.concat(chunks),
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    let orders: Child | undefined;
    try {
      orders = await startOrders('v1', { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url });
      const res = await call(orders.url, '/orders/0b6f1a52-4a8e-4f6e-9a53-1b7f2c0e8d11', {
        headers: { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` },
      });
      expect(res.body.traceId).toBe(TRACE_ID);
      expect(await orders.proc.stop('SIGTERM', 10_000)).toBe(0);
      const sent = Buffer.concat(posts.filter((p) => p.path === '/v1/traces').map((p) => p.body));
      // OTLP/JSON writes ids as hex; OTLP protobuf as raw bytes. Either is fine.
      const has = (text: string, bytes: Buffer = Buffer.from(text)): boolean =>
        sent.includes(Buffer.from(text)) || sent.includes(bytes);
      expect(has(TRACE_ID, Buffer.from(TRACE_ID, 'hex'))).toBe(true);
      expect(has('GET /orders/:userId')).toBe(true);
      expect(has('orders')).toBe(true);
    } finally {
      await stopAll([orders]);
      await collector.close();
    }
  });
});
