import OpossumBreaker from 'opossum';
import { CircuitBreaker } from '@koa-mesh/breaker';
import { defineMicro } from '../lib/scenario.js';

const ok = (): Promise<number> => Promise.resolve(1);
const boom = new Error('boom');
const failing = (): Promise<never> => Promise.reject(boom);
const noop = (): undefined => undefined;

/**
 * A breaker that stays closed while failing: the failure rate is judged on every failure, but the
 * `prefill` successes in a one-hour window keep it below the threshold of 1.
 */
async function failingBreaker(prefill: number): Promise<() => Promise<unknown>> {
  const cb = new CircuitBreaker({
    failureThreshold: false,
    failureRate: { threshold: 1, windowMs: 3_600_000, minimumCalls: 1 },
  });
  for (let i = 0; i < prefill; i++) await cb.execute(ok);
  return () => cb.execute(failing).catch(noop);
}

async function failingOpossum(prefill: number): Promise<() => Promise<unknown>> {
  let fail = false;
  const cb = new OpossumBreaker(() => (fail ? failing() : ok()), {
    timeout: false,
    errorThresholdPercentage: 100,
    rollingCountTimeout: 3_600_000,
    rollingCountBuckets: 10,
  });
  for (let i = 0; i < prefill; i++) await cb.fire();
  fail = true;
  return () => cb.fire().catch(noop);
}

export default defineMicro([
  {
    name: 'breaker: baseline, the guarded fn alone (await Promise.resolve)',
    setup: () => ok,
    iterations: 200_000,
  },
  {
    name: 'breaker: closed execute()',
    setup: () => {
      const cb = new CircuitBreaker();
      return () => cb.execute(ok);
    },
    iterations: 200_000,
  },
  {
    name: 'breaker:opossum closed fire() (timeout off)',
    setup: () => {
      const cb = new OpossumBreaker(ok, { timeout: false });
      return () => cb.fire();
    },
    iterations: 50_000,
  },
  {
    name: 'breaker: failing execute(), 100 calls in the window',
    setup: () => failingBreaker(100),
    iterations: 100_000,
  },
  {
    name: 'breaker: failing execute(), 100k calls in the window',
    setup: () => failingBreaker(100_000),
    iterations: 100_000,
  },
  {
    name: 'breaker:opossum failing fire(), 100 calls in the window',
    setup: () => failingOpossum(100),
    iterations: 2_000,
  },
  {
    name: 'breaker:opossum failing fire(), 100k calls in the window',
    setup: () => failingOpossum(100_000),
    iterations: 20,
  },
]);
