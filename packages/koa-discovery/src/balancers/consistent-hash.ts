import { hash32 } from '../hash.js';
import type { Balancer, RandomSource, Target } from './balancer.js';

/** Virtual nodes per unit of weight: enough for an even spread with a handful of instances. */
export const VIRTUAL_NODES = 160;

/**
 * A hash ring with virtual nodes (Karger et al.): a key goes to the first instance clockwise from
 * its hash. Adding or removing one of n instances moves about 1/n of the keys. A key whose owner is
 * not usable (ejected, already tried) walks on to the next distinct owner. A pick without a key is
 * uniform random.
 */
export class ConsistentHashBalancer<T extends Target> implements Balancer<T> {
  readonly strategy = 'consistent-hash' as const;
  readonly #random: RandomSource;
  readonly #vnodes: number;
  #points = new Uint32Array(0);
  #owners: T[] = [];
  #size = 0;

  constructor(random: RandomSource = Math.random, virtualNodes = VIRTUAL_NODES) {
    this.#random = random;
    this.#vnodes = virtualNodes;
  }

  update(targets: readonly T[]): void {
    const entries: { point: number; owner: T }[] = [];
    for (const t of targets) {
      const count = Math.max(1, Math.round(this.#vnodes * t.weight));
      for (let v = 0; v < count; v++) entries.push({ point: hash32(`${t.id}#${v}`), owner: t });
    }
    // Ties broken by id so every process builds the same ring from the same list.
    entries.sort((a, b) => a.point - b.point || (a.owner.id < b.owner.id ? -1 : 1));
    this.#points = Uint32Array.from(entries, (e) => e.point);
    this.#owners = entries.map((e) => e.owner);
    this.#size = targets.length;
  }

  pick(candidates: readonly T[], hashKey: string | undefined): T {
    const ring = this.#points;
    if (hashKey === undefined || ring.length === 0) {
      return candidates[Math.floor(this.#random() * candidates.length)]!;
    }
    const h = hash32(hashKey);
    let lo = 0;
    let hi = ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ring[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    const start = lo === ring.length ? 0 : lo;
    // The ring holds the same objects the pool passes as candidates (one object per instance id).
    const usable =
      candidates.length === this.#size ? undefined : new Set(candidates.map((c) => c.id));
    for (let k = 0; k < ring.length; k++) {
      const owner = this.#owners[(start + k) % ring.length]!;
      if (!usable || usable.has(owner.id)) return owner;
    }
    return candidates[Math.floor(this.#random() * candidates.length)]!;
  }
}
