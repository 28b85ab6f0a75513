import { createServer } from 'node:http';
import Koa from 'koa';
import { createTerminus } from '@godaddy/terminus';
import { health, heapCheck } from '@koa-mesh/health';
import { closeServer, defineScenarios, listen } from '../lib/scenario.js';

/**
 * @koa-mesh/health against bare Koa: the cost it adds to ordinary requests (it must pass them
 * through for nearly nothing), and what a probe costs when answered from the cached check results,
 * against @godaddy/terminus, which runs its check function on every probe.
 */
function probesApp() {
  const probes = health({
    initiallyReady: true,
    checks: {
      heap: heapCheck(),
      // A dependency check as a service would have one; cheap, so that its interval runs do not
      // weigh on the figures.
      cache: {
        check: async () => ({ status: 'pass' as const }),
        critical: false,
        intervalMs: 1000,
      },
    },
  });
  const app = new Koa();
  app.use(probes);
  app.use((ctx) => {
    ctx.body = { id: 1, name: 'ada' };
  });
  return { app, probes };
}

export default defineScenarios([
  {
    name: 'health',
    description: 'Koa + health() with two checks, ordinary requests (not a probe path)',
    async start() {
      const { app, probes } = probesApp();
      const server = createServer(app.callback());
      const url = await listen(server);
      return {
        url: `${url}/users/1`,
        async close() {
          probes.close();
          await closeServer(server);
        },
      };
    },
  },
  {
    name: 'health:probe',
    description: 'GET /ready answered by health() from its cached check results',
    async start() {
      const { app, probes } = probesApp();
      const server = createServer(app.callback());
      const url = await listen(server);
      return {
        url: `${url}/ready`,
        async close() {
          probes.close();
          await closeServer(server);
        },
      };
    },
  },
  {
    name: 'health:probe:terminus',
    description:
      'GET /ready answered by @godaddy/terminus, running its (cheap) check on each probe',
    compareTo: ['health:probe'],
    async start() {
      const app = new Koa();
      app.use((ctx) => {
        ctx.body = { id: 1, name: 'ada' };
      });
      const server = createServer(app.callback());
      createTerminus(server, {
        healthChecks: { '/ready': async () => ({ cache: 'pass' }) },
        useExit0: true,
        signals: [],
      });
      const url = await listen(server);
      return { url: `${url}/ready`, close: () => closeServer(server) };
    },
  },
]);
