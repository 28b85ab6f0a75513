// retry(): backoff with full jitter, Retry-After, idempotency, rejections, abort, retry budget.
import { BrokenCircuitError, BulkheadRejectedError, retry, RetryBudget } from '../src/index.js';

const fail = (status?: number, headers?: Record<string, string>) =>
  Object.assign(new Error(`status ${status}`), { status, headers });

/** fn that fails `n` times with `err` then returns 'ok'. */
function flaky(n: number, err: unknown = fail(503)) {
  const fn = jest.fn(async () => {
    if (fn.mock.calls.length <= n) throw err;
    return 'ok';
  });
  return fn;
}

describe('retry', () => {
  it('retries with exponential backoff and full jitter until it succeeds', async () => {
    const delays: number[] = [];
    const fn = flaky(3, new Error('reset'));
    await expect(
      retry(fn, {
        retries: 3,
        baseMs: 2,
        random: () => 0.5,
        onRetry: ({ delayMs }) => delays.push(delayMs),
      }),
    ).resolves.toBe('ok');
    expect(fn).toHaveBeenCalledTimes(4);
    expect(fn.mock.calls.map((c) => (c as unknown[])[1])).toEqual([0, 1, 2, 3]);
    expect(delays).toEqual([1, 2, 4]);
  });

  it('gives up after `retries` with the last error', async () => {
    const fn = flaky(10);
    await expect(retry(fn, { retries: 2, baseMs: 1 })).rejects.toMatchObject({ status: 503 });
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('never retries breaker or bulkhead rejections', async () => {
    for (const err of [
      new BrokenCircuitError('x', 'open', 1000),
      new BulkheadRejectedError('x', 'bulkhead'),
    ]) {
      const fn = flaky(5, err);
      await expect(retry(fn, { baseMs: 1 })).rejects.toBe(err);
      expect(fn).toHaveBeenCalledTimes(1);
    }
  });

  it('does not retry 4xx other than 408, 425 and 429', async () => {
    const bad = flaky(5, fail(400));
    await expect(retry(bad, { baseMs: 1 })).rejects.toMatchObject({ status: 400 });
    expect(bad).toHaveBeenCalledTimes(1);
    const timeout = flaky(1, fail(408));
    await expect(retry(timeout, { baseMs: 1 })).resolves.toBe('ok');
  });

  it('retries only idempotent methods unless retryNonIdempotent', async () => {
    const post = flaky(1);
    await expect(retry(post, { method: 'POST', baseMs: 1 })).rejects.toMatchObject({ status: 503 });
    expect(post).toHaveBeenCalledTimes(1);
    const get = flaky(1);
    await expect(retry(get, { method: 'get', baseMs: 1 })).resolves.toBe('ok');
    const forced = flaky(1);
    await expect(
      retry(forced, { method: 'POST', retryNonIdempotent: true, baseMs: 1 }),
    ).resolves.toBe('ok');
  });

  it('honours Retry-After, and gives up when it exceeds maxRetryAfterMs', async () => {
    const delays: number[] = [];
    const fn = flaky(1, fail(503, { 'retry-after': '0' }));
    await retry(fn, { onRetry: ({ delayMs }) => delays.push(delayMs) });
    expect(delays).toEqual([0]);
    const far = flaky(1, fail(429, { 'retry-after': '120' }));
    await expect(retry(far, { maxRetryAfterMs: 30_000 })).rejects.toMatchObject({ status: 429 });
    expect(far).toHaveBeenCalledTimes(1);
  });

  it('regression: a throwing onRetry or shouldRetry never replaces the upstream error or stops the retries', async () => {
    const warnings: unknown[] = [];
    const warn = jest
      .spyOn(process, 'emitWarning')
      .mockImplementation((w: string | Error) => void warnings.push(w));
    try {
      const logged = flaky(2, fail(503));
      await expect(
        retry(logged, {
          baseMs: 1,
          onRetry: () => {
            throw new Error('logger down');
          },
        }),
      ).resolves.toBe('ok');
      expect(logged).toHaveBeenCalledTimes(3);
      const judged = flaky(1, fail(503));
      await expect(
        retry(judged, {
          baseMs: 1,
          shouldRetry: () => {
            throw new Error('predicate bug');
          },
        }),
      ).resolves.toBe('ok'); // the default applies: a 503 is retried
      const bad = flaky(5, fail(400));
      await expect(
        retry(bad, {
          baseMs: 1,
          shouldRetry: () => {
            throw new Error('predicate bug');
          },
        }),
      ).rejects.toMatchObject({ status: 400 });
      expect(bad).toHaveBeenCalledTimes(1);
      expect(warnings).toEqual(['logger down', 'logger down', 'predicate bug', 'predicate bug']);
    } finally {
      warn.mockRestore();
    }
  });

  it('an abort during the backoff sleep ends it at once with the abort reason', async () => {
    const ac = new AbortController();
    const fn = jest.fn(async () => {
      throw new Error('reset');
    });
    await expect(
      retry(fn, {
        baseMs: 60_000,
        random: () => 0.99,
        signal: ac.signal,
        // Abort once the 59 s sleep has begun.
        onRetry: () => setImmediate(() => ac.abort(new Error('stop'))),
      }),
    ).rejects.toThrow('stop');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('the retry budget caps retries at ratio x calls plus the floor, so retries cannot multiply an outage', async () => {
    const now = { t: 0 };
    const budget = new RetryBudget({
      ratio: 0.1,
      minRetriesPerSecond: 0.1,
      windowMs: 10_000,
      clock: () => now.t,
    });
    // 1 retry of floor; then 0.1 per call.
    let attempts = 0;
    const down = async () => {
      attempts++;
      throw new Error('down');
    };
    for (let i = 0; i < 50; i++)
      await retry(down, { budget, retries: 3, baseMs: 1, random: () => 0 }).catch(() => undefined);
    // 50 calls: 50 first attempts + at most floor(0.1*50 + 1) = 6 retries.
    expect(attempts).toBeLessThanOrEqual(56);
    expect(attempts).toBeGreaterThan(50);
    expect(budget.remaining()).toBe(0);
    // The window expires by time: after it, the floor is available again.
    now.t = 60_000;
    expect(budget.remaining()).toBe(1);
  });
});
