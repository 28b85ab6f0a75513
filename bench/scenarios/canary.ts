/**
 * @koa-mesh/canary-router: the proxy against the upstream hit directly and against node-http-proxy,
 * and the decision with in-process dispatch against bare Koa.
 *
 * The upstream of the three proxy scenarios is a bare Koa app answering the same JSON as the
 * baseline, started in a SEPARATE child process (this file re-run with CANARY_BENCH_UPSTREAM=1),
 * so the proxy and the upstream do not share one event loop. Each scenario starts its own upstream.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import httpProxy from 'http-proxy';
import Koa from 'koa';
import { canaryRouter } from '@koa-mesh/canary-router';
import { closeServer, defineScenarios, listen } from '../lib/scenario.js';

const BODY = { id: 1, name: 'ada' };
/** A returning client's assignment cookie (bucket 1a2b3c in base 36, rollout `bench`). */
const RETURNING_COOKIE = 'koa_mesh_canary=1a2b3c.bench';

/** Upstream mode: serve bare Koa and report the URL to the parent. */
if (process.env.CANARY_BENCH_UPSTREAM === '1') {
  const app = new Koa();
  app.use((ctx) => {
    ctx.body = BODY;
  });
  const server = createServer(app.callback());
  server.keepAliveTimeout = 60_000;
  const url = await listen(server);
  process.send?.({ type: 'upstream', url });
  process.on('disconnect', () => process.exit(0));
}

interface Upstream {
  url: string;
  close(): Promise<void>;
}

function startUpstream(): Promise<Upstream> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, CANARY_BENCH_UPSTREAM: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('exit', (code) => reject(new Error(`canary upstream exited with ${code}`)));
    child.on('message', (msg: { type?: string; url?: string }) => {
      if (msg.type !== 'upstream' || !msg.url) return;
      child.removeAllListeners('exit');
      resolve({
        url: msg.url,
        close: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

/** A gateway app on its own server, closed together with its upstream. */
async function serve(app: Koa, upstream: Upstream | undefined, extra?: () => Promise<void>) {
  const server = createServer(app.callback());
  const url = await listen(server);
  return {
    url: `${url}/users/1`,
    async close() {
      await closeServer(server);
      await extra?.();
      await upstream?.close();
    },
  };
}

const PROXIES = ['canary:proxy', 'canary:direct', 'canary:http-proxy'];
const others = (name: string) => PROXIES.filter((p) => p !== name);

export default defineScenarios([
  {
    name: 'canary:direct',
    description: 'the upstream (bare Koa, separate process) hit directly, no proxy',
    compareTo: others('canary:direct'),
    async start() {
      const upstream = await startUpstream();
      return { url: `${upstream.url}/users/1`, close: () => upstream.close() };
    },
  },
  {
    name: 'canary:proxy',
    description:
      'Koa + canaryRouter (weighted decision, 10% canary) proxying via undici to the upstream',
    compareTo: others('canary:proxy'),
    async start() {
      const upstream = await startUpstream();
      const router = canaryRouter({
        rollout: 'bench',
        arms: {
          stable: { target: upstream.url },
          canary: { target: upstream.url, weight: 10 },
        },
      });
      const app = new Koa();
      app.use(router);
      return serve(app, upstream, () => router.close());
    },
  },
  {
    name: 'canary:http-proxy',
    description: 'Koa + node-http-proxy with its defaults (no keep-alive pool) to the upstream',
    compareTo: others('canary:http-proxy'),
    async start() {
      const upstream = await startUpstream();
      const proxy = httpProxy.createProxyServer({ target: upstream.url });
      const app = new Koa();
      app.use(
        (ctx) =>
          new Promise<void>((resolve, reject) => {
            ctx.respond = false;
            ctx.res.once('finish', resolve);
            proxy.web(ctx.req, ctx.res, {}, (err) => reject(err));
          }),
      );
      return serve(app, upstream, async () => proxy.close());
    },
  },
  {
    name: 'canary:inprocess-control',
    description:
      'bare Koa receiving the same cookie and writing the same Vary / X-Service-Version headers, no decision',
    headers: { cookie: RETURNING_COOKIE },
    async start() {
      const app = new Koa();
      app.use((ctx) => {
        ctx.set('Vary', 'cookie');
        ctx.set('X-Service-Version', 'stable');
        ctx.body = BODY;
      });
      return serve(app, undefined);
    },
  },
  {
    name: 'canary:inprocess',
    description:
      "Koa + canaryRouter: weighted decision from a returning client's cookie, in-process dispatch",
    headers: { cookie: RETURNING_COOKIE },
    compareTo: ['canary:inprocess-control'],
    async start() {
      const handler = (ctx: Koa.Context) => {
        ctx.body = BODY;
      };
      const app = new Koa();
      app.use(
        canaryRouter({
          rollout: 'bench',
          arms: {
            stable: { target: { middleware: handler } },
            canary: { target: { middleware: handler }, weight: 10 },
          },
        }),
      );
      return serve(app, undefined);
    },
  },
  {
    name: 'canary:inprocess-first-visit',
    description: 'as canary:inprocess, but every request is a first visit (IP key, Set-Cookie)',
    async start() {
      const handler = (ctx: Koa.Context) => {
        ctx.body = BODY;
      };
      const app = new Koa();
      app.use(
        canaryRouter({
          rollout: 'bench',
          arms: {
            stable: { target: { middleware: handler } },
            canary: { target: { middleware: handler }, weight: 10 },
          },
        }),
      );
      return serve(app, undefined);
    },
  },
]);
