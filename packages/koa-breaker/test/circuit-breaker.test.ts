// CircuitBreaker.execute(): the outbound use, with its timeout, bulkhead, abort and events.
import fc from 'fast-check';
import {
  CircuitBreaker,
  isBrokenCircuitError,
  isBulkheadRejectedError,
  isTimeoutError,
  type BreakerEvents,
} from '../src/index.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}
function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function clock(start = 0) {
  const c = { now: start, fn: () => c.now };
  return c;
}

const boom = (): Promise<never> => Promise.reject(new Error('boom'));

describe('CircuitBreaker', () => {
  it('runs fn with an AbortSignal and returns its value while closed', async () => {
    const cb = new CircuitBreaker();
    let seen: unknown;
    await expect(
      cb.execute(async (signal) => {
        seen = signal;
        return 42;
      }),
    ).resolves.toBe(42);
    expect(seen).toBeInstanceOf(AbortSignal);
    expect(cb.stats()).toMatchObject({ state: 'closed', totals: { calls: 1, successes: 1 } });
  });

  it('without timeout or caller signal, hands fn one never-aborting signal per breaker', async () => {
    const cb = new CircuitBreaker();
    const seen: AbortSignal[] = [];
    for (let i = 0; i < 2; i++)
      await cb.execute(async (signal) => {
        seen.push(signal);
      });
    expect(seen[0]).toBe(seen[1]);
    expect(seen[0]!.aborted).toBe(false);
    await new CircuitBreaker().execute(async (signal) => {
      expect(signal).not.toBe(seen[0]);
    });
  });

  it('opens after failureThreshold failures and then refuses without calling fn', async () => {
    const c = clock();
    const cb = new CircuitBreaker({
      name: 'users',
      failureThreshold: 2,
      openMs: 5000,
      openJitter: 0,
      clock: c.fn,
    });
    await expect(cb.execute(boom)).rejects.toThrow('boom');
    await expect(cb.execute(boom)).rejects.toThrow('boom');
    const fn = jest.fn(async () => 1);
    c.now = 1200;
    const err = await cb.execute(fn).catch((e: unknown) => e);
    expect(fn).not.toHaveBeenCalled();
    expect(isBrokenCircuitError(err)).toBe(true);
    expect(err).toMatchObject({
      code: 'ERR_KOA_MESH_BREAKER_OPEN',
      status: 503,
      retryAfterMs: 3800,
      breaker: 'users',
      headers: { 'Retry-After': '4' },
    });
    c.now = 5000;
    await expect(cb.execute(fn)).resolves.toBe(1);
    expect(cb.state).toBe('closed');
  });

  it('counts an error with a 4xx status as a success, and isFailure overrides', async () => {
    const cb = new CircuitBreaker({ failureThreshold: 1 });
    const notFound = Object.assign(new Error('nope'), { status: 404 });
    await expect(cb.execute(() => Promise.reject(notFound))).rejects.toBe(notFound);
    expect(cb.state).toBe('closed');
    const custom = new CircuitBreaker({ failureThreshold: 1, isFailure: (e) => e !== notFound });
    await expect(custom.execute(boom)).rejects.toThrow();
    expect(custom.state).toBe('open');
  });

  it('times out: rejects with TimeoutError, aborts fn’s signal, counts a failure', async () => {
    const cb = new CircuitBreaker({ timeoutMs: 20, failureThreshold: 1 });
    const events: string[] = [];
    cb.on('timeout', (e) => events.push(`timeout ${e.timeoutMs}`));
    cb.on('open', (e) => events.push(`open ${e.reason}`));
    let signal: AbortSignal | undefined;
    const err = await cb
      .execute(
        (s) =>
          new Promise((_, reject) => {
            signal = s;
            s.addEventListener('abort', () => reject(s.reason));
          }),
      )
      .catch((e: unknown) => e);
    expect(isTimeoutError(err)).toBe(true);
    expect(err).toMatchObject({ status: 504, timeoutMs: 20 });
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason).toBe(err);
    expect(events).toEqual(['timeout 20', 'open consecutiveFailures']);
  });

  it('regression: isFailure is asked about a timeout too', async () => {
    const seen: unknown[] = [];
    const cb = new CircuitBreaker({
      timeoutMs: 10,
      failureThreshold: 1,
      isFailure: (err) => {
        seen.push(err);
        return !isTimeoutError(err);
      },
    });
    const work = deferred<string>();
    await expect(cb.execute(() => work.promise)).rejects.toMatchObject({
      code: 'ERR_KOA_MESH_BREAKER_TIMEOUT',
    });
    expect(seen).toEqual([expect.objectContaining({ code: 'ERR_KOA_MESH_BREAKER_TIMEOUT' })]);
    expect(cb.stats()).toMatchObject({ state: 'closed', totals: { failures: 0, successes: 1 } });
    work.resolve('late');
  });

  it('holds the bulkhead slot until timed-out work really settles', async () => {
    const cb = new CircuitBreaker({ timeoutMs: 10, maxConcurrent: 1, failureThreshold: false });
    const work = deferred<string>();
    await expect(cb.execute(() => work.promise)).rejects.toMatchObject({
      code: 'ERR_KOA_MESH_BREAKER_TIMEOUT',
    });
    expect(cb.stats().inFlight).toBe(1);
    const refused = await cb.execute(async () => 'x').catch((e: unknown) => e);
    expect(isBulkheadRejectedError(refused)).toBe(true);
    work.resolve('late');
    await work.promise;
    await Promise.resolve();
    expect(cb.stats().inFlight).toBe(0);
    await expect(cb.execute(async () => 'x')).resolves.toBe('x');
  });

  it('regression: an overhanging slow success does not close a half-open breaker (through execute)', async () => {
    const c = clock();
    const cb = new CircuitBreaker({ failureThreshold: 1, openMs: 100, openJitter: 0, clock: c.fn });
    const slow = deferred<string>();
    const overhanging = cb.execute(() => slow.promise); // starts while closed
    await cb.execute(boom).catch(() => undefined); // trips
    c.now = 100;
    const probe = deferred<string>();
    const probing = cb.execute(() => probe.promise); // half-open, the one probe
    slow.resolve('late success');
    await expect(overhanging).resolves.toBe('late success');
    expect(cb.state).toBe('halfOpen');
    expect(cb.stats().totals.stale).toBe(1);
    probe.resolve('probe ok');
    await probing;
    expect(cb.state).toBe('closed');
  });

  it('a caller abort rejects with its reason, aborts fn and counts neither success nor failure', async () => {
    const cb = new CircuitBreaker({ failureThreshold: 1 });
    const ac = new AbortController();
    let inner: AbortSignal | undefined;
    const p = cb.execute((s) => {
      inner = s;
      return new Promise(() => undefined);
    }, ac.signal);
    const reason = new Error('client went away');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(inner!.aborted).toBe(true);
    expect(cb.state).toBe('closed');
    expect(cb.stats().totals).toMatchObject({ calls: 0, failures: 0, ignored: 1 });
  });

  it('rejects at once, without calling fn, when the caller signal is already aborted', async () => {
    const cb = new CircuitBreaker();
    const fn = jest.fn(async () => 1);
    await expect(cb.execute(fn, AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    expect(fn).not.toHaveBeenCalled();
  });

  it('regression: a burst against a small bulkhead does not open the breaker', async () => {
    const cb = new CircuitBreaker({ maxConcurrent: 2, failureThreshold: 1 });
    const gate = deferred<string>();
    const calls = Array.from({ length: 20 }, (_, i) =>
      i < 2 ? cb.execute(() => gate.promise) : cb.execute(boom),
    );
    gate.resolve('ok');
    const results = await Promise.allSettled(calls);
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toHaveLength(18);
    for (const r of rejected)
      expect(isBulkheadRejectedError((r as PromiseRejectedResult).reason)).toBe(true);
    expect(cb.state).toBe('closed');
    expect(cb.stats().totals.failures).toBe(0);
  });

  it('queues up to maxQueue callers, then rejects; queueTimeoutMs bounds the wait', async () => {
    const cb = new CircuitBreaker({ maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 15 });
    const gate = deferred<string>();
    const first = cb.execute(() => gate.promise);
    const queued = cb.execute(async () => 'second');
    expect(cb.stats().queued).toBe(1);
    await expect(cb.execute(async () => 'third')).rejects.toMatchObject({ reason: 'bulkhead' });
    await expect(queued).rejects.toMatchObject({
      code: 'ERR_KOA_MESH_BULKHEAD_REJECTED',
      reason: 'queueTimeout',
    });
    const queued2 = cb.execute(async () => 'fourth');
    gate.resolve('first');
    await expect(first).resolves.toBe('first');
    await expect(queued2).resolves.toBe('fourth');
  });

  it('a caller abort while queued for the bulkhead leaves the queue and counts neither', async () => {
    const cb = new CircuitBreaker({ maxConcurrent: 1, maxQueue: 1 });
    const rejects: unknown[] = [];
    cb.on('reject', (e) => rejects.push(e));
    const gate = deferred<void>();
    const first = cb.execute(() => gate.promise);
    const ac = new AbortController();
    const fn = jest.fn(async () => 1);
    const queued = cb.execute(fn, ac.signal);
    expect(cb.stats().queued).toBe(1);
    ac.abort(new Error('caller left'));
    await expect(queued).rejects.toThrow('caller left');
    expect(cb.stats()).toMatchObject({ queued: 0, totals: { ignored: 1 } });
    gate.resolve();
    await first;
    expect(fn).not.toHaveBeenCalled();
    expect(rejects).toEqual([]);
    expect(cb.stats().inFlight).toBe(0);
  });

  it('an error whose headers throw is still recorded (no lost permit)', async () => {
    const cb = new CircuitBreaker({ failureThreshold: 1, openMs: 10, openJitter: 0 });
    const hostile = Object.assign(new Error('upstream'), {
      status: 503,
      headers: {
        get() {
          throw new Error('hostile headers');
        },
      },
    });
    await expect(cb.execute(() => Promise.reject(hostile))).rejects.toBe(hostile);
    expect(cb.stats()).toMatchObject({ state: 'open', reason: 'consecutiveFailures' });
  });

  it('emits the lifecycle events with name and reason', async () => {
    const c = clock();
    const cb = new CircuitBreaker({
      name: 'db',
      failureThreshold: 1,
      openMs: 100,
      openJitter: 0,
      clock: c.fn,
    });
    const seen: Array<[string, unknown]> = [];
    for (const e of ['open', 'halfOpen', 'close', 'reject', 'success', 'failure'] as const)
      cb.on(e, (payload: BreakerEvents[typeof e]) => seen.push([e, payload]));
    await cb.execute(boom).catch(() => undefined);
    await cb.execute(async () => 1).catch(() => undefined);
    c.now = 100;
    await cb.execute(async () => 1);
    expect(seen.map(([e]) => e)).toEqual([
      'failure',
      'open',
      'reject',
      'halfOpen',
      'success',
      'close',
    ]);
    expect(seen[1]![1]).toMatchObject({ name: 'db', reason: 'consecutiveFailures', openMs: 100 });
    expect(seen[2]![1]).toEqual({ name: 'db', reason: 'open' });
  });

  it('a throwing listener never fails the call', async () => {
    const cb = new CircuitBreaker();
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    cb.on('success', () => {
      throw new Error('listener bug');
    });
    await expect(cb.execute(async () => 'fine')).resolves.toBe('fine');
    expect(warn).toHaveBeenCalledWith(
      'listener bug',
      expect.objectContaining({ type: 'KoaMeshBreakerWarning' }),
    );
    warn.mockRestore();
  });

  it('healthCheck: pass when closed, warn when open (fail when openHealth says so)', async () => {
    const cb = new CircuitBreaker({ name: 'users', failureThreshold: 1 });
    await expect(cb.healthCheck()).resolves.toMatchObject({ status: 'pass' });
    await cb.execute(boom).catch(() => undefined);
    await expect(cb.healthCheck()).resolves.toMatchObject({
      status: 'warn',
      observedValue: 'open',
      output: 'circuit breaker "users" is open (consecutiveFailures)',
    });
    const strict = new CircuitBreaker({ failureThreshold: 1, openHealth: 'fail' });
    await strict.execute(boom).catch(() => undefined);
    await expect(strict.healthCheck()).resolves.toMatchObject({ status: 'fail' });
  });

  it('an upstream 503 with Retry-After opens it for that long', async () => {
    const c = clock();
    const cb = new CircuitBreaker({ clock: c.fn });
    const pushBack = Object.assign(new Error('busy'), {
      status: 503,
      headers: { 'retry-after': '7' },
    });
    await cb.execute(() => Promise.reject(pushBack)).catch(() => undefined);
    expect(cb.stats()).toMatchObject({ state: 'open', reason: 'retryAfter', retryAfterMs: 7000 });
  });

  it('close() rejects the callers waiting in the bulkhead queue', async () => {
    const cb = new CircuitBreaker({ maxConcurrent: 1, maxQueue: 5 });
    const gate = deferred<void>();
    const first = cb.execute(() => gate.promise);
    const waiting = cb.execute(async () => 1);
    cb.close();
    await expect(waiting).rejects.toMatchObject({ reason: 'closed' });
    gate.resolve();
    await first;
  });

  it('property: every permit and slot is released on every path (success, failure, 4xx, timeout, abort, rejection)', async () => {
    type Kind = 'ok' | 'fail' | 'clientError' | 'hang' | 'abort' | 'throwSync';
    const kinds = fc.constantFrom<Kind>('ok', 'fail', 'clientError', 'hang', 'abort', 'throwSync');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ kind: kinds, dt: fc.integer({ min: 0, max: 30 }) }), {
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 3 }),
        async (calls, maxConcurrent) => {
          const c = clock();
          const cb = new CircuitBreaker({
            failureThreshold: 2,
            openMs: 20,
            openJitter: 0,
            timeoutMs: 5,
            maxConcurrent,
            maxQueue: 2,
            halfOpen: { probes: 2, maxConcurrent: 1 },
            clock: c.fn,
          });
          const pending: Array<Promise<unknown>> = [];
          const hangs: Array<{ d: Deferred<void>; aborted: Promise<void> }> = [];
          for (const call of calls) {
            c.now += call.dt;
            const ac = new AbortController();
            pending.push(
              cb
                .execute<unknown>(
                  (signal) => {
                    if (call.kind === 'ok') return Promise.resolve(1);
                    if (call.kind === 'fail') return Promise.reject(new Error('x'));
                    if (call.kind === 'clientError')
                      return Promise.reject(Object.assign(new Error('x'), { status: 400 }));
                    if (call.kind === 'throwSync') throw new Error('sync');
                    // Hanging work: only the timeout or the caller's abort ends the call; the
                    // work itself settles later, when the test lets it.
                    const d = deferred<void>();
                    const aborted = new Promise<void>((r) =>
                      signal.addEventListener('abort', () => r()),
                    );
                    hangs.push({ d, aborted });
                    return d.promise;
                  },
                  call.kind === 'abort' ? ac.signal : undefined,
                )
                .catch(() => undefined),
            );
            if (call.kind === 'abort') ac.abort(new Error('caller'));
          }
          let done = false;
          void Promise.all(pending).then(() => (done = true));
          while (!done || hangs.length > 0) {
            const batch = hangs.splice(0);
            await Promise.all(batch.map((h) => h.aborted));
            for (const h of batch) h.d.resolve();
            await new Promise((r) => setImmediate(r));
          }
          const s = cb.stats();
          expect(s.inFlight).toBe(0);
          expect(s.queued).toBe(0);
          const state = (cb as unknown as { policy: { state: { probesInFlight: number } } }).policy
            .state;
          expect(state.probesInFlight).toBe(0);
          c.now += 1000;
          // Not stuck: once the open time is over, a call goes through.
          await expect(cb.execute(async () => 'after')).resolves.toBe('after');
        },
      ),
      { numRuns: 40 },
    );
  });
});
