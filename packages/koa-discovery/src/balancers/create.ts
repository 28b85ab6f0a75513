import type { Balancer, RandomSource, Strategy, Target } from './balancer.js';
import { ConsistentHashBalancer } from './consistent-hash.js';
import { P2cBalancer } from './p2c.js';
import { RandomBalancer } from './random.js';
import { RoundRobinBalancer } from './round-robin.js';
import { WeightedBalancer } from './weighted.js';

/** Builds the balancer for `strategy`. */
export function createBalancer<T extends Target>(
  strategy: Strategy,
  random: RandomSource = Math.random,
): Balancer<T> {
  switch (strategy) {
    case 'p2c':
      return new P2cBalancer<T>(random);
    case 'round-robin':
      return new RoundRobinBalancer<T>(random);
    case 'random':
      return new RandomBalancer<T>(random);
    case 'weighted':
      return new WeightedBalancer<T>();
    case 'consistent-hash':
      return new ConsistentHashBalancer<T>(random);
  }
}
