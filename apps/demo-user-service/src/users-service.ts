import type { CircuitBreaker } from '@koa-mesh/breaker';
import { canaryRouter, type CanaryRouter } from '@koa-mesh/canary-router';
import type { DiscoveryMiddleware } from '@koa-mesh/discovery';
import {
  consulCheck,
  eventLoopDelayCheck,
  health,
  redisCheck,
  type HealthCheckInput,
  type HealthMiddleware,
} from '@koa-mesh/health';
import { metrics, type MetricsMiddleware } from '@koa-mesh/metrics';
import { tracing } from '@koa-mesh/tracing';
import type { Redis } from 'ioredis';
import Koa from 'koa';
import { Counter } from 'prom-client';
import { authenticate } from './auth/middleware.js';
import { createTokenService } from './auth/jwt.js';
import { createPasswordHasher, type PasswordHasher } from './auth/password.js';
import type { UsersConfig } from './config.js';
import { jsonBody } from './http/body.js';
import { clientKey } from './rate-limit/client-key.js';
import { problemHandler } from './http/problem.js';
import type { Logger } from './logger.js';
import { createDiscovery } from './mesh/discovery.js';
import { serviceLifecycle } from './mesh/lifecycle.js';
import { startTracingSdk, type StartedSdk } from './mesh/tracing-sdk.js';
import { ordersArm, type UpstreamOrders } from './orders/gateway.js';
import { Lru } from './orders/lru.js';
import { meshOrdersCall, ordersBreakers } from './orders/upstream.js';
import { createRateLimiter, type RateLimiter } from './rate-limit/limiter.js';
import { createRedis } from './rate-limit/redis.js';
import type { Role } from './users/model.js';
import { InMemoryUserRepository, type UserRepository } from './users/repository.js';
import { apiRouter } from './users/routes.js';

/** The users service's own version, registered in Consul and shown by the health probes. */
export const USERS_VERSION = '1.0.0';

/** The demo accounts seeded outside production (documented in the README). */
export const DEMO_USERS: ReadonlyArray<{
  email: string;
  name: string;
  password: string;
  roles: Role[];
}> = [
  { email: 'alice@example.com', name: 'Alice', password: 'alice-password-1', roles: ['user'] },
  {
    email: 'tess@example.com',
    name: 'Tess Tester',
    password: 'tess-password-1',
    roles: ['user', 'tester'],
  },
  {
    email: 'ada@example.com',
    name: 'Ada Admin',
    password: 'ada-password-1',
    roles: ['user', 'admin'],
  },
];

/** Paths that are not traced (probes, scrapes): they would drown the traces that matter. */
const UNTRACED = ['/health', '/ready', '/startup', '/metrics'];

export interface UsersService {
  readonly app: Koa;
  readonly users: UserRepository;
  readonly passwords: PasswordHasher;
  readonly limiter: RateLimiter;
  readonly health: HealthMiddleware;
  readonly metrics: MetricsMiddleware;
  readonly discovery: DiscoveryMiddleware;
  readonly canary: CanaryRouter;
  readonly breakers: Readonly<Record<string, CircuitBreaker>>;
  /**
   * Listens, marks the service ready, then registers it (Consul) — in that order, so that Consul's
   * first check can pass. Resolves with the base URL.
   */
  start(options?: { ownProcess?: boolean }): Promise<string>;
  /** Graceful shutdown (deregister, drain, close, free clients); also frees an unstarted service. Idempotent. */
  stop(): Promise<void>;
}

