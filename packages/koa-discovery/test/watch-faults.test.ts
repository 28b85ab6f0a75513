/**
 * Fault injection for the watch engine against a FAKE Consul HTTP server written here. This is the
 * only fake Consul in the suite: a real agent cannot be made to send a backwards index, index 0,
 * 500s, a hung socket or an empty list on cue. Everything else runs against a real agent.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@koa-mesh/testkit';
import { ConsulRegistry, type Instance } from '../src/index.js';
import { blockingTimeout, WatchEngine } from '../src/watch.js';

interface Seen {
  index: number;
  wait: string | null;
  dc: string | null;
  passing: string | null;
  at: number;
}

type Step = (req: IncomingMessage, res: ServerResponse) => void;

function entry(id: string, port: number): unknown {
  return {
    Node: { Node: 'n1', Address: '127.0.0.1', Datacenter: 'dc1' },
    Service: {
      ID: id,
      Service: 'orders',
      Tags: [],
      Address: '127.0.0.1',
      Port: port,
      Meta: {},
      Weights: { Passing: 1, Warning: 1 },
    },
    Checks: [{ Status: 'passing' }],
  };
}

/** A fake agent: behaves like a blocking query endpoint unless a scripted step says otherwise. */
class FakeConsul {
  readonly seen: Seen[] = [];
  readonly steps: Step[] = [];
  index = 10;
  body: unknown = [entry('a', 4001)];
  #held = new Set<() => void>();
  server: Server;
  url = '';

