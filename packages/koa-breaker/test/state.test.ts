// The pure state machine, driven by an injected clock: unit cases and fast-check properties.
import fc from 'fast-check';
import { normalizePolicy, type PolicyOptions } from '../src/options.js';
import { CircuitState, type Outcome, type Permit, type Transition } from '../src/state.js';
import { RollingWindow } from '../src/window.js';

function machine(options: PolicyOptions = {}) {
  const transitions: Transition[] = [];
  const p = normalizePolicy({ openJitter: 0, ...options });
  const state = new CircuitState(p, (t) => transitions.push(t));
  return { state, transitions };
}

function fail(state: CircuitState, now: number, times = 1): void {
  for (let i = 0; i < times; i++) state.record(state.acquire(now)!, 'failure', now);
}

describe('CircuitState', () => {
  it('opens after failureThreshold consecutive failures, and a success resets the count', () => {
    const { state, transitions } = machine({ failureThreshold: 3 });
    fail(state, 0, 2);
    state.record(state.acquire(0)!, 'success', 0);
    fail(state, 0, 2);
    expect(state.current(0)).toBe('closed');
    fail(state, 0, 1);
    expect(state.current(0)).toBe('open');
    expect(transitions).toEqual([
      expect.objectContaining({ from: 'closed', to: 'open', reason: 'consecutiveFailures' }),
    ]);
    expect(transitions[0]!.figures).toMatchObject({ consecutiveFailures: 3, failureThreshold: 3 });
  });

  it('refuses calls while open and moves to half-open lazily when openMs is over', () => {
    const { state, transitions } = machine({ failureThreshold: 1, openMs: 1000 });
    fail(state, 0);
    expect(state.acquire(999)).toBeUndefined();
    expect(state.retryAfterMs(400)).toBe(600);
    expect(transitions).toHaveLength(1);
    const probe = state.acquire(1000);
    expect(probe).toMatchObject({ probe: true });
    expect(transitions.map((t) => t.to)).toEqual(['open', 'halfOpen']);
  });

  it('lets at most halfOpen.maxConcurrent probes run and rejects the rest at once', () => {
    const { state } = machine({
      failureThreshold: 1,
      openMs: 10,
      halfOpen: { probes: 3, maxConcurrent: 2 },
    });
    fail(state, 0);
    const a = state.acquire(10);
    const b = state.acquire(10);
    expect(a && b).toBeTruthy();
    expect(state.acquire(10)).toBeUndefined();
    state.record(a!, 'success', 11);
    expect(state.acquire(11)).toBeDefined();
    expect(state.acquire(11)).toBeUndefined(); // probes (3) all started
  });

  it('closes after successThreshold probe successes and re-opens on a probe failure', () => {
    const { state } = machine({
      failureThreshold: 1,
      openMs: 10,
      halfOpen: { probes: 2, successThreshold: 2, maxConcurrent: 2 },
    });
    fail(state, 0);
    const a = state.acquire(10)!;
    const b = state.acquire(10)!;
    state.record(a, 'success', 11);
    expect(state.current(11)).toBe('halfOpen');
    state.record(b, 'success', 11);
    expect(state.current(11)).toBe('closed');
    fail(state, 12);
    const c = state.acquire(22)!;
    state.record(c, 'failure', 23);
    expect(state.current(23)).toBe('open');
    expect(state.lastReason).toBe('halfOpenFailure');
  });

  it('an ignored probe gives its slot back instead of deciding', () => {
    const { state } = machine({ failureThreshold: 1, openMs: 10 });
    fail(state, 0);
    const a = state.acquire(10)!;
    expect(state.acquire(10)).toBeUndefined();
    state.record(a, 'ignored', 11);
    expect(state.current(11)).toBe('halfOpen');
    const b = state.acquire(11)!;
    state.record(b, 'success', 12);
    expect(state.current(12)).toBe('closed');
  });

  it('regression: an overhanging slow success does not close a half-open breaker', () => {
    const { state } = machine({ failureThreshold: 1, openMs: 100 });
    const slow = state.acquire(0)!; // started while closed
    fail(state, 1); // trips
    const probe = state.acquire(101)!;
    state.record(slow, 'success', 150); // the old call finally succeeds
    expect(state.current(150)).toBe('halfOpen');
    expect(state.totals.stale).toBe(1);
    state.record(probe, 'success', 151);
    expect(state.current(151)).toBe('closed');
  });

  it('regression: a call from before the trip cannot re-open a closed breaker', () => {
    const { state } = machine({ failureThreshold: 1, openMs: 100 });
    const old = state.acquire(0)!;
    fail(state, 1);
    state.record(state.acquire(101)!, 'success', 102);
    expect(state.current(102)).toBe('closed');
    state.record(old, 'failure', 103);
    expect(state.current(103)).toBe('closed');
    expect(state.consecutiveFailures).toBe(0);
  });

  it('opens on the failure rate once minimumCalls are in the window', () => {
    const { state } = machine({
      failureThreshold: false,
      failureRate: { threshold: 0.5, windowMs: 1000, minimumCalls: 4 },
    });
    state.record(state.acquire(0)!, 'success', 0);
    fail(state, 0, 2);
    expect(state.current(0)).toBe('closed'); // 3 calls < minimumCalls
    state.record(state.acquire(0)!, 'success', 0);
    expect(state.current(0)).toBe('closed'); // success never trips
    fail(state, 0);
    expect(state.current(0)).toBe('open');
    expect(state.lastReason).toBe('failureRate');
  });

  it('regression: an idle gap empties the window, so old failures do not trip it', () => {
    const { state } = machine({
      failureThreshold: false,
      failureRate: { threshold: 0.5, windowMs: 1000, minimumCalls: 4 },
    });
    fail(state, 0, 3);
    // An idle hour later one more failure: the window holds 1 call, not 4.
    fail(state, 3_600_000);
    expect(state.current(3_600_000)).toBe('closed');
    expect(state.window.total).toBe(1);
  });

  it('opens on the slow-call rate', () => {
    const { state } = machine({
      failureThreshold: false,
      failureRate: { threshold: 1, windowMs: 1000, minimumCalls: 2 },
      slowCall: { durationMs: 50, rateThreshold: 0.5 },
    });
    state.record(state.acquire(0)!, 'success', 10);
    const slow = state.acquire(10)!;
    state.record(slow, 'success', 70);
    expect(state.current(70)).toBe('open');
    expect(state.lastReason).toBe('slowCallRate');
  });

  it('grows the open time on repeated trips up to maxOpenMs, with jitter subtracted', () => {
    const randoms = [0, 0, 0, 0.5];
    const p = normalizePolicy({
      failureThreshold: 1,
      openMs: 100,
      maxOpenMs: 350,
      openBackoff: 2,
      openJitter: 0.2,
      random: () => randoms.shift() ?? 0,
    });
    const opens: number[] = [];
    const state = new CircuitState(p, (t) => t.openMs !== undefined && opens.push(t.openMs));
    let now = 0;
    fail(state, now);
    for (let i = 0; i < 3; i++) {
      now = state.openUntil;
      state.record(state.acquire(now)!, 'failure', now);
    }
    expect(opens).toEqual([100, 200, 350, 350 * 0.9]);
    now = state.openUntil;
    state.record(state.acquire(now)!, 'success', now);
    fail(state, now);
    expect(state.openUntil - now).toBe(100); // a close resets the growth
  });

  it('an upstream Retry-After opens it for that long, clamped, as its own reason', () => {
    const { state, transitions } = machine({ maxRetryAfterMs: 5000 });
    state.record(state.acquire(0)!, 'success', 0, 2000);
    expect(state.current(0)).toBe('open');
    expect(state.openUntil).toBe(2000);
    expect(transitions[0]).toMatchObject({ reason: 'retryAfter', openMs: 2000 });
    state.record(state.acquire(2000)!, 'success', 2000);
    state.record(state.acquire(2000)!, 'failure', 2000, 999_999);
    expect(state.openUntil).toBe(7000);
  });

  it('ignores Retry-After when respectRetryAfter is false', () => {
    const { state } = machine({ respectRetryAfter: false });
    state.record(state.acquire(0)!, 'success', 0, 2000);
    expect(state.current(0)).toBe('closed');
  });
});

