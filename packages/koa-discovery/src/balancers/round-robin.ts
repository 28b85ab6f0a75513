import type { Balancer, RandomSource, Target } from './balancer.js';

/**
 * Round robin from a random start offset, so that many processes started together do not all hit
 * the first instance first.
 */
export class RoundRobinBalancer<T extends Target> implements Balancer<T> {
  readonly strategy = 'round-robin' as const;
  #next: number;

  constructor(random: RandomSource = Math.random) {
    this.#next = Math.floor(random() * 0x7fffffff);
  }

  update(): void {}

  pick(candidates: readonly T[]): T {
    const target = candidates[this.#next % candidates.length]!;
    this.#next = (this.#next + 1) & 0x7fffffff;
    return target;
  }
}
