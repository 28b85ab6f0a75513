/** Deterministic PRNG (mulberry32) so distribution tests are reproducible. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A manual clock for ejection times and budgets. */
export function manualClock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

export interface T {
  id: string;
  weight: number;
  inflight: number;
}

export function targets(n: number, weight = 1): T[] {
  return Array.from({ length: n }, (_, i) => ({ id: `i${i}`, weight, inflight: 0 }));
}

export function countPicks<X extends { id: string }>(
  picks: number,
  pick: () => X,
): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const id = pick().id;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}
