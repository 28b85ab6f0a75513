/** The names of the policy options, for refusing unknown keys (known-keys.ts). */
import { optionNames } from './known-keys.js';
import type {
  FailureRateOptions,
  HalfOpenOptions,
  PolicyOptions,
  SlowCallOptions,
} from './options.js';

/** Every option of {@link PolicyOptions}; then those of its nested bags. */
export const POLICY_OPTIONS = optionNames<PolicyOptions>({
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
export const FAILURE_RATE_OPTIONS = optionNames<FailureRateOptions>({
  threshold: true,
  windowMs: true,
  minimumCalls: true,
});
export const SLOW_CALL_OPTIONS = optionNames<SlowCallOptions>({
  durationMs: true,
  rateThreshold: true,
});
export const HALF_OPEN_OPTIONS = optionNames<HalfOpenOptions>({
  probes: true,
  successThreshold: true,
  maxConcurrent: true,
});
