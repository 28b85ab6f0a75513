// How checks run: errors, timeouts, hysteresis, shared runs, background loop, close().
import { performance } from 'node:perf_hooks';
import Koa from 'koa';
import request from 'supertest';
import { startApp, waitFor } from '@koa-mesh/testkit';
import {
  health,
  type CheckChangeEvent,
  type HealthCheckResult,
  type HealthMiddleware,
  type HealthOptions,
} from '../src/index.js';

const opened: HealthMiddleware[] = [];
afterEach(() => {
  for (const h of opened.splice(0)) h.close();
});

function probesWith(options: HealthOptions): { app: Koa; probes: HealthMiddleware } {
  const probes = health({ details: () => true, initiallyReady: true, ...options });
  opened.push(probes);
  const app = new Koa();
  app.use(probes);
  return { app, probes };
}

interface Body {
  status: string;
  output?: string;
  checks: Record<string, Array<Record<string, unknown>>>;
}

async function readiness(app: Koa): Promise<{ code: number; body: Body }> {
  const res = await request(app.callback()).get('/ready');
  return { code: res.status, body: JSON.parse(res.text) };
}

const manual = { intervalMs: 60_000 };

describe('a check that throws or never settles', () => {
  it('is a failing check with the error message as output (async and sync throws)', async () => {
    const { app, probes } = probesWith({
      checks: {
        async: {
          check: async () => Promise.reject(new Error('ECONNREFUSED 10.0.0.1:5432')),
          ...manual,
        },
        sync: {
          check: () => {
            throw new Error('sync boom');
          },
          critical: false,
          ...manual,
        },
      },
    });
    await probes.refresh();
    const { code, body } = await readiness(app);
    expect(code).toBe(503);
    expect(body.checks.async![0]).toMatchObject({
      status: 'fail',
      output: 'ECONNREFUSED 10.0.0.1:5432',
    });
    expect(body.checks.sync![0]).toMatchObject({ status: 'fail', output: 'sync boom' });
  });

  it('times out after timeoutMs with the signal aborted, as a failing check', async () => {
    let seen: AbortSignal | undefined;
    const { app } = probesWith({
      checks: {
        hang: {
          check: (signal) => {
            seen = signal;
            return new Promise<void>(() => undefined);
          },
          timeoutMs: 50,
          ...manual,
        },
      },
    });
    await waitFor(
      async () =>
        (await readiness(app)).body.checks.hang![0]!.output !==
        'pending: the first run has not finished',
    );
    const { code, body } = await readiness(app);
    expect(code).toBe(503);
    expect(body.checks.hang![0]).toMatchObject({
      status: 'fail',
      output: 'check "hang" timed out after 50 ms',
    });
    expect(seen?.aborted).toBe(true);
    expect((seen?.reason as { code?: string }).code).toBe('ERR_KOA_MESH_HEALTH_CHECK_TIMEOUT');
  });

  it('a check that ignores its signal is not called again while its last call hangs (no pile-up)', async () => {
    // Like a PING queued by a client that waits for a reconnect: every run past its timeout used
    // to call the check again, each call hanging on beside the earlier ones.
    let calls = 0;
    let settle = (): void => undefined;
    const { app, probes } = probesWith({
      checks: {
        db: {
          check: () => {
            calls++;
            return new Promise<void>((resolve) => (settle = resolve));
          },
          timeoutMs: 20,
          ...manual,
        },
      },
    });
    await waitFor(() => probes.checks()[0]!.result !== undefined);
    for (let i = 0; i < 5; i++) await probes.refresh();
    expect(calls).toBe(1);
    const { code, body } = await readiness(app);
    expect(code).toBe(503);
    expect(body.checks.db![0]).toMatchObject({
      status: 'fail',
      output: 'check "db" timed out after 20 ms',
    });
    // Once the hanging call settles, its answer counts and the next run calls the check afresh.
    settle();
    await probes.refresh();
    expect(probes.checks()[0]!.result?.status).toBe('pass');
    const refreshed = probes.refresh();
    settle();
    await refreshed;
    expect(calls).toBe(2);
  });

  it('a result that cannot be read (throwing getter, BigInt status) is a failing check, not an unhandled rejection', async () => {
    const { app, probes } = probesWith({
      checks: {
        getter: {
          check: () =>
            ({
              get status(): string {
                throw new Error('status getter threw');
              },
            }) as unknown as HealthCheckResult,
          ...manual,
        },
        bigint: { check: () => ({ status: 1n }) as unknown as HealthCheckResult, ...manual },
      },
    });
    await expect(probes.refresh()).resolves.toBeUndefined();
    const { code, body } = await readiness(app);
    expect(code).toBe(503);
    expect(body.checks.getter![0]).toMatchObject({ status: 'fail', output: 'status getter threw' });
    expect(body.checks.bigint![0]).toMatchObject({ status: 'fail' });
  });

  it('reports a malformed result as a failing check', async () => {
    const { app, probes } = probesWith({
      checks: {
        odd: { check: async () => ({ status: 'ok' }) as unknown as HealthCheckResult, ...manual },
        num: { check: async () => 42 as unknown as HealthCheckResult, critical: false, ...manual },
      },
    });
    await probes.refresh();
    const { body } = await readiness(app);
    expect(body.checks.odd![0]).toMatchObject({
      status: 'fail',
      output: 'check returned an invalid status "ok"',
    });
    expect(body.checks.num![0]).toMatchObject({
      status: 'fail',
      output: 'check returned number, not a result object',
    });
  });

  it('a hanging check does not slow the probes: they answer from the cached result', async () => {
    // The check hangs far longer than this test may run: a probe that waited for it could not
    // answer at all. Probe latency is printed, not asserted (no timing thresholds in tests).
    let calls = 0;
    const probes = health({
      details: () => true,
      initiallyReady: true,
      checks: {
        db: {
          check: () => {
            calls++;
            return calls === 1 ? { status: 'pass' as const } : new Promise<void>(() => undefined);
          },
          timeoutMs: 120_000,
          ...manual,
        },
      },
    });
    opened.push(probes);
    const app = new Koa();
    // Time spent answering inside the server, apart from the client's round trip.
    const serverTimes: number[] = [];
    app.use(async (_ctx, next) => {
      const t = performance.now();
      await next();
      serverTimes.push(performance.now() - t);
    });
    app.use(probes);
    const server = await startApp(app);
    try {
      await waitFor(() => probes.checks()[0]!.result !== undefined);
      void probes.refresh(); // the second run: hangs
      await waitFor(() => calls === 2);
      const times: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t = performance.now();
        const res = await fetch(`${server.url}/ready`);
        const body = (await res.json()) as { status: string };
        times.push(performance.now() - t);
        expect(res.status).toBe(200);
        expect(body.status).toBe('pass');
      }
      times.sort((a, b) => a - b);
      serverTimes.sort((a, b) => a - b);
      process.stdout.write(
        `[health probes] while a check hangs, over 200 probes: client round trip p50 ${times[100]!.toFixed(2)} ms, p99 ${times[197]!.toFixed(2)} ms; ` +
          `in the middleware p50 ${(serverTimes[100]! * 1000).toFixed(0)} µs, p99 ${(serverTimes[197]! * 1000).toFixed(0)} µs\n`,
      );
      // Concurrent refreshes share the hanging run rather than piling up new ones.
      void probes.refresh();
      void probes.refresh();
      await Promise.resolve();
      await new Promise((resolve) => setImmediate(resolve));
      expect(calls).toBe(2);
    } finally {
      probes.close();
      await server.close();
    }
  });
});

