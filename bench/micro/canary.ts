import Koa from 'koa';
import { bucketOf, canaryRouter } from '@koa-mesh/canary-router';
import { defineMicro } from '../lib/scenario.js';

const arms = {
  stable: { target: { middleware: () => undefined } },
  canary: { target: { middleware: () => undefined }, weight: 10 },
};

/** A Koa context for the in-process path, built once through Koa itself. */
function contextFor(app: Koa, headers: Record<string, string>): Koa.Context {
  const req = { headers, url: '/users/1', method: 'GET', socket: { remoteAddress: '10.0.0.1' } };
  const res = {
    getHeader: () => undefined,
    setHeader: () => undefined,
    removeHeader: () => undefined,
    getHeaders: () => ({}),
    hasHeader: () => false,
  };
  return app.createContext(req as never, res as never) as Koa.Context;
}

export default defineMicro([
  {
    name: 'canary: bucketOf(rollout, 36-char key)',
    setup: () => {
      const key = '3f2b8c1e-6d4a-4f0e-9b7c-2a1d5e8f9c0b';
      return () => bucketOf('checkout-v2', key);
    },
    iterations: 1_000_000,
  },
  {
    name: 'canary: simulate() one key (bucket + weight table)',
    setup: () => {
      const router = canaryRouter({ rollout: 'bench', arms });
      const keys = ['user-42'];
      return () => router.simulate(keys);
    },
    iterations: 1_000_000,
  },
  {
    name: 'canary: Koa createContext alone (baseline for the next case)',
    setup: () => {
      const app = new Koa();
      return () => contextFor(app, { cookie: 'koa_mesh_canary=1a2b3c.bench' });
    },
    iterations: 100_000,
  },
  {
    name: 'canary: createContext + middleware, cookie key, no-op arm',
    setup: () => {
      const app = new Koa();
      const router = canaryRouter({ rollout: 'bench', arms });
      const next = () => Promise.resolve();
      return () => {
        const ctx = contextFor(app, { cookie: 'koa_mesh_canary=1a2b3c.bench' });
        return router(ctx, next);
      };
    },
    iterations: 100_000,
  },
  {
    name: 'canary: createContext + middleware, first visit (IP key, Set-Cookie), no-op arm',
    setup: () => {
      const app = new Koa();
      const router = canaryRouter({ rollout: 'bench', arms });
      const next = () => Promise.resolve();
      return () => router(contextFor(app, {}), next);
    },
    iterations: 100_000,
  },
]);