describe('RollingWindow', () => {
  it('expires buckets by elapsed time, one bucket at a time', () => {
    const w = new RollingWindow(1000, 10);
    w.record(0, true, false);
    w.record(550, false, true);
    w.advance(999);
    expect([w.total, w.failures, w.slow]).toEqual([2, 1, 1]);
    w.advance(1000); // bucket [0,100) falls out
    expect([w.total, w.failures, w.slow]).toEqual([1, 0, 1]);
    w.advance(1550);
    expect(w.total).toBe(0);
  });
});

// ---- properties -------------------------------------------------------------------------------

type Cmd =
  | { kind: 'acquire'; dt: number }
  | { kind: 'record'; pick: number; outcome: Outcome; dt: number; pushBack: boolean };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ kind: fc.constant('acquire' as const), dt: fc.integer({ min: 0, max: 400 }) }),
  fc.record({
    kind: fc.constant('record' as const),
    pick: fc.nat(),
    outcome: fc.constantFrom<Outcome>('success', 'failure', 'ignored'),
    dt: fc.integer({ min: 0, max: 400 }),
    pushBack: fc.boolean(),
  }),
);

const config = fc.record({
  failureThreshold: fc.integer({ min: 1, max: 4 }),
  probes: fc.integer({ min: 1, max: 4 }),
  maxConcurrent: fc.integer({ min: 1, max: 4 }),
  openMs: fc.integer({ min: 1, max: 500 }),
});

