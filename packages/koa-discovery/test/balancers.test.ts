import { ConsistentHashBalancer } from '../src/balancers/consistent-hash.js';
import { createBalancer } from '../src/balancers/create.js';
import { P2cBalancer } from '../src/balancers/p2c.js';
import { RandomBalancer } from '../src/balancers/random.js';
import { RoundRobinBalancer } from '../src/balancers/round-robin.js';
import { WeightedBalancer } from '../src/balancers/weighted.js';
import { countPicks, seeded, targets } from './helpers.js';

describe('p2c', () => {
  it('favours the less loaded instance', () => {
    const ts = targets(2);
    ts[0]!.inflight = 10;
    const b = new P2cBalancer<(typeof ts)[number]>(seeded(1));
    const counts = countPicks(1000, () => b.pick(ts));
    // With two instances both are always sampled: the idle one wins every time.
    expect(counts.get('i1')).toBe(1000);
  });

  it('spreads load across many instances and prefers idle ones', () => {
    const ts = targets(10);
    for (let i = 0; i < 5; i++) ts[i]!.inflight = 5; // half the instances busy
    const b = new P2cBalancer<(typeof ts)[number]>(seeded(2));
    const counts = countPicks(10_000, () => b.pick(ts));
    const busy = [0, 1, 2, 3, 4].reduce((s, i) => s + (counts.get(`i${i}`) ?? 0), 0);
    // A busy instance wins only when both samples are busy: about (5/10)(4/9) = 22 %.
    expect(busy / 10_000).toBeGreaterThan(0.17);
    expect(busy / 10_000).toBeLessThan(0.28);
    expect(counts.size).toBe(10);
  });

  it('never picks the same index twice in one sample (a single candidate works)', () => {
    const ts = targets(1);
    const b = new P2cBalancer<(typeof ts)[number]>(() => 0.999999);
    expect(b.pick(ts).id).toBe('i0');
  });
});

describe('round-robin', () => {
  it('cycles through every instance evenly from a random offset', () => {
    const ts = targets(4);
    const b = new RoundRobinBalancer<(typeof ts)[number]>(() => 0.5);
    const first = b.pick(ts).id;
    const seq = [first, ...Array.from({ length: 7 }, () => b.pick(ts).id)];
    expect(new Set(seq.slice(0, 4)).size).toBe(4);
    expect(seq.slice(4)).toEqual(seq.slice(0, 4));
  });

  it('starts at different offsets for different processes (random source)', () => {
    const ts = targets(100);
    const a = new RoundRobinBalancer<(typeof ts)[number]>(() => 0.01).pick(ts).id;
    const b = new RoundRobinBalancer<(typeof ts)[number]>(() => 0.77).pick(ts).id;
    expect(a).not.toBe(b);
  });
});

describe('random', () => {
  it('is roughly uniform', () => {
    const ts = targets(5);
    const b = new RandomBalancer<(typeof ts)[number]>(seeded(3));
    const counts = countPicks(50_000, () => b.pick(ts));
    for (const t of ts) expect(Math.abs(counts.get(t.id)! / 10_000 - 1)).toBeLessThan(0.05);
  });
});

describe('weighted (smooth weighted round robin)', () => {
  it('follows the weights within a tolerance', () => {
    const ts = [
      { id: 'a', weight: 5, inflight: 0 },
      { id: 'b', weight: 3, inflight: 0 },
      { id: 'c', weight: 2, inflight: 0 },
    ];
    const b = new WeightedBalancer<(typeof ts)[number]>();
    b.update(ts);
    const counts = countPicks(10_000, () => b.pick(ts));
    expect(counts.get('a')! / 10_000).toBeCloseTo(0.5, 2);
    expect(counts.get('b')! / 10_000).toBeCloseTo(0.3, 2);
    expect(counts.get('c')! / 10_000).toBeCloseTo(0.2, 2);
  });

  it('interleaves rather than bursting (5:1:1 gives a a b a c a a)', () => {
    const ts = [
      { id: 'a', weight: 5, inflight: 0 },
      { id: 'b', weight: 1, inflight: 0 },
      { id: 'c', weight: 1, inflight: 0 },
    ];
    const b = new WeightedBalancer<(typeof ts)[number]>();
    b.update(ts);
    expect(Array.from({ length: 7 }, () => b.pick(ts).id).join(' ')).toBe('a a b a c a a');
  });

  it('only picks among the candidates given', () => {
    const ts = targets(3);
    const b = new WeightedBalancer<(typeof ts)[number]>();
    b.update(ts);
    const counts = countPicks(100, () => b.pick([ts[0]!, ts[2]!]));
    expect(counts.has('i1')).toBe(false);
    expect(counts.get('i0')).toBe(50);
  });
});

describe('consistent-hash', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

  it('keeps a key on one instance', () => {
    const ts = targets(5);
    const b = new ConsistentHashBalancer<(typeof ts)[number]>(seeded(4));
    b.update(ts);
    for (const key of keys.slice(0, 200)) {
      const first = b.pick(ts, key).id;
      for (let i = 0; i < 5; i++) expect(b.pick(ts, key).id).toBe(first);
    }
  });

  it('spreads keys roughly evenly', () => {
    const ts = targets(5);
    const b = new ConsistentHashBalancer<(typeof ts)[number]>(seeded(4));
    b.update(ts);
    const counts = new Map<string, number>();
    for (const key of keys) {
      const id = b.pick(ts, key).id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const t of ts) expect(Math.abs(counts.get(t.id)! / 2000 - 1)).toBeLessThan(0.25);
  });

  it('moves about 1/n of the keys when an instance is added', () => {
    const before = targets(4);
    const after = targets(5);
    const b = new ConsistentHashBalancer<(typeof before)[number]>(seeded(5));
    b.update(before);
    const owners = keys.map((k) => b.pick(before, k).id);
    b.update(after);
    let moved = 0;
    keys.forEach((k, i) => {
      const now = b.pick(after, k).id;
      if (now !== owners[i]) {
        moved++;
        // A key only ever moves to the new instance.
        expect(now).toBe('i4');
      }
    });
    const share = moved / keys.length;
    expect(share).toBeGreaterThan(0.13);
    expect(share).toBeLessThan(0.27); // ideal 1/5 = 0.2
  });

  it('walks on to the next owner when the key owner is not usable', () => {
    const ts = targets(3);
    const b = new ConsistentHashBalancer<(typeof ts)[number]>(seeded(6));
    b.update(ts);
    const owner = b.pick(ts, 'k').id;
    const rest = ts.filter((t) => t.id !== owner);
    const fallback = b.pick(rest, 'k').id;
    expect(fallback).not.toBe(owner);
    expect(b.pick(rest, 'k').id).toBe(fallback);
  });

  it('picks randomly without a key', () => {
    const ts = targets(3);
    const b = new ConsistentHashBalancer<(typeof ts)[number]>(seeded(7));
    b.update(ts);
    const counts = countPicks(3000, () => b.pick(ts, undefined));
    expect(counts.size).toBe(3);
  });
});

describe('createBalancer', () => {
  it.each(['p2c', 'round-robin', 'random', 'weighted', 'consistent-hash'] as const)(
    'builds %s',
    (strategy) => {
      expect(createBalancer(strategy).strategy).toBe(strategy);
    },
  );
});
