import type { Balancer, RandomSource, Target } from './balancer.js';

/**
 * Power of two choices on least outstanding requests: sample two distinct candidates at random and
 * take the one with fewer in-flight requests. Near-optimal load spread at O(1) per pick, without
 * the herd behaviour of a global least-loaded choice.
 */
export class P2cBalancer<T extends Target> implements Balancer<T> {
  readonly strategy = 'p2c' as const;
  readonly #random: RandomSource;

  constructor(random: RandomSource = Math.random) {
    this.#random = random;
  }

  update(): void {}

  pick(candidates: readonly T[]): T {
    const n = candidates.length;
    if (n === 1) return candidates[0]!;
    const i = Math.floor(this.#random() * n);
    let j = Math.floor(this.#random() * (n - 1));
    if (j >= i) j++;
    const a = candidates[i]!;
    const b = candidates[j]!;
    return b.inflight < a.inflight ? b : a;
  }
}