describe('CircuitState properties', () => {
  it('never has more than halfOpen.maxConcurrent probes in flight; stale epochs never transition; every permit comes back', () => {
    fc.assert(
      fc.property(config, fc.array(cmd, { maxLength: 200 }), (cfg, cmds) => {
        const p = normalizePolicy({
          failureThreshold: cfg.failureThreshold,
          openMs: cfg.openMs,
          openJitter: 0,
          halfOpen: { probes: cfg.probes, successThreshold: 1, maxConcurrent: cfg.maxConcurrent },
        });
        const state = new CircuitState(p);
        let now = 0;
        const out: Permit[] = [];
        for (const c of cmds) {
          now += c.dt;
          if (c.kind === 'acquire') {
            const permit = state.acquire(now);
            if (permit) out.push(permit);
          } else if (out.length > 0) {
            const [permit] = out.splice(c.pick % out.length, 1);
            const before = { s: state.state, e: state.epoch };
            state.record(permit!, c.outcome, now, c.pushBack ? 100 : undefined);
            if (permit!.epoch !== before.e) {
              // A stale permit moves nothing.
              expect({ s: state.state, e: state.epoch }).toEqual(before);
            }
          }
          const current = out.filter((x) => x.epoch === state.epoch && x.probe).length;
          if (state.state === 'halfOpen') {
            expect(state.probesInFlight).toBe(current);
            expect(state.probesInFlight).toBeLessThanOrEqual(cfg.maxConcurrent);
            expect(state.probesStarted).toBeLessThanOrEqual(cfg.probes);
          }
        }
        // Hand every permit back with no verdict: the breaker must not be stuck.
        for (const permit of out) state.record(permit, 'ignored', now);
        expect(state.state === 'halfOpen' ? state.probesInFlight : 0).toBe(0);
        now += 10_000;
        if (state.current(now) !== 'closed') {
          // From open or half-open, a probe is available once the open time is over.
          expect(state.acquire(now)).toBeDefined();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a closed breaker only opens on a current-epoch failure, slow call or push-back', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom<Outcome>('success', 'ignored'), { maxLength: 100 }),
        (xs) => {
          const { state, transitions } = machine({ failureThreshold: 1 });
          for (const o of xs) state.record(state.acquire(0)!, o, 0);
          expect(transitions).toEqual([]);
        },
      ),
    );
  });
});
