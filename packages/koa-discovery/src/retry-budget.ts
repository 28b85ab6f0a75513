/**
 * Retries as a share of requests (Finagle's RetryBudget): each request deposits `ratio` of a
 * token, each retry withdraws one, plus `minPerSecond` retries always allowed so low traffic can
 * still retry. Stops a failing upstream from being hit by (1 + retries) × the load.
 */
export class RetryBudget {
  readonly #ratio: number;
  readonly #minPerSecond: number;
  readonly #now: () => number;
  readonly #cap: number;
  #tokens = 0;
  #windowStart = 0;
  #windowUsed = 0;

  constructor(ratio: number, minPerSecond: number, now: () => number) {
    this.#ratio = ratio;
    this.#minPerSecond = minPerSecond;
    this.#now = now;
    this.#cap = Math.max(1, ratio * 1000);
  }

  /** A first attempt was made. */
  deposit(): void {
    this.#tokens = Math.min(this.#cap, this.#tokens + this.#ratio);
  }

  /** Takes one retry from the budget; false when it is spent. */
  tryWithdraw(): boolean {
    const now = this.#now();
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#windowUsed = 0;
    }
    if (this.#windowUsed < this.#minPerSecond) {
      this.#windowUsed++;
      return true;
    }
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    return false;
  }
}
