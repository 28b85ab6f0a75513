import { createServer } from 'node:http';
import Koa from 'koa';
import OpossumBreaker from 'opossum';
import { breaker } from '@koa-mesh/breaker';
import { closeServer, defineScenarios, listen } from '../lib/scenario.js';

/** The same handler as bare Koa (scenarios/koa.ts), so the ratio is the breaker's cost. */
function handler(ctx: Koa.Context): void {
  ctx.body = { id: 1, name: 'ada' };
}

async function serve(app: Koa, onClose: () => void = () => undefined) {
  const server = createServer(app.callback());
  const url = await listen(server);
  return {
    url: `${url}/users/1`,
    close: async () => {
      onClose();
      await closeServer(server);
    },
  };
}

export default defineScenarios([
  {
    name: 'breaker',
    description: 'Koa + @koa-mesh/breaker closed, no timeout, no bulkhead, in front of the handler',
    compareTo: ['breaker:opossum'],
    async start() {
      const app = new Koa();
      const mw = breaker({ name: 'bench' });
      app.use(mw);
      app.use(handler);
      return serve(app, () => mw.close());
    },
  },
  {
    name: 'breaker:opossum',
    description: 'Koa + opossum 9 (timeout off) wrapping the same downstream handler',
    async start() {
      const app = new Koa();
      const cb = new OpossumBreaker((_ctx: Koa.Context, next: Koa.Next) => next(), {
        timeout: false,
      });
      app.use(async function opossumMiddleware(ctx, next) {
        await cb.fire(ctx, next);
      });
      app.use(handler);
      return serve(app, () => cb.shutdown());
    },
  },
]);
