export { discovery } from './discovery.js';
export type {
  DiscoveryMiddleware,
  DiscoverySnapshot,
  HealthCheckResult,
  StartOptions,
} from './discovery.js';
export type { DiscoveryOptions, FetchOptions, RetryBudgetOptions } from './options.js';
export type { DiscoveryClient, PickOptions, Resolver, ResolverFilter } from './client.js';
export type { DiscoveryFetchInit, DiscoveryResponse } from './fetch.js';
export { ConsulRegistry } from './consul-registry.js';
export type { ConsulRegistryOptions } from './consul-registry.js';
export { StaticRegistry, parseServicesEnv, SERVICES_ENV } from './static-registry.js';
export type { StaticInstance, StaticRegistryOptions } from './static-registry.js';
export type {
  Registry,
  RegistryWatch,
  Registration,
  RegistrationCheck,
  RegisteredInfo,
  WatchInfo,
} from './registry.js';
export type { WatchTuning } from './watch.js';
export type { Instance, InstanceFilter, InstanceStatus } from './instance.js';
export type { Breaker } from './endpoint.js';
export type { OutlierOptions } from './outlier.js';
export type { Outcome } from './outcome.js';
export type { InstanceSnapshot, PoolSnapshot } from './service-pool.js';
export {
  ServiceUnavailableError,
  isServiceUnavailableError,
  SERVICE_UNAVAILABLE,
} from './errors.js';
export { STRATEGIES } from './balancers/balancer.js';
export type { Balancer, RandomSource, Strategy, Target } from './balancers/balancer.js';
export { createBalancer } from './balancers/create.js';
