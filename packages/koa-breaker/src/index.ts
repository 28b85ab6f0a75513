export { breaker } from './breaker.js';
export type { BreakerMiddleware, BreakerOptions } from './breaker.js';
export { CircuitBreaker } from './circuit-breaker.js';
export type { Breaker, CircuitBreakerOptions } from './circuit-breaker.js';
export {
  BrokenCircuitError,
  BulkheadRejectedError,
  TimeoutError,
  isBrokenCircuitError,
  isBulkheadRejectedError,
  isTimeoutError,
} from './errors.js';
export type { RejectReason } from './errors.js';
export type { BreakerEventName, BreakerEvents, BreakerListener } from './events.js';
export type { HealthCheckResult } from './health.js';
export type { LatencyBucket, LatencySnapshot } from './histogram.js';
export type {
  Clock,
  FailureRateOptions,
  HalfOpenOptions,
  PolicyOptions,
  SlowCallOptions,
} from './options.js';
export type { BreakerStats } from './policy.js';
export type { ProblemBody } from './problem.js';
export { retry, isRetryable } from './retry.js';
export type { RetryOptions } from './retry.js';
export { RetryBudget } from './retry-budget.js';
export type { RetryBudgetOptions } from './retry-budget.js';
export type { CircuitStateName, OpenReason, TripFigures, Totals } from './state.js';
