export interface WaitForOptions {
  /** Give up after this long. @default 10000 */
  timeoutMs?: number;
  /** Poll this often. @default 25 */
  intervalMs?: number;
  /** Said in the error when the deadline passes. */
  message?: string;
}

/**
 * Polls `probe` until it returns a truthy value (which is returned) or the deadline passes. A probe
 * that throws counts as "not yet"; its last error is in the timeout message. Use it instead of
 * sleeps: it waits exactly as long as the condition needs.
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(
        `waitFor: ${options.message ?? 'condition'} not met in ${timeoutMs} ms${why}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves after `ms`; for pacing load, never for waiting on a condition (use waitFor). */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
