/**
 * A bulkhead: at most `maxConcurrent` calls run at once, at most `maxQueue` wait (FIFO), each for
 * at most `queueTimeoutMs`. A slot is held until the guarded work really settles — a timed-out call
 * that runs on keeps its slot — so the limit bounds real concurrency.
 */
import { BulkheadRejectedError } from './errors.js';

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export class Bulkhead {
  active = 0;
  private readonly queue = new Set<Waiter>();

  constructor(
    private readonly name: string,
    readonly maxConcurrent: number,
    private readonly maxQueue: number,
    private readonly queueTimeoutMs: number,
  ) {}

  get queued(): number {
    return this.queue.size;
  }

  /** Takes a slot if one is free. */
  tryEnter(): boolean {
    if (this.active < this.maxConcurrent) {
      this.active++;
      return true;
    }
    return false;
  }

  /**
   * Waits for a slot (call after `tryEnter()` said no). Rejects with a BulkheadRejectedError when
   * the queue is full or the wait runs out, or with the signal's reason when it aborts.
   */
  enter(signal?: AbortSignal): Promise<void> {
    if (this.queue.size >= this.maxQueue)
      return Promise.reject(new BulkheadRejectedError(this.name, 'bulkhead'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { resolve, reject, timer: undefined, signal, onAbort: undefined };
      if (this.queueTimeoutMs !== Infinity) {
        w.timer = setTimeout(() => {
          this.drop(w);
          reject(new BulkheadRejectedError(this.name, 'queueTimeout'));
        }, this.queueTimeoutMs);
        w.timer.unref();
      }
      if (signal) {
        w.onAbort = () => {
          this.drop(w);
          reject(signal.reason);
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.queue.add(w);
    });
  }

  /** Frees a slot, handing it straight to the first waiter if there is one. */
  leave(): void {
    const next = this.queue.values().next();
    if (next.done) {
      this.active--;
      return;
    }
    const w = next.value;
    this.drop(w);
    w.resolve();
  }

  /** Rejects every waiter (the running calls keep their slots until they settle). */
  close(): void {
    for (const w of [...this.queue]) {
      this.drop(w);
      w.reject(new BulkheadRejectedError(this.name, 'closed'));
    }
  }

  private drop(w: Waiter): void {
    this.queue.delete(w);
    if (w.timer !== undefined) clearTimeout(w.timer);
    if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
  }
}
