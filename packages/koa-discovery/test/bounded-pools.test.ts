import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  describeWith,
  startApp,
  startConsul,
  waitFor,
  type ConsulServer,
  type RunningServer,
} from '@koa-mesh/testkit';
import Koa from 'koa';
import request from 'supertest';
import {
  ConsulRegistry,
  discovery,
  type DiscoveryMiddleware,
  type DiscoveryOptions,
  type Instance,
  type InstanceFilter,
  type Registry,
  type RegistryWatch,
} from '../src/index.js';

const FAST_WATCH = { waitMs: 5000, minIntervalMs: 20, backoffBaseMs: 50, backoffMaxMs: 500 };

/** An upstream that answers its name, holds `/slow` until `open()`, and records client sockets. */
interface Upstream extends RunningServer {
  sockets: Set<Socket>;
  /** Remote ports of the connections that carried each request, in order. */
  ports: number[];
  open(): void;
}

async function upstream(name: string): Promise<Upstream> {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const ports: number[] = [];
  const app = new Koa();
  app.use(async (ctx) => {
    ports.push(ctx.req.socket.remotePort!);
    if (ctx.path === '/slow') await gate;
    ctx.body = { name };
  });
  const running = await startApp(app);
  // Idle keep-alive sockets must not expire on the server side: only the client may close them.
  running.server.keepAliveTimeout = 600_000;
  const sockets = new Set<Socket>();
  running.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return Object.assign(running, { sockets, ports, open });
}

/** A registry that counts its live subscriptions (watch() minus close()). */
function counting(inner: Registry): Registry & { live: () => number } {
  let live = 0;
  return {
    kind: inner.kind,
    live: () => live,
    watch(service, dc, onChange): RegistryWatch {
      const w = inner.watch(service, dc, onChange);
      live++;
      let open = true;
      return {
        get instances() {
          return w.instances;
        },
        info: () => w.info(),
        close() {
          if (open) live--;
          open = false;
          w.close();
        },
      };
    },
    close: () => inner.close(),
    on: (event, listener) => inner.on(event, listener),
    off: (event, listener) => inner.off(event, listener),
  };
}

