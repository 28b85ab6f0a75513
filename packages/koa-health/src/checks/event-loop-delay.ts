import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import type { HealthCheckResult, HealthCheckSpec } from '../types.js';
import { fail, positiveNumber, timerMs } from '../validate.js';
import { optionNames } from '../known-keys.js';
import { scheduling, SCHEDULING_OPTIONS, type CheckScheduling } from './spec-options.js';

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

const EVENT_LOOP_DELAY_OPTIONS: readonly string[] = Object.freeze([
  ...SCHEDULING_OPTIONS,
  ...optionNames<Omit<EventLoopDelayCheckOptions, keyof CheckScheduling>>({
    maxDelayMs: true,
    warnDelayMs: true,
    percentile: true,
    resolutionMs: true,
  }),
]);

/**
 * Event-loop delay of this process between runs: an unref'd timer every `resolutionMs` records
 * how late it fires into a `perf_hooks` histogram, which each run reads and resets.
 *
 * Not `monitorEventLoopDelay()`: its `reset()` also forgets when it last ticked, so a stall that
 * starts right after a run is never recorded (Node's Histogram::Reset zeroes `prev_`). Here the
 * interval in progress survives the reset and a stall always lands in some window.
 *
 * The one check that belongs on liveness (its default `kind`): it measures the process itself.
 * Sampling starts at the first run and stops with the middleware's `close()`.
 */
export function eventLoopDelayCheck(options: EventLoopDelayCheckOptions = {}): HealthCheckSpec {
  const spec = scheduling('eventLoopDelayCheck', options, EVENT_LOOP_DELAY_OPTIONS);
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
  const resolution = timerMs('eventLoopDelayCheck resolutionMs', options.resolutionMs, 20);
  let histogram: RecordableHistogram | undefined;
  let timer: NodeJS.Timeout | undefined;
  let last = 0;
  const tick = (): void => {
    const now = performance.now();
    // Lateness in ns; the histogram takes integers >= 1.
    histogram?.record(Math.max(1, Math.round((now - last - resolution) * 1e6)));
    last = now;
  };

  return {
    kind: 'liveness',
    ...spec,
    check(): HealthCheckResult {
      if (histogram === undefined) {
        histogram = createHistogram();
        last = performance.now();
        timer = setInterval(tick, resolution);
        timer.unref();
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
      clearInterval(timer);
      timer = undefined;
      histogram = undefined;
    },
  };
}
