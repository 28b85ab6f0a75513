import { createServer } from 'node:http';
import { discovery } from '@koa-mesh/discovery';
import Koa from 'koa';
import { Pool } from 'undici';
import { closeServer, defineScenarios, listen } from '../lib/scenario.js';

const BODY = JSON.stringify({ id: 1, name: 'ada' });

/** The local upstream both scenarios call: plain node:http answering a small JSON body. */
async function startUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(BODY),
    });
    res.end(BODY);
  });
  const url = await listen(server);
  return { url, close: () => closeServer(server) };
}

export default defineScenarios([
  {
    name: 'discovery:fetch',
    description:
      'Koa handler calling a local upstream through ctx.state.discovery.fetch (p2c, static registry)',
    compareTo: ['discovery:undici-pool'],
    async start() {
      const upstream = await startUpstream();
      const mw = discovery({ services: { users: [upstream.url] }, env: false });
      const app = new Koa();
      app.use(mw);
      app.use(async (ctx) => {
        const res = await ctx.state.discovery.fetch('users', '/users/1');
        ctx.body = await res.body.json();
      });
      const server = createServer(app.callback());
      const url = await listen(server);
      return {
        url: `${url}/users/1`,
        async close() {
          await closeServer(server);
          await mw.stop();
          await upstream.close();
        },
      };
    },
  },
  {
    name: 'discovery:undici-pool',
    description: 'the same handler calling the same upstream with a plain undici Pool (the peer)',
    async start() {
      const upstream = await startUpstream();
      const pool = new Pool(upstream.url, { connections: 128 });
      const app = new Koa();
      app.use(async (ctx) => {
        const res = await pool.request({ path: '/users/1', method: 'GET' });
        ctx.body = await res.body.json();
      });
      const server = createServer(app.callback());
      const url = await listen(server);
      return {
        url: `${url}/users/1`,
        async close() {
          await closeServer(server);
          await pool.close();
          await upstream.close();
        },
      };
    },
  },
]);
