import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bodyParser } from '@koa/bodyparser';
import type { Redis } from 'ioredis';
import Koa, { type Context, type Next } from 'koa';
import { authenticate } from './auth/middleware.js';
import { createTokenService } from './auth/jwt.js';
import { hashPassword } from './auth/password.js';
import type { UsersConfig } from './config.js';
import { problemHandler } from './http/problem.js';
import type { Logger } from './logger.js';
import { ordersArm, type UpstreamOrders } from './orders/gateway.js';
import { getOrders } from './orders/http-call.js';
import { Lru } from './orders/lru.js';
import { createRateLimiter, type RateLimiter } from './rate-limit/limiter.js';
import { createRedis } from './rate-limit/redis.js';
import type { Role } from './users/model.js';
import { InMemoryUserRepository, type UserRepository } from './users/repository.js';
import { apiRouter } from './users/routes.js';

/** The demo accounts seeded in development (documented in the README). */
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

export interface UsersService {
  readonly app: Koa;
  readonly users: UserRepository;
  readonly limiter: RateLimiter;
  /** Listens on the configured host and port; resolves with the base URL. */
  start(): Promise<string>;
  /** Stops everything this service started (server, Redis, background work). Idempotent. */
  stop(): Promise<void>;
}

/** Builds the users service: the app, its stores and clients. Nothing listens until `start()`. */
export async function createUsersService(
  config: UsersConfig,
  logger: Logger,
): Promise<UsersService> {
  const tokens = createTokenService(config.jwt);
  const users = new InMemoryUserRepository();
  if (config.seedUsers) {
    for (const u of DEMO_USERS) {
      await users.create({
        email: u.email,
        name: u.name,
        roles: u.roles,
        passwordHash: await hashPassword(u.password),
      });
    }
  }

  let redis: Redis | undefined;
  if (config.redisUrl) {
    redis = createRedis(config.redisUrl, config.redisCommandTimeoutMs, logger);
    try {
      await redis.connect();
    } catch (err) {
      // Not fatal: the limiter fails open and /ready says warn until Redis is back.
      logger.warn('redis not reachable at start; rate limiting fails open until it is', {
        err: err as Error,
      });
    }
  }
  const limiter = createRateLimiter({
    max: config.rateLimit.max,
    windowMs: config.rateLimit.windowMs,
    failPolicy: config.rateLimit.failPolicy,
    ...(redis ? { redis } : {}),
    id: (ctx) => (ctx.state.user ? `user:${ctx.state.user.id}` : `ip:${ctx.ip}`),
    logger,
  });

  const cache = new Lru<string, UpstreamOrders>(10_000);
  const call = async (ctx: Context, version: string, userId: string) => {
    const base = version === 'v2' ? config.staticOrders.v2[0]! : config.staticOrders.v1[0]!;
    const traceparent = ctx.get('traceparent');
    return getOrders(
      base,
      userId,
      traceparent ? { traceparent } : {},
      AbortSignal.timeout(config.orders.timeoutMs),
    );
  };

  const app = new Koa({ proxy: config.trustProxyHops > 0, maxIpsCount: config.trustProxyHops });
  app.on('error', (err: unknown) => logger.error('unhandled error', { err }));

  app.use(async function assignRequestId(ctx: Context, next: Next) {
    ctx.state.requestId ??= randomUUID();
    await next();
  });
  app.use(problemHandler(logger));
  app.use(async function probes(ctx: Context, next: Next) {
    if (ctx.path === '/health') {
      ctx.body = { status: 'pass' };
      return;
    }
    if (ctx.path === '/ready') {
      const rl = await limiter.healthCheck();
      ctx.type = 'application/health+json';
      ctx.body = { status: rl.status, checks: { 'ratelimit:store': [rl] } };
      return;
    }
    await next();
  });
  app.use(authenticate(tokens));
  app.use(limiter.middleware);
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '16kb' }));
  const router = apiRouter({
    users,
    tokens,
    orders: ordersArm({ version: 'v1', call, cache, logger }),
  });
  app.use(router.routes());
  app.use(router.allowedMethods());

  let server: Server | undefined;
  let stopping: Promise<void> | undefined;
  return {
    app,
    users,
    limiter,
    async start() {
      server = createServer(app.callback());
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(config.port, config.host, () => resolve());
      });
      const { port } = server.address() as AddressInfo;
      return `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    },
    stop() {
      stopping ??= (async () => {
        if (server) {
          await new Promise<void>((resolve) => {
            server!.close(() => resolve());
            server!.closeIdleConnections();
          });
        }
        if (redis) redis.disconnect();
      })();
      return stopping;
    },
  };
}
