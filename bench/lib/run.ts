// The bench harness: `pnpm bench [filters...] [--rounds 5] [--duration 3] [--connections 32]
// [--only http|micro] [--fresh] [--no-pin]`. Runs bare Koa and the selected scenarios in
// interleaved rounds (A B C, A B C, ...) and prints, for each, requests/s, p99 and the serving
// process's CPU time per request, as medians over the rounds and as ratios to bare Koa taken in
// the same round. With two or more CPUs, the load generator and the servers are pinned to
// different ones; `--fresh` starts every server anew each round. Micro-benchmarks print ns per
// operation. A filter is a group (`tracing`), a name prefix (`tracing:app`) or `=name` (exactly).
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import type { MicroCase, Scenario } from './scenario.js';

const here = dirname(fileURLToPath(import.meta.url));
const benchDir = join(here, '..');

interface Args {
  rounds: number;
  duration: number;
  connections: number;
  warmup: number;
  maxSeconds: number;
  only?: 'http' | 'micro';
  /** Pin the load generator to one CPU and the servers to another (see {@link pinning}). */
  pin: boolean;
  /** Start every server afresh each round instead of once per run. */
  fresh: boolean;
  filters: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    rounds: 5,
    duration: 3,
    connections: 32,
    warmup: 1,
    maxSeconds: 540,
    pin: true,
    fresh: false,
    filters: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`bench: ${a} needs a positive number`);
      return v;
    };
    if (a === '--rounds') args.rounds = Math.floor(num());
    else if (a === '--duration') args.duration = num();
    else if (a === '--connections') args.connections = Math.floor(num());
    else if (a === '--warmup') args.warmup = num();
    else if (a === '--max-seconds') args.maxSeconds = num();
    else if (a === '--no-pin') args.pin = false;
    else if (a === '--fresh') args.fresh = true;
    else if (a === '--only') {
      const v = argv[++i];
      if (v !== 'http' && v !== 'micro') throw new Error('bench: --only takes http or micro');
      args.only = v;
    } else if (a === '--') continue;
    else if (a.startsWith('--')) throw new Error(`bench: unknown option ${a}`);
    else args.filters.push(a);
  }
  return args;
}

/** A filter selects a group (`tracing`), a name prefix (`tracing:app`) or, as `=name`, one name. */
function matches(name: string, filters: string[]): boolean {
  if (filters.length === 0) return true;
  const group = name.split(':')[0]!;
  return filters.some((f) =>
    f.startsWith('=') ? name === f.slice(1) : name === f || group === f || name.startsWith(f),
  );
}

/**
 * Imports the scenario or micro files of the selected groups. A file is named after its group
 * (`breaker.ts` holds `breaker`, `breaker:opossum`, ...), so a filtered run imports only what it
 * measures (and the bare Koa baseline): another package's half-built dist cannot break it.
 */
async function load<T>(
  folder: string,
  filters: string[],
): Promise<Array<{ file: string; items: T[] }>> {
  const dir = join(benchDir, folder);
  const groups = new Set(filters.map((f) => f.replace(/^=/, '').split(':')[0]!.trim()));
  let names: string[] = [];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.ts'))
      .filter((n) => groups.size === 0 || n === 'koa.ts' || groups.has(n.slice(0, -3)))
      .sort();
  } catch {
    return [];
  }
  const out: Array<{ file: string; items: T[] }> = [];
  for (const n of names) {
    const file = join(dir, n);
    const mod = (await import(pathToFileURL(file).href)) as { default: T[] };
    out.push({ file, items: mod.default });
  }
  return out;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Running {
  scenario: Scenario;
  url: string;
  child: ChildProcess;
}

/**
 * Which CPUs the load generator (this process, autocannon runs in it) and the servers get, when
 * the machine has two or more and `taskset` is there. On a small shared VM, letting the scheduler
 * move the servers and the load generator between CPUs was the largest source of noise: the same
 * server measured 13 to 27 µs of CPU per request from one round to the next. Pinned, every server
 * measured runs on the same CPU, one at a time, and rounds agree within a few percent.
 */
