import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { HealthCheckResult, HealthCheckSpec } from '../types.js';
import { fail, positiveInteger, positiveNumber } from '../validate.js';
import { scheduling, type CheckScheduling } from './spec-options.js';

/** Options of {@link eventLoopDelayCheck}. */
export interface EventLoopDelayCheckOptions extends CheckScheduling {
  /** Above this delay (at `percentile`, since the previous run) the check fails. @default 1000 */
  maxDelayMs?: number;
  /** Above this delay the check warns. @default 200 */
  warnDelayMs?: number;
  /** Which percentile of the sampled delays is compared. @default 99 */
  percentile?: number;
  /** Sampling resolution of the histogram. @default 20 */
  resolutionMs?: number;
}

/**
 * Event-loop delay of this process, sampled by `perf_hooks.monitorEventLoopDelay` between runs.
 * The one check that belongs on liveness (its default `kind`): it measures the process itself.
 * The histogram is enabled at the first run and disabled by the middleware's `close()`.
 */
export function eventLoopDelayCheck(options: EventLoopDelayCheckOptions = {}): HealthCheckSpec {
  const spec = scheduling('eventLoopDelayCheck options', options);
  const maxDelayMs = positiveNumber('eventLoopDelayCheck maxDelayMs', options.maxDelayMs, 1000);
  const warnDelayMs = positiveNumber(
    'eventLoopDelayCheck warnDelayMs',
    options.warnDelayMs,
    Math.min(200, maxDelayMs),
  );
  if (warnDelayMs > maxDelayMs)
    fail('eventLoopDelayCheck warnDelayMs', `at most maxDelayMs (${maxDelayMs})`, warnDelayMs);
  const percentile = positiveNumber('eventLoopDelayCheck percentile', options.percentile, 99);
  if (percentile > 100) fail('eventLoopDelayCheck percentile', 'a number in (0, 100]', percentile);
  const resolution = positiveInteger('eventLoopDelayCheck resolutionMs', options.resolutionMs, 20);
  let histogram: IntervalHistogram | undefined;

  return {
    kind: 'liveness',
    ...spec,
    check(): HealthCheckResult {
      if (histogram === undefined) {
        histogram = monitorEventLoopDelay({ resolution });
        histogram.enable();
      }
      const samples = histogram.count;
      // Nanoseconds to milliseconds; without samples yet there is nothing to judge.
      const delayMs = samples === 0 ? 0 : Math.round(histogram.percentile(percentile) / 1e4) / 100;
      const maxMs = samples === 0 ? 0 : Math.round(histogram.max / 1e4) / 100;
      histogram.reset();
      const status = delayMs > maxDelayMs ? 'fail' : delayMs > warnDelayMs ? 'warn' : 'pass';
      const result: HealthCheckResult = {
        status,
        componentType: 'system',
        measurement: 'eventLoopDelay',
        observedValue: delayMs,
        observedUnit: 'ms',
        details: { percentile, maxMs, samples },
      };
      if (status !== 'pass')
        result.output = `event-loop delay p${percentile} ${delayMs} ms is above ${status === 'fail' ? maxDelayMs : warnDelayMs} ms`;
      return result;
    },
    close(): void {
      histogram?.disable();
      histogram = undefined;
    },
  };
}
