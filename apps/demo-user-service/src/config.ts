import { readFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';

/** What both services read the same way. */
export interface CommonConfig {
  env: 'development' | 'production' | 'test';
  serviceName: string;
  host: string;
  port: number;
  /** The address other services and Consul reach this instance at. */
  advertiseHost: string;
  logLevel: LogLevel;
  /** Consul agent; when set, discovery uses Consul and the service registers itself. */
  consulAddr: string | undefined;
  /** Interval of the HTTP check Consul runs on `/ready`. */
  consulCheckIntervalMs: number;
  /** Interval of the background health checks behind `/ready`. */
  healthCheckIntervalMs: number;
  /** Serve `/metrics` on this port instead of the service's own. */
  metricsPort: number | undefined;
  /** OTLP/HTTP traces URL; when set, spans are recorded and exported. */
  otlpEndpoint: string | undefined;
  shutdown: { drainDelayMs: number; timeoutMs: number };
}

/** How the users service is configured; every field comes from one environment variable. */
export interface UsersConfig extends CommonConfig {
  /** Koa's `app.proxy`: trust `X-Forwarded-*` from this many proxies in front (0 = none). */
  trustProxyHops: number;
  jwt: JwtConfig;
  rateLimit: RateLimitConfig;
  redisUrl: string | undefined;
  redisCommandTimeoutMs: number;
  /**
   * Orders instances per version for the static registry (the embedded default, used when
   * CONSUL_HTTP_ADDR is not set).
   */
  staticOrders: { v1: string[]; v2: string[] };
  canary: CanaryConfig;
  orders: OrdersCallConfig;
  /** Seed the demo accounts (alice, tess the tester, ada the admin). */
  seedUsers: boolean;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface JwtConfig {
  algorithm: 'HS256' | 'RS256';
  /** HS256 shared secret. */
  secret: string | undefined;
  /** True when the secret was generated at start (development only). */
  secretGenerated: boolean;
  /** RS256 PEM keys. */
  privateKey: string | undefined;
  publicKey: string | undefined;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

export interface RateLimitConfig {
  max: number;
  windowMs: number;
  /** What to do when the Redis store fails: let requests through (open) or refuse them (closed). */
  failPolicy: 'open' | 'closed';
}

export interface CanaryConfig {
  rollout: string;
  /** Share of users (0..100) sent to orders v2. */
  weight: number;
  /** Header a trusted caller may send to pick an arm (`stable` or `canary`). */
  overrideHeader: string;
}

export interface OrdersCallConfig {
  serviceName: string;
  timeoutMs: number;
  breakerFailureThreshold: number;
  breakerOpenMs: number;
}

/** The orders companion service's configuration. */
export interface OrdersConfig extends CommonConfig {
  version: string;
  /** Added latency per request, in ms. */
  delayMs: number;
  /** Share of requests (0..1) answered with a 500. */
  failureRate: number;
}

/** Thrown by the loaders with one line per bad variable. */
export class ConfigError extends Error {
  readonly code = 'ERR_DEMO_CONFIG';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** A URL's password (`scheme://user:password@host`) masked, for messages that reach the logs. */
function redactUrls(value: string): string {
  return value.replace(/(:\/\/[^/@\s:]*:)[^/@\s]*@/g, '$1***@');
}

/** Collects one message per bad variable instead of stopping at the first. */
class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  string(name: string, fallback: string, pattern?: RegExp, expected?: string): string {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (pattern && !pattern.test(value)) {
      this.problems.push(
        `${name}: expected ${expected ?? pattern.source}, got ${JSON.stringify(value)}`,
      );
      return fallback;
    }
    return value;
  }

  oneOf<T extends string>(name: string, values: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!(values as readonly string[]).includes(value)) {
      this.problems.push(
        `${name}: expected one of ${values.join(', ')}, got ${JSON.stringify(value)}`,
      );
      return fallback;
    }
    return value as T;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const n = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      this.problems.push(
        `${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
      );
      return fallback;
    }
    return n;
  }

  number(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const n = /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isFinite(n) || n < min || n > max) {
      this.problems.push(
        `${name}: expected a number from ${min} to ${max}, got ${JSON.stringify(value)}`,
      );
      return fallback;
    }
    return n;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (/^(1|true|yes|on)$/i.test(value)) return true;
    if (/^(0|false|no|off)$/i.test(value)) return false;
    this.problems.push(`${name}: expected true or false, got ${JSON.stringify(value)}`);
    return fallback;
  }

  url(name: string, protocols: readonly string[]): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    // Consul's own convention allows a bare host:port in CONSUL_HTTP_ADDR.
    const candidate = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `${protocols[0]}//${value}`;
    try {
      const url = new URL(candidate);
      if (!protocols.includes(url.protocol)) throw new Error('protocol');
      return candidate;
    } catch {
      this.problems.push(
        `${name}: expected a ${protocols.map((p) => p.replace(':', '')).join(' or ')} URL, got ${JSON.stringify(redactUrls(value))}`,
      );
      return undefined;
    }
  }

  /** A comma-separated list of http(s) base URLs. */
  urlList(name: string, fallback: string[]): string[] {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const urls = value
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== '');
    const bad = urls.filter((u) => {
      try {
        return !['http:', 'https:'].includes(new URL(u).protocol);
      } catch {
        return true;
      }
    });
    if (urls.length === 0 || bad.length > 0) {
      this.problems.push(
        `${name}: expected comma-separated http(s) URLs, got ${JSON.stringify(redactUrls(value))}`,
      );
      return fallback;
    }
    return urls;
  }

  /** A PEM given inline (`NAME`) or as a file (`NAME_FILE`). */
  pem(name: string, kind: 'PRIVATE KEY' | 'PUBLIC KEY'): string | undefined {
    const inline = this.raw(name);
    const file = this.raw(`${name}_FILE`);
    if (inline !== undefined && file !== undefined) {
      this.problems.push(`${name} and ${name}_FILE: set one, not both`);
      return undefined;
    }
    let pem = inline?.replace(/\\n/g, '\n');
    if (file !== undefined) {
      try {
        pem = readFileSync(file, 'utf8');
      } catch (err) {
        this.problems.push(`${name}_FILE: cannot read ${file} (${(err as Error).message})`);
        return undefined;
      }
    }
    if (pem !== undefined && !pem.includes(kind)) {
      this.problems.push(
        `${file !== undefined ? `${name}_FILE` : name}: expected a PEM ${kind.toLowerCase()}`,
      );
      return undefined;
    }
    return pem;
  }
}

const NAME = /^[a-z][a-z0-9-]{0,62}$/;

/** OTEL_EXPORTER_OTLP_ENDPOINT is a base URL; the traces signal lives under /v1/traces. */
function otlpBase(url: string | undefined): string | undefined {
  return url === undefined ? undefined : `${url.replace(/\/+$/, '')}/v1/traces`;
}
const HEADER = /^[a-z0-9-]{1,64}$/i;

function environment(r: Reader): UsersConfig['env'] {
  return r.oneOf('NODE_ENV', ['development', 'production', 'test'] as const, 'development');
}

function common(r: Reader, defaultName: string, defaultPort: number): CommonConfig {
  const env = environment(r);
  const host = r.string('HOST', '127.0.0.1', /^[0-9a-z.:-]+$/i, 'a host name or IP address');
  return {
    env,
    serviceName: r.string('SERVICE_NAME', defaultName, NAME, 'a lowercase service name'),
    host,
    port: r.integer('PORT', defaultPort, 0, 65535),
    advertiseHost: r.string(
      'ADVERTISE_HOST',
      host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host,
      /^[0-9a-z.:-]+$/i,
      'a host name or IP address',
    ),
    logLevel: r.oneOf('LOG_LEVEL', ['debug', 'info', 'warn', 'error', 'silent'] as const, 'info'),
    consulAddr: r.url('CONSUL_HTTP_ADDR', ['http:', 'https:']),
    consulCheckIntervalMs: r.integer('CONSUL_CHECK_INTERVAL_MS', 10_000, 1000, 600_000),
    healthCheckIntervalMs: r.integer('HEALTH_CHECK_INTERVAL_MS', 5000, 100, 600_000),
    metricsPort:
      r.raw('METRICS_PORT') === undefined ? undefined : r.integer('METRICS_PORT', 0, 1, 65535),
    otlpEndpoint:
      r.url('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', ['http:', 'https:']) ??
      otlpBase(r.url('OTEL_EXPORTER_OTLP_ENDPOINT', ['http:', 'https:'])),
    shutdown: {
      drainDelayMs: r.integer(
        'SHUTDOWN_DRAIN_DELAY_MS',
        env === 'production' ? 5000 : 200,
        0,
        120_000,
      ),
      timeoutMs: r.integer('SHUTDOWN_TIMEOUT_MS', 10_000, 100, 300_000),
    },
  };
}

/**
 * Why an RS256 key pair cannot be used, checked at load so that the process stops with one line
 * rather than a stack (or, for a short key, starts and answers every login with a 500: jsonwebtoken
 * refuses to sign RS256 with fewer than 2048 bits). Messages never quote the keys.
 */
function rs256PairProblem(privatePem: string, publicPem: string): string | undefined {
  const read = (name: string, kind: string, make: () => KeyObject): KeyObject | string => {
    try {
      return make();
    } catch (err) {
      return `${name}: cannot read the PEM ${kind} (${(err as Error).message})`;
    }
  };
  const priv = read('JWT_PRIVATE_KEY', 'private key', () => createPrivateKey(privatePem));
  if (typeof priv === 'string') return priv;
  const pub = read('JWT_PUBLIC_KEY', 'public key', () => createPublicKey(publicPem));
  if (typeof pub === 'string') return pub;
  const bits = priv.asymmetricKeyDetails?.modulusLength;
  if (priv.asymmetricKeyType !== 'rsa' || bits === undefined || bits < 2048) {
    const got =
      priv.asymmetricKeyType === 'rsa'
        ? `a ${bits ?? '?'}-bit RSA key`
        : `a key of type ${priv.asymmetricKeyType ?? 'unknown'}`;
    return `JWT_PRIVATE_KEY: expected an RSA key of at least 2048 bits for RS256, got ${got}`;
  }
  const derived = createPublicKey(priv).export({ type: 'spki', format: 'pem' });
  if (pub.asymmetricKeyType !== 'rsa' || derived !== pub.export({ type: 'spki', format: 'pem' }))
    return 'JWT_PUBLIC_KEY: is not the public half of JWT_PRIVATE_KEY';
  return undefined;
}

function jwtConfig(r: Reader, env: UsersConfig['env']): JwtConfig {
  const algorithm = r.oneOf('JWT_ALGORITHM', ['HS256', 'RS256'] as const, 'HS256');
  const issuer = r.string('JWT_ISSUER', 'koa-mesh-demo', /^\S{1,200}$/, 'a non-empty string');
  const audience = r.string(
    'JWT_AUDIENCE',
    'koa-mesh-demo-api',
    /^\S{1,200}$/,
    'a non-empty string',
  );
  const ttlSeconds = r.integer('JWT_TTL_SECONDS', 900, 10, 86_400);
  let secret: string | undefined;
  let secretGenerated = false;
  let privateKey: string | undefined;
  let publicKey: string | undefined;
  if (algorithm === 'HS256') {
    secret = r.raw('JWT_SECRET');
    if (secret !== undefined && Buffer.byteLength(secret) < 32) {
      r.problems.push('JWT_SECRET: expected at least 32 bytes for HS256 (RFC 7518 §3.2)');
    } else if (secret === undefined && env === 'production') {
      r.problems.push(
        'JWT_SECRET: required when NODE_ENV=production (generate one with `openssl rand -base64 48`)',
      );
    } else if (secret === undefined) {
      // Development only: a fresh secret per start, so tokens do not survive a restart.
      secret = randomBytes(48).toString('base64url');
      secretGenerated = true;
    }
  } else {
    privateKey = r.pem('JWT_PRIVATE_KEY', 'PRIVATE KEY');
    publicKey = r.pem('JWT_PUBLIC_KEY', 'PUBLIC KEY');
    if (privateKey === undefined && !r.problems.some((p) => p.startsWith('JWT_PRIVATE_KEY')))
      r.problems.push(
        'JWT_PRIVATE_KEY: required when JWT_ALGORITHM=RS256 (or JWT_PRIVATE_KEY_FILE)',
      );
    if (publicKey === undefined && !r.problems.some((p) => p.startsWith('JWT_PUBLIC_KEY')))
      r.problems.push('JWT_PUBLIC_KEY: required when JWT_ALGORITHM=RS256 (or JWT_PUBLIC_KEY_FILE)');
    if (privateKey !== undefined && publicKey !== undefined) {
      const problem = rs256PairProblem(privateKey, publicKey);
      if (problem !== undefined) r.problems.push(problem);
    }
  }
  return {
    algorithm,
    secret,
    secretGenerated,
    privateKey,
    publicKey,
    issuer,
    audience,
    ttlSeconds,
  };
}

/** Reads and validates the users service's configuration; throws a ConfigError listing every bad variable. */
export function loadUsersConfig(env: Env = process.env): UsersConfig {
  const r = new Reader(env);
  const base = common(r, 'users', 3000);
  const config: UsersConfig = {
    ...base,
    trustProxyHops: r.integer('TRUST_PROXY_HOPS', 0, 0, 10),
    jwt: jwtConfig(r, base.env),
    rateLimit: {
      max: r.integer('RATE_LIMIT_MAX', 100, 1, 1_000_000),
      windowMs: r.integer('RATE_LIMIT_WINDOW_MS', 60_000, 1000, 86_400_000),
      failPolicy: r.oneOf('RATE_LIMIT_FAIL_POLICY', ['open', 'closed'] as const, 'open'),
    },
    redisUrl: r.url('REDIS_URL', ['redis:', 'rediss:']),
    redisCommandTimeoutMs: r.integer('REDIS_COMMAND_TIMEOUT_MS', 250, 10, 10_000),
    staticOrders: {
      v1: r.urlList('ORDERS_V1_URLS', ['http://127.0.0.1:4001']),
      v2: r.urlList('ORDERS_V2_URLS', ['http://127.0.0.1:4002']),
    },
    canary: {
      rollout: r.string(
        'CANARY_ROLLOUT',
        'orders-v2',
        /^[\w:-]{1,64}$/,
        'letters, digits, "_", ":" or "-"',
      ),
      weight: r.number('CANARY_WEIGHT', 20, 0, 100),
      overrideHeader: r
        .string('CANARY_OVERRIDE_HEADER', 'x-canary', HEADER, 'a header name')
        .toLowerCase(),
    },
    orders: {
      serviceName: r.string('ORDERS_SERVICE', 'orders', NAME, 'a lowercase service name'),
      timeoutMs: r.integer('ORDERS_TIMEOUT_MS', 1000, 10, 60_000),
      breakerFailureThreshold: r.integer('ORDERS_BREAKER_FAILURES', 5, 1, 1000),
      breakerOpenMs: r.integer('ORDERS_BREAKER_OPEN_MS', 10_000, 100, 600_000),
    },
    seedUsers: r.boolean('SEED_USERS', base.env !== 'production'),
  };
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}

/** Reads and validates the orders service's configuration. */
export function loadOrdersConfig(env: Env = process.env): OrdersConfig {
  const r = new Reader(env);
  const base = common(r, 'orders', 4001);
  const config: OrdersConfig = {
    ...base,
    version: r.string('ORDERS_VERSION', 'v1', /^v\d{1,3}$/, 'a version such as v1 or v2'),
    delayMs: r.integer('ORDERS_DELAY_MS', 0, 0, 60_000),
    failureRate: r.number('ORDERS_FAILURE_RATE', 0, 0, 1),
  };
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}
