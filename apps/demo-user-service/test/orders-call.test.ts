import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { loadOrdersConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createOrdersService, type OrdersService } from '../src/orders/orders-service.js';
import { TESS, login, makeService, stopServices } from './helpers.js';

afterAll(stopServices);

async function orders(
  env: Record<string, string>,
): Promise<{ service: OrdersService; url: string }> {
  const config = loadOrdersConfig({
    NODE_ENV: 'test',
    PORT: '0',
    SHUTDOWN_DRAIN_DELAY_MS: '0',
    ...env,
  });
  const service = await createOrdersService(config, createLogger('silent'));
  return { service, url: await service.start() };
}

describe('the orders call from the users service', () => {
  it('answers a slow canary with a degraded fallback once the call deadline passes, not a hang or a 5xx', async () => {
    const v1 = await orders({ ORDERS_VERSION: 'v1' });
    const v2 = await orders({ ORDERS_VERSION: 'v2', ORDERS_DELAY_MS: '5000' });
    try {
      const users = await makeService({
        JWT_SECRET: 'x'.repeat(40),
        ORDERS_V1_URLS: v1.url,
        ORDERS_V2_URLS: v2.url,
        ORDERS_TIMEOUT_MS: '200',
      });
      const cb = users.app.callback();
      const tess = await login(cb, TESS);
      const live = await request(cb)
        .get(`/api/users/${tess.id}/orders`)
        .set(tess.auth)
        .set('x-canary', 'stable');
      expect(live.body).toMatchObject({ degraded: false, source: 'live', version: 'v1' });
      const slow = await request(cb)
        .get(`/api/users/${tess.id}/orders`)
        .set(tess.auth)
        .set('x-canary', 'canary');
      expect(slow.status).toBe(200);
      expect(slow.headers['x-service-version']).toBe('v2');
      // The last good answer for this user (from v1) is served, marked as such.
      expect(slow.body).toMatchObject({
        degraded: true,
        source: 'cache',
        version: 'v2',
        orders: live.body.orders,
      });
      expect(slow.body.reason).toMatch(/^ERR_/);
    } finally {
      await Promise.all([v1.service.stop(), v2.service.stop()]);
    }
  });

  it('answers an upstream that sends HTML with a degraded fallback whose reason is a code, never its bytes', async () => {
    const v1 = await orders({ ORDERS_VERSION: 'v1' });
    const html = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>proxy secret-upstream-7 says no</body></html>');
    });
    await new Promise<void>((resolve) => html.listen(0, '127.0.0.1', resolve));
    const { port } = html.address() as AddressInfo;
    try {
      const users = await makeService({
        JWT_SECRET: 'x'.repeat(40),
        ORDERS_V1_URLS: v1.url,
        ORDERS_V2_URLS: `http://127.0.0.1:${port}`,
      });
      const cb = users.app.callback();
      const tess = await login(cb, TESS);
      const res = await request(cb)
        .get(`/api/users/${tess.id}/orders`)
        .set(tess.auth)
        .set('x-canary', 'canary')
        .expect(200);
      expect(res.body).toMatchObject({
        degraded: true,
        version: 'v2',
        reason: 'ERR_DEMO_ORDERS_UPSTREAM',
      });
      expect(JSON.stringify(res.body)).not.toMatch(/html|secret-upstream|JSON/);
    } finally {
      await v1.service.stop();
      await new Promise((resolve) => html.close(resolve));
    }
  });

  it('has the orders service refuse a user id that is not a UUID with a 400 problem', async () => {
    const v1 = await orders({ ORDERS_VERSION: 'v1' });
    try {
      const res = await request(v1.url).get('/orders/42');
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        code: 'ERR_DEMO_VALIDATION',
        errors: [{ field: 'params.userId' }],
      });
    } finally {
      await v1.service.stop();
    }
  });
});
