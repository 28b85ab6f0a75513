import { createServer } from 'node:http';
import Koa from 'koa';
import { closeServer, defineScenarios, listen } from '../lib/scenario.js';

/** The baseline every ratio divides by: Koa with one handler answering a small JSON body. */
export default defineScenarios([
  {
    name: 'koa',
    description: 'bare Koa, one handler returning a small JSON body',
    async start() {
      const app = new Koa();
      app.use((ctx) => {
        ctx.body = { id: 1, name: 'ada' };
      });
      const server = createServer(app.callback());
      const url = await listen(server);
      return { url: `${url}/users/1`, close: () => closeServer(server) };
    },
  },
]);
