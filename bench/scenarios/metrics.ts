import { createServer } from 'node:http';
import { metrics } from '@koa-mesh/metrics';
import Koa from 'koa';
import { Counter, Histogram, Registry } from 'prom-client';
import { closeServer, defineScenarios, listen } from '../lib/scenario.js';

const BODY = { id: 1, name: 'ada' };
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * @koa-mesh/metrics against bare Koa and against the middleware services usually write by hand on
 * prom-client (a counter and a histogram labelled method/route/status_code). Both serve the same
 * handler as bench/scenarios/koa.ts and read the route label the same way, so the ratios measure the
 * recording itself.
 */
export default defineScenarios([
  {
    name: 'metrics',
    description:
      'Koa + @koa-mesh/metrics (defaults: runtime metrics, exemplars, cardinality guard)',
    compareTo: ['metrics:hand-written'],
    async start() {
      const m = metrics();
      const app = new Koa();
      app.use(m);
      app.use((ctx) => {
        ctx.body = BODY;
      });
      const server = createServer(app.callback());
      const url = await listen(server);
      return {
        url: `${url}/users/1`,
        close: async () => {
          await m.close();
          await closeServer(server);
        },
      };
    },
  },
  {
    name: 'metrics:hand-written',
    description:
      'Koa + typical hand-written prom-client middleware (Counter + Histogram, 3 labels)',
    compareTo: ['metrics'],
    async start() {
      const registry = new Registry();
      const labelNames = ['method', 'route', 'status_code'] as const;
      const requests = new Counter({
        name: 'http_requests_total',
        help: 'HTTP requests.',
        labelNames,
        registers: [registry],
      });
      const duration = new Histogram({
        name: 'http_request_duration_seconds',
        help: 'HTTP request duration.',
        labelNames,
        buckets: BUCKETS,
        registers: [registry],
      });
      const app = new Koa();
      app.use(async function handWrittenMetrics(ctx, next) {
        if (ctx.path === '/metrics') {
          ctx.set('Content-Type', registry.contentType);
          ctx.body = await registry.metrics();
          return;
        }
        const end = duration.startTimer();
        try {
          await next();
        } finally {
          const labels = {
            method: ctx.method,
            route: (ctx as unknown as { _matchedRoute?: string })._matchedRoute ?? '__unmatched__',
            status_code: String(ctx.status),
          };
          end(labels);
          requests.inc(labels);
        }
      });
      app.use((ctx) => {
        ctx.body = BODY;
      });
      const server = createServer(app.callback());
      const url = await listen(server);
      return { url: `${url}/users/1`, close: () => closeServer(server) };
    },
  },
]);
