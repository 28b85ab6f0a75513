import { getHeapStatistics } from 'node:v8';
import type { HealthCheckResult, HealthCheckSpec } from '../types.js';
import { fail, positiveNumber } from '../validate.js';
import { optionNames } from '../known-keys.js';
import { scheduling, SCHEDULING_OPTIONS, type CheckScheduling } from './spec-options.js';

/** Options of {@link heapCheck}. */
export interface HeapCheckOptions extends CheckScheduling {
  /** Fails above this share of the heap limit (`--max-old-space-size`). @default 0.9 */
  maxRatio?: number;
  /** Warns above this share. @default 0.8 (or maxRatio when lower) */
  warnRatio?: number;
}

const HEAP_CHECK_OPTIONS: readonly string[] = Object.freeze([
  ...SCHEDULING_OPTIONS,
  ...optionNames<Omit<HeapCheckOptions, keyof CheckScheduling>>({
    maxRatio: true,
    warnRatio: true,
  }),
]);

function ratioOption(option: string, value: unknown, fallback: number): number {
  const v = positiveNumber(option, value, fallback);
  if (v > 1) fail(option, 'a ratio in (0, 1]', v);
  return v;
}

/**
 * V8 heap in use as a share of the heap limit. A process near its limit spends its time in GC
 * and then dies: readiness (the default `kind`) lets it shed traffic first.
 */
export function heapCheck(options: HeapCheckOptions = {}): HealthCheckSpec {
  const spec = scheduling('heapCheck', options, HEAP_CHECK_OPTIONS);
  const maxRatio = ratioOption('heapCheck maxRatio', options.maxRatio, 0.9);
  const warnRatio = ratioOption('heapCheck warnRatio', options.warnRatio, Math.min(0.8, maxRatio));
  if (warnRatio > maxRatio)
    fail('heapCheck warnRatio', `at most maxRatio (${maxRatio})`, warnRatio);
  return {
    ...spec,
    check(): HealthCheckResult {
      const { used_heap_size: used, heap_size_limit: limit } = getHeapStatistics();
      const ratio = used / limit;
      const status = ratio > maxRatio ? 'fail' : ratio > warnRatio ? 'warn' : 'pass';
      const percent = Math.round(ratio * 10_000) / 100;
      const result: HealthCheckResult = {
        status,
        componentType: 'system',
        measurement: 'heapUsage',
        observedValue: percent,
        observedUnit: 'percent',
        details: { usedBytes: used, limitBytes: limit },
      };
      if (status !== 'pass')
        result.output = `heap at ${percent}% of its limit, above ${Math.round((status === 'fail' ? maxRatio : warnRatio) * 100)}%`;
      return result;
    },
  };
}
