// The shutdown orchestrator in-process, on a real listener: hooks, deadlines, signals, headers.
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import Koa from 'koa';
import { Client } from 'undici';
import { waitFor } from '@koa-mesh/testkit';
import {
  gracefulShutdown,
  health,
  type GracefulShutdown,
  type GracefulShutdownOptions,
  type ShutdownLogger,
} from '../src/index.js';

interface Harness {
  server: Server;
  origin: string;
  logs: string[];
  logger: ShutdownLogger;
  exits: number[];
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c();
    } catch {
      // already closed by the test
    }
  }
});

async function listening(app: Koa): Promise<Harness> {
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as { port: number };
  const logs: string[] = [];
  return {
    server,
    origin: `http://127.0.0.1:${port}`,
    logs,
    logger: {
      info: (m) => logs.push(`info ${m}`),
      warn: (m) => logs.push(`warn ${m}`),
      error: (m) => logs.push(`error ${m}`),
    },
    exits: [],
  };
}

function orchestrate(h: Harness, options: GracefulShutdownOptions): GracefulShutdown {
  const s = gracefulShutdown(h.server, {
    signals: [],
    logger: h.logger,
    exit: (code) => h.exits.push(code),
    ...options,
  });
  cleanups.push(() => s.dispose());
  return s;
}

