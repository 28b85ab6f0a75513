import type { Balancer, Target } from './balancer.js';

/**
 * Smooth weighted round robin (the nginx algorithm): each pick adds every candidate's weight to its
 * running score, takes the highest score and subtracts the total from it. Weights 5:1:1 give
 * `a a b a c a a`, not `a a a a a b c`. Scores of instances that survive an update are kept.
 */
export class WeightedBalancer<T extends Target> implements Balancer<T> {
  readonly strategy = 'weighted' as const;
  #current = new Map<string, number>();

  update(targets: readonly T[]): void {
    const next = new Map<string, number>();
    for (const t of targets) next.set(t.id, this.#current.get(t.id) ?? 0);
    this.#current = next;
  }

  pick(candidates: readonly T[]): T {
    let total = 0;
    let best: T | undefined;
    let bestScore = -Infinity;
    for (const c of candidates) {
      const score = (this.#current.get(c.id) ?? 0) + c.weight;
      this.#current.set(c.id, score);
      total += c.weight;
      if (score > bestScore) {
        bestScore = score;
        best = c;
      }
    }
    this.#current.set(best!.id, bestScore - total);
    return best!;
  }
}
