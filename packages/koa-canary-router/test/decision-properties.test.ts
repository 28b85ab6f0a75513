import fc from 'fast-check';
import { bucketOf, canaryRouter } from '../src/index.js';
import { BUCKETS } from '../src/hash.js';
import { WeightTable } from '../src/weights.js';

const router = (weight: number, rollout = 'r1') =>
  canaryRouter({
    rollout,
    arms: {
      stable: { target: () => undefined },
      canary: { target: () => undefined, weight },
    },
  });

describe('the weighted decision', () => {
  it('gives the same key the same arm at fixed weights', () => {
    fc.assert(
      fc.property(fc.string(), fc.double({ min: 0, max: 100, noNaN: true }), (key, weight) => {
        const a = router(weight);
        const b = router(weight);
        const first = a.simulate([key])[0];
        expect(a.simulate([key])[0]).toBe(first);
        expect(b.simulate([key])[0]).toBe(first);
      }),
    );
  });

  it('never moves a canary key back to stable when the weight rises', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string(), { minLength: 1, maxLength: 50 }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (keys, x, y) => {
          const [low, high] = x <= y ? [x, y] : [y, x];
          const r = router(low);
          const before = r.simulate(keys);
          r.setWeights({ canary: high });
          const after = r.simulate(keys);
          before.forEach((arm, i) => {
            if (arm === 'canary') expect(after[i]).toBe('canary');
          });
          // and lowering it back restores the earlier split exactly
          r.setWeights({ canary: low });
          expect(r.simulate(keys)).toEqual(before);
        },
      ),
    );
  });

  it('moves everyone back to stable at weight 0 and everyone to canary at 100', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1 }), (keys) => {
        const r = router(37);
        r.setWeights({ canary: 0 });
        expect(new Set(r.simulate(keys))).toEqual(new Set(['stable']));
        r.setWeights({ canary: 100 });
        expect(new Set(r.simulate(keys))).toEqual(new Set(['canary']));
      }),
    );
  });

  it.each([1, 10, 50])('sends %d%% of 100k random keys to the canary, within 1 point', (weight) => {
    const keys = fc.sample(fc.uuid(), { numRuns: 100_000, seed: weight });
    const arms = router(weight).simulate(keys);
    const share = (arms.filter((a) => a === 'canary').length / keys.length) * 100;
    expect(Math.abs(share - weight)).toBeLessThanOrEqual(1);
  });

  it('spreads sequential user ids evenly too (ids like user-1, user-2)', () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `user-${i}`);
    const arms = router(20).simulate(keys);
    const share = (arms.filter((a) => a === 'canary').length / keys.length) * 100;
    expect(Math.abs(share - 20)).toBeLessThanOrEqual(1);
  });

  it('re-buckets users when the rollout id changes', () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `user-${i}`);
    const a = router(50, 'first').simulate(keys);
    const b = router(50, 'second').simulate(keys);
    const moved = a.filter((arm, i) => arm !== b[i]).length;
    // Independent salts: about half the keys land elsewhere; identical salts would move none.
    expect(moved).toBeGreaterThan(500);
  });

  it('salts with the rollout so that rollout + key pairs do not collide by concatenation', () => {
    expect(bucketOf('ab', 'c')).not.toBe(bucketOf('a', 'bc'));
  });

  it('maps buckets to arms by cumulative ranges in declaration order', () => {
    const t = new WeightTable('stable', ['a', 'b'], [10, 20]);
    expect(t.armOf(0)).toBe('a');
    expect(t.armOf(Math.floor(0.1 * BUCKETS) - 1)).toBe('a');
    expect(t.armOf(Math.floor(0.1 * BUCKETS) + 1)).toBe('b');
    expect(t.armOf(Math.floor(0.3 * BUCKETS) + 1)).toBe('stable');
    expect(t.armOf(BUCKETS - 1)).toBe('stable');
    expect(new WeightTable('stable', ['a'], [100]).armOf(BUCKETS - 1)).toBe('a');
    expect(t.toWeights()).toEqual({ a: 10, b: 20, stable: 70 });
  });
});
