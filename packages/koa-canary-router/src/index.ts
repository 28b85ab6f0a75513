export { canaryRouter } from './canary-router.js';
export type { CanaryRouter } from './canary-router.js';
export type {
  ArmOptions,
  Breaker,
  CanaryRouterOptions,
  CookieOptions,
  InProcessMiddleware,
  Matcher,
  ProxyOptions,
  ReleaseOutcome,
  Resolver,
  Rule,
  StickinessOptions,
  Target,
} from './options.js';
export type { CanaryDecision, CanaryRouterEvents } from './events.js';
export type { Weights } from './weights.js';
export {
  ArmBreakerError,
  BadRequestTargetError,
  BodyConsumedError,
  CanaryRouterError,
  ConnectTimeoutError,
  ERROR_CODES,
  NoTargetError,
  UpstreamTimeoutError,
  UpstreamUnreachableError,
  isCanaryRouterError,
} from './errors.js';
export { bucketOf } from './hash.js';
