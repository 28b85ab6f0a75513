/**
 * One policy per key, in a bounded LRU. Eviction is lazy, on access: no sweep timer. An idle key
 * (unused for `idleMs`, nothing running, not open) is dropped from the LRU end, at most two per
 * access. Past `maxKeys` the least recently used key with nothing running and not open goes: an
 * open breaker or one with calls running is kept while another key can go, since dropping it
 * would forget that its dependency is down (or let more calls run than its bulkhead allows). Only
 * when every key is open or busy does the least recently used one go anyway, so the bound holds.
 */
import type { Policy } from './policy.js';

export class PolicyRegistry {
  private readonly map = new Map<string, Policy>();

  constructor(
    private readonly create: (key: string) => Policy,
    private readonly maxKeys: number,
    private readonly idleMs: number,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string, now: number): Policy {
    let policy = this.map.get(key);
    if (policy !== undefined) {
      // Move to the most recently used end.
      this.map.delete(key);
      this.map.set(key, policy);
    } else {
      policy = this.create(key);
      this.map.set(key, policy);
      if (this.map.size > this.maxKeys) this.evict(now, key);
    }
    this.sweep(now, key);
    return policy;
  }

  peek(key: string): Policy | undefined {
    return this.map.get(key);
  }

  values(): IterableIterator<Policy> {
    return this.map.values();
  }

  clear(): void {
    for (const p of this.map.values()) p.close();
    this.map.clear();
  }

  private evict(now: number, current: string): void {
    for (const [key, policy] of this.map) {
      if (key !== current && policy.idle(now)) {
        this.map.delete(key);
        return;
      }
    }
    const first = this.map.keys().next();
    if (!first.done && first.value !== current) this.map.delete(first.value);
  }

  private sweep(now: number, current: string): void {
    for (let i = 0; i < 2; i++) {
      const first = this.map.entries().next();
      if (first.done) return;
      const [key, policy] = first.value;
      if (key === current || now - policy.lastUsed < this.idleMs || !policy.idle(now)) return;
      this.map.delete(key);
    }
  }
}