/** An HTTP proxy in front of Consul that knows which services have a health query open now. */
async function consulProxy(target: string): Promise<RunningServer & { querying(): string[] }> {
  const open = new Map<ServerResponse, string>();
  const { hostname, port } = new URL(target);
  const running = await startApp((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, 'http://proxy');
    const prefix = '/v1/health/service/';
    if (url.pathname.startsWith(prefix)) {
      open.set(res, decodeURIComponent(url.pathname.slice(prefix.length)));
    }
    const upstream = httpRequest(
      {
        host: hostname,
        port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent: false,
      },
      (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
    // Answered, or the client went away (a cancelled query): the query ends here and at Consul.
    res.on('close', () => {
      open.delete(res);
      upstream.destroy();
    });
  });
  return Object.assign(running, { querying: () => [...new Set(open.values())].sort() });
}

describeWith(['consul'], 'bounded pools and keep-alive pools (real Consul agent)', () => {
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

  async function app(name: string): Promise<Upstream> {
    const s = await upstream(name);
    cleanup.push(async () => {
      s.open();
      await s.close();
    });
    return s;
  }

  /** Registers an instance through the agent API (no checks: passing at once). */
  async function register(
    name: string,
    id: string,
    port: number,
    meta: Record<string, string> = {},
  ): Promise<void> {
    const res = await fetch(`${consul.url}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ ID: id, Name: name, Address: '127.0.0.1', Port: port, Meta: meta }),
    });
    if (!res.ok) throw new Error(`register ${id}: ${res.status} ${await res.text()}`);
    if (!cleanup.some((fn) => (fn as { id?: string }).id === id)) {
      const deregister = Object.assign(
        async () => {
          await fetch(`${consul.url}/v1/agent/service/deregister/${id}`, { method: 'PUT' });
        },
        { id },
      );
      cleanup.unshift(deregister);
    }
  }

  function caller(
    options: DiscoveryOptions = {},
    url = consul.url,
  ): DiscoveryMiddleware & { registry: ReturnType<typeof counting> } {
    const registry = counting(new ConsulRegistry({ url, watch: FAST_WATCH }));
    const mw = discovery({ registry, ...options });
    cleanup.push(async () => {
      await mw.stop();
      await registry.close();
    });
    return Object.assign(mw, { registry });
  }

  async function proxy(): Promise<Awaited<ReturnType<typeof consulProxy>>> {
    const p = await consulProxy(consul.url);
    cleanup.push(() => p.close());
    return p;
  }

  /** Services with an unfiltered pool in the client now. */
  function services(mw: DiscoveryMiddleware): string[] {
    return mw
      .snapshot()
      .services.filter((s) => !s.filter)
      .map((s) => s.service)
      .sort();
  }

  /** Filtered pools of `service` that the client holds now. */
  function filteredPools(mw: DiscoveryMiddleware, service: string): number {
    return mw.snapshot().services.filter((s) => s.service === service && s.filter).length;
  }

  it('keeps the number of pools and watch subscriptions bounded when filters come from request input', async () => {
    const v1 = await app('v1');
    await register('bp-input', 'bp-input-1', v1.port, { version: 'v1' });
    const mw = caller({ maxFilteredPools: 8 });
    const front = new Koa();
    front.use(mw);
    front.use(async (ctx) => {
      // The pattern the audit found: a filter built from a request header.
      const res = await ctx.state.discovery.fetch('bp-input', '/', {
        filter: { meta: { version: ctx.get('x-version') } },
      });
      ctx.body = await res.body.json();
    });
    const server = await startApp(front);
    cleanup.push(() => server.close());

    const first = await request(server.url).get('/').set('x-version', 'v1').expect(200);
    expect(first.body).toEqual({ name: 'v1' });
    for (let i = 0; i < 100; i++) {
      await request(server.url).get('/').set('x-version', `x${i}`).expect(503);
    }
    // And many more through the synchronous calls, which create pools just as well.
    for (let i = 0; i < 5000; i++) {
      mw.client.instances('bp-input', { tags: [`t${i}`] });
      mw.client.pick('bp-input', { filter: { meta: { version: `p${i}` } } });
    }
    expect(filteredPools(mw, 'bp-input')).toBeLessThanOrEqual(8);
    expect(mw.registry.live()).toBeLessThanOrEqual(8);

    // An evicted filter comes back on its next use, with a fresh list.
    const again = await request(server.url).get('/').set('x-version', 'v1').expect(200);
    expect(again.body).toEqual({ name: 'v1' });
    expect(filteredPools(mw, 'bp-input')).toBeLessThanOrEqual(8);
  });

  it('never evicts a filtered pool with a request in flight, and evicts it once the call ended', async () => {
    const v1 = await app('held');
    await register('bp-held', 'bp-held-1', v1.port, { version: 'v1' });
    const mw = caller({ maxFilteredPools: 4 });
    const held = { meta: { version: 'v1' } };
    const call = mw.client.fetch('bp-held', '/slow', { filter: held });
    call.catch(() => undefined); // awaited below; a failed assertion first must not leave it unhandled
    await waitFor(() => v1.ports.length === 1, { message: 'the held call to reach the upstream' });

    for (let i = 0; i < 50; i++) mw.client.instances('bp-held', { meta: { version: `n${i}` } });
    const pool = (): ReturnType<DiscoveryMiddleware['snapshot']>['services'][number] | undefined =>
      mw.snapshot().services.find((s) => s.filter?.meta?.version === 'v1');
    expect(pool()?.instances.map((i) => i.inflight)).toEqual([1]);
    expect(filteredPools(mw, 'bp-held')).toBeLessThanOrEqual(4);

    v1.open();
    const res = await call;
    expect(await res.body.json()).toEqual({ name: 'held' });
    // In flight goes back to zero (when the body closes) on the pool that was kept, not on a copy.
    await waitFor(() => pool()?.instances[0]?.inflight === 0, {
      message: 'the held call to be released',
    });

    for (let i = 0; i < 50; i++) mw.client.instances('bp-held', { meta: { version: `m${i}` } });
    expect(pool()).toBeUndefined();
    expect(filteredPools(mw, 'bp-held')).toBeLessThanOrEqual(4);
  });

  it('closes the keep-alive pool of an instance when the only pool that had it is evicted', async () => {
    const only = await app('only-filtered');
    const shared = await app('shared');
    await register('bp-only', 'bp-only-1', only.port, { version: 'v1' });
    await register('bp-shared', 'bp-shared-1', shared.port, { version: 'v1' });
    const mw = caller({ maxFilteredPools: 2, fetch: { keepAliveTimeoutMs: 600_000 } });
    const v1 = { meta: { version: 'v1' } };

    await (await mw.client.fetch('bp-only', '/', { filter: v1 })).body.dump();
    await (await mw.client.fetch('bp-shared', '/')).body.dump();
    await (await mw.client.fetch('bp-shared', '/', { filter: v1 })).body.dump();
    expect(only.sockets.size).toBe(1);
    expect(shared.sockets.size).toBeGreaterThan(0);
    const sharedPorts = new Set(shared.ports);

    for (let i = 0; i < 20; i++) mw.client.instances('bp-other', { meta: { version: `o${i}` } });
    expect(filteredPools(mw, 'bp-only')).toBe(0);
    expect(filteredPools(mw, 'bp-shared')).toBe(0);

    // No pool has `only` any more: its idle keep-alive socket is closed.
    await waitFor(() => only.sockets.size === 0, { message: 'the keep-alive socket to close' });
    // The unfiltered pool still has `shared`: a connection it had carries the next call.
    await (await mw.client.fetch('bp-shared', '/')).body.dump();
    expect(shared.ports).toHaveLength(3);
    expect(sharedPorts).toContain(shared.ports[2]);
  });

  it('follows an instance registered again under the same id at a new port, and closes the old keep-alive pool', async () => {
    const before = await app('before');
    const after = await app('after');
    await register('bp-moved', 'bp-moved-1', before.port);
    const mw = caller({ fetch: { keepAliveTimeoutMs: 600_000 } });
    const res = await mw.client.fetch('bp-moved', '/');
    expect(await res.body.json()).toEqual({ name: 'before' });
    expect(before.sockets.size).toBe(1);

    await register('bp-moved', 'bp-moved-1', after.port);
    await waitFor(
      () => mw.client.instances('bp-moved').every((i: Instance) => i.port === after.port),
      { message: 'the new port to reach the caller' },
    );
    const moved = await mw.client.fetch('bp-moved', '/');
    expect(await moved.body.json()).toEqual({ name: 'after' });
    expect(moved.instance.port).toBe(after.port);
    await waitFor(() => before.sockets.size === 0, {
      message: 'the keep-alive socket to the old port to close',
    });
  });

  it('keeps the number of services, watch subscriptions and blocking queries bounded when service names come from request input', async () => {
    const any = await app('any');
    const pinned = await app('pinned');
    await register('bp-any', 'bp-any-1', any.port);
    await register('bp-pinned', 'bp-pinned-1', pinned.port);
    const consulSide = await proxy();
    const mw = caller({ maxServices: 3, watch: ['bp-pinned'] }, consulSide.url);
    await mw.start();
    const front = new Koa();
    front.use(mw);
    front.use(async (ctx) => {
      // The pattern the audit found: the service name from the query string.
      const res = await ctx.state.discovery.fetch(String(ctx.query.service), '/');
      ctx.body = await res.body.json();
    });
    const server = await startApp(front);
    cleanup.push(() => server.close());

    await request(server.url).get('/?service=bp-pinned').expect(200, { name: 'pinned' });
    await request(server.url).get('/?service=bp-any').expect(200, { name: 'any' });
    for (let i = 0; i < 30; i++) {
      await request(server.url).get(`/?service=bp-nope-${i}`).expect(503);
    }
    // And more through the synchronous calls, which create pools just as well.
    for (let i = 0; i < 200; i++) {
      mw.client.instances(`bp-sync-${i}`);
      mw.client.pick(`bp-pick-${i}`);
    }
    const kept = services(mw);
    // The pinned service (listed in `watch`) is never dropped, and is not counted.
    expect(kept).toContain('bp-pinned');
    expect(kept.length).toBeLessThanOrEqual(3 + 1);
    expect(mw.registry.live()).toBe(kept.length);
    // The dropped services' blocking queries end at Consul: only the kept ones stay open.
    await waitFor(
      () =>
        consulSide.querying().every((name) => kept.includes(name)) &&
        consulSide.querying().includes('bp-pinned'),
      { message: `only the kept services (${kept.join(', ')}) to have a blocking query open` },
    );

    // A dropped service comes back on its next use, with a fresh list; the pinned one never left.
    await request(server.url).get('/?service=bp-any').expect(200, { name: 'any' });
    await request(server.url).get('/?service=bp-pinned').expect(200, { name: 'pinned' });
    expect(services(mw).length).toBeLessThanOrEqual(3 + 1);
  });

  it('never drops a service pool with a request in flight, and drops it once the call ended', async () => {
    const busy = await app('busy');
    await register('bp-busy', 'bp-busy-1', busy.port);
    const mw = caller({ maxServices: 2 });
    const call = mw.client.fetch('bp-busy', '/slow');
    call.catch(() => undefined); // awaited below; a failed assertion first must not leave it unhandled
    await waitFor(() => busy.ports.length === 1, {
      message: 'the held call to reach the upstream',
    });

    for (let i = 0; i < 20; i++) mw.client.instances(`bp-busy-other-${i}`);
    const pool = (): ReturnType<DiscoveryMiddleware['snapshot']>['services'][number] | undefined =>
      mw.snapshot().services.find((s) => s.service === 'bp-busy');
    expect(pool()?.instances.map((i) => i.inflight)).toEqual([1]);
    expect(services(mw).length).toBeLessThanOrEqual(2 + 1);

    busy.open();
    const res = await call;
    expect(await res.body.json()).toEqual({ name: 'busy' });
    await waitFor(() => pool()?.instances[0]?.inflight === 0, {
      message: 'the held call to be released',
    });
    for (let i = 0; i < 20; i++) mw.client.instances(`bp-busy-later-${i}`);
    expect(pool()).toBeUndefined();
    expect(services(mw).length).toBeLessThanOrEqual(2);
  });

  it('refuses at once a service name Consul cannot be asked for, without a pool or a query', async () => {
    const odd = await app('odd');
    // Consul 1.8 takes almost any name: spaces, slashes, non-ASCII, emoji, punctuation.
    const oddName = 'bp odd/é_😀:x.y';
    await register(oddName, 'bp-odd-1', odd.port);
    const consulSide = await proxy();
    const mw = caller({ readyTimeoutMs: 300 }, consulSide.url);
    const res = await mw.client.fetch(oddName, '/');
    expect(await res.body.json()).toEqual({ name: 'odd' });

    const bad = [
      '',
      '.',
      '..',
      'bp/../x',
      'bp//x',
      '/bp',
      'bp\nx',
      'bp\u0000x',
      'bp\u007fx',
      'bp\u00a0x', // no-break space: Consul answers 400 to any non-printable character
      'bp\u200bx', // zero-width space (a format character)
      'bp\ud800x', // a lone surrogate cannot be put in a URL at all
      'x'.repeat(513),
    ];
    for (const name of bad) {
      await expect(mw.client.fetch(name, '/')).rejects.toMatchObject({
        code: 'ERR_KOA_MESH_SERVICE_UNAVAILABLE',
        status: 503,
        message: expect.stringMatching(/not a valid service name/),
      });
      expect(mw.client.pick(name)).toBeUndefined();
      expect(mw.client.instances(name)).toEqual([]);
      expect(() => mw.client.resolver(name)).toThrow(TypeError);
    }
    expect(services(mw)).toEqual([oddName]);
    expect(mw.registry.live()).toBe(1);
    expect(consulSide.querying().every((name) => name === oddName)).toBe(true);

    // Through the middleware, a client's bad name is a 503 problem, not a 500.
    const front = new Koa();
    front.use(mw);
    front.use(async (ctx) => {
      const r = await ctx.state.discovery.fetch(String(ctx.query.service), '/');
      ctx.body = await r.body.json();
    });
    const server = await startApp(front);
    cleanup.push(() => server.close());
    const answer = await request(server.url).get('/?service=a%00b').expect(503);
    expect(answer.body).toMatchObject({ code: 'ERR_KOA_MESH_SERVICE_UNAVAILABLE' });
    expect(answer.body.detail).toMatch(/not a valid service name/);
  });

  it('shares the unfiltered pool for an empty filter ({}, or fields all undefined or empty)', async () => {
    const one = await app('one');
    await register('bp-empty', 'bp-empty-1', one.port);
    const mw = caller();
    const res = await mw.client.fetch('bp-empty', '/');
    expect(await res.body.json()).toEqual({ name: 'one' });
    const empties = [
      {},
      { tags: [] },
      { meta: {} },
      { dc: undefined },
      { dc: '' },
      { tags: undefined, meta: undefined, dc: undefined },
      { tags: [], meta: {}, dc: '' },
    ];
    for (const filter of empties) {
      await (await mw.client.fetch('bp-empty', '/', { filter })).body.dump();
      expect(mw.client.instances('bp-empty', filter)).toHaveLength(1);
      expect(mw.client.pick('bp-empty', { filter })?.port).toBe(one.port);
    }
    const resolve = mw.client.resolver('bp-empty', {});
    const url = await resolve({});
    expect(url.port).toBe(String(one.port));
    resolve.release!(url, { ok: true, status: 200, durationMs: 1 });
    // One pool, the unfiltered one, and one subscription: no filtered pool counted or kept.
    expect(mw.snapshot().services.map((s) => [s.service, s.filter])).toEqual([
      ['bp-empty', undefined],
    ]);
    expect(mw.registry.live()).toBe(1);
  });

  it('gives filters whose tags or meta values hold `,` or `=` pools of their own (no key collision)', async () => {
    const joined = await app('joined');
    const split = await app('split');
    const named = await app('named');
    for (const [id, port, tags, meta, name] of [
      ['bp-key-1', joined.port, ['a,b'], { v: '1,w=2' }, 'bp-key'],
      ['bp-key-2', split.port, ['a', 'b'], { v: '1', w: '2' }, 'bp-key'],
      // A valid service name that spelled a filtered pool's key of `bp-key` before.
      ['bp-key-3', named.port, [], {}, 'bp-key|dc=|tags=a,b|meta='],
    ] as const) {
      const res = await fetch(`${consul.url}/v1/agent/service/register`, {
        method: 'PUT',
        body: JSON.stringify({
          ID: id,
          Name: name,
          Address: '127.0.0.1',
          Port: port,
          Tags: tags,
          Meta: meta,
        }),
      });
      if (!res.ok) throw new Error(`register ${id}: ${res.status} ${await res.text()}`);
      cleanup.unshift(async () => {
        await fetch(`${consul.url}/v1/agent/service/deregister/${id}`, { method: 'PUT' });
      });
    }
    const mw = caller();
    const ports = (service: string, filter: InstanceFilter): number[] =>
      mw.client.instances(service, filter).map((i) => i.port);
    const called = async (service: string, filter: InstanceFilter): Promise<unknown> =>
      (await (await mw.client.fetch(service, '/', { filter })).body.json()) as unknown;

    // Whichever filter comes first, the other one gets its own pool and its own instances.
    expect(await called('bp-key', { tags: ['a,b'] })).toEqual({ name: 'joined' });
    expect(await called('bp-key', { tags: ['a', 'b'] })).toEqual({ name: 'split' });
    expect(ports('bp-key', { tags: ['a,b'] })).toEqual([joined.port]);
    expect(ports('bp-key', { tags: ['b', 'a'] })).toEqual([split.port]);
    expect(await called('bp-key', { meta: { v: '1', w: '2' } })).toEqual({ name: 'split' });
    expect(await called('bp-key', { meta: { v: '1,w=2' } })).toEqual({ name: 'joined' });
    expect(ports('bp-key', { meta: { w: '2', v: '1' } })).toEqual([split.port]);
    expect(await called('bp-key|dc=|tags=a,b|meta=', {})).toEqual({ name: 'named' });
    expect(filteredPools(mw, 'bp-key')).toBe(4);
    expect(services(mw)).toEqual(['bp-key|dc=|tags=a,b|meta=']);
  });

  it('closes the keep-alive pool of an instance that left Consul', async () => {
    const gone = await app('gone');
    const stays = await app('stays');
    await register('bp-left', 'bp-left-1', gone.port);
    await register('bp-left', 'bp-left-2', stays.port);
    const mw = caller({ balancer: 'round-robin', fetch: { keepAliveTimeoutMs: 600_000 } });
    for (let i = 0; i < 2; i++) await (await mw.client.fetch('bp-left', '/')).body.dump();
    expect(gone.sockets.size).toBe(1);
    expect(stays.sockets.size).toBe(1);

    await fetch(`${consul.url}/v1/agent/service/deregister/bp-left-1`, { method: 'PUT' });
    await waitFor(() => mw.client.instances('bp-left').length === 1, {
      message: 'the deregistration to reach the caller',
    });
    await waitFor(() => gone.sockets.size === 0, { message: 'the keep-alive socket to close' });
    expect(stays.sockets.size).toBe(1);
  });
});
