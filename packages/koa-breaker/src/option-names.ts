/** The names of the policy options, for refusing unknown keys (known-keys.ts). */
import type { OptionNames } from './known-keys.js';
import type {
  FailureRateOptions,
  HalfOpenOptions,
  PolicyOptions,
  SlowCallOptions,
} from './options.js';

/** Every option of {@link PolicyOptions}; then those of its nested bags. */
export const POLICY_OPTIONS: OptionNames<PolicyOptions> = Object.freeze({
  name: true,
  failureThreshold: true,
  failureRate: true,
  slowCall: true,
  openMs: true,
  maxOpenMs: true,
  openBackoff: true,
  openJitter: true,
  halfOpen: true,
  timeoutMs: true,
  maxConcurrent: true,
  maxQueue: true,
  queueTimeoutMs: true,
  respectRetryAfter: true,
  maxRetryAfterMs: true,
  openHealth: true,
  clock: true,
  random: true,
});
export const FAILURE_RATE_OPTIONS: OptionNames<FailureRateOptions> = Object.freeze({
  threshold: true,
  windowMs: true,
  minimumCalls: true,
});
export const SLOW_CALL_OPTIONS: OptionNames<SlowCallOptions> = Object.freeze({
  durationMs: true,
  rateThreshold: true,
});
export const HALF_OPEN_OPTIONS: OptionNames<HalfOpenOptions> = Object.freeze({
  probes: true,
  successThreshold: true,
  maxConcurrent: true,
});