function pinning(): { load: number; server: number } | undefined {
  if (availableParallelism() < 2) return undefined;
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
  } catch {
    console.log('bench: taskset not found; servers and load generator are not pinned');
    return undefined;
  }
  return { load: 0, server: 1 };
}

function pinTo(cpu: number, pid: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
}

function startServing(file: string, scenario: Scenario): Promise<Running> {
  return new Promise((resolve, reject) => {
    const child = fork(join(here, 'serve.ts'), [file, scenario.name], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    if (pins && child.pid) pinTo(pins.server, child.pid);
    const timer = setTimeout(
      () => reject(new Error(`${scenario.name}: not ready in 30 s`)),
      30_000,
    );
    child.once('exit', (code) => reject(new Error(`${scenario.name}: server exited with ${code}`)));
    child.on('message', (msg: { type?: string; url?: string }) => {
      if (msg.type === 'ready' && msg.url) {
        clearTimeout(timer);
        resolve({ scenario, url: msg.url, child });
      }
    });
  });
}

/** Asks a serving child to close, and kills it if it has not exited within 3 s. */
function stopServing(r: Running): Promise<void> {
  return new Promise((resolve) => {
    r.child.removeAllListeners('exit');
    if (r.child.exitCode !== null || r.child.signalCode !== null) return resolve();
    const timer = setTimeout(() => r.child.kill('SIGKILL'), 3000);
    r.child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    r.child.send({ type: 'stop' });
  });
}

interface Sample {
  rps: number;
  p99: number;
  errors: number;
  /** The serving process's CPU time (user + system) per completed request, in µs. */
  cpu: number;
}

/** The serving child's CPU time so far, in µs (it answers a `cpu` message; see serve.ts). */
function cpuOf(r: Running): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${r.scenario.name}: no cpu reply`)), 5000);
    const onMessage = (msg: { type?: string; micros?: number }): void => {
      if (msg.type !== 'cpu' || typeof msg.micros !== 'number') return;
      clearTimeout(timer);
      r.child.off('message', onMessage);
      resolve(msg.micros);
    };
    r.child.on('message', onMessage);
    r.child.send({ type: 'cpu' });
  });
}

async function hit(r: Running, seconds: number, connections: number): Promise<Sample> {
  const cpuBefore = await cpuOf(r);
  const result = await autocannon({
    url: r.url,
    connections,
    duration: seconds,
    method: (r.scenario.method ?? 'GET') as 'GET',
    headers: r.scenario.headers,
    body: r.scenario.body,
  });
  const cpuAfter = await cpuOf(r);
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    cpu: (cpuAfter - cpuBefore) / Math.max(1, result.requests.total),
  };
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

async function runHttp(args: Args): Promise<Record<string, unknown>> {
  const files = await load<Scenario>('scenarios', args.filters);
  const all = files.flatMap(({ file, items }) => items.map((s) => ({ file, s })));
  const seen = new Set<string>();
  for (const { s } of all) {
    if (seen.has(s.name)) throw new Error(`bench: two scenarios are named ${s.name}`);
    seen.add(s.name);
  }
  const selected = all.filter(({ s }) => s.name === 'koa' || matches(s.name, args.filters));
  if (!selected.some(({ s }) => s.name === 'koa'))
    throw new Error('bench: bare Koa scenario missing');
  // Keep the run bounded: shrink the per-run duration rather than overrun the budget.
  const budget = args.maxSeconds - selected.length * (args.warmup + 1);
  const perRun = Math.max(1, Math.min(args.duration, budget / (selected.length * args.rounds)));
  console.log(
    `http: ${selected.length} scenarios x ${args.rounds} rounds x ${perRun.toFixed(1)} s, ` +
      `${args.connections} connections${args.fresh ? ', a fresh server each round' : ''}` +
      `${pins ? `, load on CPU ${pins.load} and servers on CPU ${pins.server}` : ''} (about ` +
      `${Math.ceil(selected.length * (args.fresh ? args.rounds * (perRun + args.warmup + 1) : args.rounds * perRun + args.warmup + 1))} s)`,
  );
  let running: Running[] = [];
  try {
    const samples = new Map<string, Sample[]>(selected.map(({ s }) => [s.name, []]));
    if (args.fresh) {
      // A server per scenario per round: what one process's JIT and heap happen to do is
      // averaged over the rounds instead of carried through all of them.
      for (let round = 0; round < args.rounds; round++) {
        for (const { file, s } of selected) {
          const r = await startServing(file, s);
          running = [r];
          await hit(r, args.warmup, args.connections);
          samples.get(s.name)!.push(await hit(r, perRun, args.connections));
          await stopServing(r);
          running = [];
        }
        process.stdout.write(`  round ${round + 1}/${args.rounds} done\n`);
      }
    } else {
      for (const { file, s } of selected) running.push(await startServing(file, s));
      for (const r of running) await hit(r, args.warmup, args.connections);
      for (let round = 0; round < args.rounds; round++) {
        for (const r of running)
          samples.get(r.scenario.name)!.push(await hit(r, perRun, args.connections));
        process.stdout.write(`  round ${round + 1}/${args.rounds} done\n`);
      }
    }
    const names = selected.map(({ s }) => s);
    // Per-round ratios, then their median. `cpu` is inverted (other / name): a capacity ratio,
    // the requests/s one CPU core would serve relative to the other, like the req/s column. A
    // scenario whose work happens outside its serving process (a bare upstream started as a
    // process of its own) has no CPU figure: under 0.5 µs per request counts as not measured.
    const ratio = (name: string, other: string, key: 'rps' | 'p99' | 'cpu'): number | undefined => {
      const a = samples.get(name);
      const b = samples.get(other);
      if (!a || !b) return undefined;
      if (key === 'cpu' && (median(a.map((x) => x.cpu)) < 0.5 || median(b.map((x) => x.cpu)) < 0.5))
        return Number.NaN;
      return median(a.map((x, i) => (key === 'cpu' ? b[i]!.cpu / x.cpu : x[key] / b[i]![key])));
    };
    // The middle half of the per-round req/s ratios (25th to 75th percentile): how far one
    // round's ratio strays, to read the median against.
    const quartiles = (name: string, other: string): string => {
      const a = samples.get(name);
      const b = samples.get(other);
      if (!a || !b || a.length < 4) return '-';
      const xs = a.map((x, i) => x.rps / b[i]!.rps).sort((p, q) => p - q);
      const at = (q: number): number => xs[Math.round(q * (xs.length - 1))]!;
      return `${at(0.25).toFixed(2)}-${at(0.75).toFixed(2)}`;
    };
    console.log('');
    console.log(
      `${pad('scenario', 28)}${pad('req/s', 10, true)}${pad('p99 ms', 9, true)}${pad('req/s vs koa', 14, true)}${pad('middle half', 14, true)}${pad('p99 vs koa', 12, true)}${pad('cpu µs/req', 12, true)}${pad('cpu vs koa', 12, true)}${pad('errors', 8, true)}  other ratios (req/s; cpu)`,
    );
    const table: Record<string, unknown> = {};
    const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '-');
    for (const scenario of names) {
      const name = scenario.name;
      const xs = samples.get(name)!;
      const rps = median(xs.map((x) => x.rps));
      const p99 = median(xs.map((x) => x.p99));
      const vsKoa = ratio(name, 'koa', 'rps')!;
      const spread = quartiles(name, 'koa');
      const p99VsKoa = ratio(name, 'koa', 'p99')!;
      const cpu = median(xs.map((x) => x.cpu));
      const cpuVsKoa = ratio(name, 'koa', 'cpu')!;
      const errors = xs.reduce((n, x) => n + x.errors, 0);
      const others = (scenario.compareTo ?? [])
        .map((o) => [o, ratio(name, o, 'rps'), ratio(name, o, 'cpu')] as const)
        .filter((t): t is readonly [string, number, number] => t[1] !== undefined);
      console.log(
        `${pad(name, 28)}${pad(rps.toFixed(0), 10, true)}${pad(p99.toFixed(1), 9, true)}${pad(fmt(vsKoa), 14, true)}${pad(spread, 14, true)}${pad(fmt(p99VsKoa), 12, true)}${pad(cpu < 0.5 ? '-' : cpu.toFixed(1), 12, true)}${pad(fmt(cpuVsKoa), 12, true)}${pad(String(errors), 8, true)}  ${others.map(([o, v, c]) => `vs ${o} ${fmt(v)}; ${fmt(c)}`).join(', ')}`,
      );
      table[name] = {
        rps,
        p99,
        vsKoa,
        vsKoaMiddleHalf: spread,
        p99VsKoa,
        cpu,
        cpuVsKoa,
        errors,
        others: Object.fromEntries(others.map(([o, v, c]) => [o, { rps: v, cpu: c }])),
        rounds: xs,
      };
    }
    return table;
  } finally {
    await Promise.all(running.map(stopServing));
  }
}

/** Times one micro case in a child process of its own (lib/micro-one.ts), pinned like a server. */
function timeCase(file: string, c: MicroCase): Promise<{ median: number; min: number }> {
  return new Promise((resolve, reject) => {
    const child = fork(join(here, 'micro-one.ts'), [file, c.name], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    if (pins && child.pid) pinTo(pins.server, child.pid);
    let result: { median: number; min: number } | undefined;
    child.on('message', (msg: { type?: string; median?: number; min?: number }) => {
      if (msg.type === 'micro' && typeof msg.median === 'number' && typeof msg.min === 'number') {
        result = { median: msg.median, min: msg.min };
      }
    });
    child.once('exit', (code) =>
      result ? resolve(result) : reject(new Error(`${c.name}: micro case exited with ${code}`)),
    );
  });
}

async function runMicro(args: Args): Promise<Record<string, unknown>> {
  const files = await load<MicroCase>('micro', args.filters);
  const cases = files.flatMap(({ file, items }) =>
    items.filter((c) => matches(c.name, args.filters)).map((c) => ({ file, c })),
  );
  const table: Record<string, unknown> = {};
  if (cases.length === 0) return table;
  console.log(
    `\nmicro: ${cases.length} cases, each in a process of its own, median and fastest of 15 samples`,
  );
  console.log(`${pad('case', 72)}${pad('ns/op', 10, true)}${pad('fastest', 10, true)}`);
  for (const { file, c } of cases) {
    const { median: nsPerOp, min } = await timeCase(file, c);
    console.log(
      `${pad(c.name, 72)}${pad(nsPerOp.toFixed(1), 10, true)}${pad(min.toFixed(1), 10, true)}`,
    );
    table[c.name] = { nsPerOp, min };
  }
  return table;
}

const args = parseArgs(process.argv.slice(2));
const pins = args.pin ? pinning() : undefined;
if (pins) pinTo(pins.load, process.pid);
const started = Date.now();
const results: Record<string, unknown> = {
  node: process.version,
  args,
  at: new Date().toISOString(),
};
if (args.only !== 'micro') results.http = await runHttp(args);
if (args.only !== 'http') results.micro = await runMicro(args);
mkdirSync(join(benchDir, 'results'), { recursive: true });
const out = join(benchDir, 'results', `bench-${Date.now()}.json`);
writeFileSync(out, JSON.stringify(results, null, 2));
console.log(`\n${((Date.now() - started) / 1000).toFixed(0)} s; results in ${out}`);
process.exit(0);
