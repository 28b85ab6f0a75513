import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Koa from 'koa';
import {
  describeWith,
  findBinary,
  freePorts,
  missingService,
  redisPing,
  runDir,
  spawnManaged,
  startApp,
  startConsul,
  startNode,
  startRedis,
  waitFor,
} from '../src/index.js';

describe('waitFor', () => {
  it('resolves with the first truthy value', async () => {
    let n = 0;
    await expect(waitFor(() => (++n >= 3 ? n : 0), { intervalMs: 1 })).resolves.toBe(3);
  });

  it('rejects at the deadline naming the condition and the last error', async () => {
    await expect(
      waitFor(
        () => {
          throw new Error('still down');
        },
        { timeoutMs: 50, intervalMs: 5, message: 'the thing' },
      ),
    ).rejects.toThrow(/the thing not met in 50 ms; last error: still down/);
  });
});

describe('freePorts', () => {
  it('gives distinct ports', async () => {
    const ports = await freePorts(4);
    expect(new Set(ports).size).toBe(4);
    for (const p of ports) expect(p).toBeGreaterThan(0);
  });
});

describe('binaries', () => {
  it('finds node on PATH and not a made-up name', () => {
    expect(findBinary('node')).toBeDefined();
    expect(findBinary('koa-mesh-no-such-binary')).toBeUndefined();
  });

  it('names the binary and the env var when a service is missing', () => {
    const saved = { PATH: process.env.PATH, CONSUL_HTTP_ADDR: process.env.CONSUL_HTTP_ADDR };
    process.env.PATH = '/nonexistent';
    delete process.env.CONSUL_HTTP_ADDR;
    try {
      expect(missingService('consul')).toMatch(
        /consul not found on PATH and CONSUL_HTTP_ADDR not set/,
      );
      process.env.CONSUL_HTTP_ADDR = '127.0.0.1:8500';
      expect(missingService('consul')).toBeUndefined();
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.CONSUL_HTTP_ADDR === undefined) delete process.env.CONSUL_HTTP_ADDR;
      else process.env.CONSUL_HTTP_ADDR = saved.CONSUL_HTTP_ADDR;
    }
  });
});

describe('spawnManaged', () => {
  it('records a pid file while the process lives and removes it on exit', async () => {
    const proc = spawnManaged(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    const pidFile = join(runDir(), `${proc.child.pid}.pid`);
    expect(existsSync(pidFile)).toBe(true);
    await proc.stop('SIGTERM', 1000);
    expect(existsSync(pidFile)).toBe(false);
    expect(readdirSync(runDir())).not.toContain(`${proc.child.pid}.pid`);
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const proc = spawnManaged(process.execPath, [
      '-e',
      "process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000)",
    ]);
    await waitFor(() => proc.output().includes('up'));
    await expect(proc.stop('SIGTERM', 100)).resolves.toBe('SIGKILL');
  });
});

describe('startApp', () => {
  it('serves a Koa app on a loopback port and closes busy keep-alive connections', async () => {
    const app = new Koa();
    app.use((ctx) => {
      ctx.body = { ok: true };
    });
    const server = await startApp(app);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(server.url, { headers: { connection: 'keep-alive' } });
    expect(await res.json()).toEqual({ ok: true });
    await server.close();
    await expect(fetch(server.url)).rejects.toThrow();
  });
});

describeWith(['consul', 'redis'], 'testkit: stop and start again on the same port', () => {
  it('restarts redis on its port', async () => {
    const redis = await startRedis({ own: true });
    try {
      expect(await redisPing(redis.host, redis.port)).toBe(true);
      await redis.stop();
      expect(await redisPing(redis.host, redis.port)).toBe(false);
      await redis.start();
      expect(await redisPing(redis.host, redis.port)).toBe(true);
    } finally {
      await redis.stop();
    }
  });

  it('restarts consul on its port with a fresh leader', async () => {
    const consul = await startConsul({ own: true });
    try {
      await consul.stop();
      await expect(fetch(`${consul.url}/v1/status/leader`)).rejects.toThrow();
      await consul.start();
      const leader = await fetch(`${consul.url}/v1/status/leader`).then((r) => r.json());
      expect(leader).toMatch(/^127\.0\.0\.1:\d+$/);
    } finally {
      await consul.stop();
    }
  });
});

describe('startNode', () => {
  it('resolves for a process that prints its ready line and exits at once', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'koa-mesh-startnode-'));
    const script = join(dir, 'quick.mjs');
    writeFileSync(script, "console.log('ready at 1'); process.exit(0);\n");
    const proc = await startNode(script, { readyLine: /ready at/, readyTimeoutMs: 5000 });
    await expect(proc.exited).resolves.toBe(0);
  });

  it('rejects with the output when the process exits without the ready line', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'koa-mesh-startnode-'));
    const script = join(dir, 'crash.mjs');
    writeFileSync(script, "console.error('boom: bad config'); process.exit(3);\n");
    await expect(
      startNode(script, { readyLine: /ready at/, readyTimeoutMs: 5000 }),
    ).rejects.toThrow(/boom: bad config/);
  });
});
