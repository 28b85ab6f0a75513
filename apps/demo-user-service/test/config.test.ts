import { generateKeyPairSync } from 'node:crypto';
import { ConfigError, loadOrdersConfig, loadUsersConfig } from '../src/config.js';

function problems(env: Record<string, string>): readonly string[] {
  try {
    loadUsersConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('users service configuration', () => {
  it('starts with embedded defaults and a generated JWT secret in development', () => {
    const config = loadUsersConfig({});
    expect(config.env).toBe('development');
    expect(config.port).toBe(3000);
    expect(config.host).toBe('127.0.0.1');
    expect(config.jwt.algorithm).toBe('HS256');
    expect(config.jwt.secretGenerated).toBe(true);
    expect(Buffer.byteLength(config.jwt.secret!)).toBeGreaterThanOrEqual(32);
    expect(config.redisUrl).toBeUndefined();
    expect(config.consulAddr).toBeUndefined();
    expect(config.staticOrders).toEqual({
      v1: ['http://127.0.0.1:4001'],
      v2: ['http://127.0.0.1:4002'],
    });
    expect(config.trustProxyHops).toBe(0);
    expect(config.seedUsers).toBe(true);
  });

  it('generates a different secret on every start', () => {
    expect(loadUsersConfig({}).jwt.secret).not.toBe(loadUsersConfig({}).jwt.secret);
  });

  it('refuses to start in production without a JWT secret', () => {
    expect(problems({ NODE_ENV: 'production' })).toEqual([
      'JWT_SECRET: required when NODE_ENV=production (generate one with `openssl rand -base64 48`)',
    ]);
  });

  it('does not seed demo accounts in production', () => {
    const config = loadUsersConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) });
    expect(config.seedUsers).toBe(false);
    expect(config.jwt.secretGenerated).toBe(false);
  });

  it('names every bad variable, one message each', () => {
    expect(
      problems({
        NODE_ENV: 'staging',
        PORT: '70000',
        LOG_LEVEL: 'loud',
        JWT_SECRET: 'short',
        RATE_LIMIT_MAX: '0',
        RATE_LIMIT_FAIL_POLICY: 'sometimes',
        REDIS_URL: 'http://127.0.0.1:6379',
        CANARY_WEIGHT: '101',
        TRUST_PROXY_HOPS: '-1',
        ORDERS_V1_URLS: 'ftp://x',
        SEED_USERS: 'maybe',
      }),
    ).toEqual([
      'NODE_ENV: expected one of development, production, test, got "staging"',
      'PORT: expected an integer from 0 to 65535, got "70000"',
      'LOG_LEVEL: expected one of debug, info, warn, error, silent, got "loud"',
      'TRUST_PROXY_HOPS: expected an integer from 0 to 10, got "-1"',
      'JWT_SECRET: expected at least 32 bytes for HS256 (RFC 7518 §3.2)',
      'RATE_LIMIT_MAX: expected an integer from 1 to 1000000, got "0"',
      'RATE_LIMIT_FAIL_POLICY: expected one of open, closed, got "sometimes"',
      'REDIS_URL: expected a redis or rediss URL, got "http://127.0.0.1:6379"',
      'ORDERS_V1_URLS: expected comma-separated http(s) URLs, got "ftp://x"',
      'CANARY_WEIGHT: expected a number from 0 to 100, got "101"',
      'SEED_USERS: expected true or false, got "maybe"',
    ]);
  });

  it('never echoes a password from a URL it refuses (the message goes to the logs)', () => {
    const list = problems({
      REDIS_URL: 'http://default:s3cret-pass@redis:6379',
      ORDERS_V1_URLS: 'http://orders:4001,ftp://svc:s3cret-pass@orders:21',
    });
    expect(list).toEqual([
      'REDIS_URL: expected a redis or rediss URL, got "http://default:***@redis:6379"',
      'ORDERS_V1_URLS: expected comma-separated http(s) URLs, got "http://orders:4001,ftp://svc:***@orders:21"',
    ]);
  });

  it('accepts a bare host:port in CONSUL_HTTP_ADDR, as the consul CLI does', () => {
    expect(loadUsersConfig({ CONSUL_HTTP_ADDR: '127.0.0.1:8500' }).consulAddr).toBe(
      'http://127.0.0.1:8500',
    );
  });

  it('reads an RS256 key pair, inline or from files, and requires both halves', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const config = loadUsersConfig({
      JWT_ALGORITHM: 'RS256',
      JWT_PRIVATE_KEY: privateKey,
      JWT_PUBLIC_KEY: publicKey,
    });
    expect(config.jwt.privateKey).toBe(privateKey.trim());
    expect(config.jwt.secret).toBeUndefined();
    expect(problems({ JWT_ALGORITHM: 'RS256', JWT_PUBLIC_KEY: publicKey })).toEqual([
      'JWT_PRIVATE_KEY: required when JWT_ALGORITHM=RS256 (or JWT_PRIVATE_KEY_FILE)',
    ]);
    expect(
      problems({ JWT_ALGORITHM: 'RS256', JWT_PRIVATE_KEY: publicKey, JWT_PUBLIC_KEY: publicKey }),
    ).toEqual(['JWT_PRIVATE_KEY: expected a PEM private key']);
    expect(
      problems({
        JWT_ALGORITHM: 'RS256',
        JWT_PRIVATE_KEY_FILE: '/nonexistent/key.pem',
        JWT_PUBLIC_KEY: publicKey,
      })[0],
    ).toMatch(/^JWT_PRIVATE_KEY_FILE: cannot read \/nonexistent\/key.pem/);
  });
});

