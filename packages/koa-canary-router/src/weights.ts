import { BUCKETS } from './hash.js';

/** Percent of traffic per arm, stable included (its share is what the others leave). */
export type Weights = Readonly<Record<string, number>>;

/**
 * The weight split as integer bucket thresholds. Non-stable arms own consecutive ranges from 0 in
 * declaration order; stable owns the rest, up to 2^32. A key's bucket never moves, so raising a
 * canary's weight only extends its range over buckets that were stable, and setting it to 0 empties
 * it at once: the split is monotone by construction.
 */
export class WeightTable {
  /** Non-stable arm names, in declaration order. */
  readonly arms: readonly string[];
  readonly stable: string;
  /** Exclusive upper bucket of each non-stable arm's range, ascending. */
  private readonly bounds: number[];
  private readonly percents: number[];

  constructor(stable: string, arms: readonly string[], percents: readonly number[]) {
    this.stable = stable;
    this.arms = arms;
    this.percents = [...percents];
    this.bounds = new Array<number>(arms.length);
    let cumulative = 0;
    for (let i = 0; i < arms.length; i++) {
      cumulative += percents[i]!;
      // Rounded once from the cumulative percent so that 100 % maps to exactly 2^32.
      this.bounds[i] = Math.min(BUCKETS, Math.round((cumulative / 100) * BUCKETS));
    }
  }

  /** The arm that owns `bucket` (an unsigned 32-bit integer). */
  armOf(bucket: number): string {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (bucket < bounds[i]!) return this.arms[i]!;
    }
    return this.stable;
  }

  /** The current split as percents, stable included, as a frozen object. */
  toWeights(): Weights {
    const out: Record<string, number> = {};
    let used = 0;
    for (let i = 0; i < this.arms.length; i++) {
      out[this.arms[i]!] = this.percents[i]!;
      used += this.percents[i]!;
    }
    // Rounded to keep 100 - 33.3 - 33.3 from printing binary noise.
    out[this.stable] = Math.round((100 - used) * 1e9) / 1e9;
    return Object.freeze(out);
  }

  /** A new table with some arms' weights replaced; validation is the caller's. */
  with(changes: Readonly<Record<string, number>>): WeightTable {
    const percents = this.arms.map((arm, i) => changes[arm] ?? this.percents[i]!);
    return new WeightTable(this.stable, this.arms, percents);
  }
}
