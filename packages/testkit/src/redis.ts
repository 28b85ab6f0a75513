import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary } from './binaries.js';
import { freePort } from './ports.js';
import { spawnManaged, type ManagedProcess } from './processes.js';
import { waitFor } from './wait-for.js';

export interface RedisServer {
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** True when this is the server named by REDIS_URL, which the testkit neither starts nor stops. */
  readonly external: boolean;
  /** Stops the server (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
  /** Starts it again on the same port after `stop()` (data is not kept: persistence is off). */
  start(): Promise<void>;
  output(): string;
}

export interface StartRedisOptions {
  /** Always spawn a private server, even when REDIS_URL is set. @default false */
  own?: boolean;
  /** @default 10000 */
  readyTimeoutMs?: number;
}

/** Sends PING over a raw socket; true on +PONG. */
export function redisPing(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => finish(data.toString().startsWith('+PONG')));
  });
}

/**
 * Starts a real `redis-server` on 127.0.0.1 and a free port, its working folder in a temp dir and
 * persistence off. Uses REDIS_URL instead when that is set (unless `own`).
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  const env = process.env.REDIS_URL;
  if (env && !options.own) {
    const url = new URL(env);
    return {
      url: env,
      host: url.hostname,
      port: Number(url.port || 6379),
      external: true,
      stop: () =>
        Promise.reject(new Error('testkit: cannot stop the external server at REDIS_URL')),
      start: () => Promise.resolve(),
      output: () => '',
    };
  }
  const bin = findBinary('redis-server');
  if (!bin)
    throw new Error(
      'testkit: redis-server not found on PATH (../shared/tools/install-services.sh)',
    );
  const port = await freePort();
  let proc: ManagedProcess | undefined;
  let dir: string | undefined;

  const launch = async (): Promise<void> => {
    dir = mkdtempSync(join(tmpdir(), 'koa-mesh-redis-'));
    proc = spawnManaged(bin, [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      '--daemonize',
      'no',
    ]);
    const current = proc;
    await waitFor(
      async () => {
        if (current.child.exitCode !== null)
          throw new Error(`redis-server exited early:\n${current.output()}`);
        return redisPing('127.0.0.1', port);
      },
      {
        timeoutMs: readyTimeoutMs,
        intervalMs: 25,
        message: `redis-server on port ${port} to answer PING`,
      },
    );
  };

  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    external: false,
    async stop() {
      await proc?.stop('SIGTERM', 3000);
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
    async start() {
      if (proc && proc.child.exitCode === null && proc.child.signalCode === null) return;
      await launch();
    },
    output: () => proc?.output() ?? '',
  };
}