function appWithSlowRoute(): { app: Koa; release: () => void; started: () => number } {
  const app = new Koa();
  let waiting: Array<() => void> = [];
  let count = 0;
  app.use(async (ctx) => {
    if (ctx.path === '/slow') {
      count++;
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
    ctx.body = 'done';
  });
  return {
    app,
    release: () => {
      for (const r of waiting) r();
      waiting = [];
    },
    started: () => count,
  };
}

/**
 * Writes `paths` as pipelined GETs in one packet on a raw socket (undici pipelines only when it
 * chooses to) and resolves with everything the server sent once it closed the connection.
 */
function pipelined(origin: string, paths: string[]): Promise<string> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    cleanups.push(() => socket.destroy());
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
    socket.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: test\r\n\r\n`).join(''));
  });
}

/** Status line and Connection header of every response in a raw HTTP/1.1 byte stream, in order. */
function responsesOf(raw: string): Array<{ status: number; connection: string; body: string }> {
  return raw
    .split(/(?=HTTP\/1\.1 \d{3} )/)
    .filter((part) => part !== '')
    .map((part) => {
      const [head = '', body = ''] = part.split('\r\n\r\n');
      return {
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
        connection: /\r\nconnection: ([^\r]*)/i.exec(head)?.[1]?.toLowerCase() ?? '',
        body,
      };
    });
}

function appCountingPipelined(): { app: Koa; release: () => void; handled: string[] } {
  const app = new Koa();
  const handled: string[] = [];
  let release = (): void => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  app.use(async (ctx) => {
    handled.push(ctx.path);
    if (ctx.path === '/slow') await held;
    ctx.body = ctx.path;
  });
  return { app, release, handled };
}

describe('gracefulShutdown in-process', () => {
  it('runs the steps in order, marks Connection: close on in-flight and new responses, resolves exit 0', async () => {
    const probes = health({ initiallyReady: true });
    cleanups.push(() => probes.close());
    const { app, release, started } = appWithSlowRoute();
    const koa = new Koa();
    koa.use(probes);
    koa.use(app.middleware[0]!);
    const h = await listening(koa);
    const order: string[] = [];
    // The second hook holds the shutdown in its first step while the test probes the server.
    let releaseHook = (): void => undefined;
    const hookHeld = new Promise<void>((resolve) => (releaseHook = resolve));
    const s = orchestrate(h, {
      health: probes,
      drainDelayMs: 20,
      timeoutMs: 5000,
      beforeDrain: [
        () => order.push('deregister'),
        async () => {
          order.push('stopConsumers');
          await hookHeld;
        },
      ],
      onClose: async function flush() {
        order.push(`onClose(listening=${h.server.listening})`);
      },
    });
    const client = new Client(h.origin);
    cleanups.push(() => client.destroy());
    // A request in flight before the signal.
    const inflight = client.request({ path: '/slow', method: 'GET' });
    await waitFor(() => started() === 1);
    expect(s.inflight).toBe(1);
    const result = s.shutdown('SIGTERM');
    expect(probes.shuttingDown).toBe(true);
    expect(s.state).toBe('beforeDrain');
    // During the drain: readiness 503, liveness 200, and every response says Connection: close.
    const other = new Client(h.origin);
    cleanups.push(() => other.destroy());
    const ready = await other.request({ path: '/ready', method: 'GET' });
    await ready.body.text();
    expect(ready.statusCode).toBe(503);
    expect(ready.headers.connection).toBe('close');
    const liveClient = new Client(h.origin);
    cleanups.push(() => liveClient.destroy());
    const live = await liveClient.request({ path: '/health', method: 'GET' });
    await live.body.text();
    expect(live.statusCode).toBe(200);
    expect(live.headers.connection).toBe('close');
    releaseHook();
    await waitFor(() => s.state === 'close');
    expect(h.server.listening).toBe(false);
    release();
    const res = await inflight;
    expect(await res.body.text()).toBe('done');
    expect(res.headers.connection).toBe('close');
    const outcome = await result;
    expect(outcome).toMatchObject({ exitCode: 0, reason: 'SIGTERM', errors: [] });
    expect(h.exits).toEqual([0]);
    expect(order).toEqual(['deregister', 'stopConsumers', 'onClose(listening=false)']);
    expect(s.state).toBe('done');
    expect(
      h.logs.filter((l) => l.startsWith('info')).map((l) => l.replace(/\d+ ms/g, 'N ms')),
    ).toEqual([
      'info @koa-mesh/health: shutdown: SIGTERM received, readiness fails from now on',
      'info @koa-mesh/health: shutdown: beforeDrain hook #1',
      'info @koa-mesh/health: shutdown: beforeDrain hook #2',
      'info @koa-mesh/health: shutdown: drain: serving N ms more',
      'info @koa-mesh/health: shutdown: close: listener closed, 1 request(s) in flight',
      'info @koa-mesh/health: shutdown: onClose hook "flush"',
      expect.stringMatching(
        /^info @koa-mesh\/health: shutdown: done in N ms \(beforeDrain \d+, drain \d+, close \d+, onClose \d+\), exit 0$/,
      ),
    ]);
  });

  it('closes promptly after an error response, whose headers Koa resets (Connection: close lost)', async () => {
    const koa = new Koa();
    let fail = (): void => undefined;
    let entered = false;
    koa.use(async () => {
      entered = true;
      await new Promise<void>((resolve) => (fail = resolve));
      throw new Error('handler failed');
    });
    koa.silent = true;
    const h = await listening(koa);
    h.server.keepAliveTimeout = 60_000;
    const s = orchestrate(h, { drainDelayMs: 0, timeoutMs: 3000 });
    const client = new Client(h.origin, { keepAliveTimeout: 60_000 });
    cleanups.push(() => client.destroy());
    const pending = client.request({ path: '/boom', method: 'GET' });
    await waitFor(() => entered);
    const result = s.shutdown();
    await waitFor(() => s.state === 'close');
    fail();
    const res = await pending;
    await res.body.text();
    expect(res.statusCode).toBe(500);
    expect(res.headers.connection).not.toBe('close');
    // The keep-alive connection is closed once idle: the close step ends well before its deadline.
    expect((await result).exitCode).toBe(0);
  });

  it('pipelined requests received before the signal are all answered, then the connection closes', async () => {
    const { app, release, handled } = appCountingPipelined();
    const h = await listening(app);
    // Were the connection left to the keep-alive timeout, the close step would overrun its deadline.
    h.server.keepAliveTimeout = 60_000;
    const s = orchestrate(h, { drainDelayMs: 0, timeoutMs: 5000 });
    const raw = pipelined(h.origin, ['/slow', '/a', '/b']);
    // Node hands every pipelined request to the app at once: all three run.
    await waitFor(() => handled.length === 3);
    const result = s.shutdown();
    await waitFor(() => s.state === 'close');
    release();
    const responses = responsesOf(await raw);
    expect(handled).toEqual(['/slow', '/a', '/b']);
    // '/b' was answered before the signal (its headers wait behind '/slow'), so it cannot say
    // close; the two answered after it must not, or Node would end the connection before '/b'.
    expect(responses.map((r) => [r.status, r.body, r.connection === 'close'])).toEqual([
      [200, '/slow', false],
      [200, '/a', false],
      [200, '/b', false],
    ]);
    expect((await result).exitCode).toBe(0);
    expect(s.inflight).toBe(0);
  });

  it('pipelined requests arriving during the drain are all answered; only the last carries Connection: close', async () => {
    const { app, release, handled } = appCountingPipelined();
    const h = await listening(app);
    let endDrain = (): void => undefined;
    const drainHeld = new Promise<void>((resolve) => (endDrain = resolve));
    cleanups.push(() => endDrain());
    const s = orchestrate(h, { drainDelayMs: 0, timeoutMs: 5000, beforeDrain: () => drainHeld });
    const result = s.shutdown();
    const raw = pipelined(h.origin, ['/slow', '/a', '/b']);
    await waitFor(() => handled.length === 3);
    release();
    const responses = responsesOf(await raw);
    expect(responses.map((r) => [r.status, r.body, r.connection === 'close'])).toEqual([
      [200, '/slow', false],
      [200, '/a', false],
      [200, '/b', true],
    ]);
    endDrain();
    expect((await result).exitCode).toBe(0);
    expect(s.inflight).toBe(0);
  });

  it('shutdown() twice returns the same run; hooks run once', async () => {
    const h = await listening(new Koa());
    const hook = jest.fn();
    const s = orchestrate(h, { drainDelayMs: 0, beforeDrain: hook });
    const a = s.shutdown();
    const b = s.shutdown('again');
    expect(b).toBe(a);
    expect((await a).reason).toBe('shutdown()');
    expect(hook).toHaveBeenCalledTimes(1);
    expect(h.exits).toEqual([0]);
  });

  it('a throwing hook does not stop the shutdown but exits 1 naming its step', async () => {
    const h = await listening(new Koa());
    const onClose = jest.fn();
    const s = orchestrate(h, {
      drainDelayMs: 0,
      beforeDrain: function deregister() {
        throw new Error('consul unreachable');
      },
      onClose,
    });
    const result = await s.shutdown();
    expect(result.exitCode).toBe(1);
    expect(result.errors.map((e) => [e.code, e.step, e.message])).toEqual([
      [
        'ERR_KOA_MESH_HEALTH_SHUTDOWN_HOOK',
        'beforeDrain',
        '@koa-mesh/health: graceful shutdown step "beforeDrain" hook "deregister" threw: consul unreachable',
      ],
    ]);
    expect(onClose).toHaveBeenCalled();
    expect(h.server.listening).toBe(false);
    expect(h.exits).toEqual([1]);
    expect(h.logs).toContain(
      'error @koa-mesh/health: graceful shutdown step "beforeDrain" hook "deregister" threw: consul unreachable',
    );
  });

  it('a hook that never settles is cut at hookTimeoutMs, exit 1 naming the step and the hook', async () => {
    const h = await listening(new Koa());
    const s = orchestrate(h, {
      drainDelayMs: 0,
      hookTimeoutMs: 30,
      onClose: [
        () => undefined,
        function flushTraces() {
          return new Promise(() => undefined);
        },
      ],
    });
    const result = await s.shutdown();
    expect(result.exitCode).toBe(1);
    expect(result.errors.map((e) => e.message)).toEqual([
      '@koa-mesh/health: graceful shutdown step "onClose" exceeded its 30 ms deadline in hook "flushTraces"',
    ]);
  });

  it('warns at construction when the steps can outlast terminationGracePeriodMs', async () => {
    const h = await listening(new Koa());
    orchestrate(h, {
      drainDelayMs: 20_000,
      timeoutMs: 15_000,
      beforeDrain: () => undefined,
    });
    expect(h.logs).toEqual([
      'warn @koa-mesh/health: shutdown: the steps may take up to 40000 ms (hooks, drainDelayMs 20000, timeoutMs 15000), more than terminationGracePeriodMs 30000: the orchestrator may kill the process first',
    ]);
    const quiet = await listening(new Koa());
    orchestrate(quiet, { drainDelayMs: 5000, terminationGracePeriodMs: 60_000 });
    expect(quiet.logs).toEqual([]);
  });

  it('installs signal handlers only when asked, and dispose() removes them', async () => {
    const h = await listening(new Koa());
    const before = process.listenerCount('SIGTERM');
    const none = orchestrate(h, {});
    expect(process.listenerCount('SIGTERM')).toBe(before);
    none.dispose();
    const s = gracefulShutdown(h.server, { logger: h.logger, exit: false });
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    expect(process.listenerCount('SIGINT')).toBeGreaterThan(0);
    s.dispose();
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });

  it('the middleware method wires its own health', async () => {
    const probes = health({ initiallyReady: true });
    cleanups.push(() => probes.close());
    const koa = new Koa();
    koa.use(probes);
    const h = await listening(koa);
    const s = probes.gracefulShutdown(h.server, {
      signals: [],
      drainDelayMs: 0,
      logger: h.logger,
      exit: false,
    });
    cleanups.push(() => s.dispose());
    expect((await s.shutdown()).exitCode).toBe(0);
    expect(probes.shuttingDown).toBe(true);
  });
});

describe('gracefulShutdown with a broken logger', () => {
  it('still exits, with 1 naming the step where the logger threw', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const exits: number[] = [];
    const s = gracefulShutdown(server, {
      signals: [],
      drainDelayMs: 0,
      exit: (code) => exits.push(code),
      logger: {
        info: (m) => {
          if (m.includes('drain:')) throw new Error('log sink closed');
        },
        warn: () => undefined,
        error: () => undefined,
      },
    });
    const result = await s.shutdown();
    s.dispose();
    server.close();
    expect(exits).toEqual([1]);
    expect(result.errors.map((e) => e.message)).toEqual([
      '@koa-mesh/health: graceful shutdown step "drain" failed: log sink closed',
    ]);
  });
});
