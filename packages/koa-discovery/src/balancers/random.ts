import type { Balancer, RandomSource, Target } from './balancer.js';

/** Uniform random choice. */
export class RandomBalancer<T extends Target> implements Balancer<T> {
  readonly strategy = 'random' as const;
  readonly #random: RandomSource;

  constructor(random: RandomSource = Math.random) {
    this.#random = random;
  }

  update(): void {}

  pick(candidates: readonly T[]): T {
    return candidates[Math.floor(this.#random() * candidates.length)]!;
  }
}
