import { join } from 'node:path';
import {
  describeWith,
  startNode,
  startApp,
  startConsul,
  waitFor,
  type ConsulServer,
  type RunningServer,
} from '@koa-mesh/testkit';
import Koa from 'koa';
import { discovery, type DiscoveryMiddleware } from '../src/index.js';

interface HealthEntry {
  Service: { ID: string; Tags: string[]; Meta: Record<string, string>; Port: number };
  Checks: { CheckID: string; Status: string; ServiceID: string }[];
}

async function consulGet<T>(consul: ConsulServer, path: string): Promise<T> {
  const res = await fetch(`${consul.url}${path}`);
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return (await res.json()) as T;
}

/** A service that answers its name and has a readiness switch. */
async function service(name: string): Promise<RunningServer & { ready: { value: boolean } }> {
  const ready = { value: true };
  const app = new Koa();
  app.use((ctx) => {
    if (ctx.path === '/ready') {
      ctx.status = ready.value ? 200 : 503;
      ctx.body = ready.value ? 'ok' : 'draining';
      return;
    }
    ctx.body = { name };
  });
  return Object.assign(await startApp(app), { ready });
}

const FAST_WATCH = { waitMs: 5000, minIntervalMs: 20, backoffBaseMs: 50, backoffMaxMs: 500 };

