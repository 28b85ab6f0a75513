// Child process: loads one micro file, times the named case, reports ns/op to the parent over
// IPC. A case runs in a process of its own so that what the JIT learnt from the cases before it
// (type feedback in Koa's code, say) cannot make it faster or slower than it would be alone.
import { pathToFileURL } from 'node:url';
import type { MicroCase } from './scenario.js';

const [file, name] = process.argv.slice(2);
if (!file || !name) throw new Error('usage: micro-one.ts <micro-file> <case-name>');
const mod = (await import(pathToFileURL(file).href)) as { default: MicroCase[] };
const c = mod.default.find((x) => x.name === name);
if (!c) throw new Error(`no micro case ${name} in ${file}`);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const fn = await c.setup();
const iterations = c.iterations ?? 100_000;
const sample = async (): Promise<number> => {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const r = fn();
    if (r && typeof (r as Promise<unknown>).then === 'function') await r;
  }
  return Number(process.hrtime.bigint() - t0) / iterations;
};
await sample(); // warm-up: let the JIT settle
const xs: number[] = [];
for (let i = 0; i < 15; i++) xs.push(await sample());
process.send?.({ type: 'micro', median: median(xs), min: Math.min(...xs) });
process.disconnect?.();
