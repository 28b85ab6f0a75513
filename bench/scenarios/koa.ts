import { createServer } from 'node:http';
import Koa, { type Middleware } from 'koa';
import { closeServer, defineScenarios, listen } from '../lib/scenario.js';

const handler: Middleware = (ctx) => {
  ctx.body = { id: 1, name: 'ada' };
};

async function serveApp(middleware: Middleware[]) {
  const app = new Koa();
  for (const m of middleware) app.use(m);
  app.use(handler);
  const server = createServer(app.callback());
  const url = await listen(server);
  return { url: `${url}/users/1`, close: () => closeServer(server) };
}

/**
 * The baseline every ratio divides by (Koa with one handler answering a small JSON body), and
 * two reference points for reading the other ratios: what the cheapest middleware there is costs
 * (an async pass-through) and what one response header costs (a pass-through that sets one).
 */
export default defineScenarios([
  {
    name: 'koa',
    description: 'bare Koa, one handler returning a small JSON body',
    async start() {
      return serveApp([]);
    },
  },
  {
    name: 'koa:pass-through',
    description: 'bare Koa + `async (ctx, next) => { await next(); }`: the cheapest middleware',
    start: () =>
      serveApp([
        async (_ctx, next) => {
          await next();
        },
      ]),
  },
  {
    name: 'koa:one-header',
    description: 'bare Koa + a middleware setting one constant response header before next()',
    start: () =>
      serveApp([
        (ctx, next) => {
          ctx.res.setHeader('x-request-id', '0d8f3c3e-4a7b-4c1e-9a59-6d2f7b8e1c44');
          return next();
        },
      ]),
  },
]);