/** Builds the users service: the app, its stores and clients. Nothing listens until `start()`. */
export async function createUsersService(
  config: UsersConfig,
  logger: Logger,
): Promise<UsersService> {
  const sdk: StartedSdk | undefined = await startTracingSdk(config, USERS_VERSION, logger);
  const tokens = createTokenService(config.jwt);
  const users = new InMemoryUserRepository();
  const passwords = createPasswordHasher();
  if (config.seedUsers) {
    for (const u of DEMO_USERS) {
      await users.create({
        email: u.email,
        name: u.name,
        roles: u.roles,
        passwordHash: await passwords.hash(u.password),
      });
    }
  }

  // 1. tracing: request id, trace ids and the server span, for everything below.
  const tracingMw = tracing({ ignore: UNTRACED });
  // 2. metrics: RED metrics per route template, labelled with the orders version the canary chose.
  const metricsMw = metrics({
    labels: { version: (ctx) => ctx.state.version },
    ...(config.metricsPort !== undefined
      ? { listen: { port: config.metricsPort, host: config.host } }
      : {}),
  });
  const storeErrors = new Counter({
    name: 'ratelimit_store_errors_total',
    help: 'Rate-limit store (Redis) failures; each request affected followed the fail policy.',
    labelNames: ['policy'],
    registers: [metricsMw.registry],
  });
  const limitedTotal = new Counter({
    name: 'ratelimit_limited_total',
    help: 'Requests refused with 429 by the rate limiter.',
    registers: [metricsMw.registry],
  });
  const fallbackTotal = new Counter({
    name: 'orders_fallback_total',
    help: 'Degraded orders answers (breaker open or orders service failing), by version and source.',
    labelNames: ['version', 'source'],
    registers: [metricsMw.registry],
  });

  // 4. rate limiter (Redis when configured, fail-open by default).
  let redis: Redis | undefined;
  if (config.redisUrl) {
    redis = createRedis(config.redisUrl, config.redisCommandTimeoutMs, logger);
    try {
      await redis.connect();
    } catch (err) {
      // Not fatal: the limiter follows its fail policy and /ready says warn until Redis is back.
      logger.warn('redis not reachable at start', { err: err as Error });
    }
  }
  const limiter = createRateLimiter({
    max: config.rateLimit.max,
    windowMs: config.rateLimit.windowMs,
    failPolicy: config.rateLimit.failPolicy,
    ...(redis ? { redis } : {}),
    id: (ctx) => (ctx.state.user ? `user:${ctx.state.user.id}` : clientKey(ctx.ip)),
    logger,
    onStoreError: () => storeErrors.inc({ policy: config.rateLimit.failPolicy }),
    onLimited: () => limitedTotal.inc(),
  });

  // 6-8. discovery of the orders service, a breaker per version, the canary between versions.
  const discoveryMw = createDiscovery(config, {
    version: USERS_VERSION,
    watch: [config.orders.serviceName],
    staticServices: {
      [config.orders.serviceName]: [
        ...config.staticOrders.v1.map((url) => ({ url, meta: { version: 'v1' } })),
        ...config.staticOrders.v2.map((url) => ({ url, meta: { version: 'v2' } })),
      ],
    },
  });
  const breakers = ordersBreakers(config.orders, ['v1', 'v2']);
  const call = meshOrdersCall(config.orders, breakers);
  const cache = new Lru<string, UpstreamOrders>(10_000);
  const onFallback = (version: string, source: string): void =>
    fallbackTotal.inc({ version, source });
  const header = config.canary.overrideHeader;
  const canary = canaryRouter({
    rollout: config.canary.rollout,
    arms: {
      stable: {
        version: 'v1',
        target: { middleware: ordersArm({ version: 'v1', call, cache, logger, onFallback }) },
      },
      canary: {
        version: 'v2',
        weight: config.canary.weight,
        target: { middleware: ordersArm({ version: 'v2', call, cache, logger, onFallback }) },
      },
    },
    // Internal testers (the `tester` role in their verified JWT) may pick an arm; anyone else's
    // header is ignored, so the public cannot opt into unreleased code.
    rules: [
      { header, value: 'canary', arm: 'canary', trusted: true },
      { header, value: 'stable', arm: 'stable', trusted: true },
    ],
    trust: (ctx) => ctx.state.user?.roles.includes('tester') === true,
    // Sticky by the verified user id; the answer varies with the bearer token that carries it.
    stickiness: { key: (ctx) => ctx.state.user?.id, cookie: false, vary: ['authorization'] },
  });

  // 3. health: probes from cached checks; dependencies are non-critical (warn, still serving).
  const checks: Record<string, HealthCheckInput> = {
    'event-loop': eventLoopDelayCheck(),
    ratelimit: { check: limiter, critical: false, intervalMs: config.healthCheckIntervalMs },
    discovery: { check: discoveryMw, critical: false, intervalMs: config.healthCheckIntervalMs },
    metrics: { check: metricsMw, critical: false, intervalMs: config.healthCheckIntervalMs },
  };
  for (const [version, breaker] of Object.entries(breakers)) {
    checks[`orders-${version}-breaker`] = {
      check: breaker,
      critical: false,
      intervalMs: config.healthCheckIntervalMs,
    };
  }
  if (redis) {
    checks.redis = redisCheck(redis, {
      critical: false,
      intervalMs: config.healthCheckIntervalMs,
      timeoutMs: 1000,
    });
  }
  if (config.consulAddr) {
    checks.consul = consulCheck({
      url: config.consulAddr,
      critical: false,
      intervalMs: config.healthCheckIntervalMs,
    });
  }
  const healthMw = health({
    checks,
    version: USERS_VERSION,
    description: 'koa-mesh demo users service',
    // Check names and outputs help in development; production callers see the status alone.
    details: () => config.env !== 'production',
  });

  const app = new Koa({ proxy: config.trustProxyHops > 0, maxIpsCount: config.trustProxyHops });
  app.on('error', (err: unknown) => logger.error('unhandled error', { err }));
  app.use(tracingMw);
  app.use(metricsMw);
  app.use(problemHandler(logger));
  app.use(healthMw);
  app.use(discoveryMw);
  app.use(authenticate(tokens));
  app.use(limiter.middleware);
  app.use(jsonBody());
  const router = apiRouter({ users, tokens, passwords, orders: canary });
  app.use(router.routes());
  app.use(router.allowedMethods());

  const onClose = [
    async function closeRedis() {
      if (redis) await redis.quit().catch(() => redis?.disconnect());
    },
    async function closeClients() {
      await Promise.all([metricsMw.close(), canary.close()]);
    },
    async function flushTraces() {
      await sdk?.shutdown();
    },
  ];
  const lifecycle = serviceLifecycle({
    app,
    config,
    health: healthMw,
    discovery: discoveryMw,
    logger,
    onClose,
  });
  return {
    app,
    users,
    passwords,
    limiter,
    health: healthMw,
    metrics: metricsMw,
    discovery: discoveryMw,
    canary,
    breakers,
    start: lifecycle.start,
    stop: lifecycle.stop,
  };
}