describe('RS256 key pair checks at load', () => {
  const rsa = (bits: number) =>
    generateKeyPairSync('rsa', {
      modulusLength: bits,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
  const rs256 = (keys: { privateKey: string; publicKey: string }) => ({
    JWT_ALGORITHM: 'RS256',
    JWT_PRIVATE_KEY: keys.privateKey,
    JWT_PUBLIC_KEY: keys.publicKey,
  });
  const good = rsa(2048);

  it('names a pair whose halves do not match', () => {
    expect(problems(rs256({ ...good, publicKey: rsa(2048).publicKey }))).toEqual([
      'JWT_PUBLIC_KEY: is not the public half of JWT_PRIVATE_KEY',
    ]);
  });

  it('names an RSA key shorter than 2048 bits (jsonwebtoken refuses to sign with it: every login was a 500)', () => {
    expect(problems(rs256(rsa(1024)))).toEqual([
      'JWT_PRIVATE_KEY: expected an RSA key of at least 2048 bits for RS256, got a 1024-bit RSA key',
    ]);
  });

  it('names a key that is not RSA, and a PEM that does not parse', () => {
    const ec = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    expect(problems(rs256(ec))).toEqual([
      'JWT_PRIVATE_KEY: expected an RSA key of at least 2048 bits for RS256, got a key of type ec',
    ]);
    const garbled = good.privateKey.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA');
    const list = problems(rs256({ ...good, privateKey: garbled }));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatch(/^JWT_PRIVATE_KEY: cannot read the PEM private key \(.+\)$/);
  });

  it('accepts a matching 2048-bit pair', () => {
    expect(loadUsersConfig(rs256(good)).jwt.algorithm).toBe('RS256');
  });
});

describe('orders service configuration', () => {
  it('has defaults for v1 and validates the failure injection', () => {
    expect(loadOrdersConfig({})).toMatchObject({
      version: 'v1',
      port: 4001,
      delayMs: 0,
      failureRate: 0,
    });
    expect(() => loadOrdersConfig({ ORDERS_VERSION: 'beta', ORDERS_FAILURE_RATE: '2' })).toThrow(
      'invalid configuration:\n  - ORDERS_VERSION: expected a version such as v1 or v2, got "beta"\n  - ORDERS_FAILURE_RATE: expected a number from 0 to 1, got "2"',
    );
  });
});