describeWith(['consul'], 'with a real Consul agent', () => {
  let consul: ConsulServer;
  const cleanup: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    consul = await startConsul();
  });

  afterAll(async () => {
    if (!consul.external) await consul.stop();
  });

  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  function mesh(options: Parameters<typeof discovery>[0]): DiscoveryMiddleware {
    const mw = discovery(options);
    cleanup.push(() => mw.stop());
    return mw;
  }

  async function app(name: string): Promise<Awaited<ReturnType<typeof service>>> {
    const s = await service(name);
    cleanup.push(() => s.close());
    return s;
  }

  it('registers with tags, meta and checks, goes critical when not ready, and leaves on stop()', async () => {
    const svc = await app('orders-1');
    const mw = mesh({
      consul: { url: consul.url, watch: FAST_WATCH },
      register: {
        name: 'reg-orders',
        address: '127.0.0.1',
        tags: ['api', 'blue'],
        version: 'v2',
        meta: { team: 'checkout' },
        check: { http: '/ready', intervalMs: 1000, ttlMs: 5000 },
      },
    });
    const events: string[] = [];
    mw.on('registered', () => events.push('registered'));
    mw.on('deregistered', () => events.push('deregistered'));
    await mw.start({ port: svc.port });
    const id = `reg-orders-127.0.0.1-${svc.port}`;

    const [entry] = await consulGet<HealthEntry[]>(consul, '/v1/health/service/reg-orders?passing');
    expect(entry!.Service).toMatchObject({
      ID: id,
      Tags: ['api', 'blue'],
      Meta: { version: 'v2', team: 'checkout' },
      Port: svc.port,
    });
    const own = entry!.Checks.filter((c) => c.ServiceID === id)
      .map((c) => [c.CheckID, c.Status])
      .sort();
    expect(own).toEqual([
      [`${id}:http`, 'passing'],
      [`${id}:ttl`, 'passing'],
    ]);
    expect(mw.snapshot().registration).toMatchObject({ id, healthy: true });

    svc.ready.value = false;
    await waitFor(
      async () => {
        const checks = await consulGet<{ CheckID: string; Status: string }[]>(
          consul,
          `/v1/health/checks/reg-orders`,
        );
        return checks.find((c) => c.CheckID === `${id}:http`)?.Status === 'critical';
      },
      { timeoutMs: 10_000, message: 'the HTTP check to go critical' },
    );

    await mw.stop();
    const services = await consulGet<Record<string, unknown>>(consul, '/v1/agent/services');
    expect(Object.keys(services)).not.toContain(id);
    expect(events).toEqual(['registered', 'deregistered']);
  });

  it('propagates a new instance and a removed one to callers (prints the figures)', async () => {
    const a = await app('a');
    const b = await app('b');
    const check = { http: '/ready', intervalMs: 1000 };
    const providerA = mesh({
      consul: { url: consul.url },
      register: { name: 'prop', address: '127.0.0.1', check },
    });
    await providerA.start({ port: a.port });
    const caller = mesh({
      consul: { url: consul.url, watch: FAST_WATCH },
      balancer: 'round-robin',
    });
    const names = async (n: number): Promise<Set<string>> => {
      const seen = new Set<string>();
      for (let i = 0; i < n; i++) {
        const res = await caller.client.fetch('prop', '/');
        seen.add(((await res.body.json()) as { name: string }).name);
      }
      return seen;
    };
    expect(await names(4)).toEqual(new Set(['a']));

    const providerB = mesh({
      consul: { url: consul.url },
      register: { name: 'prop', address: '127.0.0.1', check },
    });
    const t0 = performance.now();
    await providerB.start({ port: b.port });
    await waitFor(async () => (await names(2)).has('b'), { intervalMs: 5, timeoutMs: 10_000 });
    const addS = (performance.now() - t0) / 1000;

    const t1 = performance.now();
    await providerB.stop();
    await waitFor(() => caller.client.instances('prop').every((i) => i.port !== b.port), {
      intervalMs: 5,
      timeoutMs: 10_000,
    });
    const removeS = (performance.now() - t1) / 1000;
    expect(await names(10)).toEqual(new Set(['a']));
    console.log(
      `[discovery] propagation through Consul: new instance routed after ${addS.toFixed(3)} s, ` +
        `removed instance out of rotation after ${removeS.toFixed(3)} s`,
    );
  });

  it('deregister() leaves Consul while the client still calls other services; stop() then ends it', async () => {
    const provider = await app('dep');
    const self = await app('self');
    const dep = mesh({
      consul: { url: consul.url },
      register: { name: 'drain-dep', address: '127.0.0.1', check: { ttlMs: 5000 } },
    });
    await dep.start({ port: provider.port });
    const mw = mesh({
      consul: { url: consul.url, watch: FAST_WATCH },
      register: { name: 'drain-self', address: '127.0.0.1', check: { ttlMs: 5000 } },
      watch: ['drain-dep'],
    });
    await mw.start({ port: self.port });
    await waitFor(() => mw.client.instances('drain-dep').length === 1);
    const id = `drain-self-127.0.0.1-${self.port}`;
    expect(Object.keys(await consulGet(consul, '/v1/agent/services'))).toContain(id);

    await Promise.all([mw.deregister(), mw.deregister()]);
    // Out of Consul, so callers stop routing here...
    expect(Object.keys(await consulGet(consul, '/v1/agent/services'))).not.toContain(id);
    // ...while the requests still being served can call their dependencies.
    const res = await mw.client.fetch('drain-dep', '/');
    expect(await res.body.json()).toEqual({ name: 'dep' });
    expect(mw.snapshot()).toMatchObject({ deregistered: true, stopped: false });
    await expect(mw.start({ port: self.port })).rejects.toThrow('start() after deregister()');

    await mw.stop();
    expect(mw.snapshot()).toMatchObject({ deregistered: true, stopped: true });
    await expect(mw.client.fetch('drain-dep', '/')).rejects.toMatchObject({
      code: 'ERR_KOA_MESH_SERVICE_UNAVAILABLE',
    });
  });

  it('frees every socket and timer on stop()', async () => {
    const svc = await app('leaky');
    // Idle keep-alive sockets must not expire by themselves during the test: only stop() may free them.
    svc.server.keepAliveTimeout = 600_000;
    const count = (): number =>
      process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout')
        .length;
    const baseline = count();
    const mw = discovery({
      consul: { url: consul.url, watch: FAST_WATCH },
      fetch: { keepAliveTimeoutMs: 600_000 },
      register: { name: 'leaky', address: '127.0.0.1', check: { ttlMs: 3000, http: '/ready' } },
    });
    await mw.start({ port: svc.port });
    const res = await mw.client.fetch('leaky', '/');
    expect(await res.body.json()).toEqual({ name: 'leaky' });
    expect(count()).toBeGreaterThan(baseline); // watch socket, pool socket, heartbeat timer
    await mw.stop();
    await waitFor(() => count() <= baseline, { message: 'sockets and timers to be freed' });
  });

  it('never holds the process open: a process with only a watch exits by itself', async () => {
    const proc = await startNode(join(__dirname, 'fixtures', 'idle-watch.ts'), {
      env: { ...process.env, TEST_CONSUL_URL: consul.url },
    });
    await waitFor(() => proc.child.exitCode !== null, {
      timeoutMs: 20_000,
      message: 'the process to exit with a blocking query open',
    });
    // It got its first list (so a blocking query was open), then left on its own.
    expect(proc.output()).toMatch(/watching/);
    expect(proc.child.exitCode).toBe(0);
  });

  describe('when the agent goes away', () => {
    let own: ConsulServer;
    beforeAll(async () => {
      own = await startConsul({ own: true });
    });
    afterAll(async () => {
      await own.stop();
    });

    it('keeps picking and fetching from the cache, then re-registers with the new agent', async () => {
      const svc = await app('survivor');
      const provider = mesh({
        consul: { url: own.url, watch: FAST_WATCH, requestTimeoutMs: 1000 },
        register: { name: 'survivor', address: '127.0.0.1', check: { ttlMs: 1500 } },
      });
      const reregistered: unknown[] = [];
      provider.on('reregistered', (e) => reregistered.push(e));
      await provider.start({ port: svc.port });
      const caller = mesh({ consul: { url: own.url, watch: FAST_WATCH } });
      const first = await caller.client.fetch('survivor', '/');
      expect(await first.body.json()).toEqual({ name: 'survivor' });

      await own.stop();
      await waitFor(() => caller.snapshot().services[0]?.watch.stale, {
        message: 'the watch to notice',
      });
      expect(caller.client.pick('survivor')?.port).toBe(svc.port);
      const during = await caller.client.fetch('survivor', '/');
      expect(await during.body.json()).toEqual({ name: 'survivor' });
      const health = await caller.healthCheck();
      expect(health.status).toBe('warn');
      expect(health.output).toMatch(/stale/);

      await own.start();
      const id = `survivor-127.0.0.1-${svc.port}`;
      await waitFor(
        async () =>
          Object.keys(await consulGet<Record<string, unknown>>(own, '/v1/agent/services')).includes(
            id,
          ),
        { timeoutMs: 15_000, message: 'the service to register itself again' },
      );
      expect(reregistered.length).toBeGreaterThanOrEqual(1);
      await waitFor(() => caller.snapshot().services[0]?.watch.stale === false, {
        timeoutMs: 15_000,
      });
      const after = await caller.client.fetch('survivor', '/');
      expect(await after.body.json()).toEqual({ name: 'survivor' });
    });

    it('rejects start() while the agent is down and registers once it is back', async () => {
      const svc = await app('late');
      await own.stop();
      const provider = mesh({
        consul: { url: own.url, requestTimeoutMs: 500, syncIntervalMs: 200 },
        register: { name: 'late', address: '127.0.0.1', check: { http: '/ready' } },
      });
      const reregistered: unknown[] = [];
      provider.on('reregistered', (e) => reregistered.push(e));
      await expect(provider.start({ port: svc.port })).rejects.toMatchObject({
        code: 'ECONNREFUSED',
      });
      expect(provider.snapshot().registration).toMatchObject({ healthy: false });
      await own.start();
      const id = `late-127.0.0.1-${svc.port}`;
      await waitFor(
        async () =>
          Object.keys(await consulGet<Record<string, unknown>>(own, '/v1/agent/services')).includes(
            id,
          ),
        { timeoutMs: 15_000, message: 'the service to register once the agent is back' },
      );
      expect(reregistered).toHaveLength(1);
      expect(provider.snapshot().registration).toMatchObject({ healthy: true });
    });

    it('sees instances registered on a restarted agent without waiting out a blocking query on the old index', async () => {
      const a = await app('before');
      const b = await app('after');
      const put = async (path: string, body?: unknown): Promise<void> => {
        const res = await fetch(`${own.url}${path}`, {
          method: 'PUT',
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (!res.ok) throw new Error(`${path}: ${res.status}`);
      };
      const register = (id: string, port: number): Promise<void> =>
        put('/v1/agent/service/register', {
          ID: id,
          Name: 'restarted',
          Address: '127.0.0.1',
          Port: port,
        });
      // Raise the agent's index, so that the fresh agent's index stays below it for a while.
      for (let i = 0; i < 20; i++) {
        await put('/v1/agent/service/register', { ID: `filler-${i}`, Name: 'filler', Port: 1 });
        await put(`/v1/agent/service/deregister/filler-${i}`);
      }
      await register('restarted-a', a.port);
      // The production wait (60 s): a query blocked on the old index returns only when it ends.
      const caller = mesh({ consul: { url: own.url, watch: { ...FAST_WATCH, waitMs: 60_000 } } });
      const first = await caller.client.fetch('restarted', '/');
      expect(await first.body.json()).toEqual({ name: 'before' });
      const before = caller.snapshot().services[0]!.watch.index!;

      await own.stop();
      await waitFor(() => caller.snapshot().services[0]!.watch.stale, {
        message: 'the watch to notice',
      });
      await own.start();
      await register('restarted-b', b.port);
      const agentIndex = Number(
        (await fetch(`${own.url}/v1/health/service/restarted?passing`)).headers.get(
          'x-consul-index',
        ),
      );
      // The new agent's index is below the one the watch had: the case under test.
      expect(agentIndex).toBeLessThan(before);
      await waitFor(() => caller.client.instances('restarted').some((i) => i.port === b.port), {
        timeoutMs: 20_000,
        message: 'the instance registered on the restarted agent to be seen',
      });
      const res = await caller.client.fetch('restarted', '/');
      expect(await res.body.json()).toEqual({ name: 'after' });
    });
  });
});