  constructor() {
    this.server = createServer((req, res) => this.#handle(req, res));
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  set(index: number, body: unknown): void {
    this.index = index;
    this.body = body;
    for (const release of this.#held) release();
    this.#held.clear();
  }

  reply(
    res: ServerResponse,
    index: number | string | undefined,
    body: unknown,
    status = 200,
  ): void {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (index !== undefined) headers['x-consul-index'] = String(index);
    res.writeHead(status, headers);
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url!, 'http://x');
    if (!url.pathname.startsWith('/v1/health/service/')) {
      res.writeHead(404).end();
      return;
    }
    this.seen.push({
      index: Number(url.searchParams.get('index')),
      wait: url.searchParams.get('wait'),
      dc: url.searchParams.get('dc'),
      passing: url.searchParams.get('passing'),
      at: Date.now(),
    });
    const step = this.steps.shift();
    if (step) return step(req, res);
    const index = Number(url.searchParams.get('index') ?? 0);
    if (index < this.index) return this.reply(res, this.index, this.body);
    const wait = parseInt(url.searchParams.get('wait') ?? '1000', 10);
    const release = (): void => {
      clearTimeout(timer);
      this.#held.delete(release);
      if (!res.writableEnded && !res.destroyed) this.reply(res, this.index, this.body);
    };
    const timer = setTimeout(release, wait);
    this.#held.add(release);
  }

  async close(): Promise<void> {
    for (const release of this.#held) release();
    await new Promise<void>((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }
}

let fake: FakeConsul;
let registry: ConsulRegistry;
const events: { event: string; payload: Record<string, unknown> }[] = [];

const EVENTS = [
  'watch:update',
  'watch:error',
  'watch:reset',
  'watch:restart',
  'watch:empty',
  'watch:recovered',
];

async function setup(
  tuning: Partial<ConstructorParameters<typeof ConsulRegistry>[0] & object> = {},
): Promise<void> {
  fake = new FakeConsul();
  await fake.listen();
  registry = new ConsulRegistry({
    url: fake.url,
    watch: {
      waitMs: 200,
      minIntervalMs: 10,
      backoffBaseMs: 10,
      backoffMaxMs: 40,
      emptyGraceMs: 60_000,
    },
    ...tuning,
  });
  for (const event of EVENTS) registry.on(event, (payload) => events.push({ event, payload }));
}

afterEach(async () => {
  await registry.close();
  await fake.close();
  events.length = 0;
});

function watchOrders(): {
  lists: (readonly Instance[])[];
  watch: ReturnType<ConsulRegistry['watch']>;
} {
  const lists: (readonly Instance[])[] = [];
  const watch = registry.watch('orders', undefined, (list) => lists.push(list));
  return { lists, watch };
}

const ids = (list: readonly Instance[] | undefined): string[] => (list ?? []).map((i) => i.id);

describe('watch engine fault injection (fake Consul)', () => {
  it('follows the index, passes wait, and publishes only content changes', async () => {
    await setup();
    const { lists, watch } = watchOrders();
    await waitFor(() => lists.length === 1);
    expect(fake.seen[0]).toMatchObject({ index: 0, wait: '200ms' });
    await waitFor(() => fake.seen.some((s) => s.index === 10));
    fake.set(11, [entry('a', 4001)]); // index bump without a content change
    await waitFor(() => fake.seen.some((s) => s.index === 11));
    expect(lists).toHaveLength(1);
    fake.set(12, [entry('a', 4001), entry('b', 4002)]);
    await waitFor(() => lists.length === 2);
    expect(ids(watch.instances)).toEqual(['a', 'b']);
  });

  it('asks for passing instances only, in the datacenter given', async () => {
    await setup();
    const lists: (readonly Instance[])[] = [];
    registry.watch('orders', 'dc2', (list) => lists.push(list));
    await waitFor(() => lists.length === 1);
    expect(fake.seen[0]).toMatchObject({ dc: 'dc2', passing: 'true' });
  });

  it('resets the index to 0 when it goes backwards', async () => {
    await setup();
    const { lists } = watchOrders();
    await waitFor(() => lists.length === 1);
    fake.steps.push((_req, res) => fake.reply(res, 3, [entry('a', 4001)]));
    fake.set(10, [entry('a', 4001)]); // end a held query, if any, so the scripted step comes next
    await waitFor(() => events.some((e) => e.event === 'watch:reset'));
    // The request after the backwards answer starts over from index 0.
    await waitFor(() => fake.seen.slice(1).some((s) => s.index === 0), {
      message: 'a request with index 0 after the first',
    });
    expect(events.find((e) => e.event === 'watch:reset')!.payload).toMatchObject({ to: 3 });
  });

  it('never blocks on index 0: a zero or missing index becomes 1', async () => {
    await setup();
    fake.steps.push((_req, res) => fake.reply(res, 0, [entry('a', 4001)]));
    fake.steps.push((_req, res) => fake.reply(res, undefined, [entry('a', 4001)]));
    const { lists } = watchOrders();
    await waitFor(() => lists.length === 1);
    await waitFor(() => fake.seen.length >= 3);
    expect(fake.seen[1]!.index).toBe(1);
    expect(fake.seen[2]!.index).toBe(1);
  });

  it('keeps serving the last good list through 500s, reports staleness, and recovers', async () => {
    await setup();
    const { lists, watch } = watchOrders();
    await waitFor(() => lists.length === 1);
    for (let i = 0; i < 3; i++) fake.steps.push((_req, res) => fake.reply(res, 10, 'boom', 500));
    fake.set(11, [entry('a', 4001)]); // end the held query so the scripted 500s come next
    await waitFor(() => events.filter((e) => e.event === 'watch:error').length >= 2);
    expect(ids(watch.instances)).toEqual(['a']);
    const during = watch.info();
    expect(during.stale).toBe(true);
    expect(during.lastError).toMatch(/internal server error|boom/i);
    expect(typeof during.ageMs).toBe('number');
    await waitFor(() => events.some((e) => e.event === 'watch:recovered'));
    expect(watch.info().stale).toBe(false);
    expect(lists).toHaveLength(1);
  });

  it('times a hung socket out after wait + wait/16 and carries on', async () => {
    await setup();
    const { lists, watch } = watchOrders();
    await waitFor(() => lists.length === 1);
    fake.steps.push(() => undefined); // never answers
    fake.set(11, [entry('a', 4001)]);
    await waitFor(() => events.some((e) => e.event === 'watch:error'), { timeoutMs: 5000 });
    expect(
      String((events.find((e) => e.event === 'watch:error')!.payload.error as Error).message),
    ).toMatch(/timed out/);
    fake.set(12, [entry('a', 4001), entry('b', 4002)]);
    await waitFor(() => ids(watch.instances).length === 2, { timeoutMs: 5000 });
  });

  it('keeps the last good list for the grace period when an empty list replaces it', async () => {
    await setup({
      watch: {
        waitMs: 200,
        minIntervalMs: 10,
        backoffBaseMs: 10,
        backoffMaxMs: 40,
        emptyGraceMs: 400,
      },
    });
    const { lists, watch } = watchOrders();
    await waitFor(() => lists.length === 1);
    fake.set(11, []);
    await waitFor(() => events.some((e) => e.event === 'watch:empty'));
    expect(ids(watch.instances)).toEqual(['a']);
    expect(watch.info().inGrace).toBe(true);
    await waitFor(() => lists.length === 2);
    expect(lists[1]).toEqual([]);
    expect(watch.info().inGrace).toBe(false);
  });

  it('cancels the grace period when instances come back', async () => {
    await setup({
      watch: {
        waitMs: 200,
        minIntervalMs: 10,
        backoffBaseMs: 10,
        backoffMaxMs: 40,
        emptyGraceMs: 60_000,
      },
    });
    const { lists, watch } = watchOrders();
    await waitFor(() => lists.length === 1);
    fake.set(11, []);
    await waitFor(() => watch.info().inGrace);
    fake.set(12, [entry('a', 4001)]);
    await waitFor(() => !watch.info().inGrace);
    expect(lists).toHaveLength(1);
  });

  it('logs a malformed answer and keeps the last good list', async () => {
    await setup();
    const { lists, watch } = watchOrders();
    await waitFor(() => lists.length === 1);
    fake.steps.push((_req, res) => fake.reply(res, 12, { not: 'an array' }));
    fake.steps.push((_req, res) => fake.reply(res, 13, '[{"Service":'));
    fake.steps.push((_req, res) => fake.reply(res, 14, [{ Service: { ID: 'x', Port: 'eighty' } }]));
    fake.set(11, [entry('a', 4001)]);
    await waitFor(() => events.filter((e) => e.event === 'watch:error').length >= 3);
    const messages = events
      .filter((e) => e.event === 'watch:error')
      .map((e) => String((e.payload.error as Error).message));
    expect(messages[0]).toMatch(/malformed Consul answer: expected an array/);
    expect(messages[2]).toMatch(/bad Service.Port/);
    expect(ids(watch.instances)).toEqual(['a']);
    expect(lists).toHaveLength(1);
  });

  it('restarts a watch loop that died and says so', async () => {
    await setup();
    let thrown = false;
    registry.on('watch:update', () => {
      if (!thrown) {
        thrown = true;
        throw new Error('listener bug');
      }
    });
    const { watch } = watchOrders();
    await waitFor(() => events.some((e) => e.event === 'watch:restart'));
    expect(events.find((e) => e.event === 'watch:restart')!.payload).toMatchObject({
      reason: 'listener bug',
      restarts: 1,
    });
    fake.set(11, [entry('a', 4001), entry('b', 4002)]);
    await waitFor(() => ids(watch.instances).length === 2);
    expect(watch.info().restarts).toBe(1);
  });

  it('shares one blocking query between subscribers of the same query', async () => {
    await setup();
    const one = watchOrders();
    const two = watchOrders();
    await waitFor(() => one.lists.length === 1 && two.lists.length === 1);
    expect(fake.seen.filter((s) => s.index === 0)).toHaveLength(1);
    one.watch.close();
    fake.set(11, [entry('b', 4002)]);
    await waitFor(() => two.lists.length === 2);
    expect(one.lists).toHaveLength(1);
  });
});

describe('blockingTimeout', () => {
  it('is longer than wait + wait/16', () => {
    for (const wait of [100, 1000, 60_000, 300_000]) {
      expect(blockingTimeout(wait)).toBeGreaterThan(wait + wait / 16);
    }
  });
});

describe('WatchEngine minimum interval', () => {
  it('spaces request starts by minIntervalMs even when every answer is immediate', async () => {
    const starts: number[] = [];
    let index = 100;
    const engine = new WatchEngine({
      service: 'orders',
      dc: undefined,
      waitMs: 1000,
      minIntervalMs: 40,
      backoffBaseMs: 10,
      backoffMaxMs: 40,
      emptyGraceMs: 1000,
      // A misbehaving server: a new index at once, every time. A naive loop would spin.
      fetchPage: async () => {
        starts.push(Date.now());
        return { index: index++, body: [] };
      },
      parse: () => [],
      onChange: () => undefined,
      emit: () => undefined,
      random: Math.random,
      now: Date.now,
    });
    engine.start();
    try {
      await waitFor(() => starts.length >= 6);
    } finally {
      engine.stop();
    }
    // The stub reads the clock a moment after the engine does, so one millisecond of slack; a
    // loop without the minimum interval would show gaps of 0-1 ms here.
    for (let i = 1; i < starts.length; i++) {
      expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(39);
    }
  });
});
