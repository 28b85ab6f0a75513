import { spawnSync } from 'node:child_process';
import { bucketOf } from '@koa-mesh/canary-router';
import { findBinary, waitFor } from '@koa-mesh/testkit';
import { call, loginAs, type Child, type Reply } from './e2e-helpers.js';

/** The processes a flow runs against. */
export interface Stack {
  users: Child[];
  v1: Child;
  v2: Child;
}

export const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

export async function sessions(base: string) {
  const [alice, tess, ada] = await Promise.all([
    loginAs(base, 'alice@example.com', 'alice-password-1'),
    loginAs(base, 'tess@example.com', 'tess-password-1'),
    loginAs(base, 'ada@example.com', 'ada-password-1'),
  ]);
  return { alice, tess, ada };
}

/** login → token → create, read, update, delete; no secret ever in an answer. */
export async function crudFlow(base: string): Promise<void> {
  const { alice, ada } = await sessions(base);
  const created = await call(base, '/api/users', {
    method: 'POST',
    token: ada.token,
    body: { email: `e2e-${Date.now()}@example.com`, name: 'E2E', password: 'e2e-password-123' },
  });
  expect(created.status).toBe(201);
  const id = created.body.id as string;
  expect((await call(base, `/api/users/${id}`, { token: alice.token })).body.name).toBe('E2E');
  const updated = await call(base, `/api/users/${id}`, {
    method: 'PUT',
    token: ada.token,
    body: { name: 'E2E 2' },
  });
  expect(updated.body.name).toBe('E2E 2');
  const list = await call(base, '/api/users?limit=100', { token: alice.token });
  expect(JSON.stringify(list.body)).not.toMatch(/passwordHash|scrypt/);
  expect(
    (await call(base, `/api/users/${id}`, { method: 'DELETE', token: ada.token })).status,
  ).toBe(204);
  expect((await call(base, `/api/users/${id}`, { token: alice.token })).status).toBe(404);
  const bad = await call(base, '/api/users', {
    method: 'POST',
    token: ada.token,
    body: { email: 'x' },
  });
  expect(bad.status).toBe(400);
  expect(bad.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(bad.body.requestId).toBe(bad.headers.get('x-request-id'));
}

/**
 * The version the canary router must give `userId` at `weight` percent: canary when the user's
 * bucket (a hash of rollout and user id) lies below the weight's share of the bucket range.
 */
export function expectedVersion(userId: string, weight: number, rollout = 'orders-v2'): string {
  return bucketOf(rollout, userId) < Math.round((weight / 100) * 2 ** 32) ? 'v2' : 'v1';
}

/** The version a user gets for their orders, over `n` calls; asserts it never changes. */
export async function stickyVersion(
  base: string,
  who: { token: string; id: string },
  n: number,
): Promise<string> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i += 1) {
    const res = await call(base, `/api/users/${who.id}/orders`, { token: who.token });
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(res.headers.get('x-service-version'));
    seen.add(res.body.version as string);
  }
  expect(seen.size).toBe(1);
  return [...seen][0]!;
}

/** A tester may pick the arm with the header; the same header from anyone else changes nothing. */
export async function overrideFlow(base: string): Promise<void> {
  const { alice, tess } = await sessions(base);
  const orders = (who: { token: string; id: string }, arm?: string) =>
    call(base, `/api/users/${who.id}/orders`, {
      token: who.token,
      headers: arm ? { 'x-canary': arm } : {},
    });
  expect((await orders(tess, 'canary')).headers.get('x-service-version')).toBe('v2');
  expect((await orders(tess, 'stable')).headers.get('x-service-version')).toBe('v1');
  const own = (await orders(alice)).headers.get('x-service-version');
  expect((await orders(alice, 'canary')).headers.get('x-service-version')).toBe(own);
  expect((await orders(alice, 'stable')).headers.get('x-service-version')).toBe(own);
}

/** The trace id sent in arrives at the orders service (it echoes what its tracing saw). */
export async function traceFlow(base: string): Promise<void> {
  const { tess } = await sessions(base);
  const res = await call(base, `/api/users/${tess.id}/orders`, {
    token: tess.token,
    headers: { traceparent: TRACEPARENT, 'x-canary': 'stable' },
  });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ source: 'live', version: 'v1' });
  expect(res.body.upstream.traceId).toBe(TRACE_ID);
}

/** v2 fails every request: its breaker opens and the answer is a degraded fallback, never a 5xx. */
export async function breakerFlow(base: string): Promise<void> {
  const { tess } = await sessions(base);
  const reasons: string[] = [];
  for (let i = 0; i < 10 && !reasons.includes('ERR_KOA_MESH_BREAKER_OPEN'); i += 1) {
    const res = await call(base, `/api/users/${tess.id}/orders`, {
      token: tess.token,
      headers: { 'x-canary': 'canary' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-degraded')).toBe('orders');
    expect(res.body).toMatchObject({ degraded: true, version: 'v2' });
    expect(['cache', 'empty']).toContain(res.body.source);
    reasons.push(res.body.reason as string);
  }
  expect(reasons).toContain('ERR_KOA_MESH_BREAKER_OPEN');
  // v1 is not affected by v2's breaker.
  const stable = await call(base, `/api/users/${tess.id}/orders`, {
    token: tess.token,
    headers: { 'x-canary': 'stable' },
  });
  expect(stable.body).toMatchObject({ degraded: false, version: 'v1' });
  // Checks run in the background: /ready says warn once the breaker check has seen it open.
  const ready = await waitFor(
    async () => {
      const res = await call(base, '/ready');
      return res.body.status === 'warn' ? res : undefined;
    },
    { message: '/ready to warn about the open breaker' },
  );
  expect(ready.status).toBe(200);
  expect(ready.body.checks['orders-v2-breaker:state'][0]).toMatchObject({
    status: 'warn',
    observedValue: 'open',
  });
}

/** Requests beyond the limit get a 429 problem with Retry-After (never 0) and the rate-limit headers. */
export function expect429(res: Reply, limit: number): void {
  expect(res.status).toBe(429);
  expect(res.body).toMatchObject({ code: 'ERR_DEMO_RATE_LIMITED', status: 429 });
  expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
  expect(res.headers.get('x-ratelimit-limit')).toBe(String(limit));
  expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
}

/** `promtool check metrics` on a real scrape: no findings. */
export async function promtoolFlow(base: string): Promise<void> {
  const scrape = await call(base, '/metrics');
  expect(scrape.status).toBe(200);
  const text = scrape.body as string;
  expect(text).toMatch(
    /^http_requests_total\{method="GET",route="\/api\/users\/:id\/orders",status_code="200",version="v[12]"\} \d+/m,
  );
  expect(text).toMatch(/^# TYPE ratelimit_store_errors_total counter$/m);
  const promtool = findBinary('promtool')!;
  const out = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  expect(`${out.stdout}${out.stderr}`.trim()).toBe('');
  expect(out.status).toBe(0);
}
