/** An entry of koa-ratelimit's memory driver. */
interface LimitEntry {
  /** Reset time, in seconds since the epoch. */
  reset: number;
}

/**
 * koa-ratelimit's memory driver keeps a key per client forever and insists on a `Map` instance.
 * This Map forgets expired windows and, past `maxKeys`, the oldest key, so a scan from many
 * addresses cannot grow the process without limit.
 */
export class BoundedExpiringMap<V extends LimitEntry> extends Map<string, V> {
  constructor(
    private readonly maxKeys: number,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  override set(key: string, value: V): this {
    if (!this.has(key) && this.size >= this.maxKeys) {
      this.sweep();
      if (this.size >= this.maxKeys) {
        // Insertion order is age order: drop the oldest window.
        const oldest = this.keys().next();
        if (!oldest.done) this.delete(oldest.value);
      }
    }
    return super.set(key, value);
  }

  /** Removes every window that has ended. */
  sweep(): void {
    const nowSeconds = this.now() / 1000;
    for (const [key, entry] of this) if (entry.reset < nowSeconds) this.delete(key);
  }
}
