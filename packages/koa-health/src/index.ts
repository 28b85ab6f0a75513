export { health } from './health.js';
export type { HealthMiddleware } from './health.js';
export { DEFAULTS } from './options.js';
export type { CheckChangeEvent, HealthOptions } from './options.js';
export { CHECK_DEFAULTS } from './check.js';
export type {
  CheckSnapshot,
  HealthCheckFunction,
  HealthCheckInput,
  HealthCheckResult,
  HealthCheckSource,
  HealthCheckSpec,
  HealthStatus,
  ProbeKind,
} from './types.js';
export type { CheckEntry, HealthReport } from './report.js';
export { gracefulShutdown } from './shutdown.js';
export type { GracefulShutdown, ShutdownResult } from './shutdown.js';
export { SHUTDOWN_DEFAULTS } from './shutdown-options.js';
export type {
  GracefulShutdownOptions,
  ShutdownHealthTarget,
  ShutdownHook,
  ShutdownLogger,
} from './shutdown-options.js';
export {
  HealthCheckTimeoutError,
  ShutdownStepError,
  isHealthCheckTimeoutError,
  isShutdownStepError,
} from './errors.js';
export type { ShutdownStep } from './errors.js';
export { eventLoopDelayCheck } from './checks/event-loop-delay.js';
export type { EventLoopDelayCheckOptions } from './checks/event-loop-delay.js';
export { heapCheck } from './checks/heap.js';
export type { HeapCheckOptions } from './checks/heap.js';
export { redisCheck } from './checks/redis.js';
export type { RedisLike } from './checks/redis.js';
export { consulCheck } from './checks/consul.js';
export type { ConsulCheckOptions } from './checks/consul.js';
export { httpCheck } from './checks/http.js';
export type { HttpCheckOptions } from './checks/http.js';
export type { CheckScheduling } from './checks/spec-options.js';
