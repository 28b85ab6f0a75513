import { connect } from 'node:net';
import Router from '@koa/router';
import { startApp, waitFor, type RunningServer } from '@koa-mesh/testkit';
import Koa from 'koa';
import { Pool } from 'undici';
import { metrics, type MetricsMiddleware, type MetricsOptions } from '../src/index.js';
import { find, parseExposition, value, type Parsed } from './helpers.js';

interface Running {
  server: RunningServer;
  m: MetricsMiddleware;
  scrape(): Promise<Parsed>;
  close(): Promise<void>;
}

async function run(options: MetricsOptions, extra?: (app: Koa) => void): Promise<Running> {
  const m = metrics({ defaultMetrics: false, ...options });
  const app = new Koa();
  app.silent = true;
  app.use(m);
  extra?.(app);
  const router = new Router();
  router.get('/users/:id', (ctx) => {
    ctx.body = 'u';
  });
  app.use(router.routes());
  const server = await startApp(app);
  return {
    server,
    m,
    async scrape() {
      const res = await fetch(`${server.url}/metrics`);
      return parseExposition(await res.text(), false);
    },
    close: () => server.close(),
  };
}

/** Sends `paths` over a small keep-alive pool, `concurrency` at a time. */
async function flood(
  url: string,
  paths: (i: number) => string,
  total: number,
  headers?: (i: number) => Record<string, string>,
) {
  const pool = new Pool(url, { connections: 8, pipelining: 4 });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      const res = await pool.request({ path: paths(i), method: 'GET', headers: headers?.(i) });
      await res.body.dump();
    }
  };
  try {
    await Promise.all(Array.from({ length: 32 }, worker));
  } finally {
    await pool.close();
  }
}

const randomSegment = (): string => Math.random().toString(36).slice(2);

describe('cardinality guard', () => {
  it('keeps 20k requests to random paths in one series (raw paths never become labels)', async () => {
    const r = await run({});
    try {
      await flood(
        r.server.url,
        () => `/${randomSegment()}/${randomSegment()}?q=${randomSegment()}`,
        20_000,
      );
      const p = await r.scrape();
      expect(find(p, 'http_requests_total')).toHaveLength(1);
      expect(value(p, 'http_requests_total', { route: '__unmatched__', status_code: '404' })).toBe(
        20_000,
      );
      expect(value(p, 'koa_mesh_metrics_series')).toBe(1);
    } finally {
      await r.close();
    }
  });

  it('keeps 10k distinct route parameters in one series per template', async () => {
    const r = await run({});
    try {
      await flood(r.server.url, (i) => `/users/${i}-${randomSegment()}`, 10_000);
      const p = await r.scrape();
      expect(find(p, 'http_requests_total')).toHaveLength(1);
      expect(value(p, 'http_requests_total', { route: '/users/:id' })).toBe(10_000);
    } finally {
      await r.close();
    }
  });

  it('sends label sets past maxSeries to one overflow series, counts them and warns', async () => {
    // A label taken from client input is the classic cardinality bomb.
    const r = await run({ maxSeries: 50, labels: { tenant: (ctx) => ctx.get('x-tenant') } });
    try {
      await flood(
        r.server.url,
        () => '/users/1',
        2_000,
        (i) => ({ 'x-tenant': `t${i}` }),
      );
      const p = await r.scrape();
      const series = find(p, 'http_requests_total');
      expect(series).toHaveLength(51);
      const overflow = find(p, 'http_requests_total', { tenant: '__overflow__' });
      expect(overflow).toHaveLength(1);
      expect(overflow[0]!.labels).toEqual({
        method: '__overflow__',
        route: '__overflow__',
        status_code: '__overflow__',
        tenant: '__overflow__',
      });
      expect(overflow[0]!.value).toBe(1_950);
      expect(find(p, 'http_request_duration_seconds_count')).toHaveLength(51);
      expect(value(p, 'koa_mesh_metrics_series')).toBe(50);
      expect(value(p, 'koa_mesh_metrics_series_limit')).toBe(50);
      expect(value(p, 'koa_mesh_metrics_overflow_total')).toBe(1_950);
      // Existing label sets keep counting after the cap.
      await flood(
        r.server.url,
        () => '/users/1',
        10,
        () => ({ 'x-tenant': 't0' }),
      );
      expect(value(await r.scrape(), 'http_requests_total', { tenant: 't0' })).toBe(11);
      const health = await r.m.healthCheck();
      expect(health.status).toBe('warn');
      expect(health.output).toMatch(/cardinality cap of 50/);
    } finally {
      await r.close();
    }
  });

  it('cuts label values longer than maxLabelValueLength', async () => {
    const r = await run({
      maxLabelValueLength: 8,
      labels: { tenant: (ctx) => ctx.get('x-tenant') },
    });
    try {
      await fetch(`${r.server.url}/users/1`, {
        headers: { 'x-tenant': 'a-very-long-tenant-name' },
      });
      const p = await r.scrape();
      expect(value(p, 'http_requests_total', { tenant: 'a-very-l', route: '/users/:' })).toBe(1);
    } finally {
      await r.close();
    }
  });
});

describe('aborted requests', () => {
  it('does not leak an in-flight request whose client left before the middleware ran', async () => {
    // An async middleware mounted before metrics() (auth, rate limiting) is still awaiting when
    // the client goes away: the response has closed before metrics() sees it.
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    let passed!: () => void;
    const after = new Promise<void>((resolve) => (passed = resolve));
    const m = metrics({ defaultMetrics: false });
    const app = new Koa();
    app.silent = true;
    app.use(async (ctx, next) => {
      if (ctx.path !== '/late') return next();
      const closed = new Promise((resolve) => ctx.res.once('close', resolve));
      entered();
      await closed;
      try {
        return await next();
      } finally {
        passed();
      }
    });
    app.use(m);
    const server = await startApp(app);
    try {
      const socket = connect(server.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write('GET /late HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await inside;
      socket.destroy();
      await after;
      const parsed = parseExposition(await (await fetch(`${server.url}/metrics`)).text(), false);
      expect(value(parsed, 'http_requests_in_flight')).toBe(0);
      expect(value(parsed, 'http_requests_total', { status_code: 'aborted' })).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('are counted with status_code="aborted" when the client goes away, even while the handler runs', async () => {
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const r = await run({}, (app) =>
      app.use(async (ctx, next) => {
        if (ctx.path !== '/users/slow') return next();
        entered();
        await gate;
        ctx.body = 'late';
      }),
    );
    try {
      const socket = connect(r.server.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write('GET /users/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await inside;
      socket.destroy();
      const p = await waitFor(async () => {
        const parsed = await r.scrape();
        return value(parsed, 'http_requests_total', { status_code: 'aborted' }) === 1
          ? parsed
          : undefined;
      });
      expect(value(p, 'http_requests_in_flight')).toBe(0);
      release();
      // The handler finishing later does not record the request a second time.
      await fetch(`${r.server.url}/users/2`);
      const after = await r.scrape();
      expect(find(after, 'http_requests_total').reduce((n, s) => n + s.value, 0)).toBe(2);
    } finally {
      release();
      await r.close();
    }
  });
});
