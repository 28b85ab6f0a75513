/** What a balancer needs to know about an instance. Pure data: no Koa, no I/O. */
export interface Target {
  readonly id: string;
  /** Load-balancing weight, > 0. */
  readonly weight: number;
  /** Requests currently outstanding to this target. */
  readonly inflight: number;
}

/** The load-balancing strategies a service can use. */
export type Strategy = 'p2c' | 'round-robin' | 'random' | 'weighted' | 'consistent-hash';

/** All strategies, for validation and docs. */
export const STRATEGIES: readonly Strategy[] = Object.freeze([
  'p2c',
  'round-robin',
  'random',
  'weighted',
  'consistent-hash',
]);

/** A source of uniform numbers in [0, 1), injectable for tests. */
export type RandomSource = () => number;

/**
 * Picks one target. `update` is called only when the instance set's content changed, with every
 * target; `pick` gets the targets usable right now (not ejected, not already tried), a subset of
 * the last `update`'s, and never an empty list.
 */
export interface Balancer<T extends Target> {
  readonly strategy: Strategy;
  update(targets: readonly T[]): void;
  pick(candidates: readonly T[], hashKey: string | undefined): T;
}