describe('hysteresis', () => {
  it('needs failureThreshold failing runs to fail and successThreshold passing runs to recover', async () => {
    let status: 'pass' | 'fail' = 'pass';
    const { app, probes } = probesWith({
      checks: {
        db: { check: () => ({ status }), failureThreshold: 3, successThreshold: 2, ...manual },
      },
    });
    await probes.refresh();
    expect((await readiness(app)).code).toBe(200);
    status = 'fail';
    await probes.refresh();
    await probes.refresh();
    expect((await readiness(app)).code).toBe(200); // two failures: not yet
    await probes.refresh();
    expect((await readiness(app)).code).toBe(503); // the third
    status = 'pass';
    await probes.refresh();
    expect((await readiness(app)).code).toBe(503); // one success: not yet
    status = 'fail';
    await probes.refresh();
    status = 'pass';
    await probes.refresh();
    expect((await readiness(app)).code).toBe(503); // the streak was broken
    await probes.refresh();
    expect((await readiness(app)).code).toBe(200);
  });

  it('takes the first result as it is', async () => {
    const { app, probes } = probesWith({
      checks: {
        db: { check: () => ({ status: 'fail' as const }), failureThreshold: 5, ...manual },
      },
    });
    await probes.refresh();
    expect((await readiness(app)).code).toBe(503);
  });

  it('onCheckChange hears status changes after hysteresis, and a throwing observer is ignored', async () => {
    const events: CheckChangeEvent[] = [];
    let status: 'pass' | 'fail' = 'pass';
    const { probes } = probesWith({
      onCheckChange: (e) => {
        events.push(e);
        throw new Error('observer bug');
      },
      checks: { db: { check: () => ({ status, output: status }), failureThreshold: 2, ...manual } },
    });
    await probes.refresh();
    status = 'fail';
    await probes.refresh();
    await probes.refresh();
    await probes.refresh();
    expect(events).toEqual([
      {
        name: 'db',
        kind: 'readiness',
        critical: true,
        previous: undefined,
        current: 'pass',
        output: 'pass',
      },
      {
        name: 'db',
        kind: 'readiness',
        critical: true,
        previous: 'pass',
        current: 'fail',
        output: 'fail',
      },
    ]);
  });
});

describe('background runs', () => {
  it('runs each check once at start, then every intervalMs', async () => {
    let calls = 0;
    const { probes } = probesWith({
      checks: {
        tick: {
          check: () => {
            calls++;
          },
          intervalMs: 20,
        },
      },
    });
    expect(calls).toBe(0); // the first run starts on the next tick of the microtask queue
    await waitFor(() => calls >= 4, { message: 'four background runs' });
    expect(probes.checks()[0]!.result).toEqual({ status: 'pass' });
  });

  it('close() stops the loops, aborts a run in flight and frees what checks hold', async () => {
    let calls = 0;
    let signal: AbortSignal | undefined;
    const close = jest.fn();
    const probes = health({
      checks: {
        tick: {
          check: (s) => {
            calls++;
            signal = s;
            return new Promise<void>((resolve) => s.addEventListener('abort', () => resolve()));
          },
          intervalMs: 10,
          close,
        },
      },
    });
    await waitFor(() => calls === 1);
    probes.close();
    expect(signal?.aborted).toBe(true);
    expect(close).toHaveBeenCalledTimes(1);
    const before = calls;
    // Runs on demand after close() are no-ops too.
    await probes.refresh();
    expect(calls).toBe(before);
  });

  it('addCheck() after construction starts the check and rejects a duplicate name', async () => {
    const { app, probes } = probesWith({});
    probes.addCheck('db', { check: () => ({ status: 'fail' as const }), ...manual });
    await probes.refresh();
    expect((await readiness(app)).code).toBe(503);
    expect(() => probes.addCheck('db', () => undefined)).toThrow(
      new TypeError('@koa-mesh/health: a check named "db" is already registered'),
    );
  });
});
